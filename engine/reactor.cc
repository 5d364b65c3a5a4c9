#include "engine/reactor.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

#include "base/assert.h"
#include "base/log.h"
#include "base/log_throttle.h"
#include "base/spsc_ring.h"
#include "engine/reactor_internal.h"

namespace cp::engine {

namespace {
constexpr Nanos kIdleSweepPeriod = kNanosPerSecond;
constexpr int kFlushRoundsMax = 8;
constexpr size_t kInboxBatch = 64;
using MessageRing = SpscRing<CrossCoreMessage>;

}  // namespace

uint64_t handoff_key(const SocketAddress& addr);

// Names a hand-off listening address the same way on every reactor (never 0).
uint64_t handoff_key(const SocketAddress& addr) {
  return std::hash<std::string>{}(addr.to_string()) | 1;
}

std::string_view to_string(CloseReason reason) {
  switch (reason) {
    case CloseReason::local:
      return "local";
    case CloseReason::peer_closed:
      return "peer closed";
    case CloseReason::io_error:
      return "I/O error";
    case CloseReason::idle_timeout:
      return "idle timeout";
    case CloseReason::rx_overflow:
      return "receive buffer overflow";
    case CloseReason::connect_failed:
      return "connect failed";
    case CloseReason::shutdown:
      return "shutdown";
  }
  return "unknown";
}

struct Reactor::Listener {
  Reactor* reactor = nullptr;
  Acceptor* acceptor = nullptr;
  uint64_t handoff_key = 0;  // non-zero: connections are spread over the reactors from here
  IoHandle handle = kInvalidHandle;
  SocketAddress address;
  bool armed = false;
  bool closed = false;
  Timer retry_timer;
  LogThrottle error_log;  // accept errors: a line every 10 s at most
};

// Drains the rings other reactors (and this one) write to this reactor.
class Reactor::CrossCoreInbox final : public Poller {
 public:
  explicit CrossCoreInbox(Reactor& r) : reactor_(r) {}
  void add(MessageRing* ring, Reactor* producer) {
    rings_.push_back(ring);
    producers_.push_back(producer);
  }
  bool poll() override {
    bool any = false;
    CrossCoreMessage batch[kInboxBatch];
    for (size_t r = 0; r < rings_.size(); ++r) {
      const size_t n = rings_[r]->try_pop_batch(batch);
      if (n == 0) continue;
      // Room made: a producer that found this ring full is woken to send the rest (the fence
      // orders the pop before reading its flag, against its flag store before its re-check).
      if (Reactor* p = producers_[r]; p != nullptr && p->wants_room_ != nullptr) {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        std::atomic<bool>& wants = p->wants_room_[reactor_.core()];
        if (wants.load(std::memory_order_relaxed) && wants.exchange(false)) p->notify();
      }
      for (size_t i = 0; i < n; ++i) batch[i].fn(reactor_, batch[i]);
      bump(reactor_.stats_.cross_core_received, n);
      any = true;
    }
    return any;
  }
  bool has_work() const override {
    for (const MessageRing* ring : rings_) {
      if (!ring->empty_approx()) return true;
    }
    return false;
  }
  size_t backlog() const {
    size_t n = 0;
    for (const MessageRing* ring : rings_) n += ring->size_approx();
    return n;
  }

