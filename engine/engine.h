// The engine: N reactor threads (one per core, pinned), their I/O backends, the mesh of
// cross-core SPSC rings (one per ordered pair of cores, including a core to itself for deferred
// local work) and one thread for blocking control-plane work (engine/blocking_worker.h). Owned by
// the daemon's main thread; reactors live until the Engine is destroyed, after every thread has
// been joined, so a late notify() never touches a dead reactor.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "base/spsc_ring.h"
#include "engine/io_backend.h"
#include "engine/reactor.h"

namespace cp::engine {

struct EngineConfig {
  unsigned cores = 0;  // 0 = every online CPU
  bool pin_threads = true;
  IoBackendKind backend = IoBackendKind::automatic;
  IoBackendOptions io;
  ReactorConfig reactor;  // `core` and `pin_cpu` are filled in per reactor
  uint32_t cross_core_ring_capacity = 4096;
  Nanos drain_timeout = 5 * kNanosPerSecond;
};

class Engine {
 public:
  explicit Engine(EngineConfig config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs `setup` on every reactor's own thread before its loop starts (listeners, services).
  // Call before start(). An error returned by a setup fails start().
  void on_each_core(std::function<Result<void, std::string>(Reactor&)> setup);

  // Creates the reactors on their threads and starts their loops. Fails if a backend cannot be
  // created or a setup step fails (then every thread is stopped again).
  Result<void, std::string> start();
  // From any thread (signal handlers excluded): every reactor stops accepting, drains, exits.
  void request_stop();
  // Waits for every reactor thread to exit.
  void join();

  unsigned core_count() const { return core_count_; }
  Reactor& reactor(unsigned core) { return *reactors_[core]; }
  std::vector<const Reactor*> reactors() const;
  std::string_view backend_name() const { return backend_name_; }
  IoBackendKind backend_kind() const { return kind_; }
  // The thread for blocking control-plane work (Reactor::run_blocking); after start().
  const BlockingWorker& blocking_worker() const { return *blocking_worker_; }

 private:
  void thread_main(unsigned core);

  EngineConfig config_;
  unsigned core_count_ = 0;
  IoBackendKind kind_ = IoBackendKind::automatic;
  std::string backend_name_;
  std::vector<std::function<Result<void, std::string>(Reactor&)>> setups_;
  std::vector<std::unique_ptr<SpscRing<CrossCoreMessage>>> rings_;  // [from * n + to]
  std::vector<std::unique_ptr<Reactor>> reactors_;
  std::vector<std::thread> threads_;
  // Destroyed before the reactors (declared after them): the worker finishes the work still
  // queued, then the ports go.
  std::vector<std::unique_ptr<BlockingWorker::Port>> blocking_ports_;  // [core]
  std::unique_ptr<BlockingWorker> blocking_worker_;
  struct StartState;
  std::unique_ptr<StartState> start_;
};

// Pins the calling thread to `cpu`; logs and carries on when the kernel refuses.
void pin_current_thread(int cpu, std::string_view what);

}  // namespace cp::engine
