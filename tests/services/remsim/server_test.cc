// The remsim server (services/remsim/server.h) on a real reactor with real sockets, played against
// by the frames a real osmo-remsim 1.1.3 bankd and client sent (tests/proto/vectors): what it
// sends back must be byte-identical to what the real osmo-remsim server sent in that session, and
// its REST answers must have the same JSON as the real one's (docs/REMSIM.md lists where ours
// deliberately differ: 404 for a missing id, error bodies, the restart counter, token auth).
// Then identity in use, the identification timer, slotmaps across a restart, a deletion while
// the bank is away, and the REST token.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "base/address_filter.h"
#include "proto/ipa/ipa.h"
#include "tests/services/remsim/remsim_harness.h"

namespace cp::remsim::test {
namespace {

namespace ipa = proto::ipa;

ServerOptions options(const std::string& slotmaps = "") {
  ServerOptions o;
  o.listen = loopback(0);
  o.rest_listen = loopback(0);
  o.slotmaps_path = slotmaps;
  o.bankd_port = 9999;  // what osmo-remsim advertises, so the frames match the capture
  return o;
}

TEST(RemsimServer, AgainstTheFramesOfARealOsmoRemsimSession) {
  const auto cap = captured_session(RSPRO_VECTORS);
  ServerRun s(options());
  ASSERT_TRUE(s.run && s.run->started());

  // The real bankd registers.
  RsproLink bank;
  ASSERT_TRUE(bank.connect(s.rspro));
  bank.send_raw(unhex(cap.at("bankd(ctrl)>connectBankReq")[0]));
  auto res = TestClient::expect(bank, rspro::MsgType::connect_bank_res);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->pdu.result, rspro::ResultCode::ok);
  // The real client registers.
  RsproLink client;
  ASSERT_TRUE(client.connect(s.rspro));
  client.send_raw(unhex(cap.at("client(ctrl)>connectClientReq")[0]));
  res = TestClient::expect(client, rspro::MsgType::connect_client_res);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->pdu.result, rspro::ResultCode::ok);
  EXPECT_EQ(res->pdu.tag, 2342u);

