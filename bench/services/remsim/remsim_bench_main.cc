// cp_remsim_bench: the remote-SIM data path (docs/BENCHMARKS.md, "Remote SIM").
//
//   latency     One card behind the real PC/SC stack (cp-simcard -> vpcd -> pcscd), SELECT MF
//               round trips two ways, alternating in one run: a direct PC/SC call
//               (SCardTransmit), and through remsim (a blocking RSPRO client, the way
//               cp-remsim-shell sends -> our bank daemon -> pcscd -> the card). Reports each
//               way's p50 / p99 and the added latency (target, issue 6: <= 150 us median;
//               osmo-remsim 1.1.3 adds ~130 us on this machine, ../shared/PEERS.md).
//   throughput  The in-process simulated-card backend with --slots mapped slots (default 1,024),
//               one connected client per slot keeping one TPDU outstanding (SELECT MF), on an
//               io_uring engine (the generator, --generator-cores reactors, pinned to CPUs
//               0..N-1: they stand for the CPUs a NIC's receive queues spread client flows
//               over) beside the bank daemon's engine (--bankd-cores reactors, pinned as
//               cellplaned pins them, its listener steering each connection to the reactor of
//               the CPU its packets arrive on), all on this machine's CPUs: TPDUs per second
//               (target >= 200,000/s) and round-trip p50 / p99 at that load. With --ceiling
//               (default), each run is followed by the same generator against the engine's echo
//               service on the same reactors (each TPDU frame answered with itself: no RSPRO, no
//               card) — the host's ceiling for this load at that moment — and remsim's share of it
//               is reported.
// --repeat runs of each; medians. Every TPDU must be answered (else exit 1).
//
// Exit codes: 0 done, 1 a functional failure, 2 bad arguments, 77 pcscd / vpcd missing.
#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/cli.h"
#include "base/log.h"
#include "bench/common/latency_histogram.h"
#include "bench/common/median.h"
#include "bench/common/process_util.h"
#include "engine/echo/echo_service.h"
#include "engine/engine.h"
#include "hw/simcard/card.h"
#include "services/remsim/bankd.h"
#include "services/remsim/rspro_conn.h"
#include "services/remsim/rspro_link.h"
#include "services/remsim/server.h"
#include "tests/support/process.h"

namespace cp::bench {
namespace {

namespace fs = std::filesystem;
namespace rspro = proto::rspro;
using remsim::RsproConn;
using remsim::RsproUser;

constexpr int kExitFailed = 1;
constexpr int kExitNoPcsc = 77;

struct Options {
  std::vector<std::string> modes = {"latency", "throughput"};
  int repeat = 5;
  // latency
  int apdus = 3000;
  uint16_t vpcd_port = 0x7C5B;  // below the ephemeral port range
  std::string simcard = CP_SIMCARD_PATH;
  // throughput
  double seconds = 3;
  unsigned slots = 1024;
  unsigned bankd_cores = 2;
  unsigned generator_cores = 2;
  bool pin_bankd = true;  // as cellplaned pins its reactors
  bool pin_generator = true;
  bool fixed_files = true;
  bool ceiling = true;
  bool steer = true;
};

// Options::fixed_files and Options::steer, for every engine this run starts.
bool g_fixed_files = true;
bool g_steer = true;

Nanos mono() {
  return SystemClock::instance().now();
}

const std::vector<std::byte> kSelectMf = {std::byte{0x00}, std::byte{0xA4}, std::byte{0x00},
                                          std::byte{0x04}, std::byte{0x02}, std::byte{0x3F},
                                          std::byte{0x00}};

std::unique_ptr<engine::Engine> start_engine(
    unsigned cores, std::function<Result<void, std::string>(engine::Reactor&)> setup,
    bool pin = false) {
  engine::EngineConfig ec;
  ec.cores = cores;
  ec.pin_threads = pin;
  ec.drain_timeout = 100 * kNanosPerMilli;
  ec.io.fixed_files = g_fixed_files;
  ec.reactor.steer_connections = g_steer;
  auto e = std::make_unique<engine::Engine>(ec);
  e->on_each_core(std::move(setup));
  if (auto ok = e->start(); !ok) {
    fmt::print(stderr, "engine: {}\n", ok.error());
    return nullptr;
  }
  return e;
}

void stop_engine(std::unique_ptr<engine::Engine>& e) {
  if (!e) return;
  e->request_stop();
  e->join();
  e.reset();
}

// The remsim server and a bank daemon (bank 1) in this process, with `slots` slotmaps
// (bank 1 slot n -> client n:0) loaded from a slotmaps file, all ACTIVE before it returns.
struct RemsimSide {
  std::unique_ptr<remsim::RemsimServer> server;
  std::unique_ptr<remsim::Bankd> bankd;
  std::unique_ptr<engine::Engine> server_engine, bankd_engine;
  SocketAddress bankd_at;

