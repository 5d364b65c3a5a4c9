#include "engine/engine.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <mutex>

#include "base/log.h"

namespace cp::engine {

struct Engine::StartState {
  std::mutex mutex;
  std::condition_variable cv;
  unsigned constructed = 0;
  bool wired = false;  // main thread has wired the peers; reactors may run setups
  unsigned set_up = 0;
  bool go = false;  // every setup succeeded; enter the loops
  bool abort = false;
  std::string error;
};

void pin_current_thread(int cpu, std::string_view what) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  if (rc != 0) CP_LOG_WARN("cannot pin {} to CPU {}: {}", what, cpu, std::strerror(rc));
}

Engine::Engine(EngineConfig config) : config_(std::move(config)) {
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  core_count_ = config_.cores ? config_.cores : static_cast<unsigned>(online > 0 ? online : 1);
}

Engine::~Engine() {
  request_stop();
  join();
}

void Engine::on_each_core(std::function<Result<void, std::string>(Reactor&)> setup) {
  setups_.push_back(std::move(setup));
}

std::vector<const Reactor*> Engine::reactors() const {
  std::vector<const Reactor*> out;
  for (const auto& r : reactors_) out.push_back(r.get());
  return out;
}

Result<void, std::string> Engine::start() {
  kind_ = resolve_backend_kind(config_.backend, config_.io);
  backend_name_ = to_string(kind_);
  const unsigned n = core_count_;
  for (unsigned i = 0; i < n * n; ++i) {
    rings_.push_back(
        std::make_unique<SpscRing<CrossCoreMessage>>(config_.cross_core_ring_capacity));
  }
  reactors_.resize(n);
  blocking_worker_ = std::make_unique<BlockingWorker>("worker");
  start_ = std::make_unique<StartState>();
  for (unsigned core = 0; core < n; ++core)
    threads_.emplace_back([this, core] { thread_main(core); });

  std::unique_lock lock(start_->mutex);
  start_->cv.wait(lock, [&] { return start_->constructed == n || start_->abort; });
  if (!start_->abort) {
    for (unsigned from = 0; from < n; ++from) {
      std::vector<Reactor::Peer> peers(n);
      for (unsigned to = 0; to < n; ++to) {
        peers[to].reactor = reactors_[to].get();
        peers[to].outbound = rings_[from * n + to].get();
        reactors_[to]->add_inbound_ring(rings_[from * n + to].get(), reactors_[from].get());
      }
      reactors_[from]->set_peers(std::move(peers));
      // Before the reactor's loop (and its setups) run, like the rings above.
      auto port = std::make_unique<BlockingWorker::Port>(*blocking_worker_, *reactors_[from]);
      reactors_[from]->add_poller(*port);
      reactors_[from]->set_blocking_port(port.get());
      blocking_ports_.push_back(std::move(port));
    }
    start_->wired = true;
    start_->cv.notify_all();
    start_->cv.wait(lock, [&] { return start_->set_up == n || start_->abort; });
  }
  if (start_->abort) {
    std::string error = start_->error;
    start_->cv.notify_all();
    lock.unlock();
    join();
    return fail(error);
  }
  start_->go = true;
  start_->cv.notify_all();
  CP_LOG_INFO("engine started: {} reactor(s) on {}", n, backend_name_);
  return {};
}

void Engine::thread_main(unsigned core) {
  set_thread_log_tag("core" + std::to_string(core));
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  const int cpu = config_.pin_threads ? static_cast<int>(core % static_cast<unsigned>(online)) : -1;
  pin_current_thread(cpu, "reactor");
  auto fail_start = [this](std::string error) {
    std::lock_guard lock(start_->mutex);
    if (!start_->abort) start_->error = std::move(error);
    start_->abort = true;
    start_->cv.notify_all();
  };
  // The backend is created here: an io_uring with SINGLE_ISSUER belongs to its creating thread.
  IoBackendOptions io = config_.io;
  io.max_connections = config_.reactor.max_connections;
  auto backend = make_backend(kind_, io);
  if (!backend) return fail_start("core " + std::to_string(core) + ": " + backend.error());
  ReactorConfig rc = config_.reactor;
  rc.core = core;
  rc.pin_cpu = cpu;
  {
    std::unique_lock lock(start_->mutex);
    reactors_[core] = std::make_unique<Reactor>(rc, std::move(*backend), SystemClock::instance());
    ++start_->constructed;
    start_->cv.notify_all();
    start_->cv.wait(lock, [&] { return start_->wired || start_->abort; });
    if (start_->abort) return;
  }
  Reactor& reactor = *reactors_[core];
  for (auto& setup : setups_) {
    if (auto ok = setup(reactor); !ok)
      return fail_start("core " + std::to_string(core) + ": " + ok.error());
  }
  {
    std::unique_lock lock(start_->mutex);
    ++start_->set_up;
    start_->cv.notify_all();
    start_->cv.wait(lock, [&] { return start_->go || start_->abort; });
    if (start_->abort) return;
  }
  reactor.run(config_.drain_timeout);
}

void Engine::request_stop() {
  for (auto& r : reactors_) {
    if (r) r->request_stop();
  }
}

void Engine::join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace cp::engine
