#include "engine/socket_ops.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace cp::engine::socket_ops {

Result<int, int> open_stream(const SocketAddress& addr, int type) {
  const int fd = ::socket(addr.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(errno);
  return fd;
}

Result<int, int> open_listener(const SocketAddress& addr, const ListenOptions& opts) {
  if (opts.seqpacket && addr.family() != AF_UNIX) return fail(EINVAL);
  auto fd = open_stream(addr, opts.seqpacket ? SOCK_SEQPACKET : SOCK_STREAM);
  if (!fd) return fd;
  const int one = 1;
  if (addr.family() != AF_UNIX) {
    ::setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (opts.reuse_port) ::setsockopt(*fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    // Best effort: without it (old kernel) the reuseport hash alone spreads connections.
    if (opts.reuse_port && opts.incoming_cpu >= 0)
      ::setsockopt(*fd, SOL_SOCKET, SO_INCOMING_CPU, &opts.incoming_cpu, sizeof opts.incoming_cpu);
  }
  if (::bind(*fd, addr.sa(), addr.length) != 0 || ::listen(*fd, opts.backlog) != 0) {
    const int err = errno;
    ::close(*fd);
    return fail(err);
  }
  return fd;
}

void tune_connected(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on AF_UNIX
}

Result<SocketAddress, int> local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return fail(errno);
  return SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

Result<SocketAddress, int> peer_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return fail(errno);
  return SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace cp::engine::socket_ops