  bool start(const fs::path& dir, unsigned slots, std::unique_ptr<remsim::CardBackend> cards,
             unsigned bankd_cores, bool pin) {
    std::string maps;
    for (unsigned n = 0; n < slots; ++n) maps += fmt::format("1 {} {} 0\n", n, n);
    std::ofstream(dir / "slotmaps.txt") << maps;
    remsim::ServerOptions so;
    so.listen = *SocketAddress::parse("127.0.0.1:0");
    so.rest_listen.reset();
    so.slotmaps_path = (dir / "slotmaps.txt").string();
    auto s = remsim::RemsimServer::create(so);
    if (!s) {
      fmt::print(stderr, "remsim server: {}\n", s.error());
      return false;
    }
    server = std::move(*s);
    server_engine = start_engine(1, [this](engine::Reactor& r) { return server->start(r); });
    if (!server_engine) return false;
    remsim::BankdOptions bo;
    bo.server = server->bound_address();
    bo.listen = *SocketAddress::parse("127.0.0.1:0");
    bo.card_retry = 10 * kNanosPerSecond;  // no status polls in the middle of the measurement
    bankd = std::make_unique<remsim::Bankd>(bo, std::move(cards), bankd_cores);
    bankd_engine = start_engine(
        bankd_cores, [this](engine::Reactor& r) { return bankd->start_on_core(r); }, pin);
    if (!bankd_engine) return false;
    bankd_at = *SocketAddress::parse(fmt::format("127.0.0.1:{}", bankd->bound_port()));
    for (int i = 0; i < 1000; ++i) {
      if (bankd->mappings().size() == slots) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    fmt::print(stderr, "only {} of {} mappings reached the bank daemon\n", bankd->mappings().size(),
               slots);
    return false;
  }
  ~RemsimSide() {
    stop_engine(bankd_engine);
    stop_engine(server_engine);
  }
};

// ---------------------------------------------------------------------------------------------
// latency

struct Percentiles {
  double p50_us = 0, p99_us = 0;
};
Percentiles percentiles(const LatencyHistogram& h) {
  return {static_cast<double>(h.quantile_ns(0.5)) / 1000.0,
          static_cast<double>(h.quantile_ns(0.99)) / 1000.0};
}

int run_latency(const Options& o) {
  if (!fs::exists("/usr/sbin/pcscd") || !fs::exists("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")) {
    fmt::print(stderr, "latency: pcscd and vsmartcard-vpcd are needed (scripts/deps.sh)\n");
    return kExitNoPcsc;
  }
  const fs::path dir = fs::temp_directory_path() / fmt::format("cp-remsim-bench-{}", getpid());
  fs::create_directories(dir / "reader.conf.d");
  std::ofstream(dir / "reader.conf.d" / "vpcd")
      << "FRIENDLYNAME \"cellplane bench vpcd\"\n"
      << fmt::format("DEVICENAME /dev/null:0x{:04X}\n", o.vpcd_port)
      << "LIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\n"
      << fmt::format("CHANNELID 0x{:04X}\n", o.vpcd_port);
  const simcard::Contents card = simcard::simulated_contents(1, 0);
  {
    std::ofstream f(dir / "card.txt");
    f << "iccid = " << card.iccid << "\nimsi = " << card.imsi << "\nki = ";
    for (uint8_t b : card.ki) f << fmt::format("{:02x}", b);
    f << "\nopc = ";
    for (uint8_t b : card.opc) f << fmt::format("{:02x}", b);
    f << "\n";
  }
  if (test::foreign_pcscd_running()) {
    fmt::print(stderr,
               "latency: a pcscd this benchmark did not start serves "
               "/run/pcscd/pcscd.comm; stop it first (it is left alone)\n");
    return kExitNoPcsc;
  }
  auto pcscd = std::make_unique<test::Process>(
      std::vector<std::string>{"/usr/sbin/pcscd", "-f", "-c", (dir / "reader.conf.d").string()},
      dir / "pcscd.log");
  auto simcard = std::make_unique<test::Process>(
      std::vector<std::string>{o.simcard, "--card", (dir / "card.txt").string(), "--vpcd",
                               fmt::format("127.0.0.1:{}", o.vpcd_port)},
      dir / "card.log");
  int rc = 0;
  auto cleanup = [&] {
    simcard.reset();
    pcscd.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  };

  // Direct PC/SC: wait for the card.
  SCARDCONTEXT ctx = 0;
  LONG rv = SCARD_E_NO_SERVICE;
  for (int i = 0; i < 100 && rv != SCARD_S_SUCCESS; ++i) {
    rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &ctx);
    if (rv != SCARD_S_SUCCESS) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string reader;
  for (int i = 0; i < 100 && reader.empty(); ++i) {
    char names[1024];
    DWORD len = sizeof names;
    if (rv == SCARD_S_SUCCESS && SCardListReaders(ctx, nullptr, names, &len) == SCARD_S_SUCCESS) {
      SCARDHANDLE h;
      DWORD proto;
      if (SCardConnect(ctx, names, SCARD_SHARE_EXCLUSIVE, SCARD_PROTOCOL_T0, &h, &proto) ==
          SCARD_S_SUCCESS) {
        reader = names;
        SCardDisconnect(h, SCARD_LEAVE_CARD);
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (reader.empty()) {
    std::ifstream pl(dir / "pcscd.log"), cl(dir / "card.log");
    std::stringstream ss;
    ss << pl.rdbuf() << cl.rdbuf();
    fmt::print(stderr, "latency: no card in the vpcd reader ({})\n{}\n", pcsc_stringify_error(rv),
               ss.str());
    cleanup();
    return kExitFailed;
  }

  remsim::PcscOptions po;
  po.readers = {{0, reader}};
  auto backend = remsim::make_pcsc_backend(po);
  RemsimSide side;
  if (!backend || !side.start(dir, 1, std::move(*backend), 1, false)) {
    cleanup();
    return kExitFailed;
  }

  std::vector<double> direct_p50, direct_p99, remsim_p50, remsim_p99, added;
  for (int round = 0; round < o.repeat && rc == 0; ++round) {
    // Direct: connect, the APDUs, disconnect (the card is exclusive).
    LatencyHistogram hd;
    SCARDHANDLE h;
    DWORD proto;
    rv = SCardConnect(ctx, reader.c_str(), SCARD_SHARE_EXCLUSIVE, SCARD_PROTOCOL_T0, &h, &proto);
    if (rv != SCARD_S_SUCCESS) {
      fmt::print(stderr, "latency: SCardConnect: {}\n", pcsc_stringify_error(rv));
      rc = kExitFailed;
      break;
    }
    for (int i = 0; i < o.apdus + 100; ++i) {
      BYTE out[260];
      DWORD out_len = sizeof out;
      const Nanos t0 = mono();
      rv = SCardTransmit(h, SCARD_PCI_T0, reinterpret_cast<const BYTE*>(kSelectMf.data()),
                         kSelectMf.size(), nullptr, out, &out_len);
      if (rv != SCARD_S_SUCCESS || out_len != 2 || out[0] != 0x61) {
        fmt::print(stderr, "latency: direct SELECT failed\n");
        rc = kExitFailed;
        break;
      }
      if (i >= 100) hd.record(static_cast<uint64_t>(mono() - t0));
    }
    SCardDisconnect(h, SCARD_LEAVE_CARD);
    if (rc) break;
    // Through remsim: a client connection to the bank daemon, as cp-remsim-shell makes it.
    LatencyHistogram hr;
    remsim::RsproLink link;
    bool ok = false;
    for (int attempt = 0; attempt < 100 && !ok; ++attempt) {
      if (!link.connect(side.bankd_at)) break;
      rspro::Pdu req;
      req.type = rspro::MsgType::connect_client_req;
      req.identity = {rspro::ComponentType::client, "bench", "cp_remsim_bench", "0", {}};
      req.client_slot = rspro::ClientSlot{0, 0};
      link.send(req);
      auto res = link.receive(5000);
      if (res && *res && (*res)->pdu.result == rspro::ResultCode::ok) {
        auto atr = link.receive(5000);
        ok = atr && *atr && (*atr)->pdu.type == rspro::MsgType::set_atr_req;
      } else {
        link.close();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    if (!ok) {
      fmt::print(stderr, "latency: the bank daemon did not give the card\n");
      rc = kExitFailed;
      break;
    }
    rspro::Pdu tpdu;
    tpdu.type = rspro::MsgType::tpdu_modem_to_card;
    tpdu.client = {0, 0};
    tpdu.bank = {1, 0};
    tpdu.data = kSelectMf;
    for (int i = 0; i < o.apdus + 100; ++i) {
      const Nanos t0 = mono();
      link.send(tpdu);
      auto r = link.receive(5000);
      if (!r || !*r || (*r)->pdu.type != rspro::MsgType::tpdu_card_to_modem ||
          (*r)->pdu.data.size() != 2) {
        fmt::print(stderr, "latency: no TPDU answer through remsim\n");
        rc = kExitFailed;
        break;
      }
      if (i >= 100) hr.record(static_cast<uint64_t>(mono() - t0));
    }
    link.close();  // the bank daemon releases the card
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (rc) break;
    const auto d = percentiles(hd), r = percentiles(hr);
    direct_p50.push_back(d.p50_us);
    direct_p99.push_back(d.p99_us);
    remsim_p50.push_back(r.p50_us);
    remsim_p99.push_back(r.p99_us);
    added.push_back(r.p50_us - d.p50_us);
    fmt::print(
        "latency run {}: direct p50 {:.1f} us p99 {:.1f} us | remsim p50 {:.1f} us p99 "
        "{:.1f} us | added {:.1f} us\n",
        round + 1, d.p50_us, d.p99_us, r.p50_us, r.p99_us, r.p50_us - d.p50_us);
  }
  SCardReleaseContext(ctx);
  if (rc == 0)
    fmt::print(
        "latency (median of {}): SELECT MF direct PC/SC p50 {:.1f} us p99 {:.1f} us; "
        "through remsim p50 {:.1f} us p99 {:.1f} us; added {:.1f} us (target <= 150)\n",
        o.repeat, median(direct_p50), median(direct_p99), median(remsim_p50), median(remsim_p99),
        median(added));
  cleanup();
  return rc;
}

// ---------------------------------------------------------------------------------------------
// throughput

class GenClient;

// One generator reactor's clients and counters. Connections are opened at most kConnecting at a
// time (the io_uring backend keeps a bounded table of connects in flight).
struct GenCore {
  static constexpr size_t kConnecting = 128;
  LatencyHistogram hist;
  std::atomic<uint64_t> answered{0};
  std::atomic<uint32_t> ready{0};
  std::atomic<uint32_t> failed{0};
  std::vector<std::unique_ptr<GenClient>> clients;
  size_t next = 0, connecting = 0;
  SocketAddress target;
  void connect_more(engine::Reactor& r);
};

class GenClient final : public RsproUser {
 public:
  GenClient(GenCore& core, const std::atomic<bool>& measuring, uint16_t slot, bool ceiling)
      : core_(core), measuring_(measuring), slot_(slot), ceiling_(ceiling), conn_(*this, {}) {
    rspro::Pdu tpdu;
    tpdu.type = rspro::MsgType::tpdu_modem_to_card;
    tpdu.client = {slot, 0};
    tpdu.bank = {1, slot};
    tpdu.data = kSelectMf;
    rspro::encode_frame(tpdu, frame_);  // the same TPDU every time: encoded once
  }
  RsproConn& conn() { return conn_; }

  void on_rspro_open(RsproConn& c) override {
    --core_.connecting;
    core_.connect_more(c.connection()->reactor());
    if (ceiling_) {  // an echo peer: no handshake, TPDUs at once
      core_.ready.fetch_add(1);
      send_next(c);
      return;
    }
    rspro::Pdu req;
    req.type = rspro::MsgType::connect_client_req;
    req.identity = {rspro::ComponentType::client, "gen", "cp_remsim_bench", "0", {}};
    req.client_slot = rspro::ClientSlot{slot_, 0};
    c.send(req);
  }
  void on_rspro(RsproConn& c, const rspro::Pdu& p) override {
    switch (p.type) {
      case rspro::MsgType::connect_client_res:
        if (p.result != rspro::ResultCode::ok) core_.failed.fetch_add(1);
        return;
      case rspro::MsgType::set_atr_req: {
        rspro::Pdu res;
        res.type = rspro::MsgType::set_atr_res;
        c.send(res);
        core_.ready.fetch_add(1);
        send_next(c);
        return;
      }
      case rspro::MsgType::tpdu_modem_to_card:  // our own TPDU, back from the echo peer
        if (!ceiling_) return;
        [[fallthrough]];
      case rspro::MsgType::tpdu_card_to_modem:
        if (measuring_.load(std::memory_order_relaxed)) {
          core_.hist.record(static_cast<uint64_t>(c.connection()->reactor().clock().now() - sent_));
          core_.answered.fetch_add(1, std::memory_order_relaxed);
        }
        send_next(c);
        return;
      default:
        return;
    }
  }
  void on_rspro_closed(RsproConn&, engine::CloseReason reason, int error) override {
    if (core_.failed.fetch_add(1) == 0 && reason != engine::CloseReason::shutdown)
      fmt::print(stderr, "throughput: client {} closed: {} ({})\n", slot_,
                 engine::to_string(reason), std::strerror(error));
  }

 private:
  void send_next(RsproConn& c) {
    sent_ = c.connection()->reactor().clock().now();
    c.connection()->send(frame_);
  }

  GenCore& core_;
  const std::atomic<bool>& measuring_;
  uint16_t slot_;
  bool ceiling_;
  RsproConn conn_;
  std::vector<std::byte> frame_;
  Nanos sent_ = 0;
};

void GenCore::connect_more(engine::Reactor& r) {
  while (connecting < kConnecting && next < clients.size()) {
    ++connecting;
    if (!r.connect(target, clients[next++]->conn())) {
      --connecting;
      failed.fetch_add(1);
    }
  }
}

// One measured run of the generator against `target`. The ceiling run's clients skip the RSPRO
// handshake and count their own TPDUs echoed back.
struct RunFigures {
  double rate = 0, p50_us = 0, p99_us = 0, cpu_cores = 0;
};

Result<RunFigures, std::string> measure(const Options& o, const SocketAddress& target,
                                        bool ceiling) {
  std::atomic<bool> measuring{false};
  std::vector<std::unique_ptr<GenCore>> cores;
  for (unsigned i = 0; i < o.generator_cores; ++i) cores.push_back(std::make_unique<GenCore>());
  auto gen = start_engine(
      o.generator_cores,
      [&](engine::Reactor& r) -> Result<void, std::string> {
        GenCore& core = *cores[r.core()];
        core.target = target;
        for (unsigned slot = r.core(); slot < o.slots; slot += o.generator_cores)
          core.clients.push_back(
              std::make_unique<GenClient>(core, measuring, static_cast<uint16_t>(slot), ceiling));
        core.connect_more(r);
        return {};
      },
      o.pin_generator);
  if (!gen) return fail(std::string("generator engine did not start"));
  auto total = [&](auto field) {
    uint64_t n = 0;
    for (auto& c : cores) n += (c.get()->*field).load();
    return n;
  };
  for (int i = 0; i < 1000 && total(&GenCore::ready) + total(&GenCore::failed) < o.slots; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (total(&GenCore::ready) != o.slots) {
    const auto ready = total(&GenCore::ready), failed = total(&GenCore::failed);
    stop_engine(gen);
    return fail(fmt::format("{} of {} clients got their card ({} failed)", ready, o.slots, failed));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // warm up
  measuring = true;
  const Nanos t0 = mono();
  const double cpu0 = self_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  measuring = false;
  const Nanos t1 = mono();
  const double cpu = self_cpu_seconds() - cpu0;
  const uint64_t n = total(&GenCore::answered);
  const uint64_t failed = total(&GenCore::failed);
  stop_engine(gen);  // the histograms are read once their reactors have stopped
  if (failed) return fail(fmt::format("{} client connections failed", failed));
  LatencyHistogram all;
  for (auto& c : cores) all.merge(c->hist);
  const double secs = static_cast<double>(t1 - t0) / 1e9;
  const auto p = percentiles(all);
  return RunFigures{static_cast<double>(n) / secs, p.p50_us, p.p99_us, cpu / secs};
}

int run_throughput(const Options& o) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("cp-remsim-tput-{}", getpid());
  fs::create_directories(dir);
  remsim::SimCardOptions so;
  so.slots = static_cast<uint16_t>(o.slots);
  auto cards = remsim::make_sim_backend(so);
  RemsimSide side;
  const bool started =
      cards && side.start(dir, o.slots, std::move(*cards), o.bankd_cores, o.pin_bankd);
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!started) return kExitFailed;

  // The host's ceiling for this load: the engine's echo service in place of the bank daemon
  // (same reactors, pinned the same way), answering each TPDU frame with itself — no RSPRO, no
  // card. Measured right after each remsim run, so both see the same host.
  engine::EchoService echo;
  std::unique_ptr<engine::Engine> echo_engine;
  SocketAddress echo_at;
  if (o.ceiling) {
    echo_at = *SocketAddress::parse(fmt::format("127.0.0.1:{}", test::free_port()));
    echo_engine = start_engine(
        o.bankd_cores,
        [&](engine::Reactor& r) -> Result<void, std::string> {
          engine::ListenOptions lo;
          lo.steer = true;  // as the bank daemon's listener
          auto bound = r.listen(echo_at, echo, lo);
          if (!bound) return fail("echo " + echo_at.to_string() + ": " + bound.error());
          return {};
        },
        o.pin_bankd);
    if (!echo_engine) return kExitFailed;
  }

  std::vector<double> rates, p50s, p99s, ceilings, ratios;
  for (int round = 0; round < o.repeat; ++round) {
    auto run = measure(o, side.bankd_at, false);
    if (!run) {
      fmt::print(stderr, "throughput: {}\n", run.error());
      return kExitFailed;
    }
    rates.push_back(run->rate);
    p50s.push_back(run->p50_us);
    p99s.push_back(run->p99_us);
    fmt::print(
        "throughput run {}: {:.0f} TPDU/s, p50 {:.1f} us, p99 {:.1f} us ({} slots, "
        "process CPU {:.2f} cores)\n",
        round + 1, run->rate, run->p50_us, run->p99_us, o.slots, run->cpu_cores);
    if (!o.ceiling) continue;
    auto top = measure(o, echo_at, true);
    if (!top) {
      fmt::print(stderr, "throughput ceiling: {}\n", top.error());
      return kExitFailed;
    }
    ceilings.push_back(top->rate);
    ratios.push_back(run->rate / top->rate);
    fmt::print(
        "  ceiling run {}: {:.0f} frames/s echoed by the engine's echo service (remsim at "
        "{:.2f}x it)\n",
        round + 1, top->rate, run->rate / top->rate);
  }
  fmt::print(
      "throughput (median of {}): {:.0f} TPDU/s ({:.2f}x the 200,000/s target), p50 "
      "{:.1f} us, p99 {:.1f} us; {} slots, bank daemon {} reactor(s){}, generator {} "
      "reactor(s)\n",
      o.repeat, median(rates), median(rates) / 200000.0, median(p50s), median(p99s), o.slots,
      o.bankd_cores, o.pin_bankd ? " pinned" : "", o.generator_cores);
  if (o.ceiling)
    fmt::print(
        "ceiling (median of {}): {:.0f} frames/s through the echo service on the same rig; "
        "remsim at {:.2f}x the host's ceiling (median of the per-run ratios)\n",
        o.repeat, median(ceilings), median(ratios));
  stop_engine(echo_engine);
  return 0;
}

}  // namespace
}  // namespace cp::bench

int main(int argc, char** argv) {
  cp::bench::Options o;
  cp::cli::App app{"cp_remsim_bench: remote-SIM APDU latency (real PC/SC) and TPDU throughput"};
  app.option("--modes", o.modes, "latency throughput").show_default();
  app.option("--repeat", o.repeat, "runs of each (medians reported)").range(1, 100).show_default();
  app.option("--apdus", o.apdus, "latency: APDUs per way per run")
      .range(10, 10000000)
      .show_default();
  app.option("--vpcd-port", o.vpcd_port, "latency: the vpcd reader's port").show_default();
  app.option("--simcard", o.simcard, "latency: the cp-simcard program").show_default();
  app.option("--seconds", o.seconds, "throughput: length of each run").positive().show_default();
  app.option("--slots", o.slots, "throughput: mapped slots, one client each")
      .range(1, 1024)
      .show_default();
  app.option("--bankd-cores", o.bankd_cores, "throughput: bank daemon reactors")
      .range(1, 64)
      .show_default();
  app.option("--generator-cores", o.generator_cores, "throughput: generator reactors")
      .range(1, 64)
      .show_default();
  app.option("--pin-generator", o.pin_generator,
             "throughput: pin the generator's reactors to CPUs 0..N-1 (0: the scheduler "
             "places them, and where they connect from decides the steering)")
      .show_default();
  app.option("--pin-bankd", o.pin_bankd,
             "throughput: pin the bank daemon's reactors to CPUs 0..N-1, as cellplaned does")
      .show_default();
  app.option("--ceiling", o.ceiling,
             "throughput: after each run, the same generator against the engine's echo "
             "service (the host's ceiling for this load)")
      .show_default();
  app.option("--fixed-files", o.fixed_files,
             "io_uring: register sockets in each ring's fixed-file table (0: plain fds)")
      .show_default();
  app.option("--steer", o.steer,
             "throughput: pinned reactors take the connections arriving on their CPU "
             "(engine.steer_connections; 0: the kernel's hash alone)")
      .show_default();
  if (const auto status = app.parse(argc, argv)) return *status;
  cp::bench::g_fixed_files = o.fixed_files;
  cp::bench::g_steer = o.steer;
  cp::set_log_level(cp::LogLevel::warn);
  cp::bench::raise_nofile_limit();
  int rc = 0;
  for (const auto& m : o.modes) {
    int r = 0;
    if (m == "latency") {
      r = cp::bench::run_latency(o);
    } else if (m == "throughput") {
      r = cp::bench::run_throughput(o);
    } else {
      fmt::print(stderr, "unknown mode {}\n", m);
      return 2;
    }
    if (r != 0) rc = r;
  }
  return rc;
}
