// libFuzzer target for the remote-SIM session state machines (services/remsim): the remsim
// server's (banks and clients registering, mappings, responses matched in order) and the bank
// daemon's (a client's worker: identification, mapping, TPDUs, resets) — not only the RSPRO
// codec. The server, the bank daemon (simulated cards) and the peers run on the deterministic
// simulation transport (engine/sim).
//
// Input: byte 0 picks whom the fuzzed peer talks to (even: the server's port 9998, odd: the bank
// daemon's 9999); the rest is a sequence of chunks, each a 2-byte little-endian length then that
// many bytes of its TCP stream (IPA frames, or anything). After the stream, a well-behaved
// client (tests/services/remsim/sim_client.h) with a fresh mapping must be served: its APDUs
// answered as the reference card answers them. Nothing may crash, assert or leak.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

#include <unistd.h>

#include "engine/reactor.h"
#include "engine/sim/sim_backend.h"
#include "fuzz/fuzz_chunks.h"
#include "services/remsim/bankd.h"
#include "services/remsim/server.h"
#include "tests/services/remsim/sim_client.h"
#include "tests/support/queued_sender.h"

namespace {

using namespace cp;
using namespace cp::remsim;
using namespace cp::remsim::simulated;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "rspro_session_fuzz: %s\n", what);
  std::abort();
}

constexpr uint32_t kFuzzedIp = ipv4(10, 0, 6, 9);

// A peer that sends what it is given and reads (and drops) everything.
struct RawPeer final : engine::ConnectionHandler {
  engine::Connection* conn = nullptr;
  cp::test::QueuedSender tx;
  void on_open(engine::Connection& c) override {
    conn = &c;
    tx.attach(&c);
  }
  size_t on_data(engine::Connection&, std::span<const std::byte> data) override {
    return data.size();
  }
  void on_writable(engine::Connection&) override { tx.flush(); }
  void on_close(engine::Connection&, engine::CloseReason, int) override {
    conn = nullptr;
    tx.attach(nullptr);
  }
  void send(std::span<const std::byte> bytes) { tx.send(bytes); }
};

void run(std::span<const std::byte> input) {
  static const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                           ("cp-rspro-session-fuzz-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  ManualClock clock;
  sim::SimNetwork net(1, clock, sim::SimFaults{});
  auto reactor = [&](uint32_t ip) {
    return std::make_unique<engine::Reactor>(reactor_config(),
                                             std::make_unique<sim::SimBackend>(net, ip), clock);
  };
  auto server_r = reactor(kServerIp), bank_r = reactor(kBankIp), client_r = reactor(kClientIp),
       fuzzed_r = reactor(kFuzzedIp);

  ServerOptions so;
  so.listen = SocketAddress::ipv4(kServerIp, kServerPort);
  so.rest_listen.reset();
  so.slotmaps_path = (dir / "slotmaps.txt").string();
  so.bankd_port = kBankPort;
  so.id_timeout = kNanosPerSecond;
  so.rspro = keepalive();
  auto server = RemsimServer::create(so);
  if (!server || !(*server)->start(*server_r)) fail("the server did not start");

  BankdOptions bo;
  bo.server = so.listen;
  bo.listen = SocketAddress::ipv4(kBankIp, kBankPort);
  bo.id_timeout = kNanosPerSecond;
  bo.card_retry = 200 * kNanosPerMilli;
  bo.reconnect_min = 100 * kNanosPerMilli;
  bo.reconnect_max = kNanosPerSecond;
  bo.rspro = keepalive();
  SimCardOptions cards;
  cards.slots = 4;
  auto backend = make_sim_backend(cards);
  if (!backend) fail("no simulated cards");
  Bankd bankd(bo, std::move(*backend), 1);
  if (!bankd.start_on_core(*bank_r)) fail("the bank daemon did not start");

  std::unique_ptr<SimClient> client;
  auto round = [&] {
    server_r->run_once(0);
    bank_r->run_once(0);
    client_r->run_once(0);
    fuzzed_r->run_once(0);
    net.tick(100 * kNanosPerMicro);
  };
  auto run_for = [&](Nanos d) {
    const Nanos end = clock.now() + d;
    while (clock.now() < end) round();
  };
  auto until = [&](auto pred, Nanos limit) {
    const Nanos end = clock.now() + limit;
    while (!pred() && clock.now() < end) round();
    return pred();
  };
  if (!until([&] { return bankd.stats().server_up.load(); }, 5 * kNanosPerSecond))
    fail("the bank daemon did not register");

  // A mapping for the client the captured vectors name (23:0), so a fuzzed client that says it
  // is that one reaches a card through the bank daemon.
  if (!(*server)->add_slotmap({1, 0}, {23, 0})) fail("the first slotmap was refused");
  if (!until([&] { return !bankd.mappings().empty(); }, 5 * kNanosPerSecond))
    fail("the bank daemon did not get the mapping");

  // The fuzzed peer.
  if (input.empty()) return;
  const bool to_bank = (static_cast<uint8_t>(input[0]) & 1) != 0;
  input = input.subspan(1);
  RawPeer fuzzed;
  if (!fuzzed_r->connect(to_bank ? bo.listen : so.listen, fuzzed)) fail("connect");
  while (!input.empty()) {
    fuzzed.send(fuzz::next_chunk(input));
    run_for(2 * kNanosPerMilli);
  }
  run_for(200 * kNanosPerMilli);
  if (fuzzed.conn) fuzzed.conn->abort();
  run_for(100 * kNanosPerMilli);

  // A well-behaved client with a fresh mapping is served.
  client = std::make_unique<SimClient>(*client_r);
  client->start();
  std::vector<uint32_t> ids;
  for (const auto& [id, m] : (*server)->slotmaps().all()) ids.push_back(id);
  for (uint32_t id : ids)
    if (!(*server)->delete_slotmap(id)) fail("a slotmap could not be deleted");
  run_for(200 * kNanosPerMilli);
  if (!(*server)->add_slotmap({1, 2}, kClient)) fail("the slotmap was refused");
  if (!until([&] { return client->answers >= 8; }, 20 * kNanosPerSecond))
    fail("a well-behaved client was not served after the stream");
  if (client->mismatches != 0) fail("a card answered what the reference card does not");
  // Torn down as after a crash: the reactors go without calling their connections' handlers.
  fuzzed_r.reset();
  client.reset();
  client_r.reset();
  bank_r.reset();
  server_r.reset();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  run({reinterpret_cast<const std::byte*>(data), size});
  return 0;
}
