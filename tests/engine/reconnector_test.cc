// engine::Reconnector on io_uring and epoll: a peer that is not there yet is retried with the
// jittered exponential backoff (not in a loop, not given up), the link comes up as soon as the
// peer listens, a lost link is reconnected, and stop() / a stopping reactor end the retries.
#include "engine/reconnector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "tests/support/process.h"
#include "tests/support/reactor_harness.h"

namespace cp::engine {
namespace {

using namespace std::chrono_literals;

// Counts what the reconnector's connections go through; tells the reconnector as owners do.
struct CountingHandler final : ConnectionHandler {
  std::atomic<int> opens{0}, closes{0};
  std::atomic<bool> reconnect_scheduled{false};
  Reconnector* link = nullptr;

  void on_open(Connection&) override {
    ++opens;
    link->succeeded();
  }
  size_t on_data(Connection&, std::span<const std::byte> data) override { return data.size(); }
  void on_close(Connection&, CloseReason reason, int) override {
    ++closes;
    reconnect_scheduled = link->closed(reason);
  }
};

int listen_on(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class ReconnectorTest : public test::BackendTest {};

TEST_P(ReconnectorTest, RetriesWithBackoffUntilThePeerListensThenAfterEveryLoss) {
  const uint16_t port = test::free_port();
  ASSERT_NE(port, 0);
  CountingHandler h;
  std::unique_ptr<Reconnector> link;
  ReconnectorOptions o;
  o.min = 20 * kNanosPerMilli;
  o.max = 80 * kNanosPerMilli;
  o.seed = 7;
  test::ReactorThread rt(GetParam(), {}, [&](Reactor& r) {
    link = std::make_unique<Reconnector>(r, h, test::loopback(port), o);
    h.link = link.get();
    link->start();
  });
  ASSERT_EQ(rt.error(), "");

  // Nobody listens: every attempt is refused and the next one waits 20, 40, 80, 80... ms (each
  // ±25 %). In 600 ms that is 8 to 11 attempts: more would be a retry loop, fewer a give-up.
  std::this_thread::sleep_for(600ms);
  const int refused = h.closes.load();
  EXPECT_GE(refused, 5);
  EXPECT_LE(refused, 14);
  EXPECT_EQ(h.opens.load(), 0);
  EXPECT_TRUE(h.reconnect_scheduled.load());

  // The peer comes up: the next attempt (within max + 25 %) connects.
  const int lfd = listen_on(port);
  ASSERT_GE(lfd, 0) << "port " << port << " was taken meanwhile";
  ASSERT_TRUE(test::eventually([&] { return h.opens.load() == 1; }, 2000));
  int peer = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(peer, 0);

  // The link is lost: reconnected after min (the backoff started over on success).
  const auto lost_at = std::chrono::steady_clock::now();
  ::close(peer);
  ASSERT_TRUE(test::eventually([&] { return h.opens.load() == 2; }, 2000));
  EXPECT_LT(std::chrono::steady_clock::now() - lost_at, 500ms);
  peer = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(peer, 0);

  // The reactor stops: the connection ends with `shutdown`, and nothing is scheduled.
  rt.stop();
  EXPECT_FALSE(h.reconnect_scheduled.load());
  ::close(peer);
  ::close(lfd);
}

TEST_P(ReconnectorTest, StopEndsTheRetries) {
  const uint16_t port = test::free_port();
  CountingHandler h;
  std::unique_ptr<Reconnector> link;
  ReconnectorOptions o;
  o.min = 10 * kNanosPerMilli;
  o.max = 10 * kNanosPerMilli;
  Timer stopper;
  test::ReactorThread rt(GetParam(), {}, [&](Reactor& r) {
    link = std::make_unique<Reconnector>(r, h, test::loopback(port), o);
    h.link = link.get();
    link->start();
    stopper.set_callback(
        [](Timer&, void* self) {
          auto* l = static_cast<Reconnector*>(self);
          l->stop();
        },
        link.get());
    r.arm_timer(stopper, 100 * kNanosPerMilli);
  });
  ASSERT_EQ(rt.error(), "");
  ASSERT_TRUE(test::eventually([&] { return h.closes.load() >= 3; }, 2000));
  std::this_thread::sleep_for(200ms);  // stopped at 100 ms
  const int after_stop = h.closes.load();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(h.closes.load(), after_stop) << "attempts went on after stop()";
}

INSTANTIATE_TEST_SUITE_P(Backends, ReconnectorTest, ::testing::ValuesIn(test::available_backends()),
                         test::BackendName());

}  // namespace
}  // namespace cp::engine
