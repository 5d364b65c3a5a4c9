// The I/O backend interface: completion-style operations on stream sockets, implemented by
// io_uring (default), epoll (fallback where io_uring cannot be set up) and the deterministic
// in-memory simulator (engine/sim). The Reactor is written against this interface only, so every
// service runs unchanged on all three.
//
// Ownership and threading: a backend belongs to one reactor and is used from that reactor's
// thread only, except wake(), which any thread may call. Operations name a caller-owned `owner`
// (a Listener or Connection, at least 8-byte aligned) that must outlive the operation; the
// completion carries it back. Completions are collected by wait() into a caller array and run by
// the caller afterwards, never inline from inside a start_*() call.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"
#include "base/socket_address.h"
#include "engine/file_commit.h"

namespace cp::engine {

// A socket: an fd for the OS backends, an endpoint id for the simulator.
using IoHandle = int32_t;
inline constexpr IoHandle kInvalidHandle = -1;

enum class IoOp : uint8_t {
  accept,       // result: new handle, or -errno. more: still armed.
  connect,      // result: new connected handle, or -errno.
  recv,         // result: bytes (> 0), 0 = peer closed, or -errno. more: still armed.
  send,         // result: bytes sent (may be short), or -errno.
  file_commit,  // result: 0 once every write landed and fdatasync returned, or -errno.
};

struct IoCompletion {
  IoOp op;
  bool more = false;       // multishot accept/recv: the operation stays armed
  uint16_t buffer_id = 0;  // recv with result > 0: give back with recycle_buffer()
  int32_t result = 0;
  void* owner = nullptr;            // as passed to start_*()
  const std::byte* data = nullptr;  // recv: `result` bytes, valid until recycle_buffer()
};

// How a listening address is spread over the reactors.
enum class ListenMode : uint8_t {
  reuse_port,  // every reactor listens (SO_REUSEPORT); the kernel hashes connections over them
  handoff,     // reactor 0 accepts and hands each connection to the next reactor, round robin
};

struct ListenOptions {
  int backlog = 4096;
  bool reuse_port = true;  // SO_REUSEPORT on the socket
  ListenMode mode = ListenMode::reuse_port;
  // AF_UNIX only: SOCK_SEQPACKET instead of SOCK_STREAM. Each recv then returns one packet (at
  // most the backend's receive buffer size: a longer one is cut); a service on it frames its
  // messages itself, since queued sends may leave together in one packet.
  bool seqpacket = false;
  // TCP, reuse_port, pinned reactors: steer connections by CPU. Each reactor's listener sets
  // SO_INCOMING_CPU to its reactor's CPU, so the kernel gives it the connections whose SYN it
  // processed on that CPU (the NIC queue's CPU; on loopback, the connecting thread's): a
  // connection's packets and its reactor then share a CPU, with no cross-CPU wake-up per
  // message. Locality over balance — for services with many light connections (the bank
  // daemon: one per SIM slot), not for a few heavy ones (SMPP binds), which one busy client
  // thread or a single-queue NIC would pile onto one reactor. Gated by
  // ReactorConfig::steer_connections.
  bool steer = false;
  // Set by Reactor::listen from `steer`: the CPU for SO_INCOMING_CPU, or -1.
  int incoming_cpu = -1;
};

struct ConnectOptions {
  bool seqpacket = false;  // AF_UNIX only: SOCK_SEQPACKET (messages keep their boundaries)
};

// Counters a backend keeps about itself (read by its own reactor only).
struct IoBackendStats {
  uint64_t submit_calls = 0;  // io_uring_enter / epoll_wait system calls
  uint64_t completions = 0;
  uint64_t recv_buffer_exhausted = 0;  // multishot recv ended for lack of provided buffers
  uint64_t watch_failures = 0;         // epoll: a socket epoll_ctl would not watch
  uint64_t sq_backlogged = 0;          // io_uring: entries that waited for the kernel to take more
};

struct IoBackendOptions {
  uint32_t queue_depth = 4096;        // io_uring SQ entries; completions array size for epoll
  uint32_t recv_buffer_count = 1024;  // provided buffers (power of two)
  uint32_t recv_buffer_bytes = 4096;  // size of each provided buffer
  uint32_t max_connections = 16384;   // connections the owning reactor may hold (sizes queues)
  // io_uring: sockets in the ring's fixed-file table (saves a file lookup per operation).
  bool fixed_files = true;
};

class IoBackend {
 public:
  virtual ~IoBackend() = default;
  virtual std::string_view name() const = 0;

