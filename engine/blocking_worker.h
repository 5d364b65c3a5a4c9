// The engine's thread for blocking control-plane work: state files written whole with fsync
// (remote-SIM slotmaps, the SMSC peer index), configuration and database reloads (the number
// database, SMPP accounts). A reactor hands it a job and goes on; the job's `work` runs on the
// worker thread, its `done` later on the reactor that submitted it. Reactors never block on a
// disk that is slow to fsync or a file that is large to parse.
//
//   reactor k --submit--> [moodycamel BlockingConcurrentQueue: many producers, one consumer]
//                              |  worker thread: job.work()
//   reactor k <--poll---- [Port k: SpscRing<Job*>, worker -> reactor k] + Reactor::notify()
//
// Jobs run one at a time, each reactor's in the order it submitted them, so two writes of one
// file by its owner land in the order they were asked for. `work` must not touch reactor-owned
// state: it gets what it needs by value and leaves its result where `done` (on the reactor) picks
// it up.
//
// Lifetime: the Engine owns the worker and one Port per reactor. On shutdown the reactors stop
// first; the worker then runs the work of every job still queued (a state file asked for is
// written) and drops their `done`s (no reactor runs them any more).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/spsc_ring.h"
#include "engine/file_commit.h"

namespace cp::engine {

class Reactor;

class BlockingWorker {
 public:
  struct Job {
    std::function<void()> work;  // on the worker thread
    std::function<void()> done;  // then on the submitting reactor (may be empty)
  };

  // One reactor's end: its completed jobs, drained by the reactor as a poller.
  class Port final : public Poller {
   public:
    Port(BlockingWorker& worker, Reactor& reactor);
    ~Port() override;
    Port(const Port&) = delete;
    Port& operator=(const Port&) = delete;

    // The reactor's thread.
    void submit(std::function<void()> work, std::function<void()> done);
    bool poll() override;
    bool has_work() const override { return !completed_.empty_approx(); }
    // Jobs submitted from this port whose `done` has not run yet.
    size_t in_flight() const { return in_flight_; }

   private:
    friend class BlockingWorker;
    BlockingWorker& worker_;
    Reactor& reactor_;
    SpscRing<Job*> completed_;
    size_t in_flight_ = 0;
  };

  explicit BlockingWorker(std::string name = "worker");
  // Runs the work of every job still queued, then joins the thread.
  ~BlockingWorker();
  BlockingWorker(const BlockingWorker&) = delete;
  BlockingWorker& operator=(const BlockingWorker&) = delete;

  // Jobs whose work has run (any thread; for tests and metrics).
  uint64_t jobs_run() const { return jobs_run_.load(std::memory_order_relaxed); }

 private:
  struct Queue;
  struct Queued {
    Job* job;
    Port* port;  // null: the stop marker
  };
  void thread_main();
  void enqueue(Queued item);

  std::string name_;
  std::unique_ptr<Queue> queue_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> jobs_run_{0};
  std::thread thread_;
};

}  // namespace cp::engine