 private:
  Reactor& reactor_;
  std::vector<MessageRing*> rings_;
  std::vector<Reactor*> producers_;  // by ring
};

Reactor::Reactor(const ReactorConfig& config, std::unique_ptr<IoBackend> backend, Clock& clock)
    : config_(config),
      backend_(std::move(backend)),
      clock_(clock),
      timers_(config.max_connections + config.service_timers_max + 16),
      rx_pool_(config.max_connections, config.rx_buffer_bytes),
      tx_pool_(config.max_connections, config.tx_buffer_bytes),
      connections_(config.max_connections),
      held_(backend_->recv_buffer_count()),
      completions_(config.completions_per_turn),
      idle_sweep_timer_(&Reactor::on_idle_sweep, this),
      inbox_(std::make_unique<CrossCoreInbox>(*this)) {
  CP_ASSERT(config.max_connections > 0 && config.rx_buffer_bytes >= 512);
  free_slots_.reserve(config.max_connections);
  for (uint32_t i = config.max_connections; i-- > 0;) {
    connections_[i].slot_ = i;
    free_slots_.push_back(i);
  }
  pollers_.push_back(inbox_.get());
  timers_.arm(idle_sweep_timer_, clock_.now() + kIdleSweepPeriod);
}

Reactor::~Reactor() {
  for (auto& c : connections_) {
    if (c.state_ != Connection::State::free && c.handle_ != kInvalidHandle)
      backend_->close(c.handle_);
  }
  for (auto& l : listeners_) {
    if (!l->closed) backend_->close(l->handle);
  }
}

void Reactor::add_inbound_ring(void* ring, Reactor* producer) {
  inbox_->add(static_cast<MessageRing*>(ring), producer);
}
size_t Reactor::cross_core_backlog() const {
  return inbox_->backlog();
}

// ---- listening and connecting ---------------------------------------------------------------

Result<SocketAddress, std::string> Reactor::listen(const SocketAddress& addr, Acceptor& acceptor,
                                                   const ListenOptions& opts) {
  if (opts.mode == ListenMode::handoff && core() != 0) {
    // Reactor 0 binds and accepts for everyone; this reactor takes the connections it hands over.
    handoff_acceptors_.push_back({handoff_key(addr), &acceptor});
    return addr;
  }
  ListenOptions o = opts;
  o.incoming_cpu = -1;
  if (o.steer && o.mode == ListenMode::reuse_port && o.reuse_port && config_.steer_connections)
    o.incoming_cpu = config_.pin_cpu;
  auto handle = backend_->listen(addr, o);
  if (!handle) {
    return fail("cannot listen on " + addr.to_string() + ": " + std::strerror(handle.error()));
  }
  auto l = std::make_unique<Listener>();
  l->reactor = this;
  l->acceptor = &acceptor;
  l->handle = *handle;

  l->retry_timer.set_callback(&Reactor::on_accept_retry, l.get());
  auto bound = backend_->local_address(*handle);
  l->address = bound ? *bound : addr;
  if (opts.mode == ListenMode::handoff) l->handoff_key = handoff_key(l->address);
  l->armed = true;
  backend_->start_accept(l->handle, l.get());
  SocketAddress result = l->address;
  listeners_.push_back(std::move(l));
  return result;
}

void Reactor::stop_listening() {
  for (auto& l : listeners_) {
    if (l->closed) continue;
    l->closed = true;
    timers_.cancel(l->retry_timer);
    backend_->shutdown(l->handle);
    if (!l->armed) backend_->close(l->handle);
  }
}

Connection* Reactor::connect(const SocketAddress& addr, ConnectionHandler& handler,
                             const ConnectOptions& opts) {
  Connection* c = allocate_connection();
  if (!c) return nullptr;
  c->handler_ = &handler;
  c->peer_ = addr;
  c->state_ = Connection::State::connecting;
  c->connect_in_flight_ = true;
  c->last_activity_ = clock_.now();
  backend_->start_connect(addr, c, opts.seqpacket);
  return c;
}

Connection* Reactor::allocate_connection() {
  if (free_slots_.empty()) return nullptr;
  Connection& c = connections_[free_slots_.back()];
  free_slots_.pop_back();
  const uint32_t slot = c.slot_;
  c.~Connection();
  new (&c) Connection();
  c.slot_ = slot;
  c.reactor_ = this;
  c.id_ = (static_cast<uint64_t>(config_.core) << 48) | next_connection_seq_++;
  ++open_count_;
  stats_.connections_open.store(open_count_, std::memory_order_relaxed);
  return &c;
}

void Reactor::release_connection(Connection& c) {
  if (c.rx_) rx_pool_.release(c.rx_);
  if (c.tx_) tx_pool_.release(c.tx_);
  while (c.held_count_ > 0) pop_held(c);
  c.rx_ = c.tx_ = nullptr;
  c.state_ = Connection::State::free;
  c.handler_ = nullptr;
  free_slots_.push_back(c.slot_);
  --open_count_;
  stats_.connections_open.store(open_count_, std::memory_order_relaxed);
  bump(stats_.connections_closed);
}

void Reactor::open_connection(Connection& c, IoHandle handle) {
  c.handle_ = handle;
  c.state_ = Connection::State::open;
  c.last_activity_ = clock_.now();
  c.recv_armed_ = true;
  backend_->start_recv(handle, &c);
}

// ---- completions ------------------------------------------------------------------------------

void Reactor::dispatch(const IoCompletion& cqe) {
  if (cqe.op == IoOp::accept) {
    on_accept(*static_cast<Listener*>(cqe.owner), cqe);
    return;
  }
  if (cqe.op == IoOp::file_commit) {
    --file_commits_in_flight_;
    static_cast<FileCommitHandler*>(cqe.owner)->on_file_commit(cqe.result);
    return;
  }
  Connection& c = *static_cast<Connection*>(cqe.owner);
  switch (cqe.op) {
    case IoOp::connect:
      on_connect(c, cqe);
      break;
    case IoOp::recv:
      on_recv(c, cqe);
      break;
    case IoOp::send:
      on_send(c, cqe);
      break;
    case IoOp::accept:
    case IoOp::file_commit:
      break;
  }
  maybe_finish_close(c);
}

void Reactor::on_accept(Listener& l, const IoCompletion& cqe) {
  if (!cqe.more) l.armed = false;
  if (cqe.result < 0) {
    if (l.closed) {
      if (!l.armed) backend_->close(l.handle);
      return;
    }
    bump(stats_.accept_errors);
    // EMFILE/ENFILE/ENOBUFS/ENOMEM: retry after a delay instead of spinning on the error, and
    // say so at most every 10 s (with how many were not logged), not on every retry.
    if (uint64_t held; l.error_log.pass(clock_.now(), held)) {
      CP_LOG_WARN("accept on {} failed: {}; retrying every {} ms ({} failures not logged)",
                  l.address.to_string(), std::strerror(-cqe.result),
                  config_.accept_retry_delay / kNanosPerMilli, held);
    }
    if (!l.armed) arm_timer(l.retry_timer, config_.accept_retry_delay);
    return;
  }
  if (!l.armed && !l.closed) {
    l.armed = true;
    backend_->start_accept(l.handle, &l);
  }
  const IoHandle handle = cqe.result;
  if (l.closed || stop_requested()) {
    backend_->close(handle);
    return;
  }
  if (l.handoff_key != 0 && peers_.size() > 1) {
    const unsigned target = handoff_next_++ % peers_.size();
    if (target != core()) {
      CrossCoreMessage msg{&Reactor::on_handoff, 0, 0, {}, nullptr};
      msg.args[0] = static_cast<uint64_t>(handle);
      msg.args[1] = l.handoff_key;
      if (send_to(target, msg)) return;
      // That reactor's ring is full: serve the connection here rather than drop it.
    }
  }
  adopt(handle, *l.acceptor);
}

void Reactor::on_handoff(Reactor& r, const CrossCoreMessage& msg) {
  const auto handle = static_cast<IoHandle>(msg.args[0]);
  if (r.stop_requested()) {
    r.backend_->close(handle);
    return;
  }
  for (const HandoffTarget& t : r.handoff_acceptors_) {
    if (t.key == msg.args[1]) {
      r.adopt(handle, *t.acceptor);
      return;
    }
  }
  // Only when a service listened in hand-off mode on reactor 0 but not on this one.
  CP_LOG_ERROR("connection handed over without a listener here; closed");
  r.backend_->close(handle);
}

// Takes an accepted socket into this reactor's connection table and hands it to `acceptor`.
void Reactor::adopt(IoHandle handle, Acceptor& acceptor) {
  Connection* c = allocate_connection();
  if (!c) {
    bump(stats_.connections_refused_limit);
    backend_->close(handle);
    return;
  }
  bump(stats_.connections_accepted);
  auto peer = backend_->peer_address(handle);
  if (peer) c->peer_ = *peer;
  c->idle_timeout_ = config_.idle_timeout;
  c->handle_ = handle;
  c->state_ = Connection::State::open;
  c->dispatching_ = true;  // the acceptor may close() or abort() it before returning
  ConnectionHandler* handler = acceptor.on_accept(*c);
  c->dispatching_ = false;
  c->handler_ = handler;
  if (!handler && c->state_ == Connection::State::open) {
    begin_close(*c, CloseReason::local, 0);  // refused: closed without on_close
  }
  if (c->state_ == Connection::State::open) {
    open_connection(*c, handle);
    c->dispatching_ = true;
    handler->on_open(*c);
    c->dispatching_ = false;
  } else if (c->state_ == Connection::State::closing || c->state_ == Connection::State::lingering) {
    begin_close(*c, c->close_reason_, 0);  // nothing was read or sent yet: no need to linger
  }
  maybe_finish_close(*c);
}

void Reactor::peer_closed(Connection& c) {
  c.eof_pending_ = false;
  c.dispatching_ = true;
  c.handler_->on_peer_closed(c);
  c.dispatching_ = false;
}

void Reactor::on_accept_retry(Timer&, void* listener) {
  auto& l = *static_cast<Listener*>(listener);
  if (l.closed || l.armed) return;
  l.armed = true;
  l.reactor->backend_->start_accept(l.handle, &l);
}

void Reactor::on_connect(Connection& c, const IoCompletion& cqe) {
  c.connect_in_flight_ = false;
  if (c.state_ != Connection::State::connecting) {  // abandoned (close, abort, timeout)
    if (cqe.result >= 0) backend_->close(cqe.result);
    return;
  }
  if (cqe.result < 0) {
    c.state_ = Connection::State::draining_ops;
    c.close_reason_ = CloseReason::connect_failed;
    c.close_error_ = -cqe.result;
    return;
  }
  open_connection(c, cqe.result);
  c.dispatching_ = true;
  c.handler_->on_open(c);
  c.dispatching_ = false;
}

void Reactor::on_send(Connection& c, const IoCompletion& cqe) {
  c.send_in_flight_ = false;
  if (cqe.result < 0) {
    begin_close(c, CloseReason::io_error, -cqe.result);
    return;
  }
  bump(stats_.bytes_sent, static_cast<uint64_t>(cqe.result));
  c.tx_head_ += static_cast<uint32_t>(cqe.result);
  if (c.tx_head_ == c.tx_tail_) {
    c.tx_head_ = c.tx_tail_ = 0;
    tx_pool_.release(c.tx_);
    c.tx_ = nullptr;
  }
  if (c.send_queued() > 0) queue_flush(c);
  if (c.state_ == Connection::State::closing && c.send_queued() == 0) {
    start_linger(c);
    return;
  }
  if (c.want_writable_ && c.state_ == Connection::State::open &&
      c.send_room() >= config_.tx_buffer_bytes / 2) {
    c.want_writable_ = false;
    c.dispatching_ = true;
    c.handler_->on_writable(c);
    c.dispatching_ = false;
  }
}

// ---- closing ----------------------------------------------------------------------------------

void Reactor::begin_close(Connection& c, CloseReason reason, int error) {
  if (c.state_ == Connection::State::draining_ops || c.state_ == Connection::State::free) return;
  c.state_ = Connection::State::draining_ops;
  c.close_reason_ = reason;
  c.close_error_ = error;
  if (c.connect_in_flight_) backend_->cancel_connect(&c);
  if (c.handle_ != kInvalidHandle && (c.recv_armed_ || c.send_in_flight_)) {
    backend_->shutdown(c.handle_);
  }
}

// Graceful close, once everything queued is sent: shut the write side (the peer sees EOF) and
// keep reading, discarding, until the peer's EOF. Closing with unread input would make the
// kernel answer with a reset and drop what the peer has not read yet.
void Reactor::start_linger(Connection& c) {
  if (c.read_closed_ || c.handle_ == kInvalidHandle) {
    begin_close(c, c.close_reason_, 0);  // the peer already finished: nothing left to drain
    return;
  }
  c.state_ = Connection::State::lingering;
  c.paused_ = false;
  c.close_deadline_ = clock_.now() + config_.linger_timeout;
  backend_->shutdown_write(c.handle_);
  // The flush drops kept input (never under a running handler, which may still be reading it)
  // and re-arms the receive (a pause's cancel may still be in flight).
  queue_flush(c);
}

void Reactor::discard_input(Connection& c) {
  while (c.held_count_ > 0) pop_held(c);
  if (c.rx_) rx_pool_.release(c.rx_);
  c.rx_ = nullptr;
  c.rx_len_ = 0;
  c.eof_pending_ = false;
}

void Reactor::maybe_finish_close(Connection& c) {
  if (c.state_ != Connection::State::draining_ops || c.recv_armed_ || c.send_in_flight_ ||
      c.connect_in_flight_ || c.dispatching_) {
    return;
  }
  if (c.handle_ != kInvalidHandle) backend_->close(c.handle_);
  c.handle_ = kInvalidHandle;
  if (c.close_reason_ == CloseReason::idle_timeout) bump(stats_.idle_timeouts);
  if (c.handler_) {
    c.dispatching_ = true;
    c.handler_->on_close(c, c.close_reason_, c.close_error_);
    c.dispatching_ = false;
  }
  if (c.in_flush_list_) {
    c.state_ = Connection::State::free;  // still linked in the flush list: released there
    return;
  }
  release_connection(c);
}

void Reactor::sweep_idle() {
  const Nanos now = clock_.now();
  for (auto& c : connections_) {
    switch (c.state_) {
      case Connection::State::open:
        if (c.idle_timeout_ > 0 && now - c.last_activity_ >= c.idle_timeout_) {
          begin_close(c, CloseReason::idle_timeout, 0);
        }
        break;
      case Connection::State::connecting:
        if (now - c.last_activity_ >= config_.connect_timeout) {
          begin_close(c, CloseReason::connect_failed, ETIMEDOUT);
        }
        break;
      case Connection::State::closing:
      case Connection::State::lingering:
        // The peer neither reads what we send nor finishes: give up on a graceful close.
        if (now >= c.close_deadline_) begin_close(c, c.close_reason_, ETIMEDOUT);
        break;
      default:
        break;
    }
    maybe_finish_close(c);
  }
}

void Reactor::on_idle_sweep(Timer& t, void* self) {
  auto& r = *static_cast<Reactor*>(self);
  r.sweep_idle();
  r.timers_.arm(t, r.clock_.now() + kIdleSweepPeriod);
}

// ---- sending ----------------------------------------------------------------------------------

void Reactor::queue_flush(Connection& c) {
  if (c.in_flush_list_) return;
  c.in_flush_list_ = true;
  c.next_flush_ = flush_head_;
  flush_head_ = &c;
}

void Reactor::flush_sends() {
  for (int round = 0; round < kFlushRoundsMax && flush_head_; ++round) {
    Connection* list = flush_head_;
    flush_head_ = nullptr;
    while (list) {
      Connection& c = *list;
      list = c.next_flush_;
      c.in_flush_list_ = false;
      if (c.state_ == Connection::State::free) {
        release_connection(c);  // closed while queued here: maybe_finish_close() left it to us
        continue;
      }
      if (c.state_ == Connection::State::open && !c.paused_ &&
          (c.rx_len_ > 0 || c.held_count_ > 0) && !c.dispatching_) {
        drain_held(c);  // resume_reading(): offer the kept bytes again
      }
      if (c.eof_pending_ && c.state_ == Connection::State::open && !c.paused_ &&
          c.held_count_ == 0 && !c.dispatching_) {
        peer_closed(c);
      }
      if (c.state_ == Connection::State::lingering && !c.dispatching_) discard_input(c);
      const bool wants_recv =
          (c.state_ == Connection::State::open && !c.paused_ && !c.read_closed_) ||
          c.state_ == Connection::State::lingering;
      if (wants_recv && !c.recv_armed_) {
        c.recv_armed_ = true;
        backend_->start_recv(c.handle_, &c);
      }
      const bool sending =
          c.state_ == Connection::State::open || c.state_ == Connection::State::closing;
      if (sending && !c.send_in_flight_ && c.send_queued() > 0) {
        c.send_in_flight_ = true;
        backend_->start_send(c.handle_, &c, {c.tx_ + c.tx_head_, c.send_queued()});
      }
      maybe_finish_close(c);
    }
  }
}

// ---- cross-core -------------------------------------------------------------------------------

bool Reactor::send_to(unsigned core, const CrossCoreMessage& msg) {
  CP_ASSERT(core < peers_.size());
  auto* ring = static_cast<MessageRing*>(peers_[core].outbound);
  CrossCoreMessage m = msg;
  m.from_core = config_.core;
  if (!ring->try_push(m)) {
    bump(stats_.cross_core_full);
    wants_room_[core].store(true, std::memory_order_seq_cst);
    return false;
  }
  bump(stats_.cross_core_sent);
  peers_[core].reactor->notify();
  return true;
}

bool Reactor::can_send_to(unsigned core) const {
  CP_ASSERT(core < peers_.size());
  const auto* ring = static_cast<const MessageRing*>(peers_[core].outbound);
  return ring->size_approx() < ring->capacity();
}

void Reactor::notify() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // Only the producer that flips the flag writes the eventfd: one wake-up per sleep, not one
  // per message while the reactor is waking.
  if (sleeping_.load(std::memory_order_relaxed) &&
      sleeping_.exchange(false, std::memory_order_relaxed)) {
    backend_->wake();
  }
}

