#include "services/smsc/wire.h"

#include <algorithm>
#include <cstring>

namespace cp::smsc::wire {
namespace {

using storage::SmRecord;

// Body sizes, fixed per type (docs/SMSC-SOCKET.md).
constexpr size_t kSubmitBody = 8 + storage::kRecordBytes;
constexpr size_t kTargetBody = 48;
constexpr size_t kRegisterBody = 8 + kPeerNameMax;
constexpr size_t kServiceStateBody = 8;
constexpr size_t kFindImsiBody = 24;
constexpr size_t kRecordBody = storage::kRecordBytes;
constexpr size_t kMtCancelBody = 8;
constexpr size_t kDischargeBody = 16;
// Responses.
constexpr size_t kIdResponseBody = 8;
constexpr size_t kImsiResponseBody = 16;
constexpr size_t kPeerResponseBody = 8;
constexpr size_t kQueryResponseBody = 24;
constexpr uint8_t kTargetOwnerCheck = 0x01;

std::optional<size_t> request_body(Type t) {
  switch (t) {
    case Type::submit:
      return kSubmitBody;
    case Type::cancel:
    case Type::change_srr:
    case Type::query:
      return kTargetBody;
    case Type::rh_register:
      return kRegisterBody;
    case Type::rh_service_state:
      return kServiceStateBody;
    case Type::mt_find_imsi:
      return kFindImsiBody;
    case Type::mt_transfer:
    case Type::deliver_to_peer:
      return kRecordBody;
    case Type::mt_cancel:
      return kMtCancelBody;
    case Type::mt_discharge:
      return kDischargeBody;
  }
  return std::nullopt;
}

size_t response_body(Type t) {
  switch (t) {
    case Type::submit:
    case Type::cancel:
    case Type::change_srr:
      return kIdResponseBody;
    case Type::mt_find_imsi:
      return kImsiResponseBody;
    case Type::deliver_to_peer:
      return kPeerResponseBody;
    case Type::query:
      return kQueryResponseBody;
    default:
      return 0;
  }
}

template <typename T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
void store(std::byte* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

bool all_zero(const std::byte* p, size_t n) {
  return std::all_of(p, p + n, [](std::byte b) { return b == std::byte{0}; });
}

bool digits_only(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// An address from the wire: at most 20 digits (TON 5: 10 packed octets), nothing beyond.
bool valid_address(const storage::Address& a) {
  if (a.ton == 5) return a.length <= sizeof a.packed;
  return a.length <= storage::kAddressDigitsMax;
}

size_t put_header(std::span<std::byte> out, uint8_t type, uint64_t request_id, Status status,
                  size_t body) {
  const size_t length = kHeaderBytes + body;
  std::memset(out.data(), 0, length);
  out[0] = std::byte{kVersion};
  out[1] = std::byte{type};
  store<uint16_t>(&out[2], static_cast<uint16_t>(length));
  store<uint16_t>(&out[4], static_cast<uint16_t>(status));
  store<uint64_t>(&out[8], request_id);
  return length;
}

uint8_t raw(Type t) {
  return static_cast<uint8_t>(t);
}

}  // namespace

std::string_view to_string(Type type) {
  switch (type) {
    case Type::submit:
      return "SUBMIT";
    case Type::cancel:
      return "CANCEL";
    case Type::change_srr:
      return "CHANGE_SRR";
    case Type::query:
      return "QUERY";
    case Type::rh_register:
      return "RH_REGISTER";
    case Type::rh_service_state:
      return "RH_SERVICE_STATE";
    case Type::mt_find_imsi:
      return "MT_FIND_IMSI";
    case Type::mt_transfer:
      return "MT_TRANSFER";
    case Type::mt_cancel:
      return "MT_CANCEL";
    case Type::mt_discharge:
      return "MT_DISCHARGE";
    case Type::deliver_to_peer:
      return "DELIVER_TO_PEER";
  }
  return "unknown";
}

bool is_known(uint8_t type) {
  return request_body(static_cast<Type>(type & ~kResponseBit)).has_value();
}

std::string_view to_string(Status s) {
  switch (s) {
    case Status::ok:
      return "ok";
    case Status::duplicate:
      return "duplicate";
    case Status::bad_message:
      return "bad_message";
    case Status::bad_version:
      return "bad_version";
    case Status::unknown_type:
      return "unknown_type";
    case Status::bad_address:
      return "bad_address";
    case Status::invalid_nanp:
      return "invalid_nanp";
    case Status::unroutable:
      return "unroutable";
    case Status::cannot_receive:
      return "cannot_receive";
    case Status::no_upstream_permission:
      return "no_upstream_permission";
    case Status::pid_refused:
      return "pid_refused";
    case Status::dcs_refused:
      return "dcs_refused";
    case Status::bad_user_data:
      return "bad_user_data";
    case Status::bad_imsi:
      return "bad_imsi";
    case Status::part_missing:
      return "part_missing";
    case Status::store_full:
      return "store_full";
    case Status::store_failed:
      return "store_failed";
    case Status::not_found:
      return "not_found";
    case Status::not_in_custody:
      return "not_in_custody";
    case Status::role_taken:
      return "role_taken";
    case Status::not_registered:
      return "not_registered";
    case Status::already_registered:
      return "already_registered";
    case Status::bad_role:
      return "bad_role";
    case Status::temporary_failure:
      return "temporary_failure";
    case Status::permanent_failure:
      return "permanent_failure";
    case Status::unknown_subscriber:
      return "unknown_subscriber";
    case Status::busy:
      return "busy";
  }
  return "unknown";
}

std::string_view to_string(Role role) {
  switch (role) {
    case Role::imsi_lookup:
      return "imsi_lookup";
    case Role::gsm_mt:
      return "gsm_mt";
    case Role::peer:
      return "peer";
  }
  return "unknown";
}

std::optional<Header> peek_header(std::span<const std::byte> bytes) {
  if (bytes.size() < kHeaderBytes) return std::nullopt;
  Header h;
  h.version = static_cast<uint8_t>(bytes[0]);
  h.type = static_cast<Type>(bytes[1]);
  h.length = load<uint16_t>(&bytes[2]);
  h.status = static_cast<Status>(load<uint16_t>(&bytes[4]));
  h.reserved = load<uint16_t>(&bytes[6]);
  h.request_id = load<uint64_t>(&bytes[8]);
  return h;
}

Status decode(std::span<const std::byte> bytes, Message& out) {
  const auto h = peek_header(bytes);
  if (!h || h->length != bytes.size() || h->length > kMessageMax) return Status::bad_message;
  if (h->version != kVersion) return Status::bad_version;
  if (!is_known(static_cast<uint8_t>(h->type))) {
    // The answer to a request of a type this side does not know either: a header alone.
    if (!h->response() || h->status == Status::ok || bytes.size() != kHeaderBytes)
      return Status::unknown_type;
    out.header = *h;
    return Status::ok;
  }
  if (h->reserved != 0) return Status::bad_message;
  out.header = *h;
  const bool response = h->response();
  const Type type = static_cast<Type>(static_cast<uint8_t>(h->type) & ~kResponseBit);
  const std::byte* b = bytes.data() + kHeaderBytes;
  const size_t body = bytes.size() - kHeaderBytes;
  if (!response && h->status != Status::ok) return Status::bad_message;
  if (response) {
    const size_t want = response_body(type);
    const bool error = h->status != Status::ok && h->status != Status::duplicate;
    if (body != want && !(error && body == 0)) return Status::bad_message;
    if (body == 0) return Status::ok;
    switch (type) {
      case Type::submit:
      case Type::cancel:
      case Type::change_srr:
        out.message_id = load<uint64_t>(b);
        break;
      case Type::mt_find_imsi: {
        const auto n = static_cast<uint8_t>(b[0]);
        if (n > kImsiDigitsMax) return Status::bad_message;
        out.digits.assign(reinterpret_cast<const char*>(b + 1), n);
        if (!digits_only(out.digits) || !all_zero(b + 1 + n, kImsiDigitsMax - n))
          return Status::bad_message;
        break;
      }
      case Type::deliver_to_peer:
        out.extra_info = load<uint32_t>(b);
        if (!all_zero(b + 4, 4)) return Status::bad_message;
        break;
      case Type::query:
        out.message_id = load<uint64_t>(b);
        out.query.state = static_cast<uint8_t>(b[8]);
        out.query.disposition = static_cast<uint8_t>(b[9]);
        if (!all_zero(b + 10, 2)) return Status::bad_message;
        out.query.extra_info = load<uint32_t>(b + 12);
        out.query.discharge_ns = load<int64_t>(b + 16);
        break;
      default:
        break;
    }
    return Status::ok;
  }
  if (body != *request_body(type)) return Status::bad_message;
  switch (type) {
    case Type::submit:
      out.submit.validity_s = load<uint32_t>(b);
      out.submit.flags = static_cast<uint8_t>(b[4]);
      if ((out.submit.flags & ~kSubmitFlagsKnown) != 0) return Status::bad_message;
      out.submit.group = static_cast<uint32_t>(b[5]) | static_cast<uint32_t>(b[6]) << 8 |
                         static_cast<uint32_t>(b[7]) << 16;
      std::memcpy(&out.submit.record, b + 8, storage::kRecordBytes);
      break;
    case Type::cancel:
    case Type::change_srr:
    case Type::query: {
      Target& t = out.target;
      const auto by = static_cast<uint8_t>(b[0]);
      if (by > 2 || (type == Type::query && by != 0) || (type != Type::cancel && by == 2))
        return Status::bad_message;
      t.by = static_cast<TargetBy>(by);
      const auto srr = static_cast<uint8_t>(b[1]);
      if (srr > 1 || (type != Type::change_srr && srr != 0)) return Status::bad_message;
      out.srr = srr == 1;
      t.mr = load<uint16_t>(b + 2);
      const auto flags = static_cast<uint8_t>(b[4]);
      t.check_owner = (flags & kTargetOwnerCheck) != 0;
      t.owner_class = static_cast<uint8_t>(b[5]);
      t.owner_peer = load<uint16_t>(b + 6);
      if ((flags & ~kTargetOwnerCheck) != 0 ||
          t.owner_class > static_cast<uint8_t>(storage::SmeClass::downstream) ||
          (!t.check_owner && (t.owner_class != 0 || t.owner_peer != 0)))
        return Status::bad_message;
      t.message_id = load<uint64_t>(b + 8);
      std::memcpy(&t.oa, b + 16, sizeof t.oa);
      std::memcpy(&t.da, b + 29, sizeof t.da);
      if (!all_zero(b + 42, 6) || !valid_address(t.oa) || !valid_address(t.da))
        return Status::bad_message;
      break;
    }
    case Type::rh_register: {
      const auto role = static_cast<uint8_t>(b[0]);
      const auto n = static_cast<uint8_t>(b[1]);
      if (role < 1 || role > 3 || n > kPeerNameMax || !all_zero(b + 2, 6) ||
          !all_zero(b + 8 + n, kPeerNameMax - n))
        return Status::bad_message;
      out.reg.role = static_cast<Role>(role);
      out.reg.peer.assign(reinterpret_cast<const char*>(b + 8), n);
      if (out.reg.role != Role::peer && n != 0) return Status::bad_message;
      for (char c : out.reg.peer) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) return Status::bad_message;
      }
      break;
    }
    case Type::rh_service_state: {
      const auto up = static_cast<uint8_t>(b[0]);
      if (up > 1 || !all_zero(b + 1, 7)) return Status::bad_message;
      out.up = up == 1;
      break;
    }
    case Type::mt_find_imsi: {
      const auto n = static_cast<uint8_t>(b[0]);
      if (n == 0 || n > kMsisdnDigitsMax) return Status::bad_message;
      out.digits.assign(reinterpret_cast<const char*>(b + 1), n);
      if (!digits_only(out.digits) || !all_zero(b + 1 + n, kFindImsiBody - 1 - n))
        return Status::bad_message;
      break;
    }
    case Type::mt_transfer:
    case Type::deliver_to_peer:
      std::memcpy(&out.submit.record, b, storage::kRecordBytes);
      if (storage::check(out.submit.record) != storage::RecordCheck::valid)
        return Status::bad_message;
      break;
    case Type::mt_cancel:
      out.message_id = load<uint64_t>(b);
      break;
    case Type::mt_discharge: {
      Discharge& d = out.discharge;
      d.message_id = load<uint64_t>(b);
      const auto disp = static_cast<uint8_t>(b[8]);
      if (disp < 1 || disp > 4 || !all_zero(b + 9, 3)) return Status::bad_message;
      d.disposition = static_cast<storage::Disposition>(disp);
      d.extra_info = load<uint32_t>(b + 12);
      break;
    }
  }
  return Status::ok;
}

size_t encode_submit(std::span<std::byte> out, uint64_t request_id, const Submit& s) {
  const size_t n = put_header(out, raw(Type::submit), request_id, Status::ok, kSubmitBody);
  std::byte* b = out.data() + kHeaderBytes;
  store<uint32_t>(b, s.validity_s);
  b[4] = std::byte{s.flags};
  b[5] = static_cast<std::byte>(s.group & 0xFF);
  b[6] = static_cast<std::byte>((s.group >> 8) & 0xFF);
  b[7] = static_cast<std::byte>((s.group >> 16) & 0xFF);
  std::memcpy(b + 8, &s.record, storage::kRecordBytes);
  return n;
}

size_t encode_target(std::span<std::byte> out, Type type, uint64_t request_id, const Target& t,
                     bool srr) {
  const size_t n = put_header(out, raw(type), request_id, Status::ok, kTargetBody);
  std::byte* b = out.data() + kHeaderBytes;
  b[0] = std::byte{static_cast<uint8_t>(t.by)};
  b[1] = std::byte{static_cast<uint8_t>(type == Type::change_srr && srr ? 1 : 0)};
  store<uint16_t>(b + 2, t.mr);
  if (t.check_owner) {
    b[4] = std::byte{kTargetOwnerCheck};
    b[5] = std::byte{t.owner_class};
    store<uint16_t>(b + 6, t.owner_peer);
  }
  store<uint64_t>(b + 8, t.message_id);
  std::memcpy(b + 16, &t.oa, sizeof t.oa);
  std::memcpy(b + 29, &t.da, sizeof t.da);
  return n;
}

size_t encode_register(std::span<std::byte> out, uint64_t request_id, const Register& r) {
  const size_t n = put_header(out, raw(Type::rh_register), request_id, Status::ok, kRegisterBody);
  std::byte* b = out.data() + kHeaderBytes;
  const size_t len = std::min(r.peer.size(), kPeerNameMax);
  b[0] = std::byte{static_cast<uint8_t>(r.role)};
  b[1] = std::byte{static_cast<uint8_t>(len)};
  if (len > 0) std::memcpy(b + 8, r.peer.data(), len);
  return n;
}

size_t encode_service_state(std::span<std::byte> out, uint64_t request_id, bool up) {
  const size_t n =
      put_header(out, raw(Type::rh_service_state), request_id, Status::ok, kServiceStateBody);
  out[kHeaderBytes] = std::byte{static_cast<uint8_t>(up ? 1 : 0)};
  return n;
}

size_t encode_find_imsi(std::span<std::byte> out, uint64_t request_id, std::string_view msisdn) {
  const size_t n = put_header(out, raw(Type::mt_find_imsi), request_id, Status::ok, kFindImsiBody);
  const size_t len = std::min(msisdn.size(), kMsisdnDigitsMax);
  out[kHeaderBytes] = std::byte{static_cast<uint8_t>(len)};
  if (len > 0) std::memcpy(out.data() + kHeaderBytes + 1, msisdn.data(), len);
  return n;
}

size_t encode_record(std::span<std::byte> out, Type type, uint64_t request_id,
                     const SmRecord& record) {
  const size_t n = put_header(out, raw(type), request_id, Status::ok, kRecordBody);
  std::memcpy(out.data() + kHeaderBytes, &record, storage::kRecordBytes);
  return n;
}

size_t encode_mt_cancel(std::span<std::byte> out, uint64_t request_id, uint64_t message_id) {
  const size_t n = put_header(out, raw(Type::mt_cancel), request_id, Status::ok, kMtCancelBody);
  store<uint64_t>(out.data() + kHeaderBytes, message_id);
  return n;
}

size_t encode_discharge(std::span<std::byte> out, uint64_t request_id, const Discharge& d) {
  const size_t n = put_header(out, raw(Type::mt_discharge), request_id, Status::ok, kDischargeBody);
  std::byte* b = out.data() + kHeaderBytes;
  store<uint64_t>(b, d.message_id);
  b[8] = std::byte{static_cast<uint8_t>(d.disposition)};
  store<uint32_t>(b + 12, d.extra_info);
  return n;
}

size_t encode_response(std::span<std::byte> out, Type type, uint64_t request_id, Status status,
                       uint64_t message_id, std::string_view digits, uint32_t extra_info) {
  const size_t body = response_body(type);
  const size_t n = put_header(out, raw(type) | kResponseBit, request_id, status, body);
  std::byte* b = out.data() + kHeaderBytes;
  switch (type) {
    case Type::submit:
    case Type::cancel:
    case Type::change_srr:
      store<uint64_t>(b, message_id);
      break;
    case Type::mt_find_imsi: {
      const size_t len = std::min(digits.size(), kImsiDigitsMax);
      b[0] = std::byte{static_cast<uint8_t>(len)};
      if (len > 0) std::memcpy(b + 1, digits.data(), len);  // an empty view may be null
      break;
    }
    case Type::deliver_to_peer:
      store<uint32_t>(b, extra_info);
      break;
    default:
      break;
  }
  return n;
}

size_t encode_query_response(std::span<std::byte> out, uint64_t request_id, Status status,
                             uint64_t message_id, const QueryResult& r) {
  if (status != Status::ok) return encode_error(out, raw(Type::query), request_id, status);
  const size_t n =
      put_header(out, raw(Type::query) | kResponseBit, request_id, status, kQueryResponseBody);
  std::byte* b = out.data() + kHeaderBytes;
  store<uint64_t>(b, message_id);
  b[8] = std::byte{r.state};
  b[9] = std::byte{r.disposition};
  store<uint32_t>(b + 12, r.extra_info);
  store<int64_t>(b + 16, r.discharge_ns);
  return n;
}

size_t encode_error(std::span<std::byte> out, uint8_t type, uint64_t request_id, Status status) {
  return put_header(out, static_cast<uint8_t>(type | kResponseBit), request_id, status, 0);
}

}  // namespace cp::smsc::wire
