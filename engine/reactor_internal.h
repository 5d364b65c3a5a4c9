// What reactor.cc and reactor_recv.cc share (not for users of the reactor).
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

namespace cp::engine {

class Connection;

// A counter written by its reactor's thread only and read by any (relaxed, no RMW).
inline void bump(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// Wire trace (`[log] wire_trace`): one connection's payload read ('R') or written ('W').
void trace_payload(const Connection& c, char direction, std::span<const std::byte> bytes);

}  // namespace cp::engine
