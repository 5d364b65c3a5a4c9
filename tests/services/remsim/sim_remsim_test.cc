// The remote-SIM scenarios on the deterministic simulation transport (engine/sim), with seeds:
// the remsim server, the bank daemon (simulated cards) and a remsim client each on a simulated
// host of their own, over a network that delays, drops, duplicates and reorders packets. The
// client is a reactor-based one (what a SIMtrace2-driving client does): it registers, follows
// its bank configuration, reconnects with a pause when a link goes, and runs an APDU script
// whose every answer must equal what a reference card of the same contents answers (reset
// whenever the bank sends the ATR). After a first stretch of answers, one event, then the
// client must be served again:
//   partition  the bank cut off from server and client for 3 s (keepalives notice; all heal)
//   remap      the mapping deleted, then re-created on another bank slot
//   bankd      the bank daemon crashes and starts again
//   server     the server crashes and starts again (slotmaps from its file)
//   card       the card removed for a while, then re-inserted
// Three seeds each; the same seed gives the same trace.
#include <gtest/gtest.h>

#include <memory>

#include "engine/reactor.h"
#include "engine/sim/sim_backend.h"
#include "engine/sim/sim_gtest.h"
#include "hw/simcard/card.h"
#include "services/remsim/bankd.h"
#include "services/remsim/rspro_conn.h"
#include "services/remsim/server.h"
#include "tests/services/remsim/sim_client.h"
#include "tests/support/temp_dir.h"

namespace cp::remsim {
namespace {

namespace rspro = proto::rspro;
using sim::ipv4;
using sim::SimBackend;
using sim::SimNetwork;

enum class Event { partition, remap, bankd, server, card };

using namespace simulated;  // NOLINT(google-build-using-namespace): the simulated client

struct World {
  ManualClock clock;
  std::unique_ptr<SimNetwork> net;
  std::unique_ptr<engine::Reactor> server_r, bank_r, client_r;
  std::unique_ptr<RemsimServer> server;
  std::unique_ptr<Bankd> bankd;
  CardBackend* cards = nullptr;
  std::unique_ptr<SimClient> client;
  std::string slotmaps;

