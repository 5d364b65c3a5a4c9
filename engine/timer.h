// Timers owned by one reactor: an intrusive binary min-heap of caller-owned Timer objects with a
// fixed capacity chosen at start-up. Arming never allocates; a full heap is a configuration
// error caught by an assertion (capacity = max connections + service timers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/assert.h"
#include "base/clock.h"

namespace cp::engine {

class Timer {
 public:
  using Callback = void (*)(Timer&, void* context);
  Timer() = default;
  Timer(Callback cb, void* context) : callback_(cb), context_(context) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void set_callback(Callback cb, void* context) {
    callback_ = cb;
    context_ = context;
  }
  bool armed() const { return heap_index_ != kNotArmed; }
  Nanos deadline() const { return deadline_; }

 private:
  friend class TimerHeap;
  static constexpr size_t kNotArmed = SIZE_MAX;
  Callback callback_ = nullptr;
  void* context_ = nullptr;
  Nanos deadline_ = 0;
  uint64_t sequence_ = 0;  // ties broken by arming order: deterministic under the simulator
  size_t heap_index_ = kNotArmed;
};

class TimerHeap {
 public:
  // `capacity` is the room reserved up front, not a limit: the heap grows past it when more
  // timers are armed at once (it never holds more than the Timer objects that exist, and their
  // owners — connections, sessions — are bounded by their own limits). A peer's connection that
  // arms one more timer than planned must not abort the daemon (issue 15).
  explicit TimerHeap(size_t capacity) : capacity_(capacity) { heap_.reserve(capacity); }

  // (Re)arms `t` to fire at `deadline`.
  void arm(Timer& t, Nanos deadline);
  void cancel(Timer& t);
  // Earliest deadline, or -1 when nothing is armed.
  Nanos next_deadline() const { return heap_.empty() ? -1 : heap_.front()->deadline_; }
  // Fires every timer whose deadline is <= now; returns how many fired. A callback may re-arm.
  size_t run_expired(Nanos now, size_t max_fired = SIZE_MAX);
  size_t size() const { return heap_.size(); }
  size_t capacity() const { return capacity_; }
  // The most timers armed at once so far.
  size_t high_water() const { return high_water_; }

 private:
  bool less(size_t a, size_t b) const {
    const Timer* x = heap_[a];
    const Timer* y = heap_[b];
    return x->deadline_ != y->deadline_ ? x->deadline_ < y->deadline_ : x->sequence_ < y->sequence_;
  }
  void swap_nodes(size_t a, size_t b);
  void sift_up(size_t i);
  void sift_down(size_t i);
  void remove_at(size_t i);

  size_t capacity_;
  size_t high_water_ = 0;
  uint64_t next_sequence_ = 0;
  std::vector<Timer*> heap_;
};

}  // namespace cp::engine
