// The reactor: one thread per core, owning one IoBackend, its connections, timers, listeners and
// the consumer side of every cross-core ring that points at it. Everything a reactor owns is
// touched by its thread only; other threads reach it through SPSC rings (Poller) and wake().
//
// A loop turn (run_once): wait for completions (bounded by the next timer) -> run them from a
// fixed array -> fire expired timers -> drain pollers (cross-core rings, hardware-thread rings)
// -> flush queued sends in one batch -> the next wait() submits them.
//
// Services are written against Connection / ConnectionHandler / Acceptor / Timer / Clock only, so
// the same code runs on io_uring, epoll and the simulator (engine/sim).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/socket_address.h"
#include "engine/blocking_worker.h"
#include "engine/buffer_pool.h"
#include "engine/file_commit.h"
#include "engine/io_backend.h"
#include "engine/timer.h"

namespace cp::engine {

class Reactor;
class Connection;

enum class CloseReason : uint8_t {
  local,           // close() or abort() by the service
  peer_closed,     // orderly EOF from the peer
  io_error,        // recv/send failed (reset, broken pipe, ...)
  idle_timeout,    // nothing received for the idle timeout
  rx_overflow,     // the handler left a full receive buffer unconsumed (frame too large)
  connect_failed,  // outbound connect did not succeed
  shutdown,        // the reactor is stopping
};
std::string_view to_string(CloseReason reason);

// A service's per-connection protocol logic. Called on the connection's reactor thread only.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // The connection is established (accepted, or an outbound connect completed).
  virtual void on_open(Connection&) {}
  // Bytes arrived. Returns how many were consumed; while it consumes, the rest is offered again
  // at once, and what it leaves is kept and offered in front of what arrives next. A handler
  // that cannot take more input calls pause_reading().
  virtual size_t on_data(Connection& conn, std::span<const std::byte> data) = 0;
  // Room came back in the send buffer after a send() was refused.
  virtual void on_writable(Connection&) {}
  // The peer finished sending (EOF). The connection can still send; the default closes once
  // everything queued is out. A handler still producing a reply overrides this and calls
  // close() when its reply is fully queued.
  virtual void on_peer_closed(Connection& conn);
  // The last call for this connection; the Connection is recycled when it returns.
  virtual void on_close(Connection& conn, CloseReason reason, int error) = 0;
  // The reactor is stopping. Return false (the default) to have the connection closed now
  // (gracefully); true to end it yourself — say goodbye in the protocol (SMPP unbind), then
  // close() — within the drain timeout, after which it is closed anyway.
  virtual bool on_shutdown(Connection&) { return false; }
};

// A service accepting connections on a listener of one reactor.
class Acceptor {
 public:
  virtual ~Acceptor() = default;
  // Returns the handler of the new connection, or nullptr to refuse it (it is closed at once).
  virtual ConnectionHandler* on_accept(Connection& conn) = 0;
};

// A fixed-size message between reactors: a function run on the target reactor with its
// arguments. Trivially copyable, so it travels by value through SpscRing without allocation.
struct CrossCoreMessage {
  using Fn = void (*)(Reactor& target, const CrossCoreMessage& msg);
  Fn fn = nullptr;
  uint32_t from_core = 0;
  uint32_t tag = 0;
  uint64_t args[4] = {};
  void* ptr = nullptr;
};
static_assert(sizeof(CrossCoreMessage) == 56);

struct ReactorConfig {
  unsigned core = 0;
  int pin_cpu = -1;  // CPU to pin the reactor thread to; -1 = no pinning
  // Lets listeners that ask for it (ListenOptions::steer) take the connections whose packets
  // arrive on this reactor's CPU.
  bool steer_connections = true;
  uint32_t max_connections = 16384;    // per reactor; further accepts are closed at once
  uint32_t rx_buffer_bytes = 16384;    // per-connection receive (reassembly) buffer
  uint32_t tx_buffer_bytes = 16384;    // per-connection send buffer
  Nanos idle_timeout = 0;              // default for accepted connections; 0 = none
  uint32_t service_timers_max = 4096;  // timers beyond the per-connection idle timers
  Nanos accept_retry_delay = 100 * kNanosPerMilli;  // after EMFILE/ENFILE
  Nanos connect_timeout = 10 * kNanosPerSecond;     // outbound connects give up after this
  // A graceful close() sends what is queued, shuts the write side and reads (discarding) until
  // the peer's EOF, so unread input never turns the close into a reset. After this long without
  // finishing, the connection is aborted.
  Nanos linger_timeout = 5 * kNanosPerSecond;  // closing / lingering: reset after this
  uint32_t completions_per_turn = 256;         // size of the completion array
};

