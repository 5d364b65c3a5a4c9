// HwEventBridge (engine/hw_event_bridge.h) with a socketpair standing in for a tty: bytes the
// "modem" sends unsolicited reach the reactor, requests from the reactor reach the device, and a
// reactor that drains slowly makes the device thread stop reading (stalls) without losing or
// reordering a byte.
#include "engine/hw_event_bridge.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "tests/support/reactor_harness.h"

namespace cp::engine {
namespace {

struct Chunk {
  uint16_t len = 0;
  char data[64];
};

// A serial-like device: reads up to `burst` chunks per wake-up, writes requests as they come.
struct PipeDevice {
  int fd = -1;
  size_t burst = 4;
  pollfd pfd{};
  std::span<const pollfd> fds() {
    pfd = {fd, POLLIN, 0};
    return {&pfd, 1};
  }
  int timeout_ms() const { return -1; }
  template <typename Emit>
  void on_ready(std::span<const pollfd> ready, Emit& emit) {
    if (!(ready[0].revents & POLLIN)) return;
    for (size_t i = 0; i < burst; ++i) {
      Chunk c;
      const ssize_t n = ::recv(fd, c.data, sizeof c.data, MSG_DONTWAIT);
      if (n <= 0) return;
      c.len = static_cast<uint16_t>(n);
      if (!emit.emit(c)) ADD_FAILURE() << "emit refused within the burst";
    }
  }
  template <typename Emit>
  void handle(const Chunk& c, Emit&) {
    [[maybe_unused]] ssize_t n = ::send(fd, c.data, c.len, MSG_NOSIGNAL);
  }
};

using Bridge = HwEventBridge<Chunk, Chunk, PipeDevice>;

struct Received {
  std::mutex mu;
  std::string bytes;
  std::atomic<size_t> events{0};
  std::atomic<int> slow_first{0};
  void add(const Chunk& c) {
    if (slow_first.load() > 0) {
      --slow_first;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::lock_guard lock(mu);
    bytes.append(c.data, c.len);
    ++events;
  }
  size_t size() {
    std::lock_guard lock(mu);
    return bytes.size();
  }
};

TEST(HwEventBridge, UnsolicitedEventsAndRequests) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  PipeDevice device{sv[0]};
  Received got;
  std::unique_ptr<Bridge> bridge;
  test::ReactorThread rt(IoBackendKind::automatic, {}, [&](Reactor& r) {
    Bridge::Options o;
    o.name = "modem-test";
    auto b = Bridge::create(
        r, device, [&](const Chunk& c) { got.add(c); }, o);
    ASSERT_TRUE(b) << b.error();
    bridge = std::move(*b);
    Chunk at;
    std::memcpy(at.data, "AT\r", 3);
    at.len = 3;
    EXPECT_TRUE(bridge->submit(at));
  });
  ASSERT_EQ(rt.error(), "");
  char buf[8] = {};
  ASSERT_EQ(test::read_exact(sv[1], buf, 3), 3u);
  EXPECT_STREQ(buf, "AT\r");
  const std::string urc = "\r\n+CMTI: \"SM\",3\r\n";
  test::write_all(sv[1], urc.data(), urc.size());
  ASSERT_TRUE(test::eventually([&] { return got.size() == urc.size(); }));
  {
    std::lock_guard lock(got.mu);
    EXPECT_EQ(got.bytes, urc);
  }
  rt.stop();
  bridge.reset();
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST(HwEventBridge, ASlowReactorStallsTheDeviceWithoutLosingBytes) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  PipeDevice device{sv[0], 2};
  Received got;
  got.slow_first = 40;  // the first 40 events take 2 ms each on the reactor
  std::unique_ptr<Bridge> bridge;
  test::ReactorThread rt(IoBackendKind::automatic, {}, [&](Reactor& r) {
    Bridge::Options o;
    o.event_capacity = 8;
    o.burst_max = 2;
    auto b = Bridge::create(
        r, device, [&](const Chunk& c) { got.add(c); }, o);
    ASSERT_TRUE(b) << b.error();
    bridge = std::move(*b);
  });
  ASSERT_EQ(rt.error(), "");
  std::string sent(64 * 1024, '\0');
  for (size_t i = 0; i < sent.size(); ++i)
    sent[i] = static_cast<char>('A' + (i * 7 + i / 251) % 26);
  std::thread writer([&] { test::write_all(sv[1], sent.data(), sent.size()); });
  ASSERT_TRUE(test::eventually([&] { return got.size() == sent.size(); }, 20000))
      << got.size() << " of " << sent.size();
  writer.join();
  {
    std::lock_guard lock(got.mu);
    EXPECT_TRUE(got.bytes == sent) << "bytes lost or reordered";
  }
  EXPECT_GT(bridge->stalls(), 0u) << "the ring never filled: the test proves nothing";
  rt.stop();
  bridge.reset();
  ::close(sv[0]);
  ::close(sv[1]);
}

}  // namespace
}  // namespace cp::engine
