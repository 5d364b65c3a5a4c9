#include "proto/smpp/pdu.h"

#include <algorithm>
#include <cstring>

#include "base/byte_reader.h"

namespace cp::proto::smpp {
namespace {

// A C-octet string of at most `max_chars` characters (its NUL not counted), read up to and
// including the NUL. Refused: no NUL within max_chars + 1 octets.
Result<std::string_view, Error> cstring(ByteReader& r, size_t max_chars, uint32_t status,
                                        std::string_view what) {
  const auto rest = r.rest();
  const size_t limit = std::min(rest.size(), max_chars + 1);
  const auto* begin = reinterpret_cast<const char*>(rest.data());
  const void* nul = std::memchr(begin, 0, limit);
  if (nul == nullptr) return fail(Error{status, what});
  const size_t n = static_cast<size_t>(static_cast<const char*>(nul) - begin);
  // Put back what follows the NUL.
  r = ByteReader(rest.subspan(n + 1));
  return std::string_view(begin, n);
}

Result<uint8_t, Error> octet(ByteReader& r, std::string_view what) {
  const auto v = r.u8();
  if (!v) return fail(Error{status::invcmdlen, what});
  return *v;
}

void put_be(std::vector<std::byte>& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
}

}  // namespace

Result<std::optional<uint32_t>, Error> frame_length(std::span<const std::byte> bytes) {
  if (bytes.size() < 4) return std::optional<uint32_t>{};
  ByteReader r(bytes);
  const uint32_t length = *r.u32();
  if (length < kHeaderBytes || length > kPduBytesMax)
    return fail(Error{status::invcmdlen, "command_length out of range"});
  return std::optional<uint32_t>{length};
}

Result<Header, Error> decode_header(std::span<const std::byte> pdu) {
  if (pdu.size() < kHeaderBytes) return fail(Error{status::invcmdlen, "shorter than a header"});
  ByteReader r(pdu);
  Header h;
  h.length = *r.u32();
  h.command_id = *r.u32();
  h.command_status = *r.u32();
  h.sequence = *r.u32();
  if (h.length != pdu.size()) return fail(Error{status::invcmdlen, "command_length mismatch"});
  return h;
}

Result<void, Error> check_tlvs(std::span<const std::byte> section) {
  ByteReader r(section);
  while (!r.empty()) {
    const auto t = r.u16();
    const auto n = r.u16();
    if (!t || !n) return fail(Error{status::invoptparstream, "a TLV header cut short"});
    if (!r.bytes(*n)) return fail(Error{status::invparlen, "a TLV longer than the PDU"});
  }
  return {};
}

std::optional<Tlv> TlvReader::next() {
  ByteReader r(rest_);
  const auto t = r.u16();
  const auto n = r.u16();
  if (!t || !n) return std::nullopt;
  const auto value = r.bytes(*n);
  if (!value) return std::nullopt;
  rest_ = r.rest();
  return Tlv{*t, *value};
}

std::optional<Tlv> find_tlv(std::span<const std::byte> section, uint16_t t) {
  TlvReader r(section);
  while (auto x = r.next())
    if (x->tag == t) return x;
  return std::nullopt;
}

void append_tlv(std::vector<std::byte>& section, uint16_t t, std::span<const std::byte> value) {
  put_be(section, t, 2);
  put_be(section, value.size(), 2);
  section.insert(section.end(), value.begin(), value.end());
}

Result<Bind, Error> decode_bind(std::span<const std::byte> body) {
  ByteReader r(body);
  Bind b;
  auto sid = cstring(r, 15, status::invsysid, "system_id longer than 15 or unterminated");
  if (!sid) return fail(sid.error());
  b.system_id = *sid;
  auto pw = cstring(r, 8, status::invpaswd, "password longer than 8 or unterminated");
  if (!pw) return fail(pw.error());
  b.password = *pw;
  auto st = cstring(r, 12, status::invcmdlen, "system_type longer than 12 or unterminated");
  if (!st) return fail(st.error());
  b.system_type = *st;
  auto v = octet(r, "interface_version missing");
  auto ton = v ? octet(r, "addr_ton missing") : Result<uint8_t, Error>(fail(v.error()));
  auto npi = ton ? octet(r, "addr_npi missing") : Result<uint8_t, Error>(fail(ton.error()));
  if (!npi) return fail(npi.error());
  b.interface_version = *v;
  b.addr_ton = *ton;
  b.addr_npi = *npi;
  auto range = cstring(r, 40, status::invcmdlen, "address_range longer than 40 or unterminated");
  if (!range) return fail(range.error());
  b.address_range = *range;
  if (!r.empty()) return fail(Error{status::invcmdlen, "bytes after the bind body"});
  return b;
}

Result<ShortMessage, Error> decode_short_message(std::span<const std::byte> body) {
  ByteReader r(body);
  ShortMessage m;
  auto service = cstring(r, 5, status::invsertyp, "service_type longer than 5 or unterminated");
  if (!service) return fail(service.error());
  m.service_type = *service;
  auto read_octets = [&](std::initializer_list<uint8_t*> fields) -> std::optional<Error> {
    for (uint8_t* f : fields) {
      auto v = octet(r, "mandatory field missing");
      if (!v) return v.error();
      *f = *v;
    }
    return std::nullopt;
  };
  if (auto e = read_octets({&m.source_addr_ton, &m.source_addr_npi})) return fail(*e);
  auto src = cstring(r, 20, status::invsrcadr, "source_addr longer than 20 or unterminated");
  if (!src) return fail(src.error());
  m.source_addr = *src;
  if (auto e = read_octets({&m.dest_addr_ton, &m.dest_addr_npi})) return fail(*e);
  auto dst = cstring(r, 20, status::invdstadr, "destination_addr longer than 20 or unterminated");
  if (!dst) return fail(dst.error());
  m.destination_addr = *dst;
  if (auto e = read_octets({&m.esm_class, &m.protocol_id, &m.priority_flag})) return fail(*e);
  auto sched = cstring(r, 16, status::invsched, "schedule_delivery_time too long");
  if (!sched) return fail(sched.error());
  if (!sched->empty() && sched->size() != 16)
    return fail(Error{status::invsched, "schedule_delivery_time is not 16 characters"});
  m.schedule_delivery_time = *sched;
  auto validity = cstring(r, 16, status::invexpiry, "validity_period too long");
  if (!validity) return fail(validity.error());
  if (!validity->empty() && validity->size() != 16)
    return fail(Error{status::invexpiry, "validity_period is not 16 characters"});
  m.validity_period = *validity;
  uint8_t sm_length = 0;
  if (auto e = read_octets({&m.registered_delivery, &m.replace_if_present_flag, &m.data_coding,
                            &m.sm_default_msg_id, &sm_length}))
    return fail(*e);
  if (sm_length > 254) return fail(Error{status::invmsglen, "sm_length above 254"});
  const auto sm = r.bytes(sm_length);
  if (!sm) return fail(Error{status::invmsglen, "short_message shorter than sm_length"});
  m.short_message = *sm;
  m.tlvs = r.rest();
  if (auto ok = check_tlvs(m.tlvs); !ok) return fail(ok.error());
  // message_payload and short_message together are a contradiction (5.3.2.32).
  if (sm_length > 0 && find_tlv(m.tlvs, tag::message_payload))
    return fail(Error{status::invoptparamval, "both short_message and message_payload"});
  return m;
}

Result<std::string_view, Error> decode_message_id_resp(std::span<const std::byte> body) {
  if (body.empty()) return std::string_view{};
  ByteReader r(body);
  auto id = cstring(r, 64, status::invmsgid, "message_id longer than 64 or unterminated");
  if (!id) return fail(id.error());
  if (!r.empty()) return fail(Error{status::invcmdlen, "bytes after the message_id"});
  return *id;
}

PduWriter::PduWriter(uint32_t command_id, uint32_t command_status, uint32_t sequence) {
  out_.reserve(64);
  put_be(out_, 0, 4);  // command_length, patched by finish()
  put_be(out_, command_id, 4);
  put_be(out_, command_status, 4);
  put_be(out_, sequence, 4);
}

PduWriter& PduWriter::u8(uint8_t v) {
  out_.push_back(std::byte{v});
  return *this;
}
PduWriter& PduWriter::u16(uint16_t v) {
  put_be(out_, v, 2);
  return *this;
}
PduWriter& PduWriter::u32(uint32_t v) {
  put_be(out_, v, 4);
  return *this;
}
PduWriter& PduWriter::cstring(std::string_view text) {
  for (char c : text) out_.push_back(static_cast<std::byte>(c));
  out_.push_back(std::byte{0});
  return *this;
}
PduWriter& PduWriter::bytes(std::span<const std::byte> b) {
  out_.insert(out_.end(), b.begin(), b.end());
  return *this;
}
PduWriter& PduWriter::tlv(uint16_t t, std::span<const std::byte> value) {
  put_be(out_, t, 2);
  put_be(out_, value.size(), 2);
  return bytes(value);
}
std::vector<std::byte> PduWriter::finish() {
  const auto n = static_cast<uint32_t>(out_.size());
  for (int i = 0; i < 4; ++i)
    out_[static_cast<size_t>(i)] = static_cast<std::byte>(n >> (24 - 8 * i));
  return std::move(out_);
}

std::vector<std::byte> encode_bind(uint32_t command_id, uint32_t sequence, const Bind& b) {
  return PduWriter(command_id, status::ok, sequence)
      .cstring(b.system_id)
      .cstring(b.password)
      .cstring(b.system_type)
      .u8(b.interface_version)
      .u8(b.addr_ton)
      .u8(b.addr_npi)
      .cstring(b.address_range)
      .finish();
}

std::vector<std::byte> encode_short_message(uint32_t command_id, uint32_t sequence,
                                            const ShortMessage& m) {
  PduWriter w(command_id, status::ok, sequence);
  w.cstring(m.service_type)
      .u8(m.source_addr_ton)
      .u8(m.source_addr_npi)
      .cstring(m.source_addr)
      .u8(m.dest_addr_ton)
      .u8(m.dest_addr_npi)
      .cstring(m.destination_addr)
      .u8(m.esm_class)
      .u8(m.protocol_id)
      .u8(m.priority_flag)
      .cstring(m.schedule_delivery_time)
      .cstring(m.validity_period)
      .u8(m.registered_delivery)
      .u8(m.replace_if_present_flag)
      .u8(m.data_coding)
      .u8(m.sm_default_msg_id)
      .u8(static_cast<uint8_t>(m.short_message.size()))
      .bytes(m.short_message);
  w.bytes(m.tlvs);
  return w.finish();
}

std::vector<std::byte> encode_message_id_resp(uint32_t command_id, uint32_t st, uint32_t sequence,
                                              std::string_view message_id) {
  PduWriter w(command_id, st, sequence);
  if (st == status::ok) w.cstring(message_id);
  return w.finish();
}

std::vector<std::byte> encode_header_only(uint32_t command_id, uint32_t st, uint32_t sequence) {
  return PduWriter(command_id, st, sequence).finish();
}

}  // namespace cp::proto::smpp
