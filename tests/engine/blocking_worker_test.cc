// The engine's blocking worker (engine/blocking_worker.h), through Reactor::run_blocking on a
// real Engine: work runs off the reactor thread and its done back on it; jobs keep their order
// over every reactor; a reactor keeps serving (its timers fire) while a job blocks; and work
// queued when the engine stops still runs (a state file asked for is written).
#include "engine/blocking_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "tests/support/reactor_harness.h"

namespace cp::engine {
namespace {

using namespace std::chrono_literals;

EngineConfig two_cores() {
  EngineConfig c;
  c.cores = 2;
  c.pin_threads = false;
  c.backend = IoBackendKind::epoll;
  return c;
}

TEST(BlockingWorker, WorkOffTheReactorDoneBackOnItInOrder) {
  Engine engine(two_cores());
  std::mutex mutex;
  std::vector<int> work_order;
  std::atomic<int> done_on_own_reactor{0}, done_total{0}, work_on_a_reactor{0};
  std::thread::id reactor_thread[2];
  engine.on_each_core([&](Reactor& r) -> Result<void, std::string> {
    reactor_thread[r.core()] = std::this_thread::get_id();
    const unsigned core = r.core();
    for (int i = 0; i < 50; ++i) {
      r.run_blocking(
          [&, core, i] {
            const auto me = std::this_thread::get_id();
            if (me == reactor_thread[0] || me == reactor_thread[1]) ++work_on_a_reactor;
            std::lock_guard lock(mutex);
            work_order.push_back(static_cast<int>(core) * 1000 + i);
          },
          [&, core] {
            if (std::this_thread::get_id() == reactor_thread[core]) ++done_on_own_reactor;
            ++done_total;
          });
    }
    return {};
  });
  ASSERT_TRUE(engine.start());
  ASSERT_TRUE(test::eventually([&] { return done_total.load() == 100; }));
  EXPECT_EQ(done_on_own_reactor.load(), 100);
  EXPECT_EQ(work_on_a_reactor.load(), 0);
  EXPECT_EQ(engine.blocking_worker().jobs_run(), 100u);
  // Each reactor's jobs ran in the order it submitted them.
  std::lock_guard lock(mutex);
  int last[2] = {-1, -1};
  for (int v : work_order) {
    EXPECT_GT(v % 1000, last[v / 1000]);
    last[v / 1000] = v % 1000;
  }
}

struct TickCounter {
  Timer timer;
  Reactor* reactor = nullptr;
  std::atomic<int> ticks{0};
  static void on_tick(Timer&, void* self) {
    auto* t = static_cast<TickCounter*>(self);
    ++t->ticks;
    t->reactor->arm_timer(t->timer, 10 * kNanosPerMilli);
  }
};

TEST(BlockingWorker, TheReactorKeepsServingWhileAJobBlocks) {
  Engine engine(two_cores());
  TickCounter ticks;
  std::atomic<bool> release{false}, done{false};
  engine.on_each_core([&](Reactor& r) -> Result<void, std::string> {
    if (r.core() != 0) return {};
    ticks.reactor = &r;
    ticks.timer.set_callback(&TickCounter::on_tick, &ticks);
    r.arm_timer(ticks.timer, 10 * kNanosPerMilli);
    r.run_blocking(
        [&] {
          while (!release.load()) std::this_thread::sleep_for(1ms);
        },
        [&] { done = true; });
    return {};
  });
  ASSERT_TRUE(engine.start());
  // The job blocks the worker, not reactor 0: its timer keeps firing.
  EXPECT_TRUE(test::eventually([&] { return ticks.ticks.load() >= 10; }));
  EXPECT_FALSE(done.load());
  release = true;
  EXPECT_TRUE(test::eventually([&] { return done.load(); }));
  engine.request_stop();
  engine.join();
}

TEST(BlockingWorker, WorkQueuedAtStopStillRuns) {
  std::atomic<int> ran{0};
  {
    Engine engine(two_cores());
    engine.on_each_core([&](Reactor& r) -> Result<void, std::string> {
      if (r.core() != 0) return {};
      for (int i = 0; i < 20; ++i)
        r.run_blocking([&] {
          std::this_thread::sleep_for(5ms);
          ++ran;
        });
      return {};
    });
    ASSERT_TRUE(engine.start());
    engine.request_stop();
    engine.join();
  }  // the engine's destructor lets the worker finish
  EXPECT_EQ(ran.load(), 20);
}

}  // namespace
}  // namespace cp::engine
