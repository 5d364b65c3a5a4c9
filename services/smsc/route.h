// Admission routing of a new message (ThemWi-SMSC design sections 2.4.1 and 2.4.2): where its
// destination is (local, GSM, a downstream peer, the upstream) and whether the sender may send
// there. A pure function of the addresses and the number database.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "services/smsc/numdb.h"
#include "storage/record.h"

namespace cp::smsc {

// Every refusal has its own code, returned to the submitter (docs/SMSC.md).
enum class RouteError : uint8_t {
  bad_address,             // empty, not digits, or too long
  invalid_nanp,            // a NANP number that breaks the NPA/NXX rules
  unroutable,              // no rule matches (e.g. 7 digits, a 4-digit number from outside)
  cannot_receive,          // a locally owned number of a type that cannot receive SMS
  no_upstream_permission,  // upstream destination, sender not permitted to send there
};
std::string_view to_string(RouteError error);

inline constexpr uint8_t kTonUnknown = 0;
inline constexpr uint8_t kTonInternational = 1;

struct RouteInput {
  uint8_t dst_ton = kTonUnknown;
  std::string_view dst_digits;  // as the originator wrote them, without '+'
  uint8_t src_ton = kTonUnknown;
  std::string_view src_digits;
  // GSM MO or the submit tool: only these may use 4-digit local numbers.
  bool locally_originated = false;
  // The downstream peer the message came from (its SMPP bind), if it came from one.
  std::optional<uint16_t> src_peer;
};

struct Route {
  storage::SmeClass dst_class = storage::SmeClass::upstream;
  uint8_t routed_ton = kTonInternational;
  std::string routed_digits;  // NANP: 1NPANXXXXXX (TON 1); short codes and 4-digit: as written
  uint16_t peer = 0;          // downstream peer index (Numdb::peer_name) when dst_class is one
};

Result<Route, RouteError> route(const Numdb& db, const RouteInput& in);

}  // namespace cp::smsc
