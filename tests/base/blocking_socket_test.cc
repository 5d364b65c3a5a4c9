// BlockingSocket (base/blocking_socket.h), the tools' client socket: refusal reported as errno,
// TCP and Unix seqpacket round trips, a timeout that says so, the peer's close as 0 bytes, and
// one close of the descriptor however the object is moved.
#include "base/blocking_socket.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace cp {
namespace {

std::span<const std::byte> bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

int tcp_listener(SocketAddress& bound) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto any = SocketAddress::parse("127.0.0.1:0");
  ::bind(fd, any->sa(), any->length);
  ::listen(fd, 4);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  bound = SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  return fd;
}

TEST(BlockingSocket, RefusedConnectIsAnErrno) {
  SocketAddress bound;
  const int l = tcp_listener(bound);
  ::close(l);  // nobody listens there now
  auto s = BlockingSocket::connect(bound);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), ECONNREFUSED);
}

TEST(BlockingSocket, TcpRoundTripTimeoutAndClose) {
  SocketAddress bound;
  const int l = tcp_listener(bound);
  auto s = BlockingSocket::connect(bound);
  ASSERT_TRUE(s) << std::strerror(s.error());
  const int peer = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(peer, 0);
  ASSERT_TRUE(s->send_all(bytes("ping")));
  char buf[8] = {};
  ASSERT_EQ(::recv(peer, buf, sizeof buf, 0), 4);
  EXPECT_EQ(std::string(buf, 4), "ping");
  auto none = s->wait_readable(50);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);  // nothing within 50 ms
  ::send(peer, "pong", 4, 0);
  ::close(peer);
  ASSERT_TRUE(*s->wait_readable(1000));
  std::byte in[16];
  auto n = s->receive(in);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 4u);
  n = s->receive(in);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);  // the peer closed
  ::close(l);
}

TEST(BlockingSocket, SeqpacketKeepsMessageBoundaries) {
  const std::string path = "/tmp/cp-blocking-socket-" + std::to_string(::getpid());
  ::unlink(path.c_str());
  const int l = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ::listen(l, 1);
  auto s = BlockingSocket::connect(*SocketAddress::parse("unix:" + path),
                                   BlockingSocket::Type::seqpacket);
  ASSERT_TRUE(s) << std::strerror(s.error());
  const int peer = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_TRUE(s->send_all(bytes("one")));
  ASSERT_TRUE(s->send_all(bytes("two!")));
  char buf[16];
  EXPECT_EQ(::recv(peer, buf, sizeof buf, 0), 3);
  EXPECT_EQ(::recv(peer, buf, sizeof buf, 0), 4);
  ::close(peer);
  ::close(l);
  ::unlink(path.c_str());
}

TEST(BlockingSocket, MovesKeepOneOwner) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  {
    BlockingSocket a(fds[0]);
    BlockingSocket b(std::move(a));
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
    BlockingSocket c;
    c = std::move(b);
    EXPECT_EQ(c.fd(), fds[0]);
  }
  EXPECT_EQ(::fcntl(fds[0], F_GETFD), -1);  // closed exactly once, by `c`
  ::close(fds[1]);
}

}  // namespace
}  // namespace cp