// Counters written by the owning reactor (relaxed), read by any thread (ctl, metrics).
struct ReactorStats {
  std::atomic<uint64_t> loop_iterations{0};
  std::atomic<uint64_t> connections_open{0};
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_closed{0};
  std::atomic<uint64_t> connections_refused_limit{0};
  std::atomic<uint64_t> accept_errors{0};
  std::atomic<uint64_t> idle_timeouts{0};
  std::atomic<uint64_t> rx_overflows{0};
  std::atomic<uint64_t> bytes_received{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> recv_pauses{0};
  // Receives parked because every provided buffer was held (ENOBUFS): they wait for buffers to
  // come back instead of being re-armed at once (which the kernel answers at once: a spin).
  std::atomic<uint64_t> recv_parked{0};
  std::atomic<uint64_t> send_refusals{0};
  // Closing connections whose peer sent more than kCloseDiscardMax after the close: reset.
  std::atomic<uint64_t> close_discard_aborts{0};
  std::atomic<uint64_t> cross_core_sent{0};
  std::atomic<uint64_t> cross_core_received{0};
  std::atomic<uint64_t> cross_core_full{0};
  std::atomic<uint64_t> io_waits{0};
};

// Input a closing connection reads away before it gives up on the peer and resets: more than any
// socket buffers hold, far less than a flood reads in the linger timeout.
inline constexpr uint64_t kCloseDiscardMax = 4 << 20;

// One TCP (or Unix) stream connection, owned by one reactor from accept/connect to on_close.
class Connection {
 public:
  uint64_t id() const { return id_; }
  Reactor& reactor() const { return *reactor_; }
  IoHandle handle() const { return handle_; }
  const SocketAddress& peer() const { return peer_; }

  // Queues all of `bytes` for sending, or nothing: false means no room (can_send semantics);
  // the handler gets on_writable() when room comes back.
  bool send(std::span<const std::byte> bytes);
  size_t send_room() const;
  // Asks for on_writable() once room comes back (send() refusing bytes implies this).
  void wait_writable() { want_writable_ = true; }
  size_t send_queued() const { return tx_tail_ - tx_head_; }
  bool can_send(size_t n) const { return open_for_send() && send_room() >= n; }

  // Stops reading from the socket (the kernel's buffer then fills and TCP pushes back on the
  // peer); resume_reading() offers the kept bytes again and reads on.
  void pause_reading();
  void resume_reading();
  bool reading_paused() const { return paused_; }

  // Closes after everything queued has been sent.
  void close();
  // Closes now, discarding queued bytes.
  void abort();
  void set_idle_timeout(Nanos timeout);

 private:
  friend class Reactor;
  // open -> closing (queued bytes going out) -> lingering (write side shut, reading to EOF)
  // -> draining_ops (socket shut down, waiting for in-flight operations) -> free.
  enum class State : uint8_t { free, connecting, open, closing, lingering, draining_ops };
  bool open_for_send() const { return state_ == State::open; }

  Reactor* reactor_ = nullptr;
  ConnectionHandler* handler_ = nullptr;
  uint64_t id_ = 0;
  IoHandle handle_ = kInvalidHandle;
  State state_ = State::free;
  bool paused_ = false;
  bool recv_armed_ = false;
  bool connect_in_flight_ = false;
  bool read_closed_ = false;  // EOF seen: nothing more will be received
  bool eof_pending_ = false;  // EOF seen behind input the handler has not taken yet
  bool send_in_flight_ = false;
  bool want_writable_ = false;
  bool in_flush_list_ = false;
  bool rx_parked_ = false;  // in the reactor's list of receives waiting for buffers
  bool dispatching_ = false;
  CloseReason close_reason_ = CloseReason::local;
  int close_error_ = 0;
  uint32_t slot_ = 0;
  // Receive reassembly buffer (a BufferPool block, held only while bytes are kept).
  std::byte* rx_ = nullptr;
  uint32_t rx_len_ = 0;
  // Provided buffers that arrived while paused or behind kept bytes, oldest first, linked
  // through the reactor's held-buffer table. Bounded by the backend's provided-buffer count.
  uint32_t held_count_ = 0;
  uint16_t held_head_ = 0;
  uint16_t held_tail_ = 0;
  // Send buffer (a BufferPool block, held only while bytes are queued).
  std::byte* tx_ = nullptr;
  uint32_t tx_head_ = 0;
  uint32_t tx_tail_ = 0;
  Nanos idle_timeout_ = 0;
  uint64_t close_discarded_ = 0;  // bytes read and dropped since close()
  Nanos last_activity_ = 0;
  Nanos close_deadline_ = 0;  // closing / lingering: abort after this
  Connection* next_flush_ = nullptr;
  SocketAddress peer_;
};

class Reactor final : public FileCommitter {
 public:
  Reactor(const ReactorConfig& config, std::unique_ptr<IoBackend> backend, Clock& clock);
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  unsigned core() const final { return config_.core; }
  const ReactorConfig& config() const { return config_; }
  Clock& clock() const { return clock_; }
  IoBackend& backend() const { return *backend_; }
  const ReactorStats& stats() const { return stats_; }
  size_t connection_count() const { return open_count_; }

