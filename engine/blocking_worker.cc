#include "engine/blocking_worker.h"

#include <concurrentqueue/blockingconcurrentqueue.h>
#include <pthread.h>

#include <chrono>
#include <csignal>

#include "base/log.h"
#include "engine/reactor.h"

namespace cp::engine {

namespace {
// Completed jobs one reactor has not drained yet. Control-plane work is rare; when a stopped
// reactor leaves its port full, the worker waits (see thread_main) rather than grow.
constexpr size_t kPortCapacity = 1024;
constexpr size_t kPollBatch = 32;
}  // namespace

struct BlockingWorker::Queue {
  moodycamel::BlockingConcurrentQueue<Queued> items;
};

BlockingWorker::Port::Port(BlockingWorker& worker, Reactor& reactor)
    : worker_(worker), reactor_(reactor), completed_(kPortCapacity) {}

BlockingWorker::Port::~Port() {
  Job* job = nullptr;
  while (completed_.try_pop(job)) delete job;
}

void BlockingWorker::Port::submit(std::function<void()> work, std::function<void()> done) {
  ++in_flight_;
  worker_.enqueue({new Job{std::move(work), std::move(done)}, this});
}

bool BlockingWorker::Port::poll() {
  Job* batch[kPollBatch];
  bool any = false;
  for (size_t n; (n = completed_.try_pop_batch(batch)) > 0;) {
    for (size_t i = 0; i < n; ++i) {
      std::unique_ptr<Job> job(batch[i]);
      --in_flight_;
      if (job->done) job->done();
    }
    any = true;
  }
  return any;
}

BlockingWorker::BlockingWorker(std::string name)
    : name_(std::move(name)), queue_(std::make_unique<Queue>()) {
  thread_ = std::thread([this] { thread_main(); });
}

BlockingWorker::~BlockingWorker() {
  stopping_.store(true, std::memory_order_release);
  enqueue({nullptr, nullptr});  // behind every job already queued
  thread_.join();
}

void BlockingWorker::enqueue(Queued item) {
  // Unbounded by design of the callers: a job per operator command or state change.
  queue_->items.enqueue(item);
}

void BlockingWorker::thread_main() {
  set_thread_log_tag(name_);
  // Signals are for the thread that waits for them (the daemon's main thread).
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  for (;;) {
    Queued item{};
    queue_->items.wait_dequeue(item);
    if (item.port == nullptr) {
      // The stop marker. Jobs of other producers may still be queued (the queue keeps each
      // producer's order, not one order over all): their work runs, their done is dropped.
      while (queue_->items.try_dequeue(item)) {
        if (item.port == nullptr) continue;
        std::unique_ptr<Job> job(item.job);
        if (job->work) job->work();
        jobs_run_.fetch_add(1, std::memory_order_relaxed);
      }
      return;
    }
    std::unique_ptr<Job> job(item.job);
    if (job->work) job->work();
    jobs_run_.fetch_add(1, std::memory_order_relaxed);
    // Hand the job back for its `done`. A full port means its reactor is not draining (it is
    // stopping); once the worker is told to stop, the `done` is dropped.
    Job* raw = job.release();
    while (!item.port->completed_.try_push(raw)) {
      if (stopping_.load(std::memory_order_acquire)) {
        delete raw;
        raw = nullptr;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (raw != nullptr) item.port->reactor_.notify();
  }
}

}  // namespace cp::engine