  // REST, as the capture has it.
  auto r = rest(s.rest, "GET", "/banks");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(
      r.body,
      R"({"banks":[{"peer":"B1","state":"CONNECTED_BANKD","component_id":{"type_":"remsimBankd","name":"vm","software":"remsim-bankd","swVersion":"1.1.3.14-4b36"},"bankId":1,"numberOfSlots":2}]})");
  r = rest(s.rest, "GET", "/banks/1");
  EXPECT_EQ(
      r.body,
      R"({"peer":"B1","state":"CONNECTED_BANKD","component_id":{"type_":"remsimBankd","name":"vm","software":"remsim-bankd","swVersion":"1.1.3.14-4b36"},"bankId":1,"numberOfSlots":2})");
  r = rest(s.rest, "GET", "/clients");
  EXPECT_EQ(
      r.body,
      R"({"clients":[{"peer":"C23:0","state":"CONNECTED_CLIENT","component_id":{"type_":"remsimClient","name":"vm","software":"remsim-client","swVersion":"1.1.3.14-4b36"}}]})");
  EXPECT_EQ(rest(s.rest, "GET", "/slotmaps").body, R"({"slotmaps":[]})");
  r = rest(s.rest, "POST", "/slotmaps", map_body(1, 0, 23, 0));
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "");

  // The mapping goes to the bank, byte for byte as osmo-remsim sent it.
  auto create = TestClient::expect(bank, rspro::MsgType::create_mapping_req);
  ASSERT_TRUE(create);
  EXPECT_EQ(frame_hex(*create), cap.at("server>createMappingReq")[0]);
  EXPECT_EQ(
      rest(s.rest, "GET", "/slotmaps").body,
      R"({"slotmaps":[{"bank":{"bankId":1,"slotNr":0},"client":{"clientId":23,"slotNr":0},"state":"UNACKNOWLEDGED"}]})");
  bank.send_raw(unhex(cap.at("bankd(ctrl)>createMappingRes")[0]));
  // Then the client learns its bank: 127.0.0.1 (the bank's source address), port 9999.
  auto config = TestClient::expect(client, rspro::MsgType::config_client_bank_req);
  ASSERT_TRUE(config);
  EXPECT_EQ(frame_hex(*config), cap.at("server>configClientBankReq")[0]);
  client.send_raw(unhex(cap.at("client(ctrl)>configClientBankRes")[0]));
  EXPECT_TRUE(eventually([&] {
    return rest(s.rest, "GET", "/slotmaps").body ==
           R"({"slotmaps":[{"bank":{"bankId":1,"slotNr":0},"client":{"clientId":23,"slotNr":0},"state":"ACTIVE"}]})";
  }));

  // Refusals: no JSON type, a body that is not a slotmap, a bank slot the bank does not have,
  // a bank slot in use.
  EXPECT_EQ(rest(s.rest, "POST", "/slotmaps", map_body(1, 1, 24, 0), "").status, 400);
  r = rest(s.rest, "POST", "/slotmaps", R"({"bank":{"bankId":1}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("slotNr"), std::string::npos) << r.body;
  EXPECT_EQ(rest(s.rest, "POST", "/slotmaps", "not json").status, 400);
  r = rest(s.rest, "POST", "/slotmaps", map_body(1, 2, 24, 0));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("bank 1 has 2 slots"), std::string::npos) << r.body;
  EXPECT_EQ(rest(s.rest, "POST", "/slotmaps", map_body(1, 0, 24, 0)).status, 400);
  EXPECT_EQ(rest(s.rest, "POST", "/slotmaps", map_body(1, 1, 23, 0)).status, 400);
  // Missing ids are 404 (osmo-remsim answers an empty 200), malformed ones 400.
  EXPECT_EQ(rest(s.rest, "GET", "/banks/7").status, 404);
  EXPECT_EQ(rest(s.rest, "GET", "/clients/99").status, 404);
  EXPECT_EQ(rest(s.rest, "GET", "/banks/x").status, 400);
  EXPECT_EQ(rest(s.rest, "DELETE", "/slotmaps/65537").status, 404);
  EXPECT_EQ(rest(s.rest, "DELETE", "/slotmaps/-1").status, 400);
  EXPECT_EQ(rest(s.rest, "GET", "/slotmaps/65536").status, 405);

  // Deleting: RemoveMappingReq to the bank, then 0.0.0.0:0 to the client, as captured.
  EXPECT_EQ(rest(s.rest, "DELETE", "/slotmaps/65536").status, 200);
  auto remove = TestClient::expect(bank, rspro::MsgType::remove_mapping_req);
  ASSERT_TRUE(remove);
  EXPECT_EQ(frame_hex(*remove), cap.at("server>removeMappingReq")[0]);
  bank.send_raw(unhex(cap.at("bankd(ctrl)>removeMappingRes")[0]));
  config = TestClient::expect(client, rspro::MsgType::config_client_bank_req);
  ASSERT_TRUE(config);
  EXPECT_EQ(frame_hex(*config), cap.at("server>configClientBankReq")[1]);
  EXPECT_TRUE(
      eventually([&] { return rest(s.rest, "GET", "/slotmaps").body == R"({"slotmaps":[]})"; }));

  // global-reset deletes everything; the restart counter is ours.
  EXPECT_EQ(rest(s.rest, "POST", "/slotmaps", map_body(1, 1, 24, 0)).status, 201);
  EXPECT_EQ(rest(s.rest, "POST", "/global-reset").status, 200);
  ASSERT_TRUE(TestClient::expect(bank, rspro::MsgType::create_mapping_req));
  EXPECT_EQ(rest(s.rest, "GET", "/restart-counter").body, R"({"restart_counter":1})");
}

