// The remote-SIM chain in one process, on real sockets: a remsim server and a bank daemon with
// simulated cards (each on its own engine, so each can be restarted), and a blocking remsim
// client. Slotmaps are made over REST; the client follows what the server tells it, as a real
// one does. On 1 and 2 bank-daemon reactors (client connections land on either).
//   - APDUs end to end (SELECT, READ BINARY EF.ICCID, VERIFY, AUTHENTICATE checked with MILENAGE)
//   - a mapping deleted and re-created while the client is connected
//   - card removal and re-insertion (cardNotPresent while it is out)
//   - the bank daemon restarted; the server restarted (mappings persist, cards keep serving)
//   - the worker state table as cellctl shows it; bad input from a client
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "base/address_filter.h"
#include "tests/services/remsim/remsim_harness.h"

namespace cp::remsim::test {
namespace {

class BankdTest : public ::testing::TestWithParam<unsigned> {
 protected:
  // A test that stalled a core and failed midway must not leave it stalled: the engine's
  // shutdown would wait for it for ever.
  void TearDown() override { stall_.on = false; }
  void SetUp() override {
    bankd_port_ = free_port();
    start_server(0);
    start_bankd();
    ASSERT_TRUE(eventually([&] { return bankd_->registered(); })) << "bank never registered";
  }
  void start_server(uint16_t port) {
    ServerOptions o;
    o.listen = loopback(port);
    o.rest_listen = loopback(rest_port_);
    o.slotmaps_path = (dir_.path() / "slotmaps.txt").string();
    o.bankd_port = bankd_port_;
    server_ = std::make_unique<ServerRun>(o);
    rest_port_ = server_->rest.port();
    server_port_ = server_->rspro.port();
  }
  void start_bankd(AddressFilter allow = {}, uint32_t max_connections = 1024,
                   std::function<void(engine::Reactor&)> extra = {}, uint32_t ring_capacity = 0) {
    BankdOptions o;
    o.allow = std::move(allow);
    o.max_connections = max_connections;
    o.server = loopback(server_port_);
    o.listen = loopback(bankd_port_);
    o.bank_id = 1;
    o.card_retry = 100 * kNanosPerMilli;
    o.reconnect_min = 50 * kNanosPerMilli;
    o.reconnect_max = 200 * kNanosPerMilli;
    bankd_ = std::make_unique<BankdRun>(o, GetParam(), 4, std::move(extra), ring_capacity);
  }
  const SocketAddress& rest_at() const { return server_->rest; }
  SocketAddress bankd_at() const { return loopback(bankd_port_); }
  std::string slotmaps() { return rest(rest_at(), "GET", "/slotmaps").body; }
  // A client registered and configured with bank 1 slot `bslot`, connected to the card.
  std::unique_ptr<TestClient> mapped_client(uint16_t client_id, uint16_t bslot) {
    auto c = std::make_unique<TestClient>(rspro::ClientSlot{client_id, 0});
    EXPECT_EQ(c->register_with(server_->rspro), rspro::ResultCode::ok);
    EXPECT_EQ(rest(rest_at(), "POST", "/slotmaps", map_body(1, bslot, client_id, 0)).status, 201);
    auto cfg = c->next_config();
    EXPECT_TRUE(cfg && cfg->second);
    if (!cfg || !cfg->second) return c;
    EXPECT_EQ(cfg->first, (rspro::BankSlot{1, bslot}));
    EXPECT_EQ(cfg->second->to_string(), bankd_at().to_string());
    std::vector<std::byte> atr;
    EXPECT_EQ(c->connect_bank(*cfg->second, &atr), rspro::ResultCode::ok);
    simcard::Card card(simcard::simulated_contents(1, bslot));
    const auto expected = card.reset();
    EXPECT_EQ(hex(atr), hex(std::as_bytes(expected)));
    return c;
  }