void Reactor::run_blocking(std::function<void()> work, std::function<void()> done) {
  if (blocking_port_ != nullptr) return blocking_port_->submit(std::move(work), std::move(done));
  if (work) work();
  if (!done) return;
  if (inline_done_.pending.empty() &&
      std::find(pollers_.begin(), pollers_.end(), &inline_done_) == pollers_.end()) {
    add_poller(inline_done_);
  }
  inline_done_.pending.push_back(std::move(done));
}

bool Reactor::InlineDone::poll() {
  if (pending.empty()) return false;
  auto now = std::move(pending);
  pending.clear();
  for (auto& fn : now) fn();
  return true;
}

void Reactor::remove_poller(Poller& poller) {
  std::erase(pollers_, &poller);
}

bool Reactor::wake_pending() const {
  for (const Poller* p : pollers_) {
    if (p->has_work()) return true;
  }
  return false;
}

// ---- the loop ---------------------------------------------------------------------------------

void Reactor::run_once(Nanos timeout) {
  bump(stats_.loop_iterations);
  Nanos wait_ns = timeout;
  const Nanos deadline = timers_.next_deadline();
  if (deadline >= 0) {
    const Nanos until = std::max<Nanos>(0, deadline - clock_.now());
    wait_ns = wait_ns < 0 ? until : std::min(wait_ns, until);
  }
  if (flush_head_ || stop_requested()) wait_ns = 0;
  if (wait_ns != 0) {
    sleeping_.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (wake_pending()) wait_ns = 0;
  }
  const size_t n = backend_->wait(completions_, wait_ns);
  sleeping_.store(false, std::memory_order_relaxed);
  turn_now_ = clock_.now();  // one clock read per turn, not per completion (a VM's clock is slow)
  bump(stats_.io_waits);
  for (size_t i = 0; i < n; ++i) dispatch(completions_[i]);
  timers_.run_expired(clock_.now());
  for (size_t i = 0; i < pollers_.size(); ++i) pollers_[i]->poll();  // a poll may add pollers
  if (buffers_returned_) {
    // Buffers came back: every parked receive is re-armed (those that find none park again).
    buffers_returned_ = false;
    for (auto [c, id] : std::exchange(rx_parked_, {})) {
      if (c->id_ != id || !c->rx_parked_) continue;  // closed and its slot reused since
      c->rx_parked_ = false;
      if (c->state_ == Connection::State::open || c->state_ == Connection::State::lingering)
        queue_flush(*c);
    }
  }
  flush_sends();
}

