// Rate limit for a warning that can repeat: one line per interval at most, saying how many
// occurrences were held back since the last one (docs/ARCHITECTURE.md, "Logs": one line per
// event, repeated warnings rate-limited). Not thread-safe: one per owner thread.
//
//   if (uint64_t held; throttle_.pass(clock.now(), held))
//     CP_LOG_WARN("accept failed: {} ({} more not logged)", why, held);
#pragma once

#include <cstdint>

#include "base/clock.h"

namespace cp {

class LogThrottle {
 public:
  static constexpr Nanos kDefaultInterval = 10 * kNanosPerSecond;

  explicit LogThrottle(Nanos interval = kDefaultInterval) : interval_(interval) {}

  // True when this occurrence is to be logged; `held_back` is then how many were not since the
  // last logged one. False (and counted) otherwise.
  bool pass(Nanos now, uint64_t& held_back) {
    if (logged_ && now - last_ < interval_) {
      ++held_;
      return false;
    }
    held_back = held_;
    held_ = 0;
    last_ = now;
    logged_ = true;
    return true;
  }

 private:
  Nanos interval_;
  Nanos last_ = 0;
  uint64_t held_ = 0;
  bool logged_ = false;
};

}  // namespace cp
