// cp_smsc_bench: the SMSC core (docs/BENCHMARKS.md, "SMSC core").
//
//   submit     cellplane's SMSC service on an engine of --cores reactors with the message store
//              (O_DIRECT, group commit) under --dir; --clients threads (on the same CPUs, not
//              pinned) each keep --window SUBMITs outstanding over the SOCK_SEQPACKET socket,
//              --batch per packet, for --seconds; counted: durable acknowledgements per second
//              and heap allocations per message in the whole process (operator new is counted
//              here). --repeat runs, medians; the target (issue 4) is >= 200,000 messages/s and 0
//              allocations per message. Every run must acknowledge every SUBMIT it sent, ok.
//   admission  admit() + duplicate_key() + shard_for() on a set of varied SUBMITs (routing to
//              the upstream, a downstream peer, GSM and local numbers), ns per message, median of
//              --repeat (target <= 1 µs).
//
// Exit codes: 0 done, 1 a functional failure (a refusal, a lost acknowledgement), 2 bad
// arguments, 77 no usable file system (tmpfs).
#include <linux/magic.h>
#include <sys/vfs.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "base/alloc_counter.h"
#include "base/cli.h"
#include "base/log.h"
#include "bench/common/median.h"
#include "engine/engine.h"
#include "services/smsc/admission.h"
#include "services/smsc/client.h"
#include "services/smsc/core.h"
#include "services/smsc/wire.h"
#include "storage/store.h"