void Reactor::request_stop() {
  stop_requested_.store(true, std::memory_order_release);
  backend_->wake();
}

void Reactor::run(Nanos drain_timeout) {
  while (!stop_requested()) run_once(-1);
  stop_listening();
  for (auto& c : connections_) {
    if (c.state_ == Connection::State::open) {
      if (c.handler_ && c.handler_->on_shutdown(c)) continue;
      c.close_reason_ = CloseReason::shutdown;
      c.close();
    } else if (c.state_ == Connection::State::connecting) {
      begin_close(c, CloseReason::shutdown, 0);
    }
  }
  const Nanos deadline = clock_.now() + drain_timeout;
  while (open_count_ > 0 && clock_.now() < deadline) run_once(10 * kNanosPerMilli);
  for (auto& c : connections_) {
    if (c.state_ != Connection::State::free) begin_close(c, CloseReason::shutdown, 0);
  }
  for (int i = 0; i < 100 && open_count_ > 0; ++i) run_once(10 * kNanosPerMilli);
  if (open_count_ > 0) CP_LOG_WARN("{} connections still busy at exit", open_count_);
  // A file commit cannot be abandoned (the kernel still reads its buffers, and its submitters
  // wait for the answer), so the loop runs until every one has completed.
  for (Nanos waited = 0; file_commits_in_flight_ > 0 || wake_pending();
       waited += 10 * kNanosPerMilli) {
    if (waited > 0 && waited % (5 * kNanosPerSecond) == 0)
      CP_LOG_WARN("waiting for {} file commits to complete", file_commits_in_flight_);
    if (waited > 30 * kNanosPerSecond && file_commits_in_flight_ == 0) break;
    run_once(10 * kNanosPerMilli);
  }
}

