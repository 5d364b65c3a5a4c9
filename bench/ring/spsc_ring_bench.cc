// Cross-thread queue benchmarks (Google Benchmark). Two groups:
//
// 1. Queues between two threads pinned to different CPUs: cp::SpscRing<uint64_t> (single and
//    batched push/pop) against moodycamel::ReaderWriterQueue and moodycamel::ConcurrentQueue
//    (single and bulk). The producer thread, started inside the benchmark, pushes consecutive
//    numbers as fast as the queue takes them; the benchmark thread pops and checks the order.
//    items_per_second is the queue's throughput. PEERS.md: ~30 M items/s for a good SPSC ring
//    and ReaderWriterQueue on this kind of machine, ConcurrentQueue 3-5x slower.
//
// 2. The engine's cross-core path: an Engine with two reactors (pinned to CPUs 0 and 1) and
//    CrossCoreMessages between them through Reactor::send_to. PingPong: core 0 sends, core 1
//    answers, core 0 sends the next (items_per_second = round trips/s, rtt_p50/p99_us from a
//    histogram). OneWay: core 0 sends as fast as the ring takes them, retrying on the next loop
//    turn when send_to() returns false (backpressure); items_per_second = messages/s.
//
// Every benchmark uses real time: the work happens on threads other than the benchmark's.
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>

// moodycamel's headers trip -Wnull-dereference once inlined here; they are not ours to fix.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <concurrentqueue/concurrentqueue.h>
#include <readerwriterqueue/readerwriterqueue.h>
#pragma GCC diagnostic pop

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <thread>

#include "base/log.h"
#include "base/spsc_ring.h"
#include "bench/common/latency_histogram.h"
#include "bench/common/process_util.h"
#include "engine/engine.h"

namespace cp::bench {
namespace {

constexpr size_t kQueueCapacity = 4096;  // the engine's cross-core ring capacity
constexpr size_t kBatchItems = 64;       // the reactor's inbox batch
constexpr int kConsumerCpu = 0;
constexpr int kProducerCpu = 1;

// Pins the calling thread to `cpu` for its lifetime, then restores the previous affinity.
class ScopedPin {
 public:
  explicit ScopedPin(int cpu) {
    saved_ok_ = pthread_getaffinity_np(pthread_self(), sizeof saved_, &saved_) == 0;
    pinned_ = pin_thread_to_cpu(cpu);
  }
  ~ScopedPin() {
    if (saved_ok_) pthread_setaffinity_np(pthread_self(), sizeof saved_, &saved_);
  }
  bool pinned() const { return pinned_; }