TEST(RemsimServer, IdentityInUseAndTheIdentificationTimer) {
  const auto cap = captured_session(RSPRO_VECTORS);
  ServerOptions o = options();
  o.id_timeout = 300 * kNanosPerMilli;
  ServerRun s(o);
  RsproLink bank, bank2, client, client2, silent;
  ASSERT_TRUE(bank.connect(s.rspro));
  bank.send_raw(unhex(cap.at("bankd(ctrl)>connectBankReq")[0]));
  ASSERT_EQ(TestClient::expect(bank, rspro::MsgType::connect_bank_res)->pdu.result,
            rspro::ResultCode::ok);
  // The same bank id again: refused and dropped; the first one stays.
  ASSERT_TRUE(bank2.connect(s.rspro));
  bank2.send_raw(unhex(cap.at("bankd(ctrl)>connectBankReq")[0]));
  EXPECT_EQ(TestClient::expect(bank2, rspro::MsgType::connect_bank_res)->pdu.result,
            rspro::ResultCode::identity_in_use);
  EXPECT_FALSE(bank2.receive(5000));  // closed
  ASSERT_TRUE(client.connect(s.rspro));
  client.send_raw(unhex(cap.at("client(ctrl)>connectClientReq")[0]));
  EXPECT_EQ(TestClient::expect(client, rspro::MsgType::connect_client_res)->pdu.result,
            rspro::ResultCode::ok);
  ASSERT_TRUE(client2.connect(s.rspro));
  client2.send_raw(unhex(cap.at("client(ctrl)>connectClientReq")[0]));
  EXPECT_EQ(TestClient::expect(client2, rspro::MsgType::connect_client_res)->pdu.result,
            rspro::ResultCode::identity_in_use);
  EXPECT_FALSE(client2.receive(5000));
  // A connection that never says who it is goes after the timer (keepalive PINGs answered).
  ASSERT_TRUE(silent.connect(s.rspro));
  EXPECT_FALSE(silent.receive(5000));
  EXPECT_EQ(s.server->stats().id_timeouts, 1u);
  EXPECT_EQ(s.server->stats().identity_in_use, 2u);
  // Those that identified themselves are still there.
  EXPECT_EQ(rest(s.rest, "GET", "/banks").body.find("\"B1\"") != std::string::npos, true);
  EXPECT_NE(rest(s.rest, "GET", "/clients").body.find("\"C23:0\""), std::string::npos);
}

// The slotmaps file is written on the engine's blocking worker: a save that blocks (here: its
// temporary file is a FIFO nobody reads, so open() waits) does not stop the server's reactor,
// and the REST answer to the change waits until the save is done.
TEST(RemsimServer, SlotmapSavesBlockTheWorkerNotTheReactorAndAnswersWaitForThemAndTellAFailure) {
  cp::test::TempDir dir;
  const std::string path = (dir.path() / "slotmaps.txt").string();
  const std::string tmp = path + ".tmp";
  ASSERT_EQ(::mkfifo(tmp.c_str(), 0600), 0);
  // Whatever happens below, the worker's open() is let go before the engine is joined.
  struct Unblock {
    std::string fifo;
    ~Unblock() {
      const int fd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0) ::close(fd);
    }
  } unblock{tmp};
  ServerRun s(options(path));
  ASSERT_TRUE(s.run && s.run->started());
  std::atomic<int> post_status{-1};
  std::string post_body;
  std::thread poster([&] {
    auto r = rest(s.rest, "POST", "/slotmaps", map_body(1, 0, 23, 0));
    post_body = r.body;
    post_status = r.status;
  });
  // The reactor serves other requests meanwhile; the change is not answered yet.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(rest(s.rest, "GET", "/banks").status, 200);
  EXPECT_EQ(post_status.load(), -1) << "answered before the save was done";
  // Read what the save writes: the new mapping. (fsync on a FIFO then fails: a save error.)
  const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::string written;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    written.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_NE(written.find("23"), std::string::npos) << written;
  poster.join();
  // The save failed: the answer says so (issue 15: it was 201, as if the change were on disk).
  EXPECT_EQ(post_status.load(), 500);
  EXPECT_NE(post_body.find("not saved"), std::string::npos) << post_body;
  EXPECT_EQ(s.server->stats().save_errors.load(), 1u);
  // With a real file again, the next change is saved and answered.
  ASSERT_EQ(::unlink(tmp.c_str()), 0);
  EXPECT_EQ(rest(s.rest, "POST", "/slotmaps", map_body(1, 1, 24, 0)).status, 201);
  std::ifstream in(path);
  std::stringstream saved;
  saved << in.rdbuf();
  EXPECT_NE(saved.str().find("24"), std::string::npos) << saved.str();
  EXPECT_EQ(s.server->stats().save_errors.load(), 1u);
}

// Connections that never identify themselves (issue 15: 12,000 of them aborted the daemon)
// are capped by max_connections: the rest are closed at accept, and the server keeps serving
// (REST answers, a bank still registers once a place is free).
TEST(RemsimServer, ConnectionsBeyondMaxConnectionsAreRefusedAndTheServerServesOn) {
  ServerOptions o = options();
  o.connections_max = 8;
  ServerRun s(o);
  ASSERT_TRUE(s.run && s.run->started());
  std::vector<RsproLink> idle(20);
  for (auto& l : idle) ASSERT_TRUE(l.connect(s.rspro));
  EXPECT_TRUE(eventually([&] { return s.server->stats().connections_refused.load() == 12; }))
      << s.server->stats().connections_refused.load();
  EXPECT_EQ(s.server->stats().connections.load(), 8u);
  EXPECT_EQ(rest(s.rest, "GET", "/banks").status, 200);
  // Places free up as idle ones go; a bank then registers.
  for (int i = 0; i < 8; ++i) idle[i].close();
  const auto cap = captured_session(RSPRO_VECTORS);
  EXPECT_TRUE(eventually([&] {
    RsproLink bank;
    if (!bank.connect(s.rspro)) return false;
    bank.send_raw(unhex(cap.at("bankd(ctrl)>connectBankReq")[0]));
    auto res = TestClient::expect(bank, rspro::MsgType::connect_bank_res, 500);
    return res && res->pdu.result == rspro::ResultCode::ok;
  }));
}

