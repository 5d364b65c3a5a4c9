#include "services/smsc/route.h"

#include <algorithm>

#include "services/smsc/nanp.h"

namespace cp::smsc {
namespace {

constexpr size_t kDigitsMax = 20;

// The 10 NANP digits of an address in one of the forms the design accepts: TON 1 with "1" +
// 10 digits, or TON 0 with 10 or 11 ("1" + 10) digits. nullopt for other shapes.
std::optional<std::string> nanp_of(uint8_t ton, std::string_view digits) {
  if (ton == kTonInternational) {
    if (digits.size() == 11 && digits.front() == '1') return std::string(digits.substr(1));
    return std::nullopt;
  }
  if (ton != kTonUnknown) return std::nullopt;
  return nanp_ten_digits(digits);
}

Result<Route, RouteError> destination(const Numdb& db, const RouteInput& in) {
  const std::string_view d = in.dst_digits;
  if (!all_digits(d) || d.size() > kDigitsMax) return fail(RouteError::bad_address);
  Route r;
  // International, not +1: the outside world.
  if (in.dst_ton == kTonInternational && d.front() != '1') {
    r.dst_class = storage::SmeClass::upstream;
    r.routed_ton = kTonInternational;
    r.routed_digits = std::string(d);
    return r;
  }
  // NANP, in +1, 10-digit or 11-digit form.
  if (const auto ten = nanp_of(in.dst_ton, d)) {
    if (check_nanp(*ten) != NanpCheck::ok) return fail(RouteError::invalid_nanp);
    r.routed_ton = kTonInternational;
    r.routed_digits = "1" + *ten;
    if (const auto local = db.local_nanp(*ten)) {
      if (local->type == NumberType::nosms) return fail(RouteError::cannot_receive);
      r.dst_class =
          local->type == NumberType::gsm ? storage::SmeClass::gsm : storage::SmeClass::local;
      return r;
    }
    if (const auto peer = db.peer_of(*ten)) {
      r.dst_class = storage::SmeClass::downstream;
      r.peer = *peer;
      return r;
    }
    r.dst_class = storage::SmeClass::upstream;
    return r;
  }
  if (in.dst_ton == kTonInternational) return fail(RouteError::invalid_nanp);  // +1 but not 11
  // USA short codes.
  if (in.dst_ton == kTonUnknown && is_us_short_code(d)) {
    r.dst_class = storage::SmeClass::upstream;
    r.routed_ton = kTonUnknown;
    r.routed_digits = std::string(d);
    return r;
  }
  // 4-digit local numbers, for locally originated messages only.
  if (in.locally_originated && in.dst_ton == kTonUnknown && d.size() == 4) {
    if (const auto local = db.local_short(d)) {
      if (local->type == NumberType::nosms) return fail(RouteError::cannot_receive);
      r.dst_class =
          local->type == NumberType::gsm ? storage::SmeClass::gsm : storage::SmeClass::local;
      r.routed_ton = kTonUnknown;
      r.routed_digits = std::string(d);
      return r;
    }
  }
  return fail(RouteError::unroutable);
}

// 2.4.2: the upstream takes locally owned senders provisioned for outside SMS; and (1.2) a
// downstream peer's messages from its own numbers where the peers file grants it (`upstream`).
bool may_send_upstream(const Numdb& db, const RouteInput& in) {
  const auto src = nanp_of(in.src_ton, in.src_digits);
  if (!src) return false;
  if (const auto owned = db.local_nanp(*src)) return (owned->flags & NumberEntry::kSmsProv) != 0;
  if (!in.src_peer) return false;
  const auto block = db.peer_block_of(*src);
  return block && block->peer == *in.src_peer && (block->flags & PeerBlock::kUpstream) != 0;
}

}  // namespace

std::string_view to_string(RouteError error) {
  switch (error) {
    case RouteError::bad_address:
      return "bad destination address";
    case RouteError::invalid_nanp:
      return "invalid NANP number";
    case RouteError::unroutable:
      return "unroutable destination";
    case RouteError::cannot_receive:
      return "destination cannot receive SMS";
    case RouteError::no_upstream_permission:
      return "sender not permitted to send to the outside world";
  }
  return "?";
}

Result<Route, RouteError> route(const Numdb& db, const RouteInput& in) {
  auto r = destination(db, in);
  if (!r) return r;
  if (r->dst_class == storage::SmeClass::upstream && !may_send_upstream(db, in))
    return fail(RouteError::no_upstream_permission);
  return r;
}

}  // namespace cp::smsc
