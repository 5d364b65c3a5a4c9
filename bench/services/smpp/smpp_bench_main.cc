// cp_smpp_bench: the SMPP server under load (docs/BENCHMARKS.md, "SMPP").
//
// The server side is cellplane's: the message store (O_DIRECT, group commit) under --dir, the
// SMSC core and the SMPP server on an engine of --cores reactors, in this process, unless
// --target points at a running server. The load generator is ours too: an io_uring engine
// reactor (not pinned, so it shares the same CPUs) holding --binds transceiver binds, each
// keeping up to --window submit_sm outstanding.
//
//   rate      every bind submits as fast as its window allows for --seconds: durable
//             submit_sm_resp per second (target, issue 5: >= 150,000/s on 2 cores, generator
//             included).
//   latency   the same binds paced at --fraction (default 0.5) of the rate just measured:
//             submit -> submit_sm_resp percentiles (target p99 <= 5 ms).
//   e2e       paced at --e2e-rate, to the bench peer's own numbers: submit -> deliver_sm at the
//             receiving bind, percentiles (the message carries its send time).
// --repeat runs of each; medians. Every submit must be answered ok (anything else exits 1).
//
// Exit codes: 0 done, 1 a functional failure, 2 bad arguments, 77 no usable file system.
#include <linux/magic.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/cli.h"
#include "base/log.h"
#include "bench/common/latency_histogram.h"
#include "bench/common/median.h"
#include "bench/common/process_util.h"
#include "engine/engine.h"
#include "proto/smpp/pdu.h"
#include "services/smpp/server.h"
#include "services/smsc/core.h"
#include "storage/store.h"

namespace cp::bench {
namespace {

namespace fs = std::filesystem;
namespace pdu = proto::smpp;

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNoDisk = 77;

struct Options {
  double seconds = 3;
  int repeat = 5;
  unsigned cores = 2;
  unsigned binds = 8;
  uint32_t window = 256;
  double fraction = 0.5;
  double e2e_rate = 20000;
  std::string dir = "/tmp";
  std::string target;  // host:port of a running server (then no in-process server)
  std::string system_id = "bench";
  std::string password = "bench";
  std::vector<std::string> modes = {"rate", "latency", "e2e", "npm"};
  std::string npm_dir = CP_SMPP_PEERS_DIR;  // tests/peers/smpp (npm smpp installed there)
  double npm_seconds = 3;
  uint32_t prealloc_mib = 1024;
  unsigned npm_clients = 3;
  int generator_nice = 0;
};

Nanos mono() {
  return SystemClock::instance().now();
}

// ---- the load generator -----------------------------------------------------------------------

struct Run {
  // Set by the controller before a phase; read by the generator thread.
  std::atomic<bool> sending{false};
  std::atomic<double> rate{0};  // submits per second over all binds; 0 = as fast as windows allow
  std::atomic<bool> e2e{false};
  // Written by the generator thread only; read after the phase (the controller waits for the
  // generator's quiet flag).
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint32_t> bound{0};
  std::atomic<uint32_t> outstanding{0};
  std::atomic<uint32_t> last_error{0};
  LatencyHistogram resp;  // generator thread; reset/read by the controller while idle
  LatencyHistogram end_to_end;
};

class Generator;

class GenBind final : public engine::ConnectionHandler {
 public:
  GenBind(Generator& g, unsigned index) : gen_(g), index_(index) {}
  void on_open(engine::Connection& c) override;
  size_t on_data(engine::Connection& c, std::span<const std::byte> data) override;
  void on_writable(engine::Connection&) override { pump(); }
  void on_close(engine::Connection&, engine::CloseReason reason, int error) override {
    conn_ = nullptr;
    if (!stopping_)
      std::fprintf(stderr, "bind %u closed: %s %s\n", index_,
                   std::string(engine::to_string(reason)).c_str(), std::strerror(error));
  }
  void pump();
  void stop() {
    stopping_ = true;
    if (conn_) conn_->close();
  }
  bool ready() const { return bound_; }
  uint32_t outstanding() const { return outstanding_; }