// [remsim_server] allow: a bank or client from elsewhere is closed at accept and counted; one
// from an allowed network registers (issue 15: the RSPRO allow-list).
TEST(RemsimServer, PeersOutsideTheAllowListAreClosedAtAccept) {
  const auto cap = captured_session(RSPRO_VECTORS);
  const auto bank_registers = [&](const SocketAddress& at) {
    RsproLink bank;
    if (!bank.connect(at)) return false;
    bank.send_raw(unhex(cap.at("bankd(ctrl)>connectBankReq")[0]));
    auto res = TestClient::expect(bank, rspro::MsgType::connect_bank_res, 1000);
    return res && res->pdu.result == rspro::ResultCode::ok;
  };
  {
    ServerOptions o = options();
    o.allow = *AddressFilter::parse("10.0.0.0/8, ::1/128");
    ServerRun s(o);
    ASSERT_TRUE(s.run && s.run->started());
    EXPECT_FALSE(bank_registers(s.rspro));
    EXPECT_TRUE(eventually([&] { return s.server->stats().connections_disallowed.load() >= 1; }));
    EXPECT_EQ(s.server->stats().connections.load(), 0u);
  }
  ServerOptions o = options();
  o.allow = *AddressFilter::parse("127.0.0.0/8");
  ServerRun s(o);
  ASSERT_TRUE(s.run && s.run->started());
  EXPECT_TRUE(bank_registers(s.rspro));
  EXPECT_EQ(s.server->stats().connections_disallowed.load(), 0u);
}

// A ConnectBankReq of another RSPRO version (the captured one with its version 2 made 3) is
// answered unsupportedProtocolVersion and closed; the bank is not registered (issue 15: the
// version was never checked).
TEST(RemsimServer, AnotherRsproVersionIsRefused) {
  ServerRun s(options());
  ASSERT_TRUE(s.run && s.run->started());
  const auto cap = captured_session(RSPRO_VECTORS);
  auto req = unhex(cap.at("bankd(ctrl)>connectBankReq")[0]);
  const std::byte version2[] = {std::byte{0x80}, std::byte{0x01}, std::byte{0x02}};
  auto at = std::search(req.begin(), req.end(), std::begin(version2), std::end(version2));
  ASSERT_NE(at, req.end());
  at[2] = std::byte{0x03};
  RsproLink bank;
  ASSERT_TRUE(bank.connect(s.rspro));
  bank.send_raw(req);
  auto res = TestClient::expect(bank, rspro::MsgType::connect_bank_res, 2000);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->pdu.result, rspro::ResultCode::unsupported_protocol_version);
  EXPECT_FALSE(bank.receive(2000));  // closed
  EXPECT_EQ(rest(s.rest, "GET", "/banks").body.find("\"bankId\""), std::string::npos);
}