  // Holds a reactor in its loop while `on` (a core that falls behind); outlives the reactors.
  struct Stall final : engine::Poller {
    std::atomic<bool> on{false};
    bool poll() override {
      while (on.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return false;
    }
    bool has_work() const override { return false; }
  };

  cp::test::TempDir dir_;
  Stall stall_;
  uint16_t bankd_port_ = 0, server_port_ = 0, rest_port_ = 0;
  std::unique_ptr<ServerRun> server_;
  std::unique_ptr<BankdRun> bankd_;
};

TEST_P(BankdTest, ApdusEndToEnd) {
  auto c = mapped_client(23, 2);
  run_card_session([&](const std::vector<std::byte>& a) { return c->apdu(a); },
                   simcard::simulated_contents(1, 2));
  // The worker table as an operator sees it.
  auto workers = bankd_->bankd->workers();
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].state, WorkerState::mapped_card);
  EXPECT_EQ(to_string(workers[0].state), "CONNECTED_CLIENT_MAPPED_CARD");
  EXPECT_EQ(workers[0].client, (rspro::ClientSlot{23, 0}));
  EXPECT_EQ(workers[0].bank, (rspro::BankSlot{1, 2}));
  EXPECT_EQ(workers[0].tpdus, 7u);  // the session's APDUs
  // A second client on another slot, at the same time: each reaches its own card.
  auto d = mapped_client(24, 3);
  auto r1 = c->apdu({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2});
  auto r2 = d->apdu({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2});
  EXPECT_EQ(sw(r1), 0x9000u);
  EXPECT_EQ(sw(r2), 0x9000u);
  EXPECT_NE(hex(c->apdu({0x00, 0xB0, 0x00, 0x00, 0x0A})),
            hex(d->apdu({0x00, 0xB0, 0x00, 0x00, 0x0A})));
}

TEST_P(BankdTest, AClientBeforeItsMappingWaitsForIt) {
  TestClient c({40, 1});
  ASSERT_EQ(c.register_with(server_->rspro), rspro::ResultCode::ok);
  // Straight to the bank without a mapping: cardNotPresent, and the connection stays.
  EXPECT_EQ(c.connect_bank(bankd_at()), rspro::ResultCode::card_not_present);
  EXPECT_TRUE(eventually([&] {
    auto w = bankd_->bankd->workers();
    return w.size() == 1 && w[0].state == WorkerState::client_wait_map;
  }));
  EXPECT_EQ(rest(rest_at(), "POST", "/slotmaps", map_body(1, 1, 40, 1)).status, 201);
  // The mapping reaches the bank: the waiting connection gets its card's ATR.
  auto atr = TestClient::expect(c.bank_link(), rspro::MsgType::set_atr_req);
  ASSERT_TRUE(atr);
  c.set_bank({1, 1});
  EXPECT_EQ(sw(c.apdu({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2})), 0x9000u);
}

TEST_P(BankdTest, MappingDeletedAndRecreatedWhileConnected) {
  auto c = mapped_client(23, 0);
  EXPECT_EQ(sw(c->apdu({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2})), 0x9000u);
  EXPECT_EQ(rest(rest_at(), "DELETE", "/slotmaps/65536").status, 200);
  // The bank closes the client's card connection; the server takes the bank away.
  EXPECT_TRUE(c->bank_closed());
  auto cfg = c->next_config();
  ASSERT_TRUE(cfg);
  EXPECT_FALSE(cfg->second);
  EXPECT_TRUE(eventually([&] { return slotmaps() == R"({"slotmaps":[]})"; }));
  // Re-created (on another bank slot): configured again, and the card answers.
  EXPECT_EQ(rest(rest_at(), "POST", "/slotmaps", map_body(1, 1, 23, 0)).status, 201);
  cfg = c->next_config();
  ASSERT_TRUE(cfg && cfg->second);
  EXPECT_EQ(cfg->first, (rspro::BankSlot{1, 1}));
  ASSERT_TRUE(c->connect_bank_retrying(*cfg->second));
  run_card_session([&](const std::vector<std::byte>& a) { return c->apdu(a); },
                   simcard::simulated_contents(1, 1));
}

TEST_P(BankdTest, CardRemovedAndReinserted) {
  auto c = mapped_client(23, 0);
  EXPECT_EQ(sw(c->apdu({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2})), 0x9000u);
  sim_set_present(*bankd_->cards, 0, false);
  // The bank notices between APDUs (a status check every 100 ms here), tells the client, and
  // closes; coming back, the client learns cardNotPresent until the card is back.
  auto ind = TestClient::expect(c->bank_link(), rspro::MsgType::bank_slot_status_ind, 5000);
  ASSERT_TRUE(ind);
  EXPECT_EQ(ind->pdu.status.card_present, false);
  EXPECT_TRUE(c->bank_closed());
  EXPECT_EQ(c->connect_bank(bankd_at()), rspro::ResultCode::card_not_present);
  EXPECT_GE(bankd_->bankd->stats().card_errors.load(), 1u);
  sim_set_present(*bankd_->cards, 0, true);
  // The same connection gets the ATR once the card is back (the worker retries it).
  auto atr = TestClient::expect(c->bank_link(), rspro::MsgType::set_atr_req, 5000);
  ASSERT_TRUE(atr);
  EXPECT_EQ(sw(c->apdu({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2})), 0x9000u);
}

TEST_P(BankdTest, BankDaemonRestarted) {
  auto c = mapped_client(23, 0);
  bankd_.reset();  // the bank daemon goes away
  EXPECT_TRUE(c->bank_closed());
  auto cfg = c->next_config();
  ASSERT_TRUE(cfg);
  EXPECT_FALSE(cfg->second);  // told its bank is gone
  EXPECT_TRUE(eventually([&] { return slotmaps().find("\"NEW\"") != std::string::npos; }));
  start_bankd();
  // It registers again, gets its mapping back, and the client is pointed at it again.
  cfg = c->next_config();
  ASSERT_TRUE(cfg && cfg->second);
  ASSERT_TRUE(c->connect_bank_retrying(*cfg->second));
  run_card_session([&](const std::vector<std::byte>& a) { return c->apdu(a); },
                   simcard::simulated_contents(1, 0));
  EXPECT_TRUE(eventually([&] { return slotmaps().find("\"ACTIVE\"") != std::string::npos; }));
}

TEST_P(BankdTest, ServerRestartedMappingsPersistAndCardsKeepServing) {
  auto c = mapped_client(23, 0);
  server_.reset();
  // With the server gone, the card still answers (the bank keeps its mappings).
  EXPECT_EQ(sw(c->apdu({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2})), 0x9000u);
  EXPECT_TRUE(eventually([&] { return !bankd_->registered(); }));
  start_server(server_port_);
  EXPECT_TRUE(eventually([&] { return bankd_->registered(); }));
  EXPECT_TRUE(eventually([&] { return slotmaps().find("\"ACTIVE\"") != std::string::npos; }))
      << slotmaps();
  EXPECT_EQ(rest(rest_at(), "GET", "/restart-counter").body, R"({"restart_counter":2})");
  // The client registers again and is told the same bank.
  TestClient again({23, 0});
  c->server_link().close();
  EXPECT_TRUE(
      eventually([&] { return again.register_with(server_->rspro) == rspro::ResultCode::ok; }));
  auto cfg = again.next_config();
  ASSERT_TRUE(cfg && cfg->second);
  EXPECT_EQ(cfg->first, (rspro::BankSlot{1, 0}));
  EXPECT_EQ(sw(c->apdu({0x00, 0xB0, 0x00, 0x00, 0x0A})), 0x9000u);
}

TEST_P(BankdTest, BadInputFromClients) {
  auto c = mapped_client(23, 0);
  // The same client slot a second time: refused, the first keeps its card.
  TestClient twin({23, 0});
  EXPECT_EQ(twin.connect_bank(bankd_at()), rspro::ResultCode::identity_in_use);
  EXPECT_EQ(sw(c->apdu({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2})), 0x9000u);
  // No client slot.
  RsproLink anon;
  ASSERT_TRUE(anon.connect(bankd_at()));
  rspro::Pdu req;
  req.type = rspro::MsgType::connect_client_req;
  req.identity = {rspro::ComponentType::client, "x", "y", "z", {}};
  anon.send(req);
  EXPECT_EQ(TestClient::expect(anon, rspro::MsgType::connect_client_res)->pdu.result,
            rspro::ResultCode::illegal_client_id);
  // Garbage instead of IPA: the connection goes, nothing else does.
  RsproLink junk;
  ASSERT_TRUE(junk.connect(bankd_at()));
  junk.send_raw(bytes({0x00, 0x05, 0xEE, 0x07, 0x30, 0x80, 0xFF, 0xFF}));
  EXPECT_FALSE(junk.receive(5000));
  // A cold reset (VCC off) from the client: the card is reset, and still answers.
  rspro::Pdu ind;
  ind.type = rspro::MsgType::client_slot_status_ind;
  ind.client = {23, 0};
  ind.bank = {1, 0};
  ind.status.vcc_present = false;
  c->bank_link().send(ind);
  EXPECT_TRUE(eventually([&] { return bankd_->bankd->stats().resets.load() == 1; }));
  EXPECT_EQ(sw(c->apdu({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2})), 0x9000u);
  // A TPDU for a bank slot that is not this client's: closed.
  c->set_bank({1, 3});
  EXPECT_TRUE(c->apdu({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2}).empty());
}

// [bankd] allow: a client from elsewhere is closed at accept and counted (issue 15).
TEST_P(BankdTest, ClientsOutsideTheAllowListAreClosedAtAccept) {
  bankd_.reset();
  start_bankd(*AddressFilter::parse("10.0.0.0/8"));
  RsproLink outsider;
  ASSERT_TRUE(outsider.connect(bankd_at()));
  rspro::Pdu req;
  req.type = rspro::MsgType::connect_client_req;
  req.identity = {rspro::ComponentType::client, "x", "y", "z", {}};
  req.client = rspro::ClientSlot{23, 0};
  outsider.send(req);
  EXPECT_FALSE(TestClient::expect(outsider, rspro::MsgType::connect_client_res, 1000));
  EXPECT_TRUE(eventually([&] { return bankd_->bankd->stats().clients_disallowed.load() == 1; }));
  EXPECT_EQ(bankd_->bankd->stats().clients_accepted.load(), 0u);
  // Loopback allowed: the client gets its card.
  bankd_.reset();
  start_bankd(*AddressFilter::parse("127.0.0.1"));
  ASSERT_TRUE(eventually([&] { return bankd_->registered(); }));
  auto c = mapped_client(24, 1);
  EXPECT_EQ(sw(c->apdu({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2})), 0x9000u);
  EXPECT_EQ(bankd_->bankd->stats().clients_disallowed.load(), 0u);
}

// [bankd] max_connections: connections beyond it are closed at accept and counted; a place that
// frees up is taken again (issue 15: the bank daemon had no cap, and its worker table keeps its
// high-water mark for good).
TEST_P(BankdTest, ConnectionsOverTheCapAreClosedAtAccept) {
  bankd_.reset();
  start_bankd({}, 3);
  ASSERT_TRUE(eventually([&] { return bankd_->registered(); }));
  std::vector<std::unique_ptr<RsproLink>> silent;
  for (int i = 0; i < 5; ++i) {
    silent.push_back(std::make_unique<RsproLink>());
    ASSERT_TRUE(silent.back()->connect(bankd_at()));
  }
  EXPECT_TRUE(eventually([&] { return bankd_->bankd->stats().clients_refused.load() == 2; }))
      << bankd_->bankd->stats().clients_refused.load();
  EXPECT_EQ(bankd_->bankd->stats().clients_open.load(), 3u);
  silent.clear();
  ASSERT_TRUE(eventually([&] { return bankd_->bankd->stats().clients_open.load() == 0; }));
  auto c = mapped_client(25, 2);
  EXPECT_EQ(sw(c->apdu({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2})), 0x9000u);
  EXPECT_EQ(bankd_->bankd->stats().clients_refused.load(), 2u);
}

// A mapping change for a core whose cross-core ring is full waits and arrives, in order (issue
// 15): it used to be retried 1,000 times on the reactor and then dropped, so a worker on that
// core never heard of it. Here core 1 stalls while more changes than its ring holds are made;
// the last one is the mapping a client on core 1 waits for.
TEST_P(BankdTest, MappingChangesReachACoreWhoseRingWasFull) {
  if (GetParam() < 2) GTEST_SKIP() << "needs a second core";
  Stall& stall = stall_;
  bankd_.reset();
  start_bankd(
      {}, 1024,
      [&](engine::Reactor& r) {
        if (r.core() == 1) r.add_poller(stall);
      },
      4);
  ASSERT_TRUE(eventually([&] { return bankd_->registered(); }));
  // A client waiting for its mapping on core 1 (the kernel spreads connections over cores).
  std::vector<std::unique_ptr<TestClient>> clients;
  TestClient* on_core1 = nullptr;
  uint16_t id = 50;
  // Connections are steered to the reactor of the CPU their packets arrive on: connect from
  // each CPU in turn (the test thread's affinity is restored after).
  cpu_set_t all;
  ::sched_getaffinity(0, sizeof all, &all);
  for (; id < 80 && !on_core1; ++id) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(id % 2, &one);
    ::sched_setaffinity(0, sizeof one, &one);
    clients.push_back(std::make_unique<TestClient>(rspro::ClientSlot{id, 0}));
    ASSERT_EQ(clients.back()->register_with(server_->rspro), rspro::ResultCode::ok);
    ASSERT_EQ(clients.back()->connect_bank(bankd_at()), rspro::ResultCode::card_not_present);
    sockaddr_in local{};
    socklen_t len = sizeof local;
    ::getsockname(clients.back()->bank_link().fd(), reinterpret_cast<sockaddr*>(&local), &len);
    const std::string me = "127.0.0.1:" + std::to_string(ntohs(local.sin_port));
    ASSERT_TRUE(eventually([&] {
      for (const auto& w : bankd_->bankd->workers())
        if (w.remote == me && w.state == WorkerState::client_wait_map) return true;
      return false;
    }));
    for (const auto& w : bankd_->bankd->workers())
      if (w.remote == me && w.core == 1) on_core1 = clients.back().get();
  }
  ::sched_setaffinity(0, sizeof all, &all);
  ASSERT_NE(on_core1, nullptr) << "no connection landed on core 1";
  stall.on = true;
  // Twelve changes (a ring of 4 holds fewer), then the waiting client's mapping.
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(rest(rest_at(), "POST", "/slotmaps", map_body(1, 3, 90, 0)).status, 201);
    ASSERT_EQ(rest(rest_at(), "DELETE", "/slotmaps/65539").status, 200);
    // Gone once the bank (its control link is on core 0, not stalled) acknowledged it.
    ASSERT_TRUE(
        eventually([&] { return slotmaps().find("\"clientId\":90") == std::string::npos; }));
  }
  ASSERT_EQ(rest(rest_at(), "POST", "/slotmaps", map_body(1, 1, --id, 0)).status, 201);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stall.on = false;
  auto atr = TestClient::expect(on_core1->bank_link(), rspro::MsgType::set_atr_req, 5000);
  ASSERT_TRUE(atr) << "the mapping never reached core 1";
  on_core1->set_bank({1, 1});
  EXPECT_EQ(sw(on_core1->apdu({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2})), 0x9000u);
}

INSTANTIATE_TEST_SUITE_P(Cores, BankdTest, ::testing::Values(1u, 2u),
                         [](const auto& p) { return std::to_string(p.param) + "core"; });

}  // namespace
}  // namespace cp::remsim::test