 private:
  void send_submit();
  Generator& gen_;
  unsigned index_;
  engine::Connection* conn_ = nullptr;
  bool bound_ = false;
  bool stopping_ = false;
  uint32_t seq_ = 1;
  uint32_t outstanding_ = 0;
  std::vector<Nanos> sent_at_;  // by sequence % size
  uint64_t counter_ = 0;
};

class Generator {
 public:
  Generator(const Options& o, Run& run, SocketAddress target)
      : opt_(o), run_(run), target_(std::move(target)) {}

  void start(engine::Reactor& r) {
    reactor_ = &r;
    for (unsigned i = 0; i < opt_.binds; ++i) binds_.push_back(std::make_unique<GenBind>(*this, i));
    for (auto& b : binds_) r.connect(target_, *b);
    tick_.set_callback(&Generator::on_tick, this);
    r.arm_timer(tick_, kNanosPerMilli);
  }
  void stop() {
    for (auto& b : binds_) b->stop();
  }
  // Paced sending: tokens per bind, topped up every millisecond.
  bool take_token() {
    const double rate = run_.rate.load(std::memory_order_relaxed);
    if (rate <= 0) return true;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }
  const Options& opt() const { return opt_; }
  Run& run() { return run_; }
  engine::Reactor& reactor() { return *reactor_; }

 private:
  static void on_tick(engine::Timer&, void* self) {
    auto* g = static_cast<Generator*>(self);
    const Nanos now = mono();
    const double rate = g->run_.rate.load(std::memory_order_relaxed);
    if (rate > 0 && g->last_tick_ > 0) {
      g->tokens_ = std::min(g->tokens_ + rate * static_cast<double>(now - g->last_tick_) / 1e9,
                            rate / 100 + 1);  // at most 10 ms of burst
    }
    g->last_tick_ = now;
    uint32_t outstanding = 0, bound = 0;
    for (auto& b : g->binds_) {
      b->pump();
      outstanding += b->outstanding();
      bound += b->ready() ? 1 : 0;
    }
    g->run_.outstanding.store(outstanding, std::memory_order_relaxed);
    g->run_.bound.store(bound, std::memory_order_relaxed);
    g->reactor_->arm_timer(g->tick_, kNanosPerMilli);
  }

