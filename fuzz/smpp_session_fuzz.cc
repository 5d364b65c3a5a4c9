// libFuzzer target for the SMPP server's session state machine (services/smpp/server*.cc), not
// only its codec: the input is what one ESME sends, as a TCP stream in the chunks it comes in,
// into a real SmppServer in front of a real SMSC core and store, all on the deterministic
// simulation transport (engine/sim). Binds, submits in flight, unbind, enquire_link, responses
// to nothing, generic_nack, oversized and broken PDUs, in any order and any split.
//
// Input: a sequence of chunks, each a 2-byte little-endian length then that many bytes (a
// length past the end takes the rest). The ESME also answers every deliver_sm it is sent, so
// deliveries and receipts (its own messages route back to it) run too.
//
// After the stream the server must still serve a fresh, well-behaved ESME: bind, submit (a
// stored message, durable), enquire_link, unbind — and nothing may crash, assert or leak
// (ASan/UBSan in the fuzz and ci builds).
#include <unistd.h>
#include <cstdlib>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "engine/reactor.h"
#include "engine/sim/sim_backend.h"
#include "fuzz/fuzz_chunks.h"
#include "proto/smpp/pdu.h"
#include "services/smpp/server.h"
#include "services/smsc/core.h"
#include "services/smsc/numdb.h"
#include "storage/store.h"
#include "tests/support/queued_sender.h"

namespace {

using namespace cp;
namespace pdu = proto::smpp;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "smpp_session_fuzz: %s\n", what);
  std::abort();
}

constexpr uint32_t kServerIp = sim::ipv4(10, 0, 7, 1);
constexpr uint32_t kEsmeIp = sim::ipv4(10, 0, 7, 2);
constexpr uint32_t kCoreIp = sim::ipv4(10, 0, 7, 3);  // a host does not connect to itself
// The well-behaved ESME after the stream: another address (the fuzzed one may have earned the
// per-address limit on failed binds).
constexpr uint32_t kGoodIp = sim::ipv4(10, 0, 7, 4);

engine::ReactorConfig reactor_config() {
  engine::ReactorConfig c;
  c.max_connections = 16;
  c.rx_buffer_bytes = 8192;
  c.tx_buffer_bytes = 65536;
  c.service_timers_max = 64;
  return c;
}

// An ESME on the simulated network: sends what it is given, collects whole PDUs, answers each
// deliver_sm with ESME_ROK.
struct Esme final : engine::ConnectionHandler {
  engine::Connection* conn = nullptr;
  bool closed = false;
  bool answer_delivers = true;
  test::QueuedSender tx;
  std::vector<std::byte> in;
  std::vector<pdu::Header> got;

  void on_open(engine::Connection& c) override {
    conn = &c;
    tx.attach(&c);
  }
  size_t on_data(engine::Connection&, std::span<const std::byte> data) override {
    in.insert(in.end(), data.begin(), data.end());
    size_t at = 0;
    while (in.size() - at >= pdu::kHeaderBytes) {
      const std::span<const std::byte> rest(in.data() + at, in.size() - at);
      auto len = pdu::frame_length(rest);
      if (!len || !*len) fail("the server sent a PDU that cannot be framed");
      if (**len > rest.size()) break;
      auto h = pdu::decode_header(rest.first(**len));
      if (!h) fail("the server sent a broken PDU header");
      got.push_back(*h);
      if (h->command_id == pdu::cmd::enquire_link)
        send(pdu::encode_header_only(pdu::cmd::enquire_link | pdu::cmd::response_bit,
                                     pdu::status::ok, h->sequence));
      if (h->command_id == pdu::cmd::deliver_sm && answer_delivers) {
        send(pdu::encode_message_id_resp(pdu::cmd::deliver_sm | pdu::cmd::response_bit,
                                         pdu::status::ok, h->sequence, ""));
      }
      at += h->length;
    }
    in.erase(in.begin(), in.begin() + static_cast<long>(at));
    return data.size();
  }
  void on_writable(engine::Connection&) override { tx.flush(); }
  void on_close(engine::Connection&, engine::CloseReason, int) override {
    closed = true;
    conn = nullptr;
    tx.attach(nullptr);
  }
  void send(std::span<const std::byte> bytes) { tx.send(bytes); }
  bool has(uint32_t command_id, uint32_t status = pdu::status::ok) const {
    for (const auto& h : got)
      if (h.command_id == command_id && h.command_status == status) return true;
    return false;
  }
};

std::shared_ptr<const smsc::Numdb> numdb() {
  static const auto db = [] {
    auto d = smsc::Numdb::parse("2125550100 gsm smsprov\n2125550102 local\n", "numbers",
                                "212666* acme\n", "peers");
    if (!d) fail("the number database does not parse");
    return *d;
  }();
  return db;
}

