// A test peer's outgoing bytes on an engine connection: what the connection has no room for
// waits here and goes out on on_writable(). For test clients and fuzz peers written as
// engine::ConnectionHandler (reactor thread only).
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "engine/reactor.h"

namespace cp::test {

class QueuedSender {
 public:
  // The connection to send on (null while none is open).
  void attach(engine::Connection* conn) {
    conn_ = conn;
    flush();
  }
  // Queues `bytes`; sent as soon as the connection takes them.
  void send(std::span<const std::byte> bytes) {
    out_.insert(out_.end(), bytes.begin(), bytes.end());
    flush();
  }
  // Call from on_writable().
  void flush() {
    if (!conn_ || out_.empty()) return;
    const size_t n = std::min(out_.size(), conn_->send_room());
    if (n == 0 || !conn_->send({out_.data(), n})) {
      conn_->wait_writable();
      return;
    }
    out_.erase(out_.begin(), out_.begin() + static_cast<long>(n));
    if (!out_.empty()) conn_->wait_writable();
  }

 private:
  engine::Connection* conn_ = nullptr;
  std::vector<std::byte> out_;
};

}  // namespace cp::test