  void start_server() {
    server_r = std::make_unique<engine::Reactor>(
        reactor_config(), std::make_unique<SimBackend>(*net, kServerIp), clock);
    ServerOptions o;
    o.listen = SocketAddress::ipv4(kServerIp, kServerPort);
    o.rest_listen.reset();
    o.slotmaps_path = slotmaps;
    o.bankd_port = kBankPort;
    o.id_timeout = kNanosPerSecond;
    o.rspro = keepalive();
    auto s = RemsimServer::create(o);
    ASSERT_TRUE(s) << s.error();
    server = std::move(*s);
    ASSERT_TRUE(server->start(*server_r));
  }
  void crash_server() {
    server_r.reset();  // its connections go without callbacks, as in a crash
    server.reset();
  }
  void start_bankd() {
    bank_r = std::make_unique<engine::Reactor>(reactor_config(),
                                               std::make_unique<SimBackend>(*net, kBankIp), clock);
    BankdOptions o;
    o.server = SocketAddress::ipv4(kServerIp, kServerPort);
    o.listen = SocketAddress::ipv4(kBankIp, kBankPort);
    o.id_timeout = kNanosPerSecond;
    o.card_retry = 200 * kNanosPerMilli;
    o.reconnect_min = 100 * kNanosPerMilli;
    o.reconnect_max = kNanosPerSecond;
    o.rspro = keepalive();
    SimCardOptions so;
    so.slots = 4;
    auto b = make_sim_backend(so);
    ASSERT_TRUE(b);
    cards = b->get();
    bankd = std::make_unique<Bankd>(o, std::move(*b), 1);
    ASSERT_TRUE(bankd->start_on_core(*bank_r));
  }
  void crash_bankd() {
    bank_r.reset();
    bankd.reset();
  }
  void round() {
    if (server_r) server_r->run_once(0);
    if (bank_r) bank_r->run_once(0);
    client_r->run_once(0);
    net->tick(100 * kNanosPerMicro);
  }
  template <typename Pred>
  bool until(Pred pred, Nanos limit) {
    const Nanos end = clock.now() + limit;
    while (!pred() && clock.now() < end) round();
    return pred();
  }
  void run_for(Nanos d) {
    const Nanos end = clock.now() + d;
    while (clock.now() < end) round();
  }
  ~World() {
    client.reset();
    client_r.reset();
    crash_bankd();
    crash_server();
  }
};

struct Outcome {
  uint64_t answers = 0, mismatches = 0, atrs = 0;
  uint64_t trace_hash = 0;
};

Outcome run(uint64_t seed, Event event, const std::string& dir) {
  sim::SimFaults faults;
  faults.delay_ns_min = 50 * kNanosPerMicro;
  faults.delay_ns_max = 2 * kNanosPerMilli;
  faults.drop_probability = 0.02;
  faults.duplicate_probability = 0.02;
  faults.reorder_probability = 0.05;
  World w;
  w.net = std::make_unique<SimNetwork>(seed, w.clock, faults);
  sim::TraceOnFailure dump(*w.net);
  w.slotmaps = dir + "/slotmaps.txt";
  w.start_server();
  w.start_bankd();
  w.client_r = std::make_unique<engine::Reactor>(
      reactor_config(), std::make_unique<SimBackend>(*w.net, kClientIp), w.clock);
  w.client = std::make_unique<SimClient>(*w.client_r);
  w.client->start();
  Outcome out;
  if (::testing::Test::HasFatalFailure()) return out;

  EXPECT_TRUE(w.until([&] { return w.bankd->stats().server_up.load(); }, 5 * kNanosPerSecond));
  EXPECT_TRUE(w.server->add_slotmap({1, 2}, kClient));
  EXPECT_TRUE(w.until([&] { return w.client->answers >= 40; }, 20 * kNanosPerSecond))
      << "answers before the event: " << w.client->answers;

  const uint64_t before = w.client->answers;
  switch (event) {
    case Event::partition:
      w.net->partition(kBankIp, kServerIp);
      w.net->partition(kBankIp, kClientIp);
      w.run_for(3 * kNanosPerSecond);
      w.net->heal();
      break;
    case Event::remap: {
      EXPECT_TRUE(w.server->delete_slotmap(uint32_t{1} << 16 | 2));
      EXPECT_TRUE(w.until([&] { return !w.client->has_bank(); }, 5 * kNanosPerSecond));
      EXPECT_TRUE(w.until([&] { return w.server->slotmaps().all().empty(); }, 5 * kNanosPerSecond));
      EXPECT_TRUE(w.server->add_slotmap({1, 3}, kClient));
      break;
    }
    case Event::bankd:
      w.crash_bankd();
      w.run_for(2 * kNanosPerSecond);
      w.start_bankd();
      break;
    case Event::server:
      w.crash_server();
      w.run_for(2 * kNanosPerSecond);
      w.start_server();
      break;
    case Event::card:
      sim_set_present(*w.cards, 2, false);
      w.run_for(2 * kNanosPerSecond);
      sim_set_present(*w.cards, 2, true);
      break;
  }
  const bool served =
      w.until([&] { return w.client->answers >= before + 40; }, 30 * kNanosPerSecond);
  EXPECT_TRUE(served) << "answers after the event: " << w.client->answers - before;
  out.answers = w.client->answers;
  out.mismatches = w.client->mismatches;
  out.atrs = w.client->atrs;
  out.trace_hash = w.net->trace_hash();
  return out;
}

void run_seeds(Event event, uint64_t base) {
  for (uint64_t i = 0; i < 3; ++i) {
    CP_SIM_SEED(seed, base + i);
    cp::test::TempDir tmp;
    const Outcome o = run(seed, event, tmp.str());
    EXPECT_EQ(o.mismatches, 0u);
    if (event == Event::server) {
      // The bank keeps serving its mappings while the server is away: no interruption.
      EXPECT_EQ(o.atrs, 1u);
    } else {
      EXPECT_GE(o.atrs, 2u);  // the card was reached again through a new connection
    }
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(RemsimSim, BankPartitionedAway) {
  run_seeds(Event::partition, 0x7e0100);
}
TEST(RemsimSim, MappingDeletedAndRecreated) {
  run_seeds(Event::remap, 0x7e0200);
}
TEST(RemsimSim, BankDaemonCrashesAndRestarts) {
  run_seeds(Event::bankd, 0x7e0300);
}
TEST(RemsimSim, ServerCrashesAndRestarts) {
  run_seeds(Event::server, 0x7e0400);
}
TEST(RemsimSim, CardRemovedAndReinserted) {
  run_seeds(Event::card, 0x7e0500);
}

TEST(RemsimSim, SameSeedSameRun) {
  CP_SIM_SEED(seed, 0x7e0600);
  cp::test::TempDir a, b;
  const Outcome x = run(seed, Event::bankd, a.str());
  const Outcome y = run(seed, Event::bankd, b.str());
  EXPECT_EQ(x.trace_hash, y.trace_hash);
  EXPECT_EQ(x.answers, y.answers);
}

}  // namespace
}  // namespace cp::remsim