  // Listens on `addr` on this reactor (SO_REUSEPORT, so every reactor can listen on the same
  // address). Returns the bound address (port 0 picks one). With ListenMode::handoff, call it
  // on every reactor: reactor 0 alone binds and accepts, then hands each connection to the
  // next reactor's `acceptor` for the same address (round robin) over the cross-core rings;
  // with port 0 the other reactors must pass the address reactor 0 bound.
  Result<SocketAddress, std::string> listen(const SocketAddress& addr, Acceptor& acceptor,
                                            const ListenOptions& opts = {});
  // Closes every listener of this reactor (shutdown: stop accepting).
  void stop_listening();
  // Starts an outbound connection; the handler gets on_open, or on_close(connect_failed).
  // Returns nullptr (and calls nothing) when the connection table is full.
  Connection* connect(const SocketAddress& addr, ConnectionHandler& handler,
                      const ConnectOptions& opts = {});

  void arm_timer(Timer& timer, Nanos delay) { timers_.arm(timer, clock_.now() + delay); }
  void arm_timer_at(Timer& timer, Nanos deadline) { timers_.arm(timer, deadline); }
  void cancel_timer(Timer& timer) { timers_.cancel(timer); }

  // Sends `msg` to reactor `core` over this reactor's ring to it. False when that ring is full:
  // backpressure, the caller keeps the message and tries again when can_send_to() says so —
  // reactor `core` wakes this one once it has made room (so a poller whose has_work() waits on
  // can_send_to() sleeps meanwhile instead of spinning).
  bool send_to(unsigned core, const CrossCoreMessage& msg);
  // Whether the ring to reactor `core` has room now (approximate: send_to may still refuse).
  bool can_send_to(unsigned core) const;

  // Group commit to a regular file on this reactor's backend (io_uring: linked writes +
  // IORING_FSYNC_DATASYNC). The bytes of `writes` stay put until `handler` hears the result; the
  // reactor does not finish run() while a commit is in flight.
  void start_file_commit(int fd, std::span<const FileWrite> writes,
                         FileCommitHandler& handler) final {
    ++file_commits_in_flight_;
    backend_->start_file_commit(fd, writes, &handler);
  }
  uint32_t file_commits_in_flight() const { return file_commits_in_flight_; }

  // Runs `work` on the engine's thread for blocking work (a state file written with fsync, a
  // database reloaded), then `done` on this reactor's thread (engine/blocking_worker.h). `work`
  // must not touch this reactor's state. A reactor outside an Engine (the simulator, a test's
  // single reactor) runs `work` inline and `done` on its next loop turn: deterministic.
  void run_blocking(std::function<void()> work, std::function<void()> done = {});
  // Set by the Engine before the loop starts.
  void set_blocking_port(BlockingWorker::Port* port) { blocking_port_ = port; }

  // Registers a poller drained every loop turn (owned by the caller, outlives the reactor).
  void add_poller(Poller& poller) final { pollers_.push_back(&poller); }
  // Unregisters a poller (on this reactor's thread, e.g. when a device goes away).
  void remove_poller(Poller& poller);
  // From any thread: wakes the reactor if it is asleep so its pollers run.
  void notify();

  // One loop turn; waits at most `timeout` (< 0: until woken or a timer is due).
  void run_once(Nanos timeout);
  // Runs loop turns until request_stop(); then stops accepting, lets connections drain for at
  // most `drain_timeout`, and closes the rest.
  void run(Nanos drain_timeout = 5 * kNanosPerSecond);
  // From any thread.
  void request_stop();
  bool stop_requested() const { return stop_requested_.load(std::memory_order_acquire); }
  // From any thread: the reactor is blocked waiting for work (healthy, even if its loop counter
  // does not move). The daemon's watchdog treats "not asleep and not advancing" as stuck.
  bool asleep() const { return sleeping_.load(std::memory_order_relaxed); }