TEST(RemsimServer, SlotmapsSurviveARestartAndADeletionWaitsForTheBank) {
  cp::test::TempDir dir;
  const std::string path = (dir.path() / "slotmaps.txt").string();
  const auto cap = captured_session(RSPRO_VECTORS);
  uint16_t port = 0;
  {
    ServerRun s(options(path));
    port = s.rspro.port();
    EXPECT_EQ(rest(s.rest, "POST", "/slotmaps", map_body(1, 0, 23, 0)).status, 201);
    EXPECT_EQ(rest(s.rest, "POST", "/slotmaps", map_body(1, 1, 23, 1)).status, 201);
    // No bank yet: NEW; and one never sent goes at once when deleted.
    EXPECT_EQ(rest(s.rest, "POST", "/slotmaps", map_body(2, 0, 30, 0)).status, 201);
    EXPECT_EQ(rest(s.rest, "DELETE", "/slotmaps/131072").status, 200);
    EXPECT_EQ(rest(s.rest, "GET", "/restart-counter").body, R"({"restart_counter":1})");
  }
  ServerOptions o = options(path);
  o.listen = loopback(port);
  ServerRun s(o);
  EXPECT_EQ(rest(s.rest, "GET", "/restart-counter").body, R"({"restart_counter":2})");
  EXPECT_EQ(
      rest(s.rest, "GET", "/slotmaps").body,
      R"({"slotmaps":[{"bank":{"bankId":1,"slotNr":0},"client":{"clientId":23,"slotNr":0},"state":"NEW"},{"bank":{"bankId":1,"slotNr":1},"client":{"clientId":23,"slotNr":1},"state":"NEW"}]})");
  // The bank comes: both mappings go to it.
  RsproLink bank;
  ASSERT_TRUE(bank.connect(s.rspro));
  bank.send_raw(unhex(cap.at("bankd(ctrl)>connectBankReq")[0]));
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(TestClient::expect(bank, rspro::MsgType::create_mapping_req));
    bank.send_raw(unhex(cap.at("bankd(ctrl)>createMappingRes")[0]));
  }
  EXPECT_TRUE(eventually([&] {
    return rest(s.rest, "GET", "/slotmaps").body.find("NEW") == std::string::npos &&
           rest(s.rest, "GET", "/slotmaps").body.find("UNACK") == std::string::npos;
  }));
  // The bank goes; a mapping deleted meanwhile waits for it (the bank may hold it)...
  bank.close();
  EXPECT_TRUE(eventually([&] { return rest(s.rest, "GET", "/banks").body == R"({"banks":[]})"; }));
  EXPECT_EQ(rest(s.rest, "DELETE", "/slotmaps/65536").status, 200);
  EXPECT_NE(rest(s.rest, "GET", "/slotmaps").body.find("DELETE_REQ"), std::string::npos);
  // ... and is removed there when it is back.
  ASSERT_TRUE(bank.connect(s.rspro));
  bank.send_raw(unhex(cap.at("bankd(ctrl)>connectBankReq")[0]));
  bool removal = false, creation = false;
  for (int i = 0; i < 2; ++i) {
    auto m = bank.receive(5000);
    ASSERT_TRUE(m && *m);
    if ((*m)->pdu.type == rspro::MsgType::connect_bank_res) --i;
    if ((*m)->pdu.type == rspro::MsgType::remove_mapping_req) {
      removal = true;
      EXPECT_EQ((*m)->pdu.bank.slot, 0);
      bank.send_raw(unhex(cap.at("bankd(ctrl)>removeMappingRes")[0]));
    }
    if ((*m)->pdu.type == rspro::MsgType::create_mapping_req) {
      creation = true;
      EXPECT_EQ((*m)->pdu.bank.slot, 1);
      bank.send_raw(unhex(cap.at("bankd(ctrl)>createMappingRes")[0]));
    }
  }
  EXPECT_TRUE(removal && creation);
  EXPECT_TRUE(eventually([&] {
    return rest(s.rest, "GET", "/slotmaps").body ==
           R"({"slotmaps":[{"bank":{"bankId":1,"slotNr":1},"client":{"clientId":23,"slotNr":1},"state":"ACTIVE"}]})";
  }));
  // What is on disk is what the server holds (the bank's acknowledgement is saved in the
  // background: nobody waits for an answer to it).
  std::string text;
  EXPECT_TRUE(eventually([&] {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
    return text.find("\n1 1 23 1\n") != std::string::npos &&
           text.find("\n1 0 23 0") == std::string::npos;
  })) << text;
}

TEST(RemsimServer, RestTokenWhenConfigured) {
  ServerOptions o = options();
  o.rest_token = "s3cret";
  ServerRun s(o);
  auto r = rest(s.rest, "GET", "/slotmaps");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(rest(s.rest, "GET", "/slotmaps", "", "Authorization: Bearer s3cre\r\n").status, 401);
  EXPECT_EQ(rest(s.rest, "GET", "/slotmaps", "", "Authorization: Bearer s3cret\r\n").status, 200);
  EXPECT_EQ(rest(s.rest, "POST", "/slotmaps", map_body(1, 0, 2, 0),
                 "Authorization: Bearer s3cret\r\nContent-Type: application/json\r\n")
                .status,
            201);
  EXPECT_EQ(s.server->stats().rest_unauthorized, 2u);
}

}  // namespace
}  // namespace cp::remsim::test
