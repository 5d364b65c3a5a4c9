// Reconnect delays: exponential from `min` to `max`, each spread by up to a quarter either way
// (xorshift jitter seeded per instance), so the links of one daemon, or of many daemons that
// lost the same peer, do not all come back in the same instant. reset() after a success.
#pragma once

#include <algorithm>
#include <cstdint>

#include "base/clock.h"

namespace cp {

class Backoff {
 public:
  Backoff(Nanos min, Nanos max, uint64_t seed)
      : min_(min), max_(std::max(min, max)), next_(min), state_(seed | 1) {}

  // The delay before the next attempt; doubles the one after it.
  Nanos next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    const Nanos spread = next_ / 2;
    const Nanos delay =
        next_ - next_ / 4 +
        (spread > 0 ? static_cast<Nanos>(state_ % static_cast<uint64_t>(spread)) : 0);
    next_ = std::min(next_ * 2, max_);
    return delay;
  }
  void reset() { next_ = min_; }

 private:
  Nanos min_, max_, next_;
  uint64_t state_;
};

}  // namespace cp
