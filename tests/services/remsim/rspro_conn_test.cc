// RsproConn (services/remsim/rspro_conn.h) on a real reactor with real sockets: RSPRO PDUs both
// ways over IPA (a bank daemon's ConnectBankReq answered by a server-side user), the IPA
// keepalive (PING on connect, PONG answered, the link closed when no PONG comes), frames of other
// protocols ignored, and an undecodable RSPRO payload closing the connection.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <vector>

#include "proto/ipa/ipa.h"
#include "services/remsim/rspro_conn.h"
#include "tests/support/reactor_harness.h"

namespace cp::remsim {
namespace {

namespace rspro = proto::rspro;
namespace ipa = proto::ipa;
using test::eventually;

// The server side: answers ConnectBankReq with ConnectBankRes ok.
struct Server final : engine::Acceptor, RsproUser {
  RsproOptions opt;
  std::vector<std::unique_ptr<RsproConn>> conns;
  std::atomic<int> requests{0};
  std::atomic<int> closed{0};
  engine::ConnectionHandler* on_accept(engine::Connection&) override {
    conns.push_back(std::make_unique<RsproConn>(*this, opt));
    return conns.back().get();
  }
  void on_rspro(RsproConn& c, const rspro::Pdu& p) override {
    ++requests;
    if (p.type != rspro::MsgType::connect_bank_req) return;
    rspro::Pdu res;
    res.type = rspro::MsgType::connect_bank_res;
    res.tag = p.tag;
    res.identity = {rspro::ComponentType::server, "test", "cellplane", "1", {}};
    res.result = rspro::ResultCode::ok;
    c.send(res);
  }
  void on_rspro_closed(RsproConn&, engine::CloseReason, int) override { ++closed; }
};

// The client side.
struct Client final : RsproUser {
  std::atomic<int> responses{0};
  std::atomic<bool> ok{false};
  void on_rspro_open(RsproConn& c) override {
    rspro::Pdu req;
    req.type = rspro::MsgType::connect_bank_req;
    req.identity = {rspro::ComponentType::bankd, "vm", "remsim-bankd", "1.1.3", {}};
    req.bank_id = 1;
    req.number_of_slots = 8;
    c.send(req);
  }
  void on_rspro(RsproConn&, const rspro::Pdu& p) override {
    ++responses;
    ok = p.type == rspro::MsgType::connect_bank_res && p.result == rspro::ResultCode::ok &&
         p.identity.software == "cellplane";
  }
};

TEST(RsproConn, PdusBothWaysAndKeepalive) {
  Server server;
  server.opt.ping_interval = 50 * kNanosPerMilli;
  server.opt.pong_timeout = 200 * kNanosPerMilli;
  Client client;
  RsproConn client_conn(client, server.opt);
  SocketAddress bound;
  test::ReactorThread rt(engine::IoBackendKind::automatic, {}, [&](engine::Reactor& r) {
    bound = *r.listen(test::loopback(), server);
    r.connect(bound, client_conn);
  });
  ASSERT_EQ(rt.error(), "");
  EXPECT_TRUE(eventually([&] { return client.responses.load() == 1; }));
  EXPECT_TRUE(client.ok.load());
  // Both sides ping every 50 ms and answer each other's pings: the link stays up.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(server.closed.load(), 0);
  EXPECT_EQ(client_conn.pongs_missed(), 0u);
  rt.stop();
}

TEST(RsproConn, APeerThatNeverAnswersPingIsDropped) {
  Server server;
  server.opt.ping_interval = 50 * kNanosPerMilli;
  server.opt.pong_timeout = 100 * kNanosPerMilli;
  SocketAddress bound;
  test::ReactorThread rt(engine::IoBackendKind::automatic, {},
                         [&](engine::Reactor& r) { bound = *r.listen(test::loopback(), server); });
  ASSERT_EQ(rt.error(), "");
  const int fd = test::connect_to(bound);
  ASSERT_GE(fd, 0);
  // The server pings at once; we answer our own PING's PONG check and a foreign frame, but
  // never PONG.
  uint8_t ping[4];
  ASSERT_EQ(test::read_exact(fd, ping, 4), 4u);
  EXPECT_EQ(ping[2], 0xFE);
  EXPECT_EQ(ping[3], 0x00);
  const auto our_ping = ipa::encode_ccm(ipa::kCcmPing);
  test::write_all(fd, our_ping.data(), our_ping.size());
  uint8_t pong[4];
  ASSERT_EQ(test::read_exact(fd, pong, 4), 4u);
  EXPECT_EQ(pong[3], 0x01);  // answered PONG
  const auto gsup = ipa::encode_osmo(ipa::kExtGsup, std::vector<std::byte>{std::byte{1}});
  test::write_all(fd, gsup.data(), gsup.size());  // ignored
  EXPECT_TRUE(test::wait_closed(fd, 3000));
  EXPECT_TRUE(eventually([&] { return server.closed.load() == 1; }));
  ::close(fd);
  rt.stop();
}

TEST(RsproConn, UndecodableRsproClosesTheConnection) {
  Server server;
  SocketAddress bound;
  test::ReactorThread rt(engine::IoBackendKind::automatic, {},
                         [&](engine::Reactor& r) { bound = *r.listen(test::loopback(), server); });
  ASSERT_EQ(rt.error(), "");
  const int fd = test::connect_to(bound);
  uint8_t ping[4];
  ASSERT_EQ(test::read_exact(fd, ping, 4), 4u);  // the server's first PING
  const auto junk =
      ipa::encode_osmo(ipa::kExtRspro, std::vector<std::byte>{std::byte{0x30}, std::byte{0x05}});
  test::write_all(fd, junk.data(), junk.size());
  EXPECT_TRUE(test::wait_closed(fd, 3000));
  EXPECT_EQ(server.requests.load(), 0);
  ::close(fd);
  rt.stop();
}

}  // namespace
}  // namespace cp::remsim