  // Engine wiring: rings between reactors (set up before the threads start).
  struct Peer {
    Reactor* reactor = nullptr;
    void* outbound = nullptr;  // SpscRing<CrossCoreMessage>* this -> peer
  };
  void set_peers(std::vector<Peer> peers) {
    peers_ = std::move(peers);
    wants_room_ = std::make_unique<std::atomic<bool>[]>(peers_.size());
  }
  // SpscRing<CrossCoreMessage>* producer -> this
  void add_inbound_ring(void* ring, Reactor* producer);
  size_t cross_core_backlog() const;  // messages waiting in this reactor's inbound rings

 private:
  friend class Connection;
  struct Listener;
  class CrossCoreInbox;

  Connection* allocate_connection();
  void release_connection(Connection& c);
  void open_connection(Connection& c, IoHandle handle);
  void dispatch(const IoCompletion& cqe);
  void on_accept(Listener& l, const IoCompletion& cqe);
  void adopt(IoHandle handle, Acceptor& acceptor);
  static void on_handoff(Reactor& r, const CrossCoreMessage& msg);
  void on_connect(Connection& c, const IoCompletion& cqe);
  void on_recv(Connection& c, const IoCompletion& cqe);
  void on_send(Connection& c, const IoCompletion& cqe);
  void deliver(Connection& c, const std::byte* data, size_t len, uint16_t buffer_id);
  void keep_rx(Connection& c, const std::byte* data, size_t len);
  void drain_held(Connection& c);
  void hold(Connection& c, const std::byte* data, size_t len, uint16_t buffer_id);
  void pop_held(Connection& c);
  void peer_closed(Connection& c);
  void flush_sends();
  void queue_flush(Connection& c);
  // Gives a provided buffer back to the backend; parked receives are re-armed this turn.
  void recycle(uint16_t buffer_id);
  void begin_close(Connection& c, CloseReason reason, int error);
  void start_linger(Connection& c);
  void discard_input(Connection& c);
  void maybe_finish_close(Connection& c);
  void sweep_idle();
  void retry_accept(Listener& l);
  bool wake_pending() const;
  static void on_idle_sweep(Timer&, void* self);
  static void on_accept_retry(Timer&, void* listener);

  ReactorConfig config_;
  std::unique_ptr<IoBackend> backend_;
  Clock& clock_;
  ReactorStats stats_;
  TimerHeap timers_;
  BufferPool rx_pool_;
  BufferPool tx_pool_;
  std::vector<Connection> connections_;  // fixed slab, never resized after construction
  struct HeldBuffer {
    const std::byte* data = nullptr;
    uint32_t len = 0;
    uint16_t next = 0;
  };
  std::vector<HeldBuffer> held_;  // indexed by provided-buffer id
  // Receives that ended with ENOBUFS, by connection and its id (a slot may be reused), re-armed
  // once a buffer has come back (buffers_returned_), at most once per loop turn.
  std::vector<std::pair<Connection*, uint64_t>> rx_parked_;
  bool buffers_returned_ = false;
  std::vector<uint32_t> free_slots_;
  size_t open_count_ = 0;
  Nanos turn_now_ = 0;  // the clock when this turn's completions were collected
  uint64_t next_connection_seq_ = 1;
  std::vector<std::unique_ptr<Listener>> listeners_;
  struct HandoffTarget {
    uint64_t key;  // hash of the listening address
    Acceptor* acceptor;
  };
  std::vector<HandoffTarget> handoff_acceptors_;
  unsigned handoff_next_ = 0;
  std::vector<IoCompletion> completions_;
  Connection* flush_head_ = nullptr;
  Timer idle_sweep_timer_;
  std::vector<Poller*> pollers_;
  BlockingWorker::Port* blocking_port_ = nullptr;
  // Without a port: the `done`s of work run inline, for the next loop turn.
  class InlineDone final : public Poller {
   public:
    std::vector<std::function<void()>> pending;
    bool poll() override;
    bool has_work() const override { return !pending.empty(); }
  };
  InlineDone inline_done_;
  std::vector<Peer> peers_;
  // [core]: a send_to that core found its ring full; that core wakes this one once it drained
  // some (then clears it).
  std::unique_ptr<std::atomic<bool>[]> wants_room_;
  std::unique_ptr<CrossCoreInbox> inbox_;
  uint32_t file_commits_in_flight_ = 0;
  std::atomic<bool> sleeping_{false};
  std::atomic<bool> stop_requested_{false};
};

}  // namespace cp::engine
