// IpaConn (services/ipa/ipa_conn.h) on a real reactor with a real socket, playing osmo-hlr's part
// from the captured transcript (vectors/gsup-osmo-hlr-transcript.txt): our client connects, the
// "HLR" sends its ID_GET and gets the ID_RESP osmo-hlr's own clients send for that unit name, an
// ID_ACK is reported once, GSUP frames reach the user, a PING is answered, and a frame the user
// cannot decode closes the connection.
#include "services/ipa/ipa_conn.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "proto/ipa/ipa.h"
#include "tests/support/reactor_harness.h"

namespace cp::ipa {
namespace {

namespace wire = proto::ipa;

std::vector<uint8_t> hex(std::string_view h) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

struct User final : IpaUser {
  std::atomic<int> opens{0}, identified{0}, frames{0}, closed{0};
  std::atomic<uint8_t> last_ext{0};
  void on_ipa_open(IpaConn&) override { ++opens; }
  bool on_ipa_frame(IpaConn&, uint8_t ext, std::span<const std::byte> payload) override {
    ++frames;
    last_ext = ext;
    return !(payload.size() == 1 && payload[0] == std::byte{0xFF});  // 0xFF: "undecodable"
  }
  void on_ipa_identified(IpaConn&) override { ++identified; }
  void on_ipa_closed(IpaConn&, engine::CloseReason, int) override { ++closed; }
};

// A one-connection listener on the test thread: the "HLR".
struct Peer {
  int lfd = -1, fd = -1;
  uint16_t port = 0;
  Peer() {
    lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(lfd, 1);
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Peer() {
    if (fd >= 0) ::close(fd);
    ::close(lfd);
  }
  bool accept() { return (fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC)) >= 0; }
  void send(const std::vector<uint8_t>& b) { test::write_all(fd, b.data(), b.size()); }
  std::vector<uint8_t> read_frame() {
    uint8_t h[3];
    if (test::read_exact(fd, h, 3) != 3) return {};
    std::vector<uint8_t> f(h, h + 3);
    f.resize(3 + (size_t{h[0]} << 8 | h[1]));
    if (test::read_exact(fd, f.data() + 3, f.size() - 3) != f.size() - 3) return {};
    return f;
  }
};

TEST(IpaConn, AnswersIdGetLikeOsmoHlrsClientsAndCarriesGsup) {
  Peer hlr;
  User user;
  IpaOptions o;
  o.name = "gsup";
  o.unit_name = "MSC-TEST";
  o.ping_interval = 0;  // keep the byte stream to what the test sends
  IpaConn conn(user, o);
  test::ReactorThread rt(engine::IoBackendKind::automatic, {},
                         [&](engine::Reactor& r) { r.connect(test::loopback(hlr.port), conn); });
  ASSERT_EQ(rt.error(), "");
  ASSERT_TRUE(hlr.accept());
  ASSERT_TRUE(test::eventually([&] { return user.opens.load() == 1; }));

  hlr.send(hex("0011fe0401080107010201030104010501010100"));  // osmo-hlr's ID_GET
  EXPECT_EQ(hlr.read_frame(),
            hex("0031fe05000208000002070000020200000203000002040000020500000a014d53432d5445535400"
                "000a004d53432d5445535400"));
  hlr.send(hex("0001fe06"));  // ID_ACK, twice: reported once
  hlr.send(hex("0001fe06"));
  hlr.send(hex("0001fe00"));  // PING
  EXPECT_EQ(hlr.read_frame(), hex("0001fe01"));
  EXPECT_EQ(user.identified.load(), 1);

  hlr.send(hex("0003ee0501ff"));  // a GSUP frame (extension 0x05) reaches the user
  EXPECT_TRUE(test::eventually([&] { return user.frames.load() == 1; }));
  EXPECT_EQ(user.last_ext.load(), wire::kExtGsup);

  hlr.send(hex("0002ee05ff"));  // a payload the user cannot decode: closed
  EXPECT_TRUE(test::wait_closed(hlr.fd, 3000));
  EXPECT_TRUE(test::eventually([&] { return user.closed.load() == 1; }));
  rt.stop();
}

TEST(IpaConn, WithoutAUnitNameIdGetIsIgnored) {
  Peer peer;
  User user;
  IpaOptions o;
  o.ping_interval = 0;
  IpaConn conn(user, o);
  test::ReactorThread rt(engine::IoBackendKind::automatic, {},
                         [&](engine::Reactor& r) { r.connect(test::loopback(peer.port), conn); });
  ASSERT_EQ(rt.error(), "");
  ASSERT_TRUE(peer.accept());
  peer.send(hex("0011fe0401080107010201030104010501010100"));
  peer.send(hex("0001fe00"));  // PING: the first (and only) answer must be its PONG
  EXPECT_EQ(peer.read_frame(), hex("0001fe01"));
  rt.stop();
}

}  // namespace
}  // namespace cp::ipa