namespace cp::bench {
namespace {

namespace fs = std::filesystem;
using smsc::wire::Status;

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNoDisk = 77;

struct Options {
  std::string mode = "submit";
  double seconds = 3;
  int repeat = 5;
  unsigned cores = 2;
  unsigned clients = 2;
  uint32_t window = 512;
  uint32_t batch = 14;
  std::string dir = "/tmp";
  uint32_t prealloc_mib = 512;
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

constexpr std::string_view kNumbers =
    "2125550100 gsm smsprov\n2125550101 gsm\n2125550102 local\n5000 gsm\n";
constexpr std::string_view kPeers = "212666* acme\n";

// The i-th message of a run: from a provisioned local sender to one of 100,000 destinations
// (upstream NANP numbers; spread over the shards by destination), a distinct text.
void fill_submit(smsc::wire::Submit& s, uint64_t i) {
  storage::SmRecord& r = s.record;
  char dst[16];
  std::snprintf(dst, sizeof dst, "41555%05u", static_cast<unsigned>(i % 100000));
  storage::set_digits(r.dst_written, dst, 0, 1);
  r.message_ref = static_cast<uint16_t>(i);
  std::snprintf(reinterpret_cast<char*>(r.user_data), sizeof r.user_data, "bench %llu",
                static_cast<unsigned long long>(i));
  r.ud_length = static_cast<uint8_t>(std::strlen(reinterpret_cast<char*>(r.user_data)));
}

struct ClientResult {
  uint64_t sent = 0, acked = 0, refused = 0;
  Status first_refusal = Status::ok;
  std::string error;
};

// One client connection: keeps `window` SUBMITs outstanding, `batch` per packet, until `stop`.
void client_loop(const std::string& socket, unsigned id, uint32_t window, uint32_t batch,
                 const std::atomic<bool>& go, const std::atomic<bool>& stop, ClientResult& out) {
  auto c = smsc::SmscClient::connect(socket);
  if (!c) {
    out.error = c.error();
    return;
  }
  smsc::wire::Submit s;
  storage::set_digits(s.record.src, "2125550100", 0, 1);
  s.record.src_class = static_cast<uint8_t>(storage::SmeClass::local);
  s.record.dcs = 0x04;
  std::vector<std::byte> packet(batch * 280 + 16);
  uint64_t next = uint64_t{id} << 40;
  while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
  while (true) {
    const bool stopping = stop.load(std::memory_order_relaxed);
    uint64_t outstanding = out.sent - out.acked - out.refused;
    if (!stopping && outstanding + batch <= window) {
      size_t used = 0;
      for (uint32_t k = 0; k < batch; ++k) {
        fill_submit(s, next);
        used += smsc::wire::encode_submit({packet.data() + used, packet.size() - used}, next, s);
        ++next;
      }
      if (auto ok = c->send_packet({packet.data(), used}); !ok) {
        out.error = ok.error();
        return;
      }
      out.sent += batch;
      continue;
    }
    if (outstanding == 0) return;
    auto m = c->receive(10000);
    if (!m) {
      out.error = m.error();
      return;
    }
    if (m->header.status == Status::ok) {
      ++out.acked;
    } else {
      if (out.refused == 0) out.first_refusal = m->header.status;
      ++out.refused;
    }
  }
}

int run_submit(const Options& o) {
  struct statfs sfs {};
  if (::statfs(o.dir.c_str(), &sfs) == 0 && sfs.f_type == TMPFS_MAGIC) {
    std::fprintf(stderr, "cp_smsc_bench: %s is tmpfs (no O_DIRECT); use --dir on a disk\n",
                 o.dir.c_str());
    return kExitNoDisk;
  }
  std::printf(
      "cp_smsc_bench submit: %u cores (io_uring, reactors pinned), %u client threads (not "
      "pinned) x window %u, %u SUBMITs per packet, %.1f s per run, %d runs, store under %s\n",
      o.cores, o.clients, o.window, o.batch, o.seconds, o.repeat, o.dir.c_str());
  std::vector<double> rates, allocs;
  bool failed = false;
  for (int run = 0; run < o.repeat && !failed; ++run) {
    std::string root = o.dir + "/cp-smsc-bench-XXXXXX";
    if (!::mkdtemp(root.data())) {
      std::perror("mkdtemp");
      return kExitFailed;
    }
    uint64_t sent = 0, acked = 0, refused = 0;
    double rate = 0, per_msg = 0;
    uint64_t window_allocs = 0;
    {
      storage::StoreOptions so;
      so.dir = root + "/pms";
      so.cores = o.cores;
      so.shard.prealloc_bytes = uint64_t{o.prealloc_mib} << 20;
      storage::Store store(so);
      smsc::SmscOptions opt;
      opt.socket_path = root + "/smsc.sock";
      opt.max_active_per_core = 1 << 22;  // nothing is delivered: every message stays active
      opt.requests_in_flight_max = 1 << 16;
      auto db = smsc::Numdb::parse(kNumbers, "numbers", kPeers, "peers");
      smsc::SmscService service(opt, store, *db, o.cores);
      engine::EngineConfig ec;
      ec.cores = o.cores;
      ec.pin_threads = true;
      ec.backend = engine::IoBackendKind::io_uring;
      ec.reactor.tx_buffer_bytes = 1 << 20;  // room for a window of answers per connection
      engine::Engine engine(ec);
      engine.on_each_core([&](engine::Reactor& r) -> Result<void, std::string> {
        if (auto ok = store.open_on_core(r, SystemClock::instance()); !ok) return ok;
        return service.start_on_core(r);
      });
      if (auto ok = engine.start(); !ok) {
        std::fprintf(stderr, "cp_smsc_bench: %s\n", ok.error().c_str());
        return kExitFailed;
      }
      std::atomic<bool> go{false}, stop{false};
      std::vector<ClientResult> results(o.clients);
      std::vector<std::thread> threads;
      for (unsigned k = 0; k < o.clients; ++k)
        threads.emplace_back(client_loop, opt.socket_path, k, o.window, o.batch, std::cref(go),
                             std::cref(stop), std::ref(results[k]));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // connected
      // Warm-up (tables touched, rings and buffers in use), then the measured window.
      go.store(true, std::memory_order_release);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      const uint64_t acked0 = service.stats().submits.load();
      const uint64_t alloc0 = heap_allocations();
      const double t0 = now_s();
      std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
      const uint64_t acked1 = service.stats().submits.load();
      const uint64_t alloc1 = heap_allocations();
      const double t1 = now_s();
      stop.store(true);
      for (auto& t : threads) t.join();
      engine.request_stop();
      engine.join();
      for (const auto& r : results) {
        sent += r.sent;
        acked += r.acked;
        refused += r.refused;
        if (!r.error.empty()) {
          std::fprintf(stderr, "cp_smsc_bench: client: %s\n", r.error.c_str());
          failed = true;
        }
        if (r.refused)
          std::fprintf(stderr, "cp_smsc_bench: %llu refused, first: %s\n",
                       static_cast<unsigned long long>(r.refused),
                       std::string(smsc::wire::to_string(r.first_refusal)).c_str());
      }
      rate = static_cast<double>(acked1 - acked0) / (t1 - t0);
      window_allocs = alloc1 - alloc0;
      per_msg = acked1 > acked0
                    ? static_cast<double>(alloc1 - alloc0) / static_cast<double>(acked1 - acked0)
                    : 0;
    }
    std::error_code ec;
    fs::remove_all(root, ec);
    if (refused > 0 || sent != acked) {
      std::fprintf(stderr, "cp_smsc_bench: run %d: sent %llu, acknowledged %llu, refused %llu\n",
                   run + 1, static_cast<unsigned long long>(sent),
                   static_cast<unsigned long long>(acked),
                   static_cast<unsigned long long>(refused));
      failed = true;
    }
    std::printf(
        "  run %d: %.0f durable messages/s, %llu heap allocations in the measured window (%.6f "
        "per message), %llu sent\n",
        run + 1, rate, static_cast<unsigned long long>(window_allocs), per_msg,
        static_cast<unsigned long long>(sent));
    std::fflush(stdout);
    rates.push_back(rate);
    allocs.push_back(per_msg);
  }
  const double r = median(rates);
  std::printf(
      "median of %zu: %.0f durable messages/s (%.2fx the 200,000/s target), %.6f heap "
      "allocations per message (process-wide)\n",
      rates.size(), r, r / 200000.0, median(allocs));
  return failed ? kExitFailed : 0;
}

int run_admission(const Options& o) {
  auto db = smsc::Numdb::parse(kNumbers, "numbers", kPeers, "peers");
  if (!db) return kExitFailed;
  std::vector<smsc::wire::Submit> in(4096);
  const char* dsts[] = {"4155550199", "2126660100", "12125550101", "+447700900123", "2125550102"};
  for (size_t i = 0; i < in.size(); ++i) {
    storage::SmRecord& r = in[i].record;
    std::string d = dsts[i % 5];
    uint8_t ton = 0;
    if (d[0] == '+') {
      ton = 1;
      d.erase(0, 1);
    }
    storage::set_digits(r.src, "2125550100", 0, 1);
    storage::set_digits(r.dst_written, d, ton, 1);
    r.dcs = 0;
    r.ud_length = 20;
    std::memset(r.user_data, 'a' + static_cast<int>(i % 26), 18);
    r.message_ref = static_cast<uint16_t>(i);
  }
  smsc::AdmissionConfig cfg;
  storage::SmRecord out;
  std::vector<double> ns;
  uint64_t sink = 0;
  const uint64_t iterations = 2'000'000;
  for (int rep = 0; rep < o.repeat; ++rep) {
    const uint64_t a0 = heap_allocations();
    const double t0 = now_s();
    for (uint64_t k = 0; k < iterations; ++k) {
      const auto& s = in[k & (in.size() - 1)];
      auto a = smsc::admit(**db, cfg, s, 1'800'000'000'000'000'000, out);
      if (!a) return kExitFailed;
      sink += smsc::duplicate_key(out) + smsc::shard_for(a->routed_digits, 2);
    }
    const double t1 = now_s();
    ns.push_back((t1 - t0) * 1e9 / static_cast<double>(iterations));
    std::printf("  run %d: %.1f ns per message, %.3f heap allocations per message\n", rep + 1,
                ns.back(),
                static_cast<double>(heap_allocations() - a0) / static_cast<double>(iterations));
  }
  std::printf("median of %zu: %.1f ns per message (target <= 1000 ns: %.1f%% of it) [%llu]\n",
              ns.size(), median(ns), median(ns) / 10.0, static_cast<unsigned long long>(sink & 1));
  return 0;
}

}  // namespace
}  // namespace cp::bench

int main(int argc, char** argv) {
  cp::bench::Options o;
  cp::cli::App app{"cp_smsc_bench: the SMSC core's submit throughput and admission cost"};
  app.option("mode", o.mode, "submit (default) or admission").one_of({"submit", "admission"});
  app.option("--seconds", o.seconds, "measured length of each run (default 3)").range(0.05, 600.0);
  app.option("--repeat", o.repeat, "runs (default 5)").range(1, 100);
  app.option("--cores", o.cores, "reactor cores (default 2)").range(1u, 64u);
  app.option("--clients", o.clients, "client threads (default 2)").range(1u, 64u);
  app.option("--window", o.window, "SUBMITs outstanding per client (default 512)")
      .range(1u, 65536u);
  app.option("--batch", o.batch, "SUBMITs per packet (default 14: 4 KiB)").range(1u, 14u);
  app.option("--dir", o.dir, "where the store goes (a disk, not tmpfs; default /tmp)");
  app.option("--prealloc-mib", o.prealloc_mib,
             "each shard's zero-filled preallocation, written before the timer (default 512)")
      .range(1u, 65536u);
  if (const auto status = app.parse(argc, argv)) return *status == 0 ? 0 : cp::bench::kExitUsage;
  if (o.window < o.batch) o.window = o.batch;
  cp::set_log_level(cp::LogLevel::warn);
  return o.mode == "admission" ? cp::bench::run_admission(o) : cp::bench::run_submit(o);
}