// ---- Connection -------------------------------------------------------------------------------

void ConnectionHandler::on_peer_closed(Connection& conn) {
  conn.close();
}

size_t Connection::send_room() const {
  if (!reactor_) return 0;
  const size_t cap = reactor_->config_.tx_buffer_bytes;
  return send_in_flight_ ? cap - tx_tail_ : cap - send_queued();
}

bool Connection::send(std::span<const std::byte> bytes) {
  if (!open_for_send()) return false;
  Reactor& r = *reactor_;
  const size_t cap = r.config_.tx_buffer_bytes;
  if (!tx_) {
    tx_ = r.tx_pool_.acquire();
    CP_ASSERT(tx_ != nullptr);
  }
  if (tx_tail_ + bytes.size() > cap && !send_in_flight_ && tx_head_ > 0) {
    std::memmove(tx_, tx_ + tx_head_, tx_tail_ - tx_head_);
    tx_tail_ -= tx_head_;
    tx_head_ = 0;
  }
  if (tx_tail_ + bytes.size() > cap) {
    want_writable_ = true;
    bump(r.stats_.send_refusals);
    if (tx_head_ == tx_tail_) {
      r.tx_pool_.release(tx_);
      tx_ = nullptr;
      tx_head_ = tx_tail_ = 0;
    }
    return false;
  }
  std::memcpy(tx_ + tx_tail_, bytes.data(), bytes.size());
  tx_tail_ += static_cast<uint32_t>(bytes.size());
  trace_payload(*this, 'W', bytes);
  r.queue_flush(*this);
  return true;
}

void Connection::pause_reading() {
  if (paused_ || state_ != State::open) return;
  paused_ = true;
  bump(reactor_->stats_.recv_pauses);
  if (recv_armed_) reactor_->backend_->stop_recv(handle_, this);
}

void Connection::resume_reading() {
  if (!paused_) return;
  paused_ = false;
  if (state_ == State::open) reactor_->queue_flush(*this);
}

void Connection::close() {
  close_discarded_ = 0;
  if (state_ == State::connecting) {
    reactor_->begin_close(*this, CloseReason::local, 0);
    return;
  }
  if (state_ != State::open) return;
  if (send_queued() == 0 && !send_in_flight_) {
    reactor_->start_linger(*this);
    if (!dispatching_) reactor_->queue_flush(*this);
    return;
  }
  state_ = State::closing;
  close_deadline_ = reactor_->clock_.now() + reactor_->config_.linger_timeout;
}

void Connection::abort() {
  reactor_->begin_close(*this, CloseReason::local, 0);
  if (!dispatching_) reactor_->queue_flush(*this);
}

void Connection::set_idle_timeout(Nanos timeout) {
  idle_timeout_ = timeout;
}

}  // namespace cp::engine
