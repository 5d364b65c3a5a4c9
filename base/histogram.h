// A fixed-size latency histogram: log-linear buckets (8 per power of two, so a quantile is
// within 12.5 % of the truth) from 1 ns to ~2^40 ns. Written by one thread with relaxed atomics,
// read by any (control commands, metrics); no allocation, no locks.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>

namespace cp {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 3;
  static constexpr unsigned kSub = 1u << kSubBits;
  static constexpr unsigned kBuckets = 41 * kSub;

  void record(int64_t ns) {
    const unsigned b = bucket_of(ns < 1 ? 1 : static_cast<uint64_t>(ns));
    counts_[b].store(counts_[b].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // The value at quantile q (0..1): the upper edge of the bucket it falls in; 0 when empty.
  int64_t quantile(double q) const {
    const uint64_t total = count();
    if (total == 0) return 0;
    auto rank = static_cast<uint64_t>(q * static_cast<double>(total));
    if (rank >= total) rank = total - 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < kBuckets; ++b) {
      seen += counts_[b].load(std::memory_order_relaxed);
      if (seen > rank) return static_cast<int64_t>(upper_edge(b));
    }
    return static_cast<int64_t>(upper_edge(kBuckets - 1));
  }

  static unsigned bucket_of(uint64_t v) {
    const unsigned log2 = 63u - static_cast<unsigned>(std::countl_zero(v));
    if (log2 < kSubBits) return static_cast<unsigned>(v);  // exact below 8
    const unsigned sub = static_cast<unsigned>(v >> (log2 - kSubBits)) & (kSub - 1);
    const unsigned b = (log2 - kSubBits + 1) * kSub + sub;
    return b < kBuckets ? b : kBuckets - 1;
  }
  static uint64_t upper_edge(unsigned b) {
    if (b < kSub) return b;
    const unsigned log2 = b / kSub + kSubBits - 1;
    const uint64_t sub = b % kSub;
    return ((kSub + sub + 1) << (log2 - kSubBits)) - 1;
  }

 private:
  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
  std::atomic<uint64_t> count_{0};
};

}  // namespace cp
