// A blocking client socket for tools and tests — smsc-submit's SMSC socket client, RsproLink
// (cp-remsim-shell, the remote-SIM tests), test peers: the one owner of the descriptor (closed
// by the destructor, movable), connect to a SocketAddress (TCP or Unix, stream or seqpacket;
// TCP_NODELAY on TCP), send everything, wait for input with a timeout, read what is there;
// EINTR retried everywhere, errors as errno (ETIMEDOUT when a deadline passed). cellctl's
// ControlClient, smsc-submit's SMSC socket client and RsproLink (cp-remsim-shell, the
// remote-SIM tests) are built on it. Never used on a reactor.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <span>

#include "base/result.h"
#include "base/socket_address.h"

namespace cp {

class BlockingSocket {
 public:
  enum class Type : int { stream = SOCK_STREAM, seqpacket = SOCK_SEQPACKET };

  // Fails with the errno of socket() or connect(). With timeout_ms >= 0, a Unix socket whose
  // listener's backlog is full (EAGAIN: the server is alive but busy) is retried until then,
  // and fails with ETIMEDOUT.
  static Result<BlockingSocket, int> connect(const SocketAddress& address, Type type = Type::stream,
                                             int timeout_ms = -1);

  BlockingSocket() = default;
  // Takes over a connected descriptor (one a test accepted, say).
  explicit BlockingSocket(int fd) : fd_(fd) {}
  ~BlockingSocket() { close(); }
  BlockingSocket(BlockingSocket&& other) noexcept : fd_(other.release()) {}
  BlockingSocket& operator=(BlockingSocket&& other) noexcept;
  BlockingSocket(const BlockingSocket&) = delete;
  BlockingSocket& operator=(const BlockingSocket&) = delete;

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void close();
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

  // Sends all of `bytes` (a seqpacket socket: as one packet). EPIPE and the like as errno; a
  // short seqpacket send is EMSGSIZE. With timeout_ms >= 0, ETIMEDOUT when the peer has not
  // taken everything by then.
  Result<void, int> send_all(std::span<const std::byte> bytes, int timeout_ms = -1) const;
  // Waits up to `timeout_ms` (-1: no limit) for input or the peer's close: true when there is
  // something to read, false on timeout.
  Result<bool, int> wait_readable(int timeout_ms) const;
  // One recv(): the bytes read, 0 when the peer closed.
  Result<size_t, int> receive(std::span<std::byte> out) const;

 private:
  int fd_ = -1;
};

}  // namespace cp
