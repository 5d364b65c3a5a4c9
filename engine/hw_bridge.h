// The bridge between a reactor and a hardware thread: a pinned thread that makes blocking calls
// (PC/SC SCardTransmit, libusb bulk transfers, serial reads) on behalf of services running on
// the reactor. Requests go reactor -> hardware thread over one SPSC ring, results come back over
// another; each side wakes the other (an eventfd the hardware thread sleeps on; Reactor::notify
// for the reactor). Both rings are bounded: submit() returning false is backpressure.
//
//   Device: a class with `Result handle(const Request&)` that may block, called on the hardware
//   thread only. Request and Result are trivially copyable (they travel by value).
//   Sink: called on the reactor thread with each Result, from the reactor's poller.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <functional>
#include <string>
#include <thread>

#include "base/log.h"
#include "base/spsc_ring.h"
#include "engine/engine.h"
#include "engine/reactor.h"

namespace cp::engine {

template <typename Request, typename Result, typename Device>
class HwBridge final : public Poller {
 public:
  using Sink = std::function<void(const Result&)>;

  // `reactor` must be the calling thread's reactor; the bridge registers itself as its poller.
  HwBridge(Reactor& reactor, Device& device, Sink sink, std::string name, int pin_cpu = -1,
           size_t ring_capacity = 256)
      : reactor_(reactor),
        device_(device),
        sink_(std::move(sink)),
        name_(std::move(name)),
        requests_(ring_capacity),
        results_(2 * ring_capacity),
        wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE)) {
    CP_ASSERT(wake_fd_ >= 0);
    reactor_.add_poller(*this);
    thread_ = std::thread([this, pin_cpu] { thread_main(pin_cpu); });
  }

  // Destroy on the reactor's thread (or once the reactor has stopped): the hardware thread is
  // joined first, so it can no longer notify the reactor, then the poller is unregistered.
  ~HwBridge() override {
    stopping_.store(true, std::memory_order_release);
    signal_thread();
    thread_.join();
    reactor_.remove_poller(*this);
    ::close(wake_fd_);
  }

  HwBridge(const HwBridge&) = delete;
  HwBridge& operator=(const HwBridge&) = delete;

  // Reactor thread. False when the request ring is full: the caller keeps the request.
  bool submit(const Request& request) {
    if (!requests_.try_push(request)) return false;
    signal_thread();
    return true;
  }
  size_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

  // Poller (reactor thread): hands every available result to the sink.
  bool poll() override {
    Result batch[32];
    bool any = false;
    for (;;) {
      const size_t n = results_.try_pop_batch(batch);
      for (size_t i = 0; i < n; ++i) sink_(batch[i]);
      if (n == 0) break;
      in_flight_.fetch_sub(n, std::memory_order_relaxed);
      any = true;
    }
    return any;
  }
  bool has_work() const override { return !results_.empty_approx(); }

 private:
  void signal_thread() {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }

  void thread_main(int pin_cpu) {
    set_thread_log_tag("hw:" + name_);
    pin_current_thread(pin_cpu, "hardware thread");
    Request request;
    while (!stopping_.load(std::memory_order_acquire)) {
      uint64_t token = 0;
      // Sleeps until the reactor signals a request (or shutdown).
      if (::read(wake_fd_, &token, sizeof token) < 0 && errno != EINTR) break;
      while (requests_.try_pop(request)) {
        in_flight_.fetch_add(1, std::memory_order_relaxed);
        const Result result = device_.handle(request);
        // The result ring is twice the request ring, so this only waits when the reactor
        // has stopped draining it.
        while (!results_.try_push(result)) {
          if (stopping_.load(std::memory_order_acquire)) return;
          std::this_thread::yield();
        }
        reactor_.notify();
      }
    }
  }

  Reactor& reactor_;
  Device& device_;
  Sink sink_;
  std::string name_;
  SpscRing<Request> requests_;
  SpscRing<Result> results_;
  int wake_fd_;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> in_flight_{0};
  std::thread thread_;
};

}  // namespace cp::engine
