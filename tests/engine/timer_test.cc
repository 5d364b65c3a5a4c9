// TimerHeap: order, ties in arming order, cancel, re-arm from a callback.
#include <gtest/gtest.h>

#include <vector>

#include "engine/timer.h"

namespace cp::engine {
namespace {

struct TimerRecorder {
  std::vector<int> fired;
};

struct Tagged {
  Timer timer;
  int tag = 0;
  TimerRecorder* rec = nullptr;
};

void record(Timer&, void* ctx) {
  auto* t = static_cast<Tagged*>(ctx);
  t->rec->fired.push_back(t->tag);
}

TEST(TimerHeap, FiresInDeadlineOrderTiesByArmingOrder) {
  TimerHeap heap(16);
  TimerRecorder rec;
  std::vector<Tagged> timers(6);
  const Nanos deadlines[] = {50, 10, 30, 10, 40, 20};
  for (int i = 0; i < 6; ++i) {
    timers[i].tag = i;
    timers[i].rec = &rec;
    timers[i].timer.set_callback(&record, &timers[i]);
    heap.arm(timers[i].timer, deadlines[i]);
  }
  heap.cancel(timers[4].timer);
  EXPECT_EQ(heap.next_deadline(), 10);
  EXPECT_EQ(heap.run_expired(30), 4u);
  EXPECT_EQ(rec.fired, (std::vector<int>{1, 3, 5, 2}));
  EXPECT_EQ(heap.run_expired(100), 1u);
  EXPECT_EQ(rec.fired.back(), 0);
  EXPECT_EQ(heap.next_deadline(), -1);
}

// The initial room is not a limit (issue 15: an unidentified RSPRO connection arms two timers,
// and enough of them aborted the daemon on an assert): more timers than reserved still fire in
// order.
TEST(TimerHeap, GrowsPastItsReservedRoom) {
  TimerHeap heap(2);
  TimerRecorder rec;
  std::vector<Tagged> timers(100);
  for (int i = 0; i < 100; ++i) {
    timers[i].tag = i;
    timers[i].rec = &rec;
    timers[i].timer.set_callback(&record, &timers[i]);
    heap.arm(timers[i].timer, 1000 - i);
  }
  EXPECT_EQ(heap.size(), 100u);
  EXPECT_EQ(heap.high_water(), 100u);
  EXPECT_EQ(heap.run_expired(2000), 100u);
  ASSERT_EQ(rec.fired.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(rec.fired[i], 99 - i);
}

TEST(TimerHeap, CallbackMayRearm) {
  TimerHeap heap(4);
  int count = 0;
  struct Ctx {
    TimerHeap* heap;
    int* count;
  } ctx{&heap, &count};
  Timer t(
      [](Timer& self, void* c) {
        auto* x = static_cast<Ctx*>(c);
        if (++*x->count < 3) x->heap->arm(self, self.deadline() + 10);
      },
      &ctx);
  heap.arm(t, 10);
  heap.run_expired(100);
  EXPECT_EQ(count, 3);
  EXPECT_FALSE(t.armed());
}

}  // namespace
}  // namespace cp::engine
