// Admission of a new message into the SMSC (ThemWi-SMSC design 2.4): the checks the core runs on
// every SUBMIT before anything is written — the user data is well formed, PID and DCS pass the
// filters when the submitter is untrusted (2.4.3), the destination routes and the sender may
// send there (2.4.1, 2.4.2), or the "deliver to this IMSI" mode skips routing — and the fields
// the core sets: routed destination, destination class and peer, expiry from the validity
// period (2.4.4), and the duplicate key (2.4.5). A pure function; docs/SMSC.md.
#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"
#include "services/smsc/numdb.h"
#include "services/smsc/wire.h"
#include "storage/record.h"

namespace cp::smsc {

// Which PID and DCS octets an untrusted submitter may use (design 2.4.3).
struct PidDcsFilter {
  std::bitset<256> pid;
  std::bitset<256> dcs;
  // The design's default: PID 0x00-0x1F, DCS 0x00 (GSM 7 bit) and 0x08 (UCS-2).
  static PidDcsFilter defaults();
  // "0x00-0x1f,0x40" style lists: hex or decimal octets and inclusive ranges, comma separated.
  static Result<std::bitset<256>, std::string> parse_set(std::string_view text);
};

struct AdmissionConfig {
  uint32_t default_validity_s = 2 * 24 * 3600;  // applied when the submitter sets 0
  uint32_t max_validity_s = 7 * 24 * 3600;      // a longer request is capped to this
  PidDcsFilter filter = PidDcsFilter::defaults();
};

// What admission decided besides the record it filled in.
struct Admitted {
  std::string routed_digits;  // the destination key: shard choice, duplicate and cancel keys
  bool store_only = false;    // a `local` destination: written historical, delivery final
};

// Checks `submit` and fills `out` (a copy of submit.record with the core's fields set: routed
// destination, classes, state, disposition, expiry; identity and entry time are the store's).
Result<Admitted, wire::Status> admit(const Numdb& db, const AdmissionConfig& config,
                                     const wire::Submit& submit, Nanos now_wall,
                                     storage::SmRecord& out);

// The user data is consistent with DCS and UDHI: at most 140 octets (160 septets), a header
// that fits. False for anything a handset or SMPP peer could not have sent.
bool user_data_valid(const storage::SmRecord& record);

// The shard a message with this routed destination belongs to: every message to one
// destination lands on one core, so its order, cancel and duplicate checks stay there.
unsigned shard_for(std::string_view routed_digits, unsigned shards);

// The duplicate key of an active message (design 2.4.5): originator, routed destination, message
// reference and the content (DCS, UDHI, user data). Equal keys are checked field by field.
uint64_t duplicate_key(const storage::SmRecord& record);
bool same_message(const storage::SmRecord& a, const storage::SmRecord& b);

}  // namespace cp::smsc
