// The reactor's receive path: completions of multishot receives, bytes handed to handlers in
// place or kept (the receive block, held provided buffers), buffers given back, and receives
// parked while every provided buffer is held. The loop, connections' lives and sending are in
// reactor.cc.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/assert.h"
#include "base/log.h"
#include "engine/reactor.h"
#include "engine/reactor_internal.h"

namespace cp::engine {

// Wire trace (`[log] wire_trace`, `cellctl wire-trace on=true`): every payload read or
// written on any connection, escaped, e.g. `c12 R ->AT+CMGF=1\r\n<-`.
void trace_payload(const Connection& c, char direction, std::span<const std::byte> bytes) {
  if (!wire_trace_enabled()) return;
  char tag[32];
  const int n =
      std::snprintf(tag, sizeof tag, "c%llu %c",
                    static_cast<unsigned long long>(c.id() & 0xffffffffffffULL), direction);
  log_wire(std::string_view(tag, static_cast<size_t>(n)), bytes);
}

void Reactor::on_recv(Connection& c, const IoCompletion& cqe) {
  if (!cqe.more) c.recv_armed_ = false;
  if (cqe.result > 0) {
    bump(stats_.bytes_received, static_cast<uint64_t>(cqe.result));
    c.last_activity_ = turn_now_;  // idle timeouts are swept at a coarse period
    if (c.state_ != Connection::State::open) {
      recycle(cqe.buffer_id);  // closing: input is discarded
      // What a peer had in flight when we closed is read away so it gets no reset; a peer that
      // keeps sending past that (a flood that never reads) would be read at line rate until
      // the linger timeout: cut off with a reset instead.
      c.close_discarded_ += static_cast<uint64_t>(cqe.result);
      if (c.close_discarded_ > kCloseDiscardMax &&
          (c.state_ == Connection::State::closing || c.state_ == Connection::State::lingering)) {
        bump(stats_.close_discard_aborts);
        begin_close(c, c.close_reason_, 0);
        queue_flush(c);
      }
      return;
    }
    deliver(c, cqe.data, static_cast<size_t>(cqe.result), cqe.buffer_id);
    if (!c.recv_armed_ && c.state_ == Connection::State::open && !c.paused_ && !c.read_closed_) {
      queue_flush(c);
    }
    return;
  }
  if (cqe.result == 0) {
    if (c.state_ == Connection::State::lingering) {
      begin_close(c, c.close_reason_, 0);  // the peer's EOF: the graceful close is complete
      return;
    }
    if (c.state_ == Connection::State::open && !c.read_closed_) {
      // The peer finished sending; it may still be reading our answer (smoltcp's
      // may_recv() false, may_send() true).
      c.read_closed_ = true;
      c.close_reason_ = CloseReason::peer_closed;
      if (c.held_count_ > 0 || c.paused_) {
        c.eof_pending_ = true;  // told once the handler has taken what came before the EOF
        if (!c.paused_) queue_flush(c);
      } else {
        peer_closed(c);
      }
    }
    return;
  }
  const int err = -cqe.result;
  if (err == ECANCELED) {
    // pause_reading() or shutdown. If reading was resumed while the cancel was on its way,
    // the flush could not re-arm (the receive still looked armed): re-arm now.
    if ((c.state_ == Connection::State::open && !c.paused_) ||
        c.state_ == Connection::State::lingering) {
      queue_flush(c);
    }
    return;
  }
  if (err == ENOBUFS) {
    // Every provided buffer is held (paused connections keep theirs): park the receive until
    // one comes back. Re-arming now would be answered ENOBUFS at once, a busy loop exactly when
    // the reactor is overloaded.
    if (!c.rx_parked_ && ((c.state_ == Connection::State::open && !c.paused_) ||
                          c.state_ == Connection::State::lingering)) {
      c.rx_parked_ = true;
      rx_parked_.emplace_back(&c, c.id_);
      bump(stats_.recv_parked);
    }
    return;
  }
  begin_close(c, CloseReason::io_error, err);
}

void Reactor::deliver(Connection& c, const std::byte* data, size_t len, uint16_t buffer_id) {
  trace_payload(c, 'R', {data, len});
  if (c.held_count_ > 0 || c.rx_len_ > 0 || c.paused_ || c.dispatching_) {
    hold(c, data, len, buffer_id);  // behind kept bytes, or the handler cannot take it now
    if (!c.paused_ && !c.dispatching_) drain_held(c);
    return;
  }
  // Fast path: the handler reads straight from the provided buffer, as long as it consumes.
  size_t offset = 0;
  while (offset < len && c.state_ == Connection::State::open && !c.paused_) {
    c.dispatching_ = true;
    const size_t consumed = c.handler_->on_data(c, {data + offset, len - offset});
    c.dispatching_ = false;
    if (c.state_ != Connection::State::open) break;  // closed meanwhile: input is dropped
    CP_ASSERT(consumed <= len - offset);
    if (consumed == 0) break;  // a partial frame
    offset += consumed;
  }
  const size_t rest = len - offset;
  if (rest > 0 && c.state_ == Connection::State::open) {
    if (rest > config_.rx_buffer_bytes || c.paused_) {
      // Longer than the receive block (provided buffers may be larger) or the handler paused:
      // keep the buffer itself and feed it block by block later.
      hold(c, data + offset, rest, buffer_id);
      if (!c.paused_) drain_held(c);
      return;
    }
    keep_rx(c, data + offset, rest);
  }
  recycle(buffer_id);
}

void Reactor::recycle(uint16_t buffer_id) {
  backend_->recycle_buffer(buffer_id);
  if (!rx_parked_.empty()) buffers_returned_ = true;
}

void Reactor::hold(Connection& c, const std::byte* data, size_t len, uint16_t buffer_id) {
  CP_ASSERT(buffer_id < held_.size());
  held_[buffer_id] = {data, static_cast<uint32_t>(len), 0};
  if (c.held_count_ == 0) {
    c.held_head_ = buffer_id;
  } else {
    held_[c.held_tail_].next = buffer_id;
  }
  c.held_tail_ = buffer_id;
  ++c.held_count_;
}

void Reactor::pop_held(Connection& c) {
  const uint16_t id = c.held_head_;
  c.held_head_ = held_[id].next;
  --c.held_count_;
  recycle(id);
}

// Copies the unconsumed tail of a provided buffer into the (empty) receive block.
void Reactor::keep_rx(Connection& c, const std::byte* data, size_t len) {
  if (!c.rx_) c.rx_ = rx_pool_.acquire();
  CP_ASSERT(c.rx_ != nullptr);  // one block per connection: the pool cannot run dry
  CP_ASSERT(c.rx_len_ == 0 && len <= config_.rx_buffer_bytes);
  std::memcpy(c.rx_, data, len);
  c.rx_len_ = static_cast<uint32_t>(len);
}

// Offers the kept bytes (rx_ first, then held provided buffers) to the handler until it pauses,
// the connection closes, or nothing is left.
void Reactor::drain_held(Connection& c) {
  if (!c.rx_) c.rx_ = rx_pool_.acquire();
  CP_ASSERT(c.rx_ != nullptr);
  // Each turn either consumes bytes, moves held bytes into the block, or stops.
  while (c.state_ == Connection::State::open && !c.paused_) {
    if (c.held_count_ > 0) {
      HeldBuffer& h = held_[c.held_head_];
      const size_t n = std::min<size_t>(config_.rx_buffer_bytes - c.rx_len_, h.len);
      std::memcpy(c.rx_ + c.rx_len_, h.data, n);
      c.rx_len_ += static_cast<uint32_t>(n);
      h.data += n;
      h.len -= static_cast<uint32_t>(n);
      if (h.len == 0) pop_held(c);
    }
    if (c.rx_len_ == 0) break;
    c.dispatching_ = true;
    const size_t consumed = c.handler_->on_data(c, {c.rx_, c.rx_len_});
    c.dispatching_ = false;
    if (c.state_ != Connection::State::open) return;  // closed meanwhile: input is dropped
    CP_ASSERT(consumed <= c.rx_len_);
    if (consumed > 0) {
      std::memmove(c.rx_, c.rx_ + consumed, c.rx_len_ - consumed);
      c.rx_len_ -= static_cast<uint32_t>(consumed);
      continue;
    }
    if (c.rx_len_ == config_.rx_buffer_bytes && !c.paused_) {
      bump(stats_.rx_overflows);  // a frame larger than the receive block
      begin_close(c, CloseReason::rx_overflow, 0);
      return;
    }
    if (c.held_count_ == 0) break;  // a partial frame: wait for more bytes
  }
  if (c.rx_len_ == 0 && c.held_count_ == 0 && c.rx_) {
    rx_pool_.release(c.rx_);
    c.rx_ = nullptr;
  }
}

}  // namespace cp::engine
