// Time as services see it. Reactors own a Clock; the simulator injects a ManualClock so a run
// is a pure function of its seed. Monotonic nanoseconds for timers, wall time for records.
#pragma once

#include <cstdint>
#include <ctime>

namespace cp {

using Nanos = int64_t;
constexpr Nanos kNanosPerMicro = 1'000;
constexpr Nanos kNanosPerMilli = 1'000'000;
constexpr Nanos kNanosPerSecond = 1'000'000'000;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for timers and timeouts.
  virtual Nanos now() const = 0;
  // Wall-clock UTC time since the epoch, for records and logs.
  virtual Nanos wall_now() const = 0;
};

inline Nanos read_clock(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<Nanos>(ts.tv_sec) * kNanosPerSecond + ts.tv_nsec;
}

class SystemClock final : public Clock {
 public:
  Nanos now() const override { return read_clock(CLOCK_MONOTONIC); }
  Nanos wall_now() const override { return read_clock(CLOCK_REALTIME); }
  static SystemClock& instance() {
    static SystemClock clock;
    return clock;
  }
};

// Time that moves only when told to. Used by the simulator and by timer tests.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Nanos start = kNanosPerSecond,
                       Nanos wall_epoch = 1'700'000'000 * kNanosPerSecond)
      : now_(start), wall_epoch_(wall_epoch) {}
  Nanos now() const override { return now_; }
  Nanos wall_now() const override { return wall_epoch_ + now_; }
  void advance(Nanos delta) { now_ += delta; }
  void set(Nanos t) {
    if (t > now_) now_ = t;
  }
  // Steps the wall clock (it may go backwards, as a real one does under NTP).
  void set_wall(Nanos wall) { wall_epoch_ = wall - now_; }

 private:
  Nanos now_;
  Nanos wall_epoch_;
};

}  // namespace cp
