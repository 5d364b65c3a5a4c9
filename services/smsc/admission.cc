#include "services/smsc/admission.h"

#include <cstring>

#include "base/octet_set.h"
#include "proto/sms/text.h"
#include "services/smsc/route.h"

namespace cp::smsc {
namespace {

using storage::SmRecord;
using wire::Status;

Status status_of(RouteError e) {
  switch (e) {
    case RouteError::bad_address:
      return Status::bad_address;
    case RouteError::invalid_nanp:
      return Status::invalid_nanp;
    case RouteError::unroutable:
      return Status::unroutable;
    case RouteError::cannot_receive:
      return Status::cannot_receive;
    case RouteError::no_upstream_permission:
      return Status::no_upstream_permission;
  }
  return Status::unroutable;
}

// FNV-1a, 64 bit: the keys are short and chosen by our own peers, and every hit is confirmed
// field by field, so a fast non-cryptographic hash is enough.
uint64_t fnv(uint64_t h, const void* p, size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}
constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ULL;

// An address as the store keeps it: nothing but the digits (or TON 5 octets) and their fill, so
// equal numbers are equal bytes. False when it is too long or holds a non-digit.
bool normalize(storage::Address& a) {
  if (a.ton == 5) {
    if (a.length > sizeof a.packed) return false;
    std::memset(a.packed + a.length, 0, sizeof a.packed - a.length);
    return true;
  }
  if (a.length > storage::kAddressDigitsMax) return false;
  const std::string d = storage::digits(a);
  if (d.find_first_not_of("0123456789*#abc") != std::string::npos) return false;
  return storage::set_digits(a, d, a.ton, a.npi);
}

}  // namespace

PidDcsFilter PidDcsFilter::defaults() {
  PidDcsFilter f;
  for (unsigned p = 0; p <= 0x1F; ++p) f.pid.set(p);
  f.dcs.set(0x00);
  f.dcs.set(0x08);
  return f;
}

Result<std::bitset<256>, std::string> PidDcsFilter::parse_set(std::string_view text) {
  return parse_octet_set(text);
}

bool user_data_valid(const SmRecord& r) {
  const sms::DcsInfo dcs = sms::classify_dcs(r.dcs);
  const bool septets = dcs.alphabet == sms::Alphabet::gsm7 && !dcs.compressed;
  const size_t octets = septets ? (size_t{r.ud_length} * 7 + 7) / 8 : r.ud_length;
  if (septets ? r.ud_length > 160 : r.ud_length > storage::kUserDataBytesMax) return false;
  if (octets > storage::kUserDataBytesMax) return false;
  if (r.flags & SmRecord::kFlagUdhi) {
    if (octets == 0) return false;
    const size_t udh = size_t{r.user_data[0]} + 1;
    if (udh > octets) return false;
    // A GSM 7-bit header is counted in septets too: it must not exceed the length.
    if (septets && (udh * 8 + 6) / 7 > r.ud_length) return false;
  }
  // Nothing beyond the user data: a record is compared and hashed whole.
  for (size_t i = octets; i < storage::kUserDataBytesMax; ++i)
    if (r.user_data[i] != 0) return false;
  return true;
}

Result<Admitted, Status> admit(const Numdb& db, const AdmissionConfig& config,
                               const wire::Submit& submit, Nanos now_wall, SmRecord& out) {
  const SmRecord& in = submit.record;
  if (!user_data_valid(in)) return fail(Status::bad_user_data);
  if (submit.flags & wire::kSubmitUntrusted) {
    if (!config.filter.pid.test(in.pid)) return fail(Status::pid_refused);
    if (!config.filter.dcs.test(in.dcs)) return fail(Status::dcs_refused);
  }
  if ((in.flags & ~(SmRecord::kFlagStatusReport | SmRecord::kFlagUdhi)) != 0 ||
      in.src_class > static_cast<uint8_t>(storage::SmeClass::downstream))
    return fail(Status::bad_message);
  // A part of a multi-part message names its message (group) and its place in it.
  const bool part = in.parts != 0 || in.part != 0 || submit.group != 0;
  if (part && (in.parts < 2 || in.part < 1 || in.part > in.parts || submit.group == 0 ||
               submit.group > wire::kSubmitGroupMax))
    return fail(Status::bad_message);
  out = SmRecord{};
  out.part = in.part;
  out.parts = in.parts;
  out.src = in.src;
  out.dst_written = in.dst_written;
  out.src_class = in.src_class;
  out.src_peer = in.src_peer;
  out.message_ref = in.message_ref;
  out.pid = in.pid;
  out.dcs = in.dcs;
  out.flags = in.flags;
  if (submit.flags & wire::kSubmitNoReference) out.flags |= SmRecord::kFlagNoReference;
  out.ud_length = in.ud_length;
  std::memcpy(out.user_data, in.user_data, sizeof out.user_data);
  if (!normalize(out.src) || !normalize(out.dst_written)) return fail(Status::bad_address);
  Admitted a;
  if (submit.flags & wire::kSubmitDeliverToImsi) {
    // Skip routing: a locally generated message for this SIM (design 2.4.1, last paragraph).
    const std::string imsi = storage::imsi(in);
    if (imsi.size() < 6 || imsi.size() > 15) return fail(Status::bad_imsi);
    std::memcpy(out.dest_imsi, in.dest_imsi, sizeof out.dest_imsi);
    out.dst_routed = in.dst_written;
    out.dst_class = static_cast<uint8_t>(storage::SmeClass::gsm);
    a.routed_digits = "imsi:" + imsi;
  } else {
    if (out.dst_written.ton == 5) return fail(Status::bad_address);
    const std::string dst = storage::digits(out.dst_written);
    const std::string src = out.src.ton == 5 ? std::string() : storage::digits(out.src);
    RouteInput ri;
    ri.dst_ton = out.dst_written.ton;
    ri.dst_digits = dst;
    ri.src_ton = out.src.ton;
    ri.src_digits = src;
    ri.locally_originated = (submit.flags & wire::kSubmitLocallyOriginated) != 0;
    if (in.src_class == static_cast<uint8_t>(storage::SmeClass::downstream))
      ri.src_peer = in.src_peer;
    auto r = route(db, ri);
    if (!r) return fail(status_of(r.error()));
    if (!storage::set_digits(out.dst_routed, r->routed_digits, r->routed_ton, in.dst_written.npi))
      return fail(Status::bad_address);
    out.dst_class = static_cast<uint8_t>(r->dst_class);
    out.dst_peer = r->peer;
    a.store_only = r->dst_class == storage::SmeClass::local;
    a.routed_digits = std::move(r->routed_digits);
  }
  uint64_t vp = submit.validity_s == 0 ? config.default_validity_s : submit.validity_s;
  if (vp > config.max_validity_s) vp = config.max_validity_s;
  out.time_expiry_ns = now_wall + static_cast<Nanos>(vp) * kNanosPerSecond;
  out.state = static_cast<uint8_t>(a.store_only ? storage::RecordState::historical
                                                : storage::RecordState::active);
  out.disposition = static_cast<uint8_t>(a.store_only ? storage::Disposition::stored_only
                                                      : storage::Disposition::none);
  return a;
}

unsigned shard_for(std::string_view routed_digits, unsigned shards) {
  if (shards <= 1) return 0;
  return static_cast<unsigned>(fnv(kFnvBasis, routed_digits.data(), routed_digits.size()) % shards);
}

uint64_t duplicate_key(const SmRecord& r) {
  uint64_t h = fnv(kFnvBasis, &r.src, sizeof r.src);
  h = fnv(h, &r.dst_routed, sizeof r.dst_routed);
  h = fnv(h, &r.message_ref, sizeof r.message_ref);
  h = fnv(h, &r.dcs, 1);
  const uint8_t udhi = r.flags & SmRecord::kFlagUdhi;
  h = fnv(h, &udhi, 1);
  h = fnv(h, &r.ud_length, 1);
  return fnv(h, r.user_data, sizeof r.user_data);
}

bool same_message(const SmRecord& a, const SmRecord& b) {
  return std::memcmp(&a.src, &b.src, sizeof a.src) == 0 &&
         std::memcmp(&a.dst_routed, &b.dst_routed, sizeof a.dst_routed) == 0 &&
         a.message_ref == b.message_ref && a.dcs == b.dcs &&
         (a.flags & SmRecord::kFlagUdhi) == (b.flags & SmRecord::kFlagUdhi) &&
         a.ud_length == b.ud_length &&
         std::memcmp(a.user_data, b.user_data, sizeof a.user_data) == 0;
}

}  // namespace cp::smsc