 private:
  cpu_set_t saved_{};
  bool saved_ok_ = false;
  bool pinned_ = false;
};

// ---- queue adapters: push_some() pushes values first, first+1, ...; pop_some() pops
// -------------- Both return how many items moved (0 when the queue is full / empty).

struct SpscSingle {
  SpscRing<uint64_t> ring{kQueueCapacity};
  size_t push_some(uint64_t first) { return ring.try_push(first) ? 1 : 0; }
  size_t pop_some(uint64_t* out) { return ring.try_pop(*out) ? 1 : 0; }
};

struct SpscBatch {
  SpscRing<uint64_t> ring{kQueueCapacity};
  size_t push_some(uint64_t first) {
    uint64_t items[kBatchItems];
    for (size_t i = 0; i < kBatchItems; ++i) items[i] = first + i;
    return ring.try_push_batch(std::span<const uint64_t>(items, kBatchItems));
  }
  size_t pop_some(uint64_t* out) {
    return ring.try_pop_batch(std::span<uint64_t>(out, kBatchItems));
  }
};

struct RwQueue {
  moodycamel::ReaderWriterQueue<uint64_t> queue{kQueueCapacity};
  size_t push_some(uint64_t first) { return queue.try_enqueue(first) ? 1 : 0; }
  size_t pop_some(uint64_t* out) { return queue.try_dequeue(*out) ? 1 : 0; }
};

// ConcurrentQueue with tokens, its fast path for a known producer and consumer.
struct CQueueSingle {
  moodycamel::ConcurrentQueue<uint64_t> queue{kQueueCapacity};
  std::unique_ptr<moodycamel::ProducerToken> producer;  // made on the producer thread
  moodycamel::ConsumerToken consumer{queue};
  void on_producer_thread() { producer = std::make_unique<moodycamel::ProducerToken>(queue); }
  size_t push_some(uint64_t first) { return queue.try_enqueue(*producer, first) ? 1 : 0; }
  size_t pop_some(uint64_t* out) { return queue.try_dequeue(consumer, *out) ? 1 : 0; }
};

struct CQueueBulk : CQueueSingle {
  size_t push_some(uint64_t first) {
    uint64_t items[kBatchItems];
    for (size_t i = 0; i < kBatchItems; ++i) items[i] = first + i;
    // All or nothing; fall back to one item when the bulk does not fit.
    if (queue.try_enqueue_bulk(*producer, items, kBatchItems)) return kBatchItems;
    return queue.try_enqueue(*producer, first) ? 1 : 0;
  }
  size_t pop_some(uint64_t* out) { return queue.try_dequeue_bulk(consumer, out, kBatchItems); }
};

template <typename Q>
concept NeedsProducerSetup = requires(Q q) {
  q.on_producer_thread();
};

template <typename Queue>
void BM_TwoThreads(benchmark::State& state) {
  auto q = std::make_unique<Queue>();
  std::atomic<bool> stop{false};
  ScopedPin consumer_pin(kConsumerCpu);
  std::atomic<bool> producer_pinned{true};
  std::thread producer([&] {
    producer_pinned.store(pin_thread_to_cpu(kProducerCpu));
    if constexpr (NeedsProducerSetup<Queue>) q->on_producer_thread();
    uint64_t next = 0;
    while (!stop.load(std::memory_order_relaxed)) next += q->push_some(next);
  });
  uint64_t expected = 0;
  uint64_t out[kBatchItems];
  bool in_order = true;
  for (auto _ : state) {
    size_t n;
    while ((n = q->pop_some(out)) == 0) {
    }
    in_order &= out[0] == expected && out[n - 1] == expected + n - 1;
    expected += n;
  }
  stop.store(true);
  producer.join();
  while (q->pop_some(out) != 0) {  // empty it: ConcurrentQueue asserts on some non-empty states
  }
  if (!in_order) state.SkipWithError("items arrived out of order");
  if (!consumer_pin.pinned() || !producer_pinned.load()) state.SetLabel("NOT PINNED");
  state.SetItemsProcessed(static_cast<int64_t>(expected));
}

BENCHMARK_TEMPLATE(BM_TwoThreads, SpscSingle)->Name("SpscRing/single")->UseRealTime();
BENCHMARK_TEMPLATE(BM_TwoThreads, SpscBatch)->Name("SpscRing/batch64")->UseRealTime();
BENCHMARK_TEMPLATE(BM_TwoThreads, RwQueue)->Name("moodycamel_RWQueue/single")->UseRealTime();
BENCHMARK_TEMPLATE(BM_TwoThreads, CQueueSingle)
    ->Name("moodycamel_ConcurrentQueue/single")
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_TwoThreads, CQueueBulk)
    ->Name("moodycamel_ConcurrentQueue/bulk64")
    ->UseRealTime();

// ---- the engine's cross-core path ---------------------------------------------------------------

constexpr uint64_t kPingPongsPerIteration = 1000;
constexpr uint64_t kOneWayPerIteration = 100000;

// Shared between the benchmark thread and the two reactors. Fields are owned as marked; the
// atomics hand one iteration over: the benchmark thread sets `start` and sleeps on `done`.
struct CrossCore {
  enum class Mode { ping_pong, one_way } mode;
  std::atomic<bool> start{false};
  std::atomic<bool> done{false};
  // core 0 (sender)
  uint64_t to_send = 0;
  uint64_t remaining = 0;
  uint64_t ring_full_retries = 0;
  LatencyHistogram rtt;
  // core 1 (receiver)
  uint64_t received = 0;

  void finish() {
    done.store(true, std::memory_order_release);
    done.notify_one();
  }
};

void on_pong(engine::Reactor& core0, const engine::CrossCoreMessage& msg);

void on_ping(engine::Reactor& core1, const engine::CrossCoreMessage& msg) {
  engine::CrossCoreMessage pong = msg;
  pong.fn = &on_pong;
  const bool sent = core1.send_to(msg.from_core, pong);  // one message in flight: never full
  CP_ASSERT(sent);
}

void send_ping(engine::Reactor& core0, CrossCore& b) {
  engine::CrossCoreMessage ping;
  ping.fn = &on_ping;
  ping.ptr = &b;
  ping.args[0] = static_cast<uint64_t>(core0.clock().now());
  const bool sent = core0.send_to(1, ping);
  CP_ASSERT(sent);
}

void on_pong(engine::Reactor& core0, const engine::CrossCoreMessage& msg) {
  auto& b = *static_cast<CrossCore*>(msg.ptr);
  b.rtt.record(static_cast<uint64_t>(core0.clock().now()) - msg.args[0]);
  if (--b.remaining > 0) {
    send_ping(core0, b);
  } else {
    b.finish();
  }
}

void on_item(engine::Reactor&, const engine::CrossCoreMessage& msg) {
  auto& b = *static_cast<CrossCore*>(msg.ptr);
  ++b.received;
  if (msg.args[0] + 1 == msg.args[1]) b.finish();  // the last of this iteration (FIFO ring)
}

// Runs on core 0 every loop turn: starts an iteration when told to, and in one-way mode pushes
// until the ring is full (send_to() false), the rest waiting for the next turn.
class Driver final : public engine::Poller {
 public:
  Driver(engine::Reactor& core0, CrossCore& b) : core0_(core0), b_(b) {}

