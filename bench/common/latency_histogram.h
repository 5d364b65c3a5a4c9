// A fixed-size, log-linear latency histogram for the benchmarks (the HdrHistogram idea, written
// small): values in nanoseconds; below 128 ns every value has its own bucket, above that each
// power of two is split into 64 linear sub-buckets, so a reported percentile is within 1/64
// (~1.6 %) of the true value. 2,304 buckets (18 KiB) cover up to 2^41 ns (~36 min); larger values
// land in the last bucket. Nothing is allocated after construction, recording is a few
// instructions. Not thread-safe: one histogram per thread, merged at the end.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace cp::bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 6;
  static constexpr uint64_t kSubCount = uint64_t{1} << kSubBits;  // linear buckets per octave
  static constexpr uint64_t kExactMax = 2 * kSubCount;            // values below: exact
  static constexpr int kExponentMax = 40;                         // top octave [2^40, 2^41)
  static constexpr size_t kBucketCount =
      kExactMax + static_cast<size_t>(kExponentMax - kSubBits) * kSubCount;

  void record(uint64_t value_ns) {
    ++counts_[bucket_of(value_ns)];
    ++total_count_;
    sum_ns_ += value_ns;
    max_ns_ = std::max(max_ns_, value_ns);
  }

  void merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
    total_count_ += other.total_count_;
    sum_ns_ += other.sum_ns_;
    max_ns_ = std::max(max_ns_, other.max_ns_);
  }

  void reset() { *this = LatencyHistogram{}; }

  uint64_t count() const { return total_count_; }
  uint64_t max_ns() const { return max_ns_; }
  double mean_ns() const {
    return total_count_ ? static_cast<double>(sum_ns_) / static_cast<double>(total_count_) : 0;
  }

  // The value at quantile `q` (0 < q <= 1): the midpoint of the bucket holding the
  // ceil(q * count)-th smallest value, capped at the largest value seen. 0 when empty.
  uint64_t quantile_ns(double q) const {
    if (total_count_ == 0) return 0;
    auto rank = static_cast<uint64_t>(q * static_cast<double>(total_count_) + 0.999999);
    rank = std::clamp<uint64_t>(rank, 1, total_count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBucketCount; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(bucket_mid(i), max_ns_);
    }
    return max_ns_;
  }

  static size_t bucket_of(uint64_t v) {
    if (v < kExactMax) return static_cast<size_t>(v);
    const int exponent = static_cast<int>(std::bit_width(v)) - 1;
    if (exponent > kExponentMax) return kBucketCount - 1;
    const int shift = exponent - kSubBits;
    const uint64_t sub = (v >> shift) - kSubCount;  // 0..63
    return static_cast<size_t>(kExactMax +
                               static_cast<uint64_t>(exponent - kSubBits - 1) * kSubCount + sub);
  }

  static uint64_t bucket_mid(size_t index) {
    if (index < kExactMax) return index;
    const uint64_t rel = index - kExactMax;
    const int shift = static_cast<int>(rel / kSubCount) + 1;
    const uint64_t lower = (kSubCount + rel % kSubCount) << shift;
    return lower + (uint64_t{1} << shift) / 2;
  }

 private:
  std::array<uint64_t, kBucketCount> counts_{};
  uint64_t total_count_ = 0;
  uint64_t sum_ns_ = 0;
  uint64_t max_ns_ = 0;
};

}  // namespace cp::bench
