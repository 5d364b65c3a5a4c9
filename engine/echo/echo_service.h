// The echo service: every byte received is sent back. The engine's smallest real service, used
// by the reactor tests (on io_uring, epoll and the simulator), the allocation test and the
// benchmarks. One stateless handler serves every connection of a reactor; backpressure follows
// the can_send rule: what does not fit in the send buffer stays unconsumed and reading pauses
// until on_writable().
#pragma once

#include <algorithm>
#include <atomic>

#include "engine/reactor.h"

namespace cp::engine {

class EchoService final : public Acceptor, public ConnectionHandler {
 public:
  ConnectionHandler* on_accept(Connection&) override { return this; }

  size_t on_data(Connection& conn, std::span<const std::byte> data) override {
    const size_t n = std::min(conn.send_room(), data.size());
    if (n > 0 && !conn.send(data.first(n))) return 0;
    if (n < data.size()) {
      conn.pause_reading();
      conn.wait_writable();
    }
    return n;
  }
  void on_writable(Connection& conn) override { conn.resume_reading(); }
  void on_close(Connection&, CloseReason reason, int) override {
    closed_.fetch_add(1, std::memory_order_relaxed);
    last_reason_.store(static_cast<int>(reason), std::memory_order_relaxed);
  }

  uint64_t closed() const { return closed_.load(std::memory_order_relaxed); }
  CloseReason last_reason() const { return static_cast<CloseReason>(last_reason_.load()); }

 private:
  std::atomic<uint64_t> closed_{0};
  std::atomic<int> last_reason_{0};
};

}  // namespace cp::engine
