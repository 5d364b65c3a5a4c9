// Our bank daemon against the frames of a real osmo-remsim 1.1.3 session
// (tests/proto/vectors/rspro-osmo-remsim-1.1.3.txt): this test plays the osmo-remsim server on
// the bank's control link and the osmo-remsim client on its data link, sending the captured
// bytes as they were on the wire. Where osmo-remsim's bankd answered without its own identity or
// card data (CreateMappingRes, RemoveMappingRes), our answers must be the same bytes; where the
// card speaks, our frames must be the captured frames with our card's data in them.
// (tests/services/remsim/server_test.cc does the same for the server.)
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "proto/ipa/ipa.h"
#include "tests/services/remsim/remsim_harness.h"

namespace cp::remsim::test {
namespace {

namespace ipa = proto::ipa;

// A blocking listener standing in for the remsim server.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 4);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd_); }
  uint16_t port() const { return port_; }
  int accept(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return -1;
    return ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST(RemsimWireCompat, OurBankDaemonAgainstAnOsmoRemsimServerAndClient) {
  const auto cap = captured_session(RSPRO_VECTORS);
  Listener fake_server;
  BankdOptions o;
  o.server = loopback(fake_server.port());
  o.listen = loopback(0);
  o.bank_id = 1;
  BankdRun bank(o, 1, 2);
  ASSERT_TRUE(bank.run->started());

  // The control link, as osmo-remsim's server drives it.
  RsproLink server;
  const int fd = fake_server.accept(10000);
  ASSERT_GE(fd, 0);
  server.adopt(fd);
  auto req = TestClient::expect(server, rspro::MsgType::connect_bank_req);
  ASSERT_TRUE(req);
  EXPECT_EQ(req->pdu.bank_id, 1);
  EXPECT_EQ(req->pdu.number_of_slots, 2);
  EXPECT_EQ(req->pdu.identity.type, rspro::ComponentType::bankd);
  ASSERT_TRUE(server.send_raw(unhex(cap.at("server>connectBankRes")[0])));
  ASSERT_TRUE(eventually([&] { return bank.registered(); }));
  ASSERT_TRUE(server.send_raw(unhex(cap.at("server>createMappingReq")[0])));
  auto res = TestClient::expect(server, rspro::MsgType::create_mapping_res);
  ASSERT_TRUE(res);
  EXPECT_EQ(frame_hex(*res), cap.at("bankd(ctrl)>createMappingRes")[0]);

  // The data link, as osmo-remsim's client drives it.
  RsproLink client;
  ASSERT_TRUE(client.connect(loopback(bank.bankd->bound_port())));
  ASSERT_TRUE(client.send_raw(unhex(cap.at("client(data)>connectClientReq")[0])));
  res = TestClient::expect(client, rspro::MsgType::connect_client_res);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->pdu.result, rspro::ResultCode::ok);
  EXPECT_EQ(res->pdu.tag, 2342u);
  auto atr = TestClient::expect(client, rspro::MsgType::set_atr_req);
  ASSERT_TRUE(atr);
  // The captured SetAtrReq with our card's ATR in it.
  {
    const auto theirs = unhex(cap.at("bankd>setAtrReq")[0]);
    auto f = ipa::decode(theirs);
    ASSERT_TRUE(f);
    auto p = rspro::decode(f->payload);
    ASSERT_TRUE(p);
    p->atr = atr->pdu.atr;
    EXPECT_EQ(hex(rspro::encode(*p)), hex(atr->bytes));
    EXPECT_EQ(hex(atr->pdu.atr), hex(std::as_bytes(simcard::Card::atr())));
  }
  ASSERT_TRUE(client.send_raw(unhex(cap.at("client(data)>setAtrRes")[0])));
  simcard::Card reference(simcard::simulated_contents(1, 0));
  reference.reset();
  const auto& tpdus = cap.at("client(data)>tpduModemToCard");
  const auto& answers = cap.at("bankd>tpduCardToModem");
  ASSERT_EQ(tpdus.size(), 3u);
  for (size_t i = 0; i < tpdus.size(); ++i) {
    const auto mine = unhex(tpdus[i]);
    ASSERT_TRUE(client.send_raw(mine));
    auto r = TestClient::expect(client, rspro::MsgType::tpdu_card_to_modem);
    ASSERT_TRUE(r) << i;
    // What the card itself answers to that APDU...
    const auto sent = rspro::decode(ipa::decode(mine)->payload);
    ASSERT_TRUE(sent);
    const auto* a = reinterpret_cast<const uint8_t*>(sent->data.data());
    const auto want = reference.transmit({a, sent->data.size()});
    EXPECT_EQ(hex(r->pdu.data), hex(std::as_bytes(std::span(want)))) << i;
    // ... in the frame osmo-remsim's bankd sent, byte for byte around the data.
    const auto theirs = unhex(answers[i]);
    auto p = rspro::decode(ipa::decode(theirs)->payload);
    ASSERT_TRUE(p);
    p->data = r->pdu.data;
    EXPECT_EQ(hex(rspro::encode(*p)), hex(r->bytes)) << i;
  }

  // The server removes the mapping: the same answer bytes, and the client's link closes.
  ASSERT_TRUE(server.send_raw(unhex(cap.at("server>removeMappingReq")[0])));
  res = TestClient::expect(server, rspro::MsgType::remove_mapping_res);
  ASSERT_TRUE(res);
  EXPECT_EQ(frame_hex(*res), cap.at("bankd(ctrl)>removeMappingRes")[0]);
  EXPECT_FALSE(client.receive(5000));
}

}  // namespace
}  // namespace cp::remsim::test