  const Options& opt_;
  Run& run_;
  SocketAddress target_;
  engine::Reactor* reactor_ = nullptr;
  std::vector<std::unique_ptr<GenBind>> binds_;
  engine::Timer tick_;
  double tokens_ = 0;
  Nanos last_tick_ = 0;
};

void GenBind::on_open(engine::Connection& c) {
  conn_ = &c;
  sent_at_.assign(std::bit_ceil(gen_.opt().window * 4), 0);
  pdu::Bind b;
  b.system_id = gen_.opt().system_id;
  b.password = gen_.opt().password;
  b.interface_version = 0x34;
  const auto bytes = pdu::encode_bind(pdu::cmd::bind_transceiver, seq_++, b);
  c.send(bytes);
}

void GenBind::send_submit() {
  // From one of the bench peer's numbers; to a `local` number (stored = delivered) or, for the
  // end-to-end phase, to another of the peer's numbers (delivered back to these binds). The text
  // carries the send time for the end-to-end latency.
  const bool e2e = gen_.run().e2e.load(std::memory_order_relaxed);
  char src[16], dst[16];
  std::snprintf(src, sizeof src, "1212666%04u", index_ % 10000);
  if (e2e)
    std::snprintf(dst, sizeof dst, "1212666%04u", static_cast<unsigned>(counter_ % 10000));
  else
    std::snprintf(dst, sizeof dst, "12125550102");
  char text[40];
  const int n =
      std::snprintf(text, sizeof text, "t%016llx n%llu", static_cast<unsigned long long>(mono()),
                    static_cast<unsigned long long>(counter_++));
  pdu::ShortMessage m;
  m.source_addr_ton = 1;
  m.source_addr_npi = 1;
  m.source_addr = src;
  m.dest_addr_ton = 1;
  m.dest_addr_npi = 1;
  m.destination_addr = dst;
  m.data_coding = 1;
  m.short_message = std::as_bytes(std::span(text, static_cast<size_t>(n)));
  const uint32_t seq = seq_++;
  if (seq_ > 0x7FFFFFF0) seq_ = 1;
  const auto bytes = pdu::encode_short_message(pdu::cmd::submit_sm, seq, m);
  if (!conn_->send(bytes)) {
    conn_->wait_writable();
    return;
  }
  sent_at_[seq & (sent_at_.size() - 1)] = mono();
  ++outstanding_;
}

void GenBind::pump() {
  if (!conn_ || !bound_ || !gen_.run().sending.load(std::memory_order_relaxed)) return;
  while (outstanding_ < gen_.opt().window && conn_->send_room() > 200 && gen_.take_token())
    send_submit();
}

size_t GenBind::on_data(engine::Connection& c, std::span<const std::byte> data) {
  size_t used = 0;
  Run& run = gen_.run();
  while (true) {
    auto len = pdu::frame_length(data.subspan(used));
    if (!len) {
      std::fprintf(stderr, "bind %u: bad PDU from the server\n", index_);
      c.abort();
      return data.size();
    }
    if (!*len || data.size() - used < **len) break;
    const auto one = data.subspan(used, **len);
    used += **len;
    const auto h = *pdu::decode_header(one);
    if (h.command_id == (pdu::cmd::submit_sm | pdu::cmd::response_bit)) {
      --outstanding_;
      if (h.command_status == pdu::status::ok) {
        run.acked.fetch_add(1, std::memory_order_relaxed);
        const Nanos at = sent_at_[h.sequence & (sent_at_.size() - 1)];
        run.resp.record(static_cast<uint64_t>(mono() - at));
      } else {
        run.errors.fetch_add(1, std::memory_order_relaxed);
        run.last_error.store(h.command_status, std::memory_order_relaxed);
      }
    } else if (h.command_id == pdu::cmd::deliver_sm) {
      auto m = pdu::decode_short_message(one.subspan(pdu::kHeaderBytes));
      if (m && (m->esm_class & 0x04) == 0 && m->short_message.size() >= 17 &&
          static_cast<char>(m->short_message[0]) == 't') {
        uint64_t sent = 0;
        for (size_t i = 1; i < 17; ++i) {
          const char ch = static_cast<char>(m->short_message[i]);
          sent = (sent << 4) | static_cast<uint64_t>(ch <= '9' ? ch - '0' : ch - 'a' + 10);
        }
        run.end_to_end.record(static_cast<uint64_t>(mono() - static_cast<Nanos>(sent)));
        run.delivered.fetch_add(1, std::memory_order_relaxed);
      }
      std::byte resp[pdu::kHeaderBytes + 1];
      const auto r = pdu::encode_message_id_resp(pdu::cmd::deliver_sm | pdu::cmd::response_bit, 0,
                                                 h.sequence, "");
      std::memcpy(resp, r.data(), std::min(r.size(), sizeof resp));
      c.send({resp, r.size()});
    } else if (h.command_id == (pdu::cmd::bind_transceiver | pdu::cmd::response_bit)) {
      if (h.command_status != pdu::status::ok) {
        std::fprintf(stderr, "bind %u refused: status %#x\n", index_, h.command_status);
        c.abort();
        return data.size();
      }
      bound_ = true;
    } else if (h.command_id == pdu::cmd::enquire_link) {
      c.send(
          pdu::encode_header_only(pdu::cmd::enquire_link | pdu::cmd::response_bit, 0, h.sequence));
    }
  }
  pump();
  return used;
}

// ---- the in-process server --------------------------------------------------------------------

constexpr std::string_view kNumbers = "2125550100 gsm smsprov\n2125550102 local\n";

struct Server {
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<smsc::SmscService> smsc;
  std::unique_ptr<smpp::SmppServer> smpp;
  std::unique_ptr<engine::Engine> engine;
};

Result<std::unique_ptr<Server>, std::string> start_server(const Options& o, const fs::path& dir) {
  auto s = std::make_unique<Server>();
  storage::StoreOptions so;
  so.dir = (dir / "pms").string();
  so.cores = o.cores;
  // Zero-filled when the store opens, before any timer: sized for every phase of the run, so
  // the measured figures do not include the store's fill of fresh space (docs/STORAGE.md; a
  // deployment sizes [store] prealloc_mib for its bursts the same way).
  so.shard.prealloc_bytes = size_t{o.prealloc_mib} << 20;
  s->store = std::make_unique<storage::Store>(so);
  auto db = smsc::Numdb::parse(kNumbers, "numbers", "212666* bench\n", "peers");
  if (!db) return fail("numdb: " + db.error());
  smsc::SmscOptions co;
  co.socket_path = (dir / "smsc.sock").string();
  co.peer_window = 256;
  co.max_active_per_core = 1 << 20;
  co.status_reports = false;
  s->smsc = std::make_unique<smsc::SmscService>(co, *s->store, *db, o.cores);
  auto accounts = smpp::Accounts::parse(
      fmt::format("bench system_id={} password={} window={} max_binds=10000 any_source trusted\n",
                  o.system_id, o.password, std::max<uint32_t>(o.window, 1)),
      "bench accounts");
  if (!accounts) return fail(accounts.error());
  smpp::ServerOptions po;
  po.listen = *SocketAddress::parse("127.0.0.1:0");
  po.core_socket = co.socket_path;
  smsc::SmscService* core = s->smsc.get();
  s->smpp = std::make_unique<smpp::SmppServer>(
      po, *accounts, [core] { return core->numdb(); }, o.cores);
  engine::EngineConfig ec;
  ec.cores = o.cores;
  ec.pin_threads = true;
  ec.drain_timeout = 200 * kNanosPerMilli;
  s->engine = std::make_unique<engine::Engine>(ec);
  Server* raw = s.get();
  s->engine->on_each_core([raw](engine::Reactor& r) -> Result<void, std::string> {
    if (auto ok = raw->store->open_on_core(r, SystemClock::instance()); !ok) return ok;
    if (auto ok = raw->smsc->start_on_core(r); !ok) return ok;
    return raw->smpp->start_on_core(r);
  });
  if (auto ok = s->engine->start(); !ok) return fail(ok.error());
  return s;
}

bool disk_usable(const fs::path& dir) {
  struct statfs st {};
  return statfs(dir.c_str(), &st) == 0 && st.f_type != TMPFS_MAGIC;
}

// ---- one npm `smpp` client, against our server and against npm smpp's own server -------------

// Runs `clients` copies of `node load.js` at once against host:port; the sum of the
// submit_sm/s they report, or < 0 on failure.
double npm_load(const Options& o, const std::string& port, unsigned clients = 1) {
  std::vector<FILE*> procs;
  for (unsigned i = 0; i < clients; ++i) {
    const std::string cmd =
        fmt::format("node '{}/load.js' 127.0.0.1 {} '{}' '{}' 1212666{:04} 12125550102 {} 50 2>&1",
                    o.npm_dir, port, o.system_id, o.password, 1 + i, o.npm_seconds);
    if (FILE* p = ::popen(cmd.c_str(), "r")) procs.push_back(p);
  }
  double total = procs.size() == clients ? 0 : -1;
  for (FILE* p : procs) {
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    const int rc = ::pclose(p);
    const size_t at = out.find("\"rate\":");
    if (rc != 0 || at == std::string::npos) {
      std::fprintf(stderr, "  npm load.js failed: %s\n", out.c_str());
      total = -1;
    } else if (total >= 0) {
      total += std::strtod(out.c_str() + at + 7, nullptr);
    }
  }
  return total;
}

// npm smpp's own server (server.js): started once, its port read from its first line.
struct NpmServer {
  pid_t pid = -1;
  std::string port;
  bool start(const Options& o) {
    int fds[2];
    if (::pipe(fds) != 0) return false;
    pid = ::fork();
    if (pid == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      const std::string script = o.npm_dir + "/server.js";
      ::execlp("node", "node", script.c_str(), "0", static_cast<char*>(nullptr));
      _exit(127);
    }
    ::close(fds[1]);
    std::string line;
    char c;
    while (::read(fds[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(fds[0]);
    const size_t at = line.find("\"port\":");
    if (at == std::string::npos) return false;
    port = std::to_string(std::strtoul(line.c_str() + at + 7, nullptr, 10));
    return true;
  }
  ~NpmServer() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

int run_bench(const Options& o) {
  raise_nofile_limit();
  const fs::path dir = fs::path(o.dir) / fmt::format("cp-smpp-bench-{}", ::getpid());
  std::unique_ptr<Server> server;
  SocketAddress target;
  if (o.target.empty()) {
    if (!disk_usable(o.dir)) {
      std::fprintf(stderr, "%s is tmpfs or unusable: O_DIRECT needs a real file system\n",
                   o.dir.c_str());
      return kExitNoDisk;
    }
    fs::create_directories(dir);
    auto s = start_server(o, dir);
    if (!s) {
      std::fprintf(stderr, "server: %s\n", s.error().c_str());
      return kExitFailed;
    }
    server = std::move(*s);
    target = server->smpp->bound_address();
  } else {
    auto t = SocketAddress::parse(o.target);
    if (!t) {
      std::fprintf(stderr, "--target: %s\n", t.error().c_str());
      return kExitUsage;
    }
    target = *t;
  }
  Run run;
  Generator gen(o, run, target);
  engine::EngineConfig gc;
  gc.cores = 1;
  gc.pin_threads = false;
  gc.drain_timeout = 100 * kNanosPerMilli;
  engine::Engine gen_engine(gc);
  gen_engine.on_each_core([&](engine::Reactor& r) -> Result<void, std::string> {
    // The generator shares the server's two CPUs. --generator-nice -10 puts it ahead of the
    // server's threads in the run queue, so it reads each answer when it arrives rather than
    // after a server thread's time slice (docs/BENCHMARKS.md has runs both ways).
    if (o.generator_nice != 0 &&
        ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), o.generator_nice) != 0)
      std::fprintf(stderr, "generator: nice %d refused (%s); latencies include CPU sharing\n",
                   o.generator_nice, std::strerror(errno));
    gen.start(r);
    return {};
  });
  if (auto ok = gen_engine.start(); !ok) {
    std::fprintf(stderr, "generator: %s\n", ok.error().c_str());
    return kExitFailed;
  }
  auto wait_for = [](auto pred, double seconds) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!pred()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  };
  int rc = 0;
  if (!wait_for([&] { return run.bound.load() == o.binds; }, 10)) {
    std::fprintf(stderr, "only %u of %u binds came up\n", run.bound.load(), o.binds);
    rc = kExitFailed;
  }
  // One phase: send for `seconds` at `rate` (0: windows only), then wait for every answer.
  struct Phase {
    double rate_per_s = 0;
    uint64_t acked = 0, errors = 0, delivered = 0;
    LatencyHistogram resp, e2e;
  };
  auto phase = [&](double rate, bool e2e, double seconds) {
    Phase p;
    run.rate.store(rate);
    run.e2e.store(e2e);
    // The histograms belong to the generator thread; reset them while it is idle.
    run.resp.reset();
    run.end_to_end.reset();
    const uint64_t a0 = run.acked.load(), e0 = run.errors.load(), d0 = run.delivered.load();
    const auto t0 = std::chrono::steady_clock::now();
    run.sending.store(true);
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    run.sending.store(false);
    const uint64_t a1 = run.acked.load();
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    wait_for([&] { return run.outstanding.load() == 0; }, 30);
    if (e2e) {
      const uint64_t want = run.acked.load() - a0;
      wait_for([&] { return run.delivered.load() - d0 >= want; }, 30);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the generator's last tick
    p.acked = a1 - a0;
    p.rate_per_s = static_cast<double>(a1 - a0) / elapsed;
    p.errors = run.errors.load() - e0;
    p.delivered = run.delivered.load() - d0;
    p.resp = run.resp;
    p.e2e = run.end_to_end;
    return p;
  };
  auto has = [&](std::string_view m) {
    return std::find(o.modes.begin(), o.modes.end(), m) != o.modes.end();
  };
  std::vector<double> rates, p50s, p99s, e2e50, e2e99, e2erates;
  double max_rate = 0;
  if (rc == 0) {
    std::printf(
        "cp_smpp_bench: %u binds, window %u, %u server core(s)%s, %.1f s per run, %d runs\n",
        o.binds, o.window, o.cores, o.target.empty() ? "" : " (external)", o.seconds, o.repeat);
    phase(0, false, 0.5);  // warm-up
    for (int i = 0; i < o.repeat && rc == 0; ++i) {
      if (has("rate")) {
        Phase p = phase(0, false, o.seconds);
        rates.push_back(p.rate_per_s);
        std::printf("  rate run %d: %.0f submit_sm/s durable (p50 %.2f ms, p99 %.2f ms)\n", i + 1,
                    p.rate_per_s, p.resp.quantile_ns(0.5) / 1e6, p.resp.quantile_ns(0.99) / 1e6);
        if (p.errors) {
          std::fprintf(stderr, "  %llu submits refused (last status %#x)\n",
                       static_cast<unsigned long long>(p.errors), run.last_error.load());
          rc = kExitFailed;
        }
      }
    }
    max_rate = median(rates);
    for (int i = 0; i < o.repeat && rc == 0; ++i) {
      if (has("latency") && max_rate > 0) {
        Phase p = phase(max_rate * o.fraction, false, o.seconds);
        p50s.push_back(p.resp.quantile_ns(0.5) / 1e6);
        p99s.push_back(p.resp.quantile_ns(0.99) / 1e6);
        std::printf(
            "  latency run %d at %.0f/s: achieved %.0f/s, submit->resp p50 %.3f ms, p99 "
            "%.3f ms\n",
            i + 1, max_rate * o.fraction, p.rate_per_s, p50s.back(), p99s.back());
        if (p.errors) rc = kExitFailed;
      }
      if (has("e2e")) {
        Phase p = phase(o.e2e_rate, true, o.seconds);
        e2e50.push_back(p.e2e.quantile_ns(0.5) / 1e6);
        e2e99.push_back(p.e2e.quantile_ns(0.99) / 1e6);
        e2erates.push_back(static_cast<double>(p.delivered) / o.seconds);
        std::printf(
            "  e2e run %d at %.0f/s: %llu delivered, submit->deliver_sm p50 %.3f ms, p99 "
            "%.3f ms\n",
            i + 1, o.e2e_rate, static_cast<unsigned long long>(p.delivered), e2e50.back(),
            e2e99.back());
        if (p.errors || p.delivered < p.acked) {
          std::fprintf(stderr, "  e2e: %llu acked, %llu delivered, %llu errors\n",
                       static_cast<unsigned long long>(p.acked),
                       static_cast<unsigned long long>(p.delivered),
                       static_cast<unsigned long long>(p.errors));
          rc = kExitFailed;
        }
      }
    }
    if (!rates.empty())
      std::printf("median: rate %.0f submit_sm/s (%.2fx the 150,000 target)\n", max_rate,
                  max_rate / 150000);
    if (!p99s.empty())
      std::printf(
          "median: at %.0f%% of it, submit->resp p50 %.3f ms, p99 %.3f ms (%.2fx the 5 ms "
          "target)\n",
          o.fraction * 100, median(p50s), median(p99s), median(p99s) / 5);
    if (!e2e99.empty())
      std::printf("median: e2e at %.0f/s, submit->deliver_sm p50 %.3f ms, p99 %.3f ms\n",
                  o.e2e_rate, median(e2e50), median(e2e99));
  }
  if (rc == 0 && has("npm") && !fs::exists(fs::path(o.npm_dir) / "node_modules" / "smpp")) {
    std::printf("npm: skipped (npm smpp is not installed in %s: scripts/deps.sh installs it)\n",
                o.npm_dir.c_str());
  } else if (rc == 0 && has("npm")) {
    // The generator stays bound but idle; one npm client at a time, window 50, as PEERS.md.
    NpmServer npm_server;
    if (!npm_server.start(o)) {
      std::fprintf(stderr, "npm server.js did not start\n");
      rc = kExitFailed;
    }
    std::vector<double> ours, theirs, ours_n, theirs_n;
    const std::string our_port = std::to_string(target.port());
    for (int i = 0; i < o.repeat && rc == 0; ++i) {
      const double a = npm_load(o, our_port);
      const double b = npm_load(o, npm_server.port);
      // Several clients, as ../shared/PEERS.md loads npm smpp's server (one node client is
      // CPU-bound before either server is).
      const double c = npm_load(o, our_port, o.npm_clients);
      const double d = npm_load(o, npm_server.port, o.npm_clients);
      if (a < 0 || b < 0 || c < 0 || d < 0) {
        rc = kExitFailed;
        break;
      }
      ours.push_back(a);
      theirs.push_back(b);
      ours_n.push_back(c);
      theirs_n.push_back(d);
      std::printf(
          "  npm run %d: one npm smpp client -> cellplane %.0f submit_sm/s (durable), -> "
          "npm smpp server %.0f/s (no persistence); %u clients -> %.0f/s and %.0f/s\n",
          i + 1, a, b, o.npm_clients, c, d);
    }
    if (!ours.empty())
      std::printf(
          "median: one npm smpp client: cellplane %.0f/s, npm smpp's server %.0f/s "
          "(ratio %.2f); %u clients: cellplane %.0f/s, npm smpp's server %.0f/s "
          "(ratio %.2f)\n",
          median(ours), median(theirs), median(ours) / median(theirs), o.npm_clients,
          median(ours_n), median(theirs_n), median(ours_n) / median(theirs_n));
  }
  gen.stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  gen_engine.request_stop();
  gen_engine.join();
  if (server) {
    server->engine->request_stop();
    server->engine->join();
    server.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  return rc;
}

}  // namespace
}  // namespace cp::bench

int main(int argc, char** argv) {
  cp::bench::Options o;
  cp::cli::App app{"cp_smpp_bench: submit_sm/s with durable acknowledgements and latencies"};
  app.option("--seconds", o.seconds, "length of each measured run").positive();
  app.option("--repeat", o.repeat, "runs of each phase (medians reported)").range(1, 100);
  app.option("--cores", o.cores, "server reactors (in-process server)").range(1, 64);
  app.option("--binds", o.binds, "transceiver binds of the generator").range(1, 10000);
  app.option("--window", o.window, "submit_sm outstanding per bind").range(1, 10000);
  app.option("--fraction", o.fraction, "latency phase rate, as a fraction of the measured rate")
      .range(0.01, 1.0);
  app.option("--e2e-rate", o.e2e_rate, "end-to-end phase rate, messages/s").positive();
  app.option("--dir", o.dir, "where the in-process server's message store goes");
  app.option("--generator-nice", o.generator_nice,
             "nice value of the generator thread (0: the same as the server's)")
      .range(-20, 19);
  app.option("--prealloc-mib", o.prealloc_mib,
             "store preallocation per shard, zero-filled at open (before any timer)")
      .range(1, 65536);
  app.option("--target", o.target, "host:port of a running server instead of an in-process one");
  app.option("--system-id", o.system_id, "bind as (with --target)");
  app.option("--password", o.password, "bind password (with --target)");
  app.option("--modes", o.modes, "phases: rate latency e2e npm");
  app.option("--npm-dir", o.npm_dir, "where npm smpp is installed (load.js, server.js)");
  app.option("--npm-clients", o.npm_clients, "npm clients at once in the second npm phase")
      .range(1, 64);
  app.option("--npm-seconds", o.npm_seconds, "length of each npm client run").positive();
  if (const auto status = app.parse(argc, argv)) return *status;
  cp::set_log_level(cp::LogLevel::warn);
  return cp::bench::run_bench(o);
}
