// How connections end, on io_uring and epoll: graceful close with unread input (no reset, no
// lost reply), aborting a connect in progress, an acceptor that refuses after closing, a peer
// half-closing behind kept input, and a reset on a paused connection (no busy loop).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "base/byte_reader.h"
#include "engine/echo/echo_service.h"
#include "tests/support/reactor_harness.h"

namespace cp::engine {
namespace {

using test::connect_to;
using test::eventually;
using test::loopback;
using test::ReactorThread;
using test::read_exact;
using test::write_all;

class ReactorCloseTest : public test::BackendTest {};
INSTANTIATE_TEST_SUITE_P(Backends, ReactorCloseTest,
                         ::testing::ValuesIn(test::available_backends()), test::BackendName());

// On the first bytes: stop reading, queue a large reply, close. More requests stay unread in
// the socket; a plain shutdown + close would make the kernel reset and drop the reply.
class ReplyThenClose final : public Acceptor, public ConnectionHandler {
 public:
  static constexpr size_t kReplyBytes = 1 << 20;
  ConnectionHandler* on_accept(Connection&) override { return this; }
  size_t on_data(Connection& c, std::span<const std::byte>) override {
    c.pause_reading();
    pump(c);
    return 0;
  }
  void on_writable(Connection& c) override { pump(c); }
  void on_close(Connection&, CloseReason r, int e) override {
    reason = r;
    error = e;
    closed = true;
  }
  std::atomic<bool> closed{false};
  std::atomic<CloseReason> reason{CloseReason::io_error};
  std::atomic<int> error{-1};

 private:
  void pump(Connection& c) {
    std::byte chunk[4096];
    while (sent_ < kReplyBytes) {
      for (size_t i = 0; i < sizeof chunk; ++i) chunk[i] = std::byte((sent_ + i) & 0xff);
      if (!c.send(chunk)) return;  // on_writable follows
      sent_ += sizeof chunk;
    }
    c.close();
  }
  size_t sent_ = 0;
};

TEST_P(ReactorCloseTest, GracefulCloseWithUnreadInputLosesNothing) {
  ReplyThenClose service;
  SocketAddress addr;
  ReactorThread server(GetParam(), {}, [&](Reactor& r) { addr = *r.listen(loopback(), service); });
  const int fd = connect_to(addr);
  ASSERT_GE(fd, 0);
  const std::string requests(8192, 'q');  // the first is answered, the rest are never read
  ASSERT_TRUE(write_all(fd, requests.data(), requests.size()));
  std::vector<uint8_t> got(ReplyThenClose::kReplyBytes);
  ASSERT_EQ(read_exact(fd, got.data(), got.size(), 10000), got.size());
  for (size_t i = 0; i < got.size(); i += 4097) ASSERT_EQ(got[i], i & 0xff);
  char c;
  EXPECT_EQ(::recv(fd, &c, 1, 0), 0) << "expected EOF, got " << std::strerror(errno);
  ::close(fd);  // our EOF ends the server's linger
  ASSERT_TRUE(eventually([&] { return service.closed.load(); }));
  EXPECT_EQ(service.reason.load(), CloseReason::local);
  EXPECT_EQ(service.error.load(), 0);
}

// Sends its name to every connection it accepts.
class Greeter final : public Acceptor, public ConnectionHandler {
 public:
  explicit Greeter(char name) : name_(name) {}
  ConnectionHandler* on_accept(Connection&) override { return this; }
  void on_open(Connection& c) override { c.send({reinterpret_cast<std::byte*>(&name_), 1}); }
  size_t on_data(Connection&, std::span<const std::byte> d) override { return d.size(); }
  void on_close(Connection&, CloseReason, int) override {}

