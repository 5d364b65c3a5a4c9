#include "base/blocking_socket.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace cp {

Result<BlockingSocket, int> BlockingSocket::connect(const SocketAddress& address, Type type) {
  const int family = address.sa()->sa_family;
  const int fd = ::socket(family, static_cast<int>(type) | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(errno);
  BlockingSocket s(fd);
  int rc;
  do {
    rc = ::connect(fd, address.sa(), address.length);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return fail(errno);
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

Result<void, int> BlockingSocket::send_all(std::span<const std::byte> bytes) const {
  int type = SOCK_STREAM;
  socklen_t len = sizeof type;
  ::getsockopt(fd_, SOL_SOCKET, SO_TYPE, &type, &len);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno);
    if (n == 0) return fail(EPIPE);
    if (type == SOCK_SEQPACKET && static_cast<size_t>(n) != bytes.size()) return fail(EMSGSIZE);
    done += static_cast<size_t>(n);
  }
  return {};
}

Result<bool, int> BlockingSocket::wait_readable(int timeout_ms) const {
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return fail(errno);
    return r > 0;
  }
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
