// CoreLink, the role handlers' connection to the SMSC core, against a core that is slow to
// answer: a scripted core on a real SOCK_SEQPACKET socket registers the role at once and holds
// every other request until told to answer. Issue 15: each flap of the service (an upstream
// bind going up and down) sent one more service-state request, each holding one of the link's
// few spare slots; with those gone and the user's window still open, send() hit
// CP_ASSERT(!free_.empty()) and aborted the daemon.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "services/smsc/link.h"
#include "services/smsc/wire.h"
#include "tests/support/reactor_harness.h"
#include "tests/support/temp_dir.h"

namespace cp::smsc {
namespace {

// The core's side: accepts one connection, answers RH_REGISTER with ok, keeps the rest
// (service states, the user's requests) until answer_held(); then answers those too.
class ScriptedCore {
 public:
  explicit ScriptedCore(const std::string& path) : path_(path) {
    listener_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    EXPECT_EQ(::listen(listener_, 4), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedCore() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    if (conn_ >= 0) ::shutdown(conn_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
    if (conn_ >= 0) ::close(conn_);
  }
  void answer_held() { release_ = true; }
  // The service states received, in order.
  std::vector<bool> states() {
    std::lock_guard lock(mu_);
    return states_;
  }

 private:
  void serve() {
    conn_ = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn_ < 0) return;
    timeval tv{0, 20'000};
    ::setsockopt(conn_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::vector<wire::Header> held;
    std::byte buf[65536];  // a packet carries several messages
    while (!stop_) {
      if (release_) {
        for (const wire::Header& h : held) respond(h);
        held.clear();
      }
      const ssize_t n = ::recv(conn_, buf, sizeof buf, 0);
      if (n == 0) return;
      if (n < 0) continue;  // timeout: look at release_ again
      // A packet may carry several messages back to back.
      for (size_t at = 0; at + wire::kHeaderBytes <= static_cast<size_t>(n);) {
        const std::span<const std::byte> rest(buf + at, static_cast<size_t>(n) - at);
        const auto h = wire::peek_header(rest);
        if (!h || h->length < wire::kHeaderBytes || h->length > rest.size()) break;
        at += h->length;
        if (h->type == wire::Type::rh_service_state) {
          wire::Message m;
          if (wire::decode(rest.first(h->length), m) != wire::Status::ok) continue;
          std::lock_guard lock(mu_);
          states_.push_back(m.up);
        }
        if (h->type == wire::Type::rh_register || release_) {
          respond(*h);
        } else {
          held.push_back(*h);
        }
      }
    }
  }
  void respond(const wire::Header& h) {
    std::byte out[wire::kMessageMax];
    const size_t len = wire::encode_response(out, h.type, h.request_id, wire::Status::ok, 1);
    [[maybe_unused]] ssize_t n = ::send(conn_, out, len, MSG_NOSIGNAL);
  }

  std::string path_;
  int listener_ = -1;
  int conn_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> release_{false};
  std::mutex mu_;
  std::vector<bool> states_;
  std::thread thread_;
};

class CountingUser final : public CoreLinkUser {
 public:
  void on_core_response(const wire::Message& m, uint64_t) override {
    if (m.header.status == wire::Status::ok) ++ok;
    ++answers;
  }
  int ok = 0;
  int answers = 0;
};

TEST(CoreLink, ServiceFlapsWithAFullWindowNeitherAbortNorPileUp) {
  cp::test::TempDir dir;
  const std::string path = dir.sub("core.sock");
  ScriptedCore core(path);
  auto backend = engine::make_backend(engine::IoBackendKind::epoll, {});
  ASSERT_TRUE(backend) << backend.error();
  engine::Reactor reactor({}, std::move(*backend), SystemClock::instance());
  CountingUser user;
  CoreLinkOptions o;
  o.name = "test link";
  o.has_role = true;
  o.role = {wire::Role::peer, ""};
  o.in_flight_max = 4;
  o.queue_max = 4;
  auto address = SocketAddress::parse("unix:" + path);
  ASSERT_TRUE(address);
  CoreLink link(reactor, *address, o, user);
  link.start();
  const auto turn_until = [&](auto done) {
    for (int i = 0; i < 500 && !done(); ++i) reactor.run_once(10 * kNanosPerMilli);
    return done();
  };
  ASSERT_TRUE(turn_until([&] { return link.up(); }));

  // The uplink's bind flaps 40 times while the core is slow to answer.
  for (int i = 0; i < 40; ++i) {
    link.set_service_up(i % 2 == 0);
    reactor.run_once(0);
  }
  // The user's window is still open: every send it allows must be taken.
  wire::Submit submit;
  std::byte buf[wire::kMessageMax];
  const size_t len = wire::encode_submit(buf, 0, submit);
  int taken = 0;
  while (link.can_send() && taken < 100) {
    ASSERT_TRUE(link.send({buf, len}, static_cast<uint64_t>(taken)));
    ++taken;
  }
  EXPECT_EQ(taken, 4);
  // One service state in flight at a time: the core saw the first flap only, so far.
  turn_until([&] { return !core.states().empty(); });
  reactor.run_once(50 * kNanosPerMilli);
  EXPECT_EQ(core.states(), std::vector<bool>{true});

  // Once the core answers, the latest state (down: the 40th flap) follows, once.
  core.answer_held();
  ASSERT_TRUE(turn_until([&] { return core.states().size() >= 2 && user.ok == 4; }))
      << core.states().size() << " states, " << user.ok << " ok of " << user.answers << " answers";
  for (int i = 0; i < 10; ++i) reactor.run_once(10 * kNanosPerMilli);
  EXPECT_EQ(core.states(), (std::vector<bool>{true, false}));
  EXPECT_EQ(user.ok, 4);
  link.stop();
  for (int i = 0; i < 10; ++i) reactor.run_once(10 * kNanosPerMilli);
}

}  // namespace
}  // namespace cp::smsc