  // Creates a listening socket (non-blocking, close-on-exec). Error: errno.
  virtual Result<IoHandle, int> listen(const SocketAddress& addr, const ListenOptions& opts) = 0;
  // Local address of a handle (to learn the port after binding port 0).
  virtual Result<SocketAddress, int> local_address(IoHandle handle) = 0;
  // Peer address of a connected handle.
  virtual Result<SocketAddress, int> peer_address(IoHandle handle) = 0;

  // Multishot accept: one completion per new connection while more == true.
  virtual void start_accept(IoHandle listener, void* owner) = 0;
  // Starts an outbound connection; one IoOp::connect completion with the new handle.
  // `seqpacket`: AF_UNIX SOCK_SEQPACKET instead of a stream socket (see ListenOptions).
  virtual void start_connect(const SocketAddress& addr, void* owner, bool seqpacket) = 0;
  // Multishot receive into the backend's provided buffers.
  virtual void start_recv(IoHandle handle, void* owner) = 0;
  // Ends a multishot receive; a last recv completion with more == false follows.
  virtual void stop_recv(IoHandle handle, void* owner) = 0;
  virtual void recycle_buffer(uint16_t buffer_id) = 0;
  // Sends from caller-owned bytes that must stay put until the completion. At most one send
  // in flight per handle.
  virtual void start_send(IoHandle handle, void* owner, std::span<const std::byte> bytes) = 0;
  // Shuts both directions down: armed operations on the handle complete (recv with 0 or an
  // error, send with an error). Call close() only once none is in flight.
  virtual void shutdown(IoHandle handle) = 0;
  // Shuts the write side only (graceful close: the peer sees EOF and may still send).
  virtual void shutdown_write(IoHandle handle) { shutdown(handle); }
  // Abandons an outbound connect started for `owner`: its completion follows (-ECANCELED, or
  // the result if it had already finished). The default waits for the connect to end.
  virtual void cancel_connect(void* /*owner*/) {}
  virtual void close(IoHandle handle) = 0;

  // Group commit to a regular file: every write, then one fdatasync that runs only after all
  // writes succeeded (io_uring: linked writes + IORING_FSYNC_DATASYNC). One IoOp::file_commit
  // completion for the whole operation; a short write is -EIO. The epoll and simulator backends
  // do it synchronously inside the call (the completion still arrives through wait()).
  virtual void start_file_commit(int fd, std::span<const FileWrite> writes, void* owner) = 0;

  // Submits everything started since the last call, then waits up to `timeout` (0: do not
  // block; < 0: until something happens or wake()) and fills `out`. Returns the count.
  virtual size_t wait(std::span<IoCompletion> out, Nanos timeout) = 0;
  // Interrupts wait() from any thread.
  virtual void wake() = 0;

  virtual const IoBackendStats& stats() const = 0;
  // Number of provided receive buffers (buffer ids are below it).
  virtual uint32_t recv_buffer_count() const { return 65536; }
};

// Backend names as the configuration and --io-backend spell them.
enum class IoBackendKind { automatic, io_uring, epoll };
// Indexed by IoBackendKind; the one spelling of each name (config checks use it too).
inline constexpr std::array<std::string_view, 3> kIoBackendNames{"auto", "io_uring", "epoll"};
constexpr std::string_view to_string(IoBackendKind kind) {
  return kIoBackendNames[static_cast<size_t>(kind)];
}
// Also accepts "uring" (an alias of io_uring).
Result<IoBackendKind, std::string> parse_backend_kind(std::string_view name);

// `kind`, with `automatic` resolved: io_uring when this process can create a ring (containers
// often forbid it), else epoll with a log line saying why.
IoBackendKind resolve_backend_kind(IoBackendKind kind, const IoBackendOptions& opts);
// Creates the backend of `kind` (`automatic` resolved as above).
Result<std::unique_ptr<IoBackend>, std::string> make_backend(IoBackendKind kind,
                                                             const IoBackendOptions& opts);
Result<std::unique_ptr<IoBackend>, std::string> make_uring_backend(const IoBackendOptions& opts);
Result<std::unique_ptr<IoBackend>, std::string> make_epoll_backend(const IoBackendOptions& opts);

}  // namespace cp::engine
