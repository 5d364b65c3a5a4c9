#include "base/blocking_socket.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "base/clock.h"

namespace cp {

namespace {

constexpr int kConnectRetryMs = 10;  // while a Unix listener's accept backlog is full

// Milliseconds left until `deadline_ms` (CLOCK_MONOTONIC), -1 for no deadline.
int64_t deadline_after(int timeout_ms) {
  return timeout_ms < 0 ? -1 : read_clock(CLOCK_MONOTONIC) / kNanosPerMilli + timeout_ms;
}
int remaining_ms(int64_t deadline_ms) {
  if (deadline_ms < 0) return -1;
  const int64_t left = deadline_ms - read_clock(CLOCK_MONOTONIC) / kNanosPerMilli;
  return left <= 0 ? 0 : static_cast<int>(left);
}

// poll() for `events` until the deadline: true when ready, false on timeout.
Result<bool, int> wait_for(int fd, short events, int64_t deadline_ms) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, remaining_ms(deadline_ms));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return fail(errno);
    return r > 0;
  }
}

}  // namespace

Result<BlockingSocket, int> BlockingSocket::connect(const SocketAddress& address, Type type,
                                                    int timeout_ms) {
  const int family = address.sa()->sa_family;
  // A Unix connect() only blocks (or says EAGAIN) while the backlog is full; non-blocking, the
  // deadline below bounds that wait.
  const bool bounded = timeout_ms >= 0 && family == AF_UNIX;
  const int fd =
      ::socket(family, static_cast<int>(type) | SOCK_CLOEXEC | (bounded ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return fail(errno);
  BlockingSocket s(fd);
  const int64_t deadline_ms = deadline_after(timeout_ms);
  for (;;) {
    if (::connect(fd, address.sa(), address.length) == 0) break;
    if (errno == EINTR) continue;
    if (!bounded || errno != EAGAIN) return fail(errno);
    if (remaining_ms(deadline_ms) == 0) return fail(ETIMEDOUT);
    ::poll(nullptr, 0, kConnectRetryMs);
  }
  if (bounded) {
    const int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  }
  if (family == AF_INET || family == AF_INET6) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return s;
}

BlockingSocket& BlockingSocket::operator=(BlockingSocket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.release();
  }
  return *this;
}

void BlockingSocket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<void, int> BlockingSocket::send_all(std::span<const std::byte> bytes, int timeout_ms) const {
  int type = SOCK_STREAM;
  socklen_t len = sizeof type;
  ::getsockopt(fd_, SOL_SOCKET, SO_TYPE, &type, &len);
  const int64_t deadline_ms = deadline_after(timeout_ms);
  const int flags = MSG_NOSIGNAL | (timeout_ms >= 0 ? MSG_DONTWAIT : 0);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, flags);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN && timeout_ms >= 0) {
      auto ready = wait_for(fd_, POLLOUT, deadline_ms);
      if (!ready) return fail(ready.error());
      if (!*ready) return fail(ETIMEDOUT);
      continue;
    }
    if (n < 0) return fail(errno);
    if (n == 0) return fail(EPIPE);
    if (type == SOCK_SEQPACKET && static_cast<size_t>(n) != bytes.size()) return fail(EMSGSIZE);
    done += static_cast<size_t>(n);
  }
  return {};
}

Result<bool, int> BlockingSocket::wait_readable(int timeout_ms) const {
  return wait_for(fd_, POLLIN, deadline_after(timeout_ms));
}

Result<size_t, int> BlockingSocket::receive(std::span<std::byte> out) const {
  for (;;) {
    const ssize_t n = ::recv(fd_, out.data(), out.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno);
    return static_cast<size_t>(n);
  }
}

}  // namespace cp