void run(std::span<const std::byte> input) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() /
             ("cp-smpp-session-fuzz-" + std::to_string(::getpid()));
    return d;
  }();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  ManualClock clock;
  sim::SimNetwork net(1, clock, sim::SimFaults{});
  engine::Reactor server(reactor_config(), std::make_unique<sim::SimBackend>(net, kServerIp),
                         clock);
  engine::Reactor client(reactor_config(), std::make_unique<sim::SimBackend>(net, kEsmeIp), clock);
  engine::Reactor core_host(reactor_config(), std::make_unique<sim::SimBackend>(net, kCoreIp),
                            clock);
  engine::Reactor good_host(reactor_config(), std::make_unique<sim::SimBackend>(net, kGoodIp),
                            clock);
  storage::StoreOptions so;
  so.dir = (dir / "pms").string();
  so.cores = 1;
  so.shard.prealloc_bytes = 1 << 20;
  storage::Store store(so);
  smsc::SmscOptions co;
  co.socket_path = (dir / "smsc.sock").string();
  co.stream_listen = SocketAddress::ipv4(kCoreIp, 7000);
  co.max_active_per_core = 1024;
  co.requests_in_flight_max = 256;
  smsc::SmscService core(co, store, numdb(), 1);
  if (!store.open_on_core(core_host, clock)) fail("store did not open");
  if (!core.start_on_core(core_host)) fail("core did not start");
  smpp::ServerOptions o;
  o.listen = SocketAddress::ipv4(kServerIp, 2775);
  o.core_stream = SocketAddress::ipv4(kCoreIp, 7000);
  o.bind_timeout = kNanosPerSecond;
  o.response_timeout = kNanosPerSecond;
  o.enquire_interval = 2 * kNanosPerSecond;
  auto accounts = smpp::Accounts::parse("acme system_id=acme password=secret window=4\n", "a");
  if (!accounts) fail("accounts");
  smpp::SmppServer smpp(o, *accounts, numdb, 1);
  if (!smpp.start_on_core(server)) fail("smpp server did not start");

  auto round = [&] {
    server.run_once(0);
    client.run_once(0);
    core_host.run_once(0);
    good_host.run_once(0);
    net.tick(200 * kNanosPerMicro);
  };
  auto rounds = [&](int n) {
    for (int i = 0; i < n; ++i) round();
  };
  rounds(50);  // the core links connect

  // The fuzzed ESME, chunk by chunk, with the network running between chunks.
  Esme fuzzed;
  if (!client.connect(o.listen, fuzzed)) fail("connect");
  while (!input.empty()) {
    fuzzed.send(fuzz::next_chunk(input));
    rounds(20);
  }
  rounds(500);
  if (fuzzed.conn) fuzzed.conn->abort();
  rounds(50);

  // A well-behaved ESME is still served.
  Esme good;
  if (!good_host.connect(o.listen, good)) fail("connect (after)");
  pdu::Bind b;
  b.system_id = "acme";
  b.password = "secret";
  b.interface_version = 0x34;
  good.send(pdu::encode_bind(pdu::cmd::bind_transceiver, 1, b));
  for (int i = 0; i < 2000 && !good.has(pdu::cmd::bind_transceiver | pdu::cmd::response_bit); ++i)
    round();
  if (!good.has(pdu::cmd::bind_transceiver | pdu::cmd::response_bit))
    fail("a fresh bind was not answered ok");
  pdu::ShortMessage m;
  m.source_addr_ton = m.source_addr_npi = m.dest_addr_ton = m.dest_addr_npi = 1;
  m.source_addr = "12126660001";
  m.destination_addr = "12125550102";  // local: stored is final
  const std::byte text[] = {std::byte{'o'}, std::byte{'k'}};
  m.short_message = text;
  good.send(pdu::encode_short_message(pdu::cmd::submit_sm, 2, m));
  for (int i = 0; i < 20000 && !good.has(pdu::cmd::submit_sm | pdu::cmd::response_bit); ++i)
    round();
  if (!good.has(pdu::cmd::submit_sm | pdu::cmd::response_bit))
    fail("a submit_sm after the stream was not stored");
  good.send(pdu::encode_header_only(pdu::cmd::enquire_link, 0, 3));
  for (int i = 0; i < 2000 && !good.has(pdu::cmd::enquire_link | pdu::cmd::response_bit); ++i)
    round();
  if (!good.has(pdu::cmd::enquire_link | pdu::cmd::response_bit))
    fail("enquire_link after the stream");
  if (good.conn) good.conn->abort();
  rounds(50);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  run({reinterpret_cast<const std::byte*>(data), size});
  return 0;
}