  bool poll() override {
    bool worked = false;
    if (b_.start.exchange(false, std::memory_order_acq_rel)) {
      worked = true;
      if (b_.mode == CrossCore::Mode::ping_pong) {
        b_.remaining = kPingPongsPerIteration;
        send_ping(core0_, b_);
      } else {
        b_.to_send = kOneWayPerIteration;
        sent_ = 0;
      }
    }
    if (b_.mode == CrossCore::Mode::one_way && sent_ < b_.to_send) {
      worked = true;
      engine::CrossCoreMessage item;
      item.fn = &on_item;
      item.ptr = &b_;
      item.args[1] = b_.to_send;
      for (; sent_ < b_.to_send; ++sent_) {
        item.args[0] = sent_;
        if (!core0_.send_to(1, item)) {
          ++b_.ring_full_retries;  // backpressure: keep it, try again next turn
          break;
        }
      }
    }
    return worked;
  }

  bool has_work() const override {
    return b_.start.load(std::memory_order_acquire) ||
           (b_.mode == CrossCore::Mode::one_way && sent_ < b_.to_send);
  }

 private:
  engine::Reactor& core0_;
  CrossCore& b_;
  uint64_t sent_ = 0;
};

void BM_CrossCore(benchmark::State& state, CrossCore::Mode mode) {
  auto b = std::make_unique<CrossCore>();
  b->mode = mode;
  engine::EngineConfig config;
  config.cores = 2;
  config.pin_threads = true;  // core i on CPU i
  config.reactor.max_connections = 16;
  config.io.queue_depth = 64;
  config.io.recv_buffer_count = 16;
  engine::Engine engine(config);
  std::unique_ptr<Driver> driver;
  engine.on_each_core([&](engine::Reactor& r) -> Result<void, std::string> {
    if (r.core() == 0) {
      driver = std::make_unique<Driver>(r, *b);
      r.add_poller(*driver);
    }
    return {};
  });
  if (auto ok = engine.start(); !ok) {
    state.SkipWithError(ok.error().c_str());
    return;
  }
  for (auto _ : state) {
    b->done.store(false, std::memory_order_relaxed);
    b->start.store(true, std::memory_order_release);
    engine.reactor(0).notify();
    b->done.wait(false, std::memory_order_acquire);
  }
  engine.request_stop();
  engine.join();
  const uint64_t per_iteration =
      mode == CrossCore::Mode::ping_pong ? kPingPongsPerIteration : kOneWayPerIteration;
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * per_iteration));
  state.SetLabel(std::string(engine.backend_name()));
  if (mode == CrossCore::Mode::ping_pong) {
    state.counters["rtt_p50_us"] = static_cast<double>(b->rtt.quantile_ns(0.50)) / 1e3;
    state.counters["rtt_p99_us"] = static_cast<double>(b->rtt.quantile_ns(0.99)) / 1e3;
    state.counters["rtt_mean_us"] = b->rtt.mean_ns() / 1e3;
  } else {
    state.counters["ring_full_per_1k"] =
        1000.0 * static_cast<double>(b->ring_full_retries) /
        static_cast<double>(state.iterations() * kOneWayPerIteration);
  }
}

BENCHMARK_CAPTURE(BM_CrossCore, PingPong, CrossCore::Mode::ping_pong)
    ->Name("Engine_CrossCore/PingPong")
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_CrossCore, OneWay, CrossCore::Mode::one_way)
    ->Name("Engine_CrossCore/OneWay")
    ->UseRealTime();

}  // namespace
}  // namespace cp::bench

int main(int argc, char** argv) {
  cp::set_log_level(cp::LogLevel::warn);  // no "engine started" line per benchmark run
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