 private:
  char name_;
};

class Recorder final : public ConnectionHandler {
 public:
  void on_open(Connection&) override { opened = true; }
  size_t on_data(Connection&, std::span<const std::byte> d) override {
    std::lock_guard lock(mutex);
    received.append(as_chars(d));
    return d.size();
  }
  void on_close(Connection&, CloseReason r, int) override {
    reason = r;
    closed = true;
  }
  std::string text() {
    std::lock_guard lock(mutex);
    return received;
  }
  std::atomic<bool> opened{false}, closed{false};
  std::atomic<CloseReason> reason{CloseReason::io_error};
  std::mutex mutex;
  std::string received;
};

// Aborting a connect in progress must not hand its socket to the next connection on the slot.
TEST_P(ReactorCloseTest, AbortedConnectDoesNotLeakIntoTheNextConnection) {
  Greeter x('X'), z('Z');
  SocketAddress addr_x, addr_z;
  ReactorThread servers(GetParam(), {}, [&](Reactor& r) {
    addr_x = *r.listen(loopback(), x);
    addr_z = *r.listen(loopback(), z);
  });
  Recorder a, b;
  ReactorThread client(GetParam(), {}, [&](Reactor& r) {
    Connection* ca = r.connect(addr_x, a);
    ASSERT_NE(ca, nullptr);
    ca->abort();
    ASSERT_NE(r.connect(addr_z, b), nullptr);
  });
  ASSERT_TRUE(eventually([&] { return b.text().size() >= 1; }));
  EXPECT_EQ(b.text(), "Z");
  ASSERT_TRUE(eventually([&] { return a.closed.load(); }));
  EXPECT_FALSE(a.opened);
  EXPECT_EQ(a.text(), "");
}

// An acceptor that aborts a connection and then refuses it: released once, counts stay right.
class AbortAndRefuse final : public Acceptor {
 public:
  ConnectionHandler* on_accept(Connection& c) override {
    c.abort();
    return nullptr;
  }
};

TEST_P(ReactorCloseTest, RefusingAnAbortedConnectionReleasesItOnce) {
  AbortAndRefuse refuser;
  EchoService echo;
  SocketAddress refusing, echoing;
  ReactorThread server(GetParam(), {}, [&](Reactor& r) {
    refusing = *r.listen(loopback(), refuser);
    echoing = *r.listen(loopback(), echo);
  });
  for (int i = 0; i < 10; ++i) {
    const int fd = connect_to(refusing);
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(test::wait_closed(fd, 3000));
    ::close(fd);
  }
  const auto& stats = server.reactor().stats();
  ASSERT_TRUE(eventually([&] { return stats.connections_closed.load() == 10; }));
  EXPECT_EQ(stats.connections_open.load(), 0u);
  // Two live connections must get two distinct slots.
  const int e1 = connect_to(echoing), e2 = connect_to(echoing);
  ASSERT_TRUE(write_all(e1, "1", 1) && write_all(e2, "2", 1));
  char b1 = 0, b2 = 0;
  EXPECT_EQ(read_exact(e1, &b1, 1), 1u);
  EXPECT_EQ(read_exact(e2, &b2, 1), 1u);
  EXPECT_EQ(b1, '1');
  EXPECT_EQ(b2, '2');
  EXPECT_EQ(stats.connections_open.load(), 2u);
  ::close(e1);
  ::close(e2);
}

// Takes one 100-byte frame per call. With a 512-byte receive block, one 2,000-byte segment is
// longer than the block: every frame must still be offered, and the EOF behind them seen.
class OneFrameAtATime final : public Acceptor, public ConnectionHandler {
 public:
  ConnectionHandler* on_accept(Connection&) override { return this; }
  size_t on_data(Connection&, std::span<const std::byte> d) override {
    if (d.size() < 100) return 0;
    ++frames;
    return 100;
  }
  void on_close(Connection&, CloseReason r, int) override {
    reason = r;
    closed = true;
  }
  std::atomic<int> frames{0};
  std::atomic<bool> closed{false};
  std::atomic<CloseReason> reason{CloseReason::io_error};
};

TEST_P(ReactorCloseTest, KeptInputLongerThanTheBlockAndEofBehindIt) {
  OneFrameAtATime service;
  ReactorConfig config;
  config.rx_buffer_bytes = 512;
  SocketAddress addr;
  ReactorThread server(GetParam(), config,
                       [&](Reactor& r) { addr = *r.listen(loopback(), service); });
  const int fd = connect_to(addr);
  const std::string frames(2000, 'f');
  ASSERT_TRUE(write_all(fd, frames.data(), frames.size()));
  ::shutdown(fd, SHUT_WR);
  ASSERT_TRUE(eventually([&] { return service.closed.load(); })) << service.frames;
  EXPECT_EQ(service.frames.load(), 20);
  EXPECT_EQ(service.reason.load(), CloseReason::peer_closed);
  ::close(fd);
}

// Stops reading for good on the first bytes.
class PauseForever final : public Acceptor, public ConnectionHandler {
 public:
  ConnectionHandler* on_accept(Connection&) override { return this; }
  size_t on_data(Connection& c, std::span<const std::byte>) override {
    c.pause_reading();
    paused = true;
    return 0;
  }
  void on_close(Connection&, CloseReason, int) override {}
  std::atomic<bool> paused{false};
};

TEST_P(ReactorCloseTest, ResetOnAPausedConnectionDoesNotSpin) {
  PauseForever service;
  SocketAddress addr;
  ReactorThread server(GetParam(), {}, [&](Reactor& r) { addr = *r.listen(loopback(), service); });
  const int fd = connect_to(addr);
  ASSERT_TRUE(write_all(fd, "data", 4));
  ASSERT_TRUE(eventually([&] { return service.paused.load(); }));
  linger lg{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  ::close(fd);  // RST
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto before = server.reactor().stats().loop_iterations.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_LT(server.reactor().stats().loop_iterations.load() - before, 100u);
}

}  // namespace
}  // namespace cp::engine
