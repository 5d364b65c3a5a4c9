// The bridge between a reactor and an event-stream device: a pinned device thread that waits on
// its device (a tty's fd, libusb's pollfds) and on its request eventfd at once, so the device can
// deliver unsolicited events — bytes from a modem (`+CMTI`), a card inserted, a completed USB
// transfer — as well as serve the reactor's requests. Beside HwBridge (engine/hw_bridge.h), which
// is for request/result devices that block per call (PC/SC).
//
//   Device, called on the device thread only:
//     std::span<const pollfd> fds()     what to wait on besides requests (events set, revents
//                                       filled in by the bridge before on_ready); may change
//                                       between calls; empty while the device is away
//     int timeout_ms()                  how long the wait may last (-1: no limit; libusb: its
//                                       next transfer timeout; a device that is away: its retry)
//     void on_ready(std::span<const pollfd> fds, Emit& emit)
//                                       after the wait: some fds are ready, or it timed out
//     void handle(const Request& r, Emit& emit)
//                                       one request from the reactor
//   Emit: `bool emit(const Event&)` pushes one event toward the reactor (false: the ring is full).
//   Event and Request are trivially copyable (they travel by value).
//
// Bounded both ways. Requests: submit() returns false on a full ring (backpressure). Events: the
// thread waits on the device only while the event ring has room for `burst_max` events — the
// most one on_ready() emits (a device reads at most that many chunks per call) — otherwise it
// stops reading the device (its kernel buffer, and then the device itself, push back) until the
// reactor has drained the ring and woken it. Nothing is dropped.
#pragma once

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "base/result.h"
#include "base/spsc_ring.h"
#include "engine/engine.h"
#include "engine/reactor.h"

namespace cp::engine {

template <typename Request, typename Event, typename Device>
class HwEventBridge final : public Poller {
 public:
  using Sink = std::function<void(const Event&)>;

  struct Options {
    std::string name = "device";
    int pin_cpu = -1;
    size_t request_capacity = 64;
    size_t event_capacity = 256;
    size_t burst_max = 16;  // the most events one on_ready() emits
  };

  // What the device emits through (device thread).
  class Emit {
   public:
    explicit Emit(HwEventBridge& b) : b_(b) {}
    bool emit(const Event& e) {
      if (!b_.events_.try_push(e)) return false;
      emitted_ = true;
      return true;
    }
    bool emitted() const { return emitted_; }

   private:
    HwEventBridge& b_;
    bool emitted_ = false;
  };

  // On `reactor`'s thread (it registers itself as the reactor's poller). Fails when the wake
  // eventfd cannot be created (descriptor limits): nothing is started then.
  static Result<std::unique_ptr<HwEventBridge>, std::string> create(Reactor& reactor,
                                                                    Device& device, Sink sink,
                                                                    Options options) {
    const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return fail(options.name + ": eventfd: " + std::strerror(errno));
    return std::unique_ptr<HwEventBridge>(
        new HwEventBridge(reactor, device, std::move(sink), std::move(options), fd));
  }

  // On the reactor's thread (or once it stopped): joins the device thread, then unregisters.
  ~HwEventBridge() override {
    stopping_.store(true, std::memory_order_release);
    signal_thread();
    thread_.join();
    reactor_.remove_poller(*this);
    ::close(wake_fd_);
  }
  HwEventBridge(const HwEventBridge&) = delete;
  HwEventBridge& operator=(const HwEventBridge&) = delete;

  // Reactor thread. False when the request ring is full: the caller keeps the request.
  bool submit(const Request& request) {
    if (!requests_.try_push(request)) return false;
    signal_thread();
    return true;
  }

  // Times the device thread stopped reading the device for want of event room (any thread).
  uint64_t stalls() const { return stalls_.load(std::memory_order_relaxed); }

  // Poller (reactor thread): hands every available event to the sink, then wakes the device
  // thread if it was waiting for room.
  bool poll() override {
    Event batch[32];
    bool any = false;
    for (;;) {
      const size_t n = events_.try_pop_batch(batch);
      for (size_t i = 0; i < n; ++i) sink_(batch[i]);
      if (n == 0) break;
      any = true;
    }
    if (any && waiting_for_room_.exchange(false, std::memory_order_acq_rel)) signal_thread();
    return any;
  }
  bool has_work() const override { return !events_.empty_approx(); }

 private:
  HwEventBridge(Reactor& reactor, Device& device, Sink sink, Options options, int wake_fd)
      : reactor_(reactor),
        device_(device),
        sink_(std::move(sink)),
        opt_(std::move(options)),
        requests_(opt_.request_capacity),
        events_(std::max(opt_.event_capacity, 2 * opt_.burst_max)),
        wake_fd_(wake_fd) {
    reactor_.add_poller(*this);
    thread_ = std::thread([this] { thread_main(); });
  }

  void signal_thread() {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }

  bool room_for_burst() const {
    return events_.capacity() - events_.size_approx() >= opt_.burst_max;
  }

  void thread_main() {
    set_thread_log_tag("hw:" + opt_.name);
    pin_current_thread(opt_.pin_cpu, "device thread");
    std::vector<pollfd> set;
    Request request;
    while (!stopping_.load(std::memory_order_acquire)) {
      // Wait on the device only with room for what it may emit; otherwise say so and wait for
      // the reactor (re-checking after the flag, so a drain in between is not missed).
      bool room = room_for_burst();
      if (!room) {
        waiting_for_room_.store(true, std::memory_order_seq_cst);
        room = room_for_burst();
        if (!room) stalls_.fetch_add(1, std::memory_order_relaxed);
      }
      set.clear();
      set.push_back({wake_fd_, POLLIN, 0});
      const std::span<const pollfd> device_fds = room ? device_.fds() : std::span<const pollfd>{};
      set.insert(set.end(), device_fds.begin(), device_fds.end());
      const int n = ::poll(set.data(), set.size(), room ? device_.timeout_ms() : -1);
      if (n < 0 && errno != EINTR) {
        CP_LOG_ERROR("{}: poll: {}; the device thread stops", opt_.name, std::strerror(errno));
        return;
      }
      if (set[0].revents & POLLIN) {
        uint64_t token = 0;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_, &token, sizeof token);
      }
      Emit emit(*this);
      while (requests_.try_pop(request)) device_.handle(request, emit);
      if (room && n >= 0) {
        bool ready = n == 0;  // a timeout is the device's business too
        for (size_t i = 1; i < set.size(); ++i) ready |= set[i].revents != 0;
        if (ready) device_.on_ready({set.data() + 1, set.size() - 1}, emit);
      }
      if (emit.emitted()) reactor_.notify();
    }
  }

  Reactor& reactor_;
  Device& device_;
  Sink sink_;
  Options opt_;
  SpscRing<Request> requests_;
  SpscRing<Event> events_;
  int wake_fd_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> waiting_for_room_{false};
  std::atomic<uint64_t> stalls_{0};
  std::thread thread_;
};

}  // namespace cp::engine
