// cp_store_bench: the persistent message store against the disk it runs on (docs/BENCHMARKS.md,
// "Message store"). Two modes:
//
//   commit (default)  durable records/s and commit latency, for every batch size in --batches and
//                     shard count in --shards, of
//                       raw: one pinned thread per shard, each with its own preallocated,
//                            zero-filled O_DIRECT file: pwrite the blocks a batch of B 256-byte
//                            records covers at the advancing offset, then fdatasync (the disk's
//                            own limit for this access pattern), and
//                       pms: storage::Store on an engine::Engine with one reactor per shard; a
//                            Loader poller per core appends B records and waits for their B acks
//                            (the store's poller starts the group commit at the end of the turn).
//                     Runs alternate raw, pms, raw, pms, ... (--repeat of each); the table shows
//                     the medians and the ratios against the targets (rec/s >= 0.8x raw,
//                     p99 <= 2x raw), informational only: a miss never fails the run.
//   recovery          start-up time of a shard of --records records (10 million by default) with
//                     a 1 MiB active tail: Shard::open_dir() with historical-mb in place, page
//                     cache dropped, --repeat times (target <= 200 ms); and once without
//                     historical-mb (the full scan it saves).
//
// Preallocation (--pms-prealloc): the raw side writes into a file zero-filled before its timer
// starts; by default ("run") the store gets the same: its preallocation is sized to what the raw
// run just before it wrote (x 2.5 + 64 MiB) and zero-filled when the store opens, before the
// timer. "default" keeps the store's own 64 MiB, so the run also pays for zero-filling everything
// it appends beyond that (every byte written twice: at large batches that halves the rate — the
// figure a deployment sees if it sizes [store] prealloc_mib below its peak traffic); a number
// fixes it in MiB. Diagnostics: --only raw|pms runs one side (for perf).
//
// Files go to a fresh directory under --dir (default /tmp), never tmpfs (O_DIRECT), removed
// afterwards (recovery: unless --keep). Exit codes: 0 done, 1 a functional failure (an I/O error,
// a refused append, a wrong recovery), 2 bad arguments, 77 no usable file system (tmpfs).
#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/cli.h"
#include "base/clock.h"
#include "base/log.h"
#include "bench/common/latency_histogram.h"
#include "bench/common/median.h"
#include "bench/common/process_util.h"
#include "engine/engine.h"
#include "storage/record.h"
#include "storage/shard.h"
#include "storage/shard_io.h"
#include "storage/store.h"

namespace cp::bench {
namespace {

namespace fs = std::filesystem;
using storage::kBlockBytes;
using storage::kRecordBytes;
using storage::SmRecord;

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitSkip = 77;
constexpr double kRateTarget = 0.8;  // pms rec/s >= 0.8 x raw
constexpr double kP99Target = 2.0;   // pms p99 <= 2 x raw p99
constexpr double kRecoveryTargetMs = 200;
constexpr uint64_t kActiveTailRecords = storage::kRecordsPerMiB;  // the 1 MiB active tail
constexpr size_t kBuildChunkBytes = 4 << 20;
constexpr int64_t kT0 = 1'764'000'000'000'000'000;  // 2025-11-24T16:00:00Z

struct Options {
  std::string mode = "commit";
  std::vector<uint32_t> batches{1, 16, 64, 256, 1024};
  std::vector<unsigned> shards{1, 2};
  double seconds = 3;
  int repeat = 5;
  std::string dir;
  std::string backend = "io_uring";
  engine::IoBackendKind backend_kind = engine::IoBackendKind::io_uring;
  std::string json;
  uint64_t records = 10'000'000;
  bool keep = false;
  bool full_scan = true;
  bool verbose = false;
  std::string only;                  // "raw" or "pms": run one side only (profiling)
  std::string pms_prealloc = "run";  // "run", "default" or MiB
  uint32_t pipeline = 2;             // batches a pms loader keeps outstanding
  std::string raw_sync = "fdatasync";
};

Nanos now_ns() {
  return read_clock(CLOCK_MONOTONIC);
}

uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

std::string with_commas(double value) {
  std::string digits = std::to_string(static_cast<long long>(value + 0.5));
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3)
    digits.insert(static_cast<size_t>(i), ",");
  return digits;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string json_array(const std::vector<double>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.3f", i ? ", " : "", v[i]);
    out += buf;
  }
  return out + "]";
}

// A filled record: every address, an IMSI and 140 octets of user data. `active` false makes it
// a message stored as already delivered (what the commit benchmark appends: its block images
// leave memory once written, as a store in steady state keeps only its active messages there).
SmRecord model_record(bool active) {
  SmRecord r;
  r.time_expiry_ns = kT0 + 86'400 * kNanosPerSecond;
  r.message_ref = 42;
  r.src_class = static_cast<uint8_t>(storage::SmeClass::gsm);
  r.dst_class = static_cast<uint8_t>(storage::SmeClass::upstream);
  r.dst_peer = 3;
  r.dcs = 0x00;
  storage::set_digits(r.src, "15551230001", 1, 1);
  storage::set_digits(r.dst_written, "5551230002", 0, 1);
  storage::set_digits(r.dst_routed, "15551230002", 1, 1);
  storage::set_imsi(r, "001010123456789");
  r.ud_length = 160;  // septets: 140 octets of GSM 7-bit
  for (size_t i = 0; i < storage::kUserDataBytesMax; ++i)
    r.user_data[i] = static_cast<uint8_t>(i * 7 + 1);
  if (!active) {
    r.state = static_cast<uint8_t>(storage::RecordState::historical);
    r.disposition = static_cast<uint8_t>(storage::Disposition::stored_only);
  }
  return r;
}

// ---- the scratch directory -----------------------------------------------------------------

// A fresh directory under `parent` (or /tmp) on a file system that takes O_DIRECT.
struct Scratch {
  std::string root;
  int error_code = 0;
  std::string error;
};

Scratch make_scratch(const std::string& parent_opt) {
  Scratch s;
  const std::string parent = parent_opt.empty() ? "/tmp" : parent_opt;
  std::error_code ec;
  fs::create_directories(parent, ec);
  struct statfs sfs {};
  if (::statfs(parent.c_str(), &sfs) != 0) {
    s.error_code = kExitUsage;
    s.error = parent + ": " + std::strerror(errno);
    return s;
  }
  if (sfs.f_type == TMPFS_MAGIC) {
    s.error_code = kExitSkip;
    s.error = parent +
              " is on tmpfs: no O_DIRECT and no disk behind it, so nothing here would measure the "
              "store. Pass --dir on a disk file system (ext4, xfs, ...).";
    return s;
  }
  std::string tmpl = parent + "/cp-store-bench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    s.error_code = kExitUsage;
    s.error = tmpl + ": mkdtemp: " + std::strerror(errno);
    return s;
  }
  s.root = tmpl;
  return s;
}

// Removes `path` and waits until the file system has forgotten it (with -o discard, the freed
// extents are discarded at the next journal commit: let that happen now, not inside a run).
void remove_and_settle(const std::string& path, const std::string& root) {
  std::error_code ec;
  fs::remove_all(path, ec);
  const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::syncfs(fd);
    ::close(fd);
  }
}

// ---- commit: one run -----------------------------------------------------------------------

struct WorkerResult {
  LatencyHistogram hist;  // batch latency
  uint64_t records = 0;
  uint64_t commits = 0;
  Nanos start = 0;
  Nanos end = 0;
  std::string error;
};

struct RunResult {
  double records_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  double max_us = 0;
  std::string error;
  // pms only: what the shards did (sums over shards).
  uint64_t commits = 0;
  uint64_t blocks_written = 0;   // dirty blocks carried by commits
  uint64_t zero_fill_bytes = 0;  // preallocation extended inside commits
  uint64_t records = 0;
  double store_commit_p50_us = 0;  // the shard's own commit latency (max over shards)
  double store_commit_p99_us = 0;
};

RunResult summarize(std::vector<std::unique_ptr<WorkerResult>>& workers) {
  RunResult r;
  LatencyHistogram all;
  for (auto& w : workers) {
    if (!w->error.empty() && r.error.empty()) r.error = w->error;
    all.merge(w->hist);
    r.records += w->records;
    r.commits += w->commits;
    if (w->end > w->start)
      r.records_per_s +=
          static_cast<double>(w->records) * 1e9 / static_cast<double>(w->end - w->start);
  }
  r.p50_us = static_cast<double>(all.quantile_ns(0.5)) / 1e3;
  r.p99_us = static_cast<double>(all.quantile_ns(0.99)) / 1e3;
  r.max_us = static_cast<double>(all.max_ns()) / 1e3;
  return r;
}

// Writes `bytes` of zeros to a new file with O_DIRECT, 4 MiB at a time, each chunk made durable
// (what Shard::preallocate_sync does), and returns the open descriptor.
int create_preallocated(const std::string& path, uint64_t bytes, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0640);
  if (fd < 0) {
    error = path + ": open O_DIRECT: " + std::strerror(errno);
    return -1;
  }
  const storage::AlignedBuffer zeros = storage::make_aligned(kBuildChunkBytes);
  for (uint64_t at = 0; at < bytes;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kBuildChunkBytes, bytes - at));
    if (::pwrite(fd, zeros.get(), n, static_cast<off_t>(at)) != static_cast<ssize_t>(n) ||
        ::fdatasync(fd) != 0) {
      error = path + ": preallocate: " + std::strerror(errno);
      ::close(fd);
      return -1;
    }
    at += n;
  }
  return fd;
}

// The raw baseline's closed loop on one file: the blocks a batch covers (the partial tail block
// rewritten, as the store does), one fdatasync, repeat; wraps to the start near the end of the
// preallocated region, so every write is a pure overwrite.
// --raw-sync dsync: each batch is one pwritev2(RWF_DSYNC) instead of pwrite + fdatasync (the
// mechanism the store itself uses for a commit of one contiguous run).
bool g_raw_dsync = false;

void raw_loop(int fd, uint64_t file_bytes, uint32_t batch, Nanos duration, WorkerResult& out) {
  const uint64_t batch_bytes = uint64_t{batch} * kRecordBytes;
  const size_t buffer_bytes = static_cast<size_t>(align_up(batch_bytes, kBlockBytes) + kBlockBytes);
  storage::AlignedBuffer buffer = storage::make_aligned(buffer_bytes);
  SmRecord r = model_record(false);
  for (size_t i = 0; i < buffer_bytes / kRecordBytes; ++i) {
    r.message_id = i;
    storage::seal(r);
    std::memcpy(buffer.get() + i * kRecordBytes, &r, kRecordBytes);
  }
  uint64_t offset = 0;
  out.start = now_ns();
  const Nanos deadline = out.start + duration;
  for (;;) {
    uint64_t first = offset / kBlockBytes * kBlockBytes;
    uint64_t end = align_up(offset + batch_bytes, kBlockBytes);
    if (end > file_bytes) {
      offset = 0;
      first = 0;
      end = align_up(batch_bytes, kBlockBytes);
    }
    const Nanos t0 = now_ns();
    for (uint64_t done = 0; done < end - first;) {
      const iovec iov{buffer.get() + done, static_cast<size_t>(end - first - done)};
      const ssize_t n =
          ::pwritev2(fd, &iov, 1, static_cast<off_t>(first + done), g_raw_dsync ? RWF_DSYNC : 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        out.error = std::string("raw pwrite: ") + (n < 0 ? std::strerror(errno) : "no progress");
        out.end = now_ns();
        return;
      }
      done += static_cast<uint64_t>(n);
    }
    if (!g_raw_dsync && ::fdatasync(fd) != 0) {
      out.error = std::string("raw fdatasync: ") + std::strerror(errno);
      out.end = now_ns();
      return;
    }
    const Nanos t1 = now_ns();
    out.hist.record(static_cast<uint64_t>(t1 - t0));
    out.records += batch;
    ++out.commits;
    offset += batch_bytes;
    if (t1 >= deadline) {
      out.end = t1;
      return;
    }
  }
}

RunResult run_raw(const std::string& run_dir, unsigned shards, uint32_t batch, Nanos duration,
                  uint64_t prealloc_bytes) {
  RunResult result;
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  std::vector<int> fds;
  for (unsigned i = 0; i < shards; ++i) {
    const int fd = create_preallocated(run_dir + "/raw-" + std::to_string(i) + ".bin",
                                       prealloc_bytes, result.error);
    if (fd < 0) break;
    fds.push_back(fd);
  }
  if (fds.size() == shards) {
    std::vector<std::unique_ptr<WorkerResult>> workers;
    for (unsigned i = 0; i < shards; ++i) workers.push_back(std::make_unique<WorkerResult>());
    const auto cpus = std::max(1u, std::thread::hardware_concurrency());
    std::latch ready(static_cast<std::ptrdiff_t>(shards));
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < shards; ++i) {
      threads.emplace_back([&, i] {
        pin_thread_to_cpu(static_cast<int>(i % cpus));
        ready.arrive_and_wait();
        raw_loop(fds[i], prealloc_bytes, batch, duration, *workers[i]);
      });
    }
    for (auto& t : threads) t.join();
    result = summarize(workers);
  }
  for (int fd : fds) ::close(fd);
  return result;
}

// Appends batches of `batch` records with up to `depth` batches outstanding, until `duration`
// has passed since its first append. Depth 1 is a closed loop (append, wait for every ack,
// repeat); depth 2 appends the next batch while the previous one's commit is in flight — what
// a busy daemon does, and what group commit is for — but never while a batch still waits to be
// committed, so each commit carries exactly one batch: the batch size compared with raw. A batch's
// latency runs from its first append to its last acknowledgement. Registered before the store's
// poller, so the group commit starts in the same loop turn as the appends.
class Loader final : public engine::Poller {
 public:
  Loader(storage::Store& store, unsigned core, uint32_t batch, uint32_t depth, Nanos duration)
      : store_(store),
        core_(core),
        batch_(batch),
        depth_(depth),
        duration_(duration),
        model_(model_record(false)) {}

  bool poll() override {
    if (done_ || !go.load(std::memory_order_acquire)) return false;
    if (failed_ > 0) {
      result.error = std::to_string(failed_) + " appends failed to commit";
      return finish(now_ns());
    }
    const Nanos t = now_ns();
    if (result.start == 0) {
      result.start = t;
      deadline_ = t + duration_;
    }
    if (t >= deadline_) {
      if (open_batches_ == 0) return finish(last_ack_ ? last_ack_ : t);
      return false;
    }
    if (open_batches_ >= depth_) return false;
    storage::Shard* shard = store_.primary(core_);
    // The previous batch is not committed yet: appending now would merge two batches into one
    // commit. Wait a turn (the store's poller commits it right after this one).
    if (shard->has_dirty()) return false;
    for (uint32_t i = 0; i < batch_; ++i) {
      SmRecord r = model_;
      const auto index = shard->append(r, &Loader::on_ack, this);
      if (!index) {
        result.error = "append refused: " + std::string(storage::to_string(index.error()));
        return finish(now_ns());
      }
    }
    starts_[(first_batch_ + open_batches_) % kDepthMax] = t;
    ++open_batches_;
    return true;
  }
  bool has_work() const override {
    if (done_ || !go.load(std::memory_order_acquire)) return false;
    return open_batches_ < depth_ || (open_batches_ == 0 && deadline_ != 0);
  }

  static constexpr uint32_t kDepthMax = 8;
  std::atomic<bool> go{false};
  std::atomic<bool> finished{false};
  WorkerResult result;

 private:
  static void on_ack(void* ctx, uint64_t, int32_t status) {
    auto* self = static_cast<Loader*>(ctx);
    if (status != 0) ++self->failed_;
    if (++self->acked_in_batch_ < self->batch_) return;
    // The oldest open batch is durable (acknowledgements come in append order).
    self->acked_in_batch_ = 0;
    self->last_ack_ = now_ns();
    self->result.hist.record(
        static_cast<uint64_t>(self->last_ack_ - self->starts_[self->first_batch_]));
    self->result.records += self->batch_;
    ++self->result.commits;
    self->first_batch_ = (self->first_batch_ + 1) % kDepthMax;
    --self->open_batches_;
  }
  bool finish(Nanos at) {
    result.end = at;
    done_ = true;
    finished.store(true, std::memory_order_release);
    return false;
  }

  storage::Store& store_;
  unsigned core_;
  uint32_t batch_;
  uint32_t depth_;
  Nanos duration_;
  SmRecord model_;
  Nanos starts_[kDepthMax] = {};
  uint32_t first_batch_ = 0;
  uint32_t open_batches_ = 0;
  uint32_t acked_in_batch_ = 0;
  uint64_t failed_ = 0;
  bool done_ = false;
  Nanos last_ack_ = 0;
  Nanos deadline_ = 0;
};

RunResult run_pms(const std::string& run_dir, unsigned shards, uint32_t batch, uint32_t depth,
                  Nanos duration, engine::IoBackendKind kind, uint64_t prealloc_mib) {
  RunResult result;
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  storage::StoreOptions so;
  so.dir = run_dir;
  so.cores = shards;  // shard options: the defaults (64 MiB preallocated, 4 MiB batches)
  if (prealloc_mib > 0) so.shard.prealloc_bytes = prealloc_mib << 20;
  storage::Store store(so);
  std::vector<std::unique_ptr<Loader>> loaders;
  for (unsigned c = 0; c < shards; ++c)
    loaders.push_back(std::make_unique<Loader>(store, c, batch, depth, duration));
  engine::EngineConfig ec_config;
  ec_config.cores = shards;
  ec_config.pin_threads = true;
  ec_config.backend = kind;
  engine::Engine engine(ec_config);
  engine.on_each_core([&](engine::Reactor& r) -> Result<void, std::string> {
    r.add_poller(*loaders[r.core()]);
    return store.open_on_core(r, SystemClock::instance());
  });
  if (auto ok = engine.start(); !ok) {
    result.error = "engine start: " + ok.error();
    return result;
  }
  std::vector<uint64_t> file_bytes_before;
  for (const auto& view : store.shards())
    file_bytes_before.push_back(view.stats->file_bytes.load(std::memory_order_relaxed));
  for (unsigned c = 0; c < shards; ++c) {
    loaders[c]->go.store(true, std::memory_order_release);
    engine.reactor(c).notify();
  }
  const Nanos give_up = now_ns() + duration + 120 * kNanosPerSecond;
  auto all_finished = [&] {
    for (auto& l : loaders)
      if (!l->finished.load(std::memory_order_acquire)) return false;
    return true;
  };
  while (!all_finished() && now_ns() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const bool timed_out = !all_finished();
  engine.request_stop();
  engine.join();
  std::vector<std::unique_ptr<WorkerResult>> workers;
  for (auto& l : loaders) workers.push_back(std::make_unique<WorkerResult>(l->result));
  result = summarize(workers);
  if (timed_out && result.error.empty()) result.error = "the loaders did not finish in time";
  result.commits = 0;  // the shards' own count (the same in a closed loop)
  const auto views = store.shards();
  for (size_t i = 0; i < views.size(); ++i) {
    const storage::ShardStats& st = *views[i].stats;
    result.commits += st.commits.load(std::memory_order_relaxed);
    result.blocks_written += st.blocks_written.load(std::memory_order_relaxed);
    if (i < file_bytes_before.size())
      result.zero_fill_bytes +=
          st.file_bytes.load(std::memory_order_relaxed) - file_bytes_before[i];
    result.store_commit_p50_us = std::max(
        result.store_commit_p50_us, static_cast<double>(st.commit_latency.quantile(0.5)) / 1e3);
    result.store_commit_p99_us = std::max(
        result.store_commit_p99_us, static_cast<double>(st.commit_latency.quantile(0.99)) / 1e3);
    if (st.commit_errors.load(std::memory_order_relaxed) > 0 && result.error.empty())
      result.error = "shard " + std::to_string(views[i].id) + ": a commit failed";
  }
  return result;
}

// ---- commit: the table ---------------------------------------------------------------------

struct Cell {
  unsigned shards = 0;
  uint32_t batch = 0;
  std::vector<RunResult> raw;
  std::vector<RunResult> pms;         // pipelined (--pipeline): the durable record rate
  std::vector<RunResult> pms_closed;  // closed loop (pipeline 1): the commit latency
};

template <typename F>
std::vector<double> pick(const std::vector<RunResult>& runs, F f) {
  std::vector<double> out;
  for (const auto& r : runs) out.push_back(f(r));
  return out;
}

struct CellSummary {
  double raw_rate, pms_rate, rate_ratio, raw_p50, raw_p99, pms_p50, pms_p99, p99_ratio;
};

CellSummary summarize_cell(const Cell& c) {
  CellSummary s{};
  s.raw_rate = median(pick(c.raw, [](const RunResult& r) { return r.records_per_s; }));
  s.pms_rate = median(pick(c.pms, [](const RunResult& r) { return r.records_per_s; }));
  s.raw_p50 = median(pick(c.raw, [](const RunResult& r) { return r.p50_us; }));
  s.raw_p99 = median(pick(c.raw, [](const RunResult& r) { return r.p99_us; }));
  // Latency is the submitter's wait for its own batch: taken from the closed-loop runs, where
  // no batch queues behind another (pipelined runs add the previous commit's remainder).
  const auto& lat = c.pms_closed.empty() ? c.pms : c.pms_closed;
  s.pms_p50 = median(pick(lat, [](const RunResult& r) { return r.p50_us; }));
  s.pms_p99 = median(pick(lat, [](const RunResult& r) { return r.p99_us; }));
  s.rate_ratio = s.raw_rate > 0 ? s.pms_rate / s.raw_rate : 0;
  s.p99_ratio = s.raw_p99 > 0 ? s.pms_p99 / s.raw_p99 : 0;
  return s;
}

void print_commit_table(const std::vector<Cell>& cells) {
  std::printf(
      "\nmedians of the repeats; targets: pms/raw rec/s >= %.1f, pms/raw p99 <= %.1f "
      "(informational)\n",
      kRateTarget, kP99Target);
  std::printf("%6s %6s %12s %12s %6s %5s %9s %9s %9s %9s %6s %5s\n", "shards", "batch", "raw rec/s",
              "pms rec/s", "ratio", "", "raw p50", "raw p99", "pms p50", "pms p99", "p99 x", "");
  for (const Cell& c : cells) {
    const CellSummary s = summarize_cell(c);
    std::printf("%6u %6u %12s %12s %6.2f %5s %9.1f %9.1f %9.1f %9.1f %6.2f %5s\n", c.shards,
                c.batch, with_commas(s.raw_rate).c_str(), with_commas(s.pms_rate).c_str(),
                s.rate_ratio, s.rate_ratio >= kRateTarget ? "PASS" : "MISS", s.raw_p50, s.raw_p99,
                s.pms_p50, s.pms_p99, s.p99_ratio, s.p99_ratio <= kP99Target ? "PASS" : "MISS");
  }
  std::printf(
      "(latencies in µs: raw = pwrite start -> fdatasync return; pms = first append -> "
      "last ack, from the closed-loop runs; pms rec/s from the pipelined runs)\n");
  std::printf(
      "\nstore detail (medians): blocks each commit wrote (raw: blocks per batch), "
      "commits/s,\nzero fill written beside the commits, the shard's own commit latency "
      "(commit start -> fdatasync return)\n");
  std::printf("%6s %6s %13s %10s %10s %10s %12s %12s\n", "shards", "batch", "blocks/commit",
              "raw blocks", "commits/s", "zero MiB/s", "commit p50", "commit p99");
  for (const Cell& c : cells) {
    const uint32_t raw_blocks = static_cast<uint32_t>(
        align_up(uint64_t{c.batch} * kRecordBytes, kBlockBytes) / kBlockBytes);
    const double seconds_per_run = median(pick(c.pms, [](const RunResult& r) {
      return r.records_per_s > 0 ? static_cast<double>(r.records) / r.records_per_s : 0;
    }));
    const double commits =
        median(pick(c.pms, [](const RunResult& r) { return static_cast<double>(r.commits); }));
    const double blocks_per_commit = median(pick(c.pms, [](const RunResult& r) {
      return r.commits ? static_cast<double>(r.blocks_written) / static_cast<double>(r.commits) : 0;
    }));
    const double zero_mib = median(pick(c.pms, [](const RunResult& r) {
      return static_cast<double>(r.zero_fill_bytes) / (1 << 20);
    }));
    const double shard_p50 =
        median(pick(c.pms, [](const RunResult& r) { return r.store_commit_p50_us; }));
    const double shard_p99 =
        median(pick(c.pms, [](const RunResult& r) { return r.store_commit_p99_us; }));
    const double secs = seconds_per_run > 0 ? seconds_per_run : 1;
    std::printf("%6u %6u %13.2f %10u %10s %10.1f %12.1f %12.1f\n", c.shards, c.batch,
                blocks_per_commit, raw_blocks, with_commas(commits / secs).c_str(), zero_mib / secs,
                shard_p50, shard_p99);
  }
}

bool write_commit_json(const Options& o, const std::string& backend_name,
                       const std::vector<Cell>& cells) {
  FILE* f = std::fopen(o.json.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "%s: %s\n", o.json.c_str(), std::strerror(errno));
    return false;
  }
  std::fprintf(f,
               "{\n  \"mode\": \"commit\",\n  \"backend\": \"%s\",\n  \"seconds\": %.3f,\n  "
               "\"repeat\": %d,\n  \"pipeline\": %u,\n  \"record_bytes\": %zu,\n  \"cells\": [\n",
               backend_name.c_str(), o.seconds, o.repeat, o.pipeline, kRecordBytes);
  for (size_t i = 0; i < cells.size(); ++i) {
    const Cell& c = cells[i];
    const CellSummary s = summarize_cell(c);
    auto runs = [&](const std::vector<RunResult>& r) {
      return "{\"records_per_s\": " +
             json_array(pick(r, [](const RunResult& x) { return x.records_per_s; })) +
             ", \"p50_us\": " + json_array(pick(r, [](const RunResult& x) { return x.p50_us; })) +
             ", \"p99_us\": " + json_array(pick(r, [](const RunResult& x) { return x.p99_us; })) +
             ", \"max_us\": " + json_array(pick(r, [](const RunResult& x) { return x.max_us; })) +
             ", \"commits\": " +
             json_array(
                 pick(r, [](const RunResult& x) { return static_cast<double>(x.commits); })) +
             ", \"blocks_written\": " +
             json_array(pick(
                 r, [](const RunResult& x) { return static_cast<double>(x.blocks_written); })) +
             ", \"zero_fill_bytes\": " +
             json_array(pick(
                 r, [](const RunResult& x) { return static_cast<double>(x.zero_fill_bytes); })) +
             ", \"shard_commit_p50_us\": " +
             json_array(pick(r, [](const RunResult& x) { return x.store_commit_p50_us; })) +
             ", \"shard_commit_p99_us\": " +
             json_array(pick(r, [](const RunResult& x) { return x.store_commit_p99_us; })) + "}";
    };
    std::fprintf(f,
                 "    {\"shards\": %u, \"batch\": %u, \"raw_records_per_s\": %.1f, "
                 "\"pms_records_per_s\": %.1f, \"rate_ratio\": %.4f, \"rate_pass\": %s, "
                 "\"raw_p50_us\": %.2f, \"raw_p99_us\": %.2f, \"pms_p50_us\": %.2f, "
                 "\"pms_p99_us\": %.2f, \"p99_ratio\": %.4f, \"p99_pass\": %s,\n     \"raw\": %s,\n"
                 "     \"pms\": %s}%s\n",
                 c.shards, c.batch, s.raw_rate, s.pms_rate, s.rate_ratio,
                 s.rate_ratio >= kRateTarget ? "true" : "false", s.raw_p50, s.raw_p99, s.pms_p50,
                 s.pms_p99, s.p99_ratio, s.p99_ratio <= kP99Target ? "true" : "false",
                 runs(c.raw).c_str(), runs(c.pms).c_str(), i + 1 < cells.size() ? "," : "");
  }
  std::fprintf(f, "  ]\n}\n");
  return std::fclose(f) == 0;
}

// The store's preallocation for one pms run, in MiB (0: the store's default); see the header.
// "run" sizes it to the raw run just before: 2.5 x what raw wrote + 64 MiB, so the store's
// keep-ahead refill (which starts once half the preallocation is used) does not start within a
// run that appends up to 1.25 x raw; bounded by a quarter of the free space per shard.
uint64_t pms_prealloc_mib_for(const Options& o, const RunResult& raw, unsigned shards,
                              const std::string& root) {
  if (o.pms_prealloc == "default") return 0;
  if (o.pms_prealloc != "run") return std::stoull(o.pms_prealloc);
  if (raw.records == 0 || shards == 0) return 0;  // --only pms: nothing to size it by
  const double per_shard_bytes = static_cast<double>(raw.records) * kRecordBytes / shards;
  uint64_t mib = static_cast<uint64_t>(per_shard_bytes * 2.5 / (1 << 20)) + 64;
  struct statvfs vfs {};
  if (::statvfs(root.c_str(), &vfs) == 0) {
    const uint64_t free_mib = (static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize) >> 20;
    mib = std::min(mib, std::max<uint64_t>(64, free_mib / 4 / shards));
  }
  return mib;
}

int run_commit(const Options& o) {
  const uint64_t prealloc_bytes = storage::ShardOptions{}.prealloc_bytes;
  const uint32_t batch_records_max =
      (storage::ShardOptions{}.batch_blocks_max - 1) * storage::kRecordsPerBlock;
  for (uint32_t b : o.batches) {
    if (b == 0 || b > batch_records_max) {
      std::fprintf(stderr, "--batches: %u is outside 1..%u (one commit's capacity)\n", b,
                   batch_records_max);
      return kExitUsage;
    }
  }
  Scratch scratch = make_scratch(o.dir);
  if (scratch.error_code != 0) {
    std::fprintf(stderr, "cp_store_bench: %s\n", scratch.error.c_str());
    return scratch.error_code;
  }
  const std::string& root = scratch.root;
  // The backend the engine will pick, said once (and a missing io_uring said before any run).
  std::string backend_name = "epoll";
  if (o.backend_kind != engine::IoBackendKind::epoll) {
    if (auto uring = engine::make_uring_backend({}); uring) {
      backend_name = "io_uring";
    } else if (o.backend_kind == engine::IoBackendKind::io_uring) {
      std::fprintf(stderr, "cp_store_bench: --backend io_uring: %s (try --backend auto)\n",
                   uring.error().c_str());
      remove_and_settle(root, root);
      return kExitFailed;
    }
  }
  const auto duration = static_cast<Nanos>(o.seconds * 1e9);
  std::printf(
      "cp_store_bench commit: dir %s, backend %s, %zu-byte records, %.2f s per run, %d "
      "repeats (raw, pms alternating), raw sync %s, pms pipeline %u, %u CPUs\n",
      root.c_str(), backend_name.c_str(), kRecordBytes, o.seconds, o.repeat, o.raw_sync.c_str(),
      o.pipeline, std::thread::hardware_concurrency());
  std::fflush(stdout);
  std::vector<Cell> cells;
  bool failed = false;
  int run_no = 0;
  for (unsigned shards : o.shards) {
    for (uint32_t batch : o.batches) {
      Cell cell{shards, batch, {}, {}, {}};
      for (int rep = 0; rep < o.repeat && !failed; ++rep) {
        const std::string raw_dir = root + "/raw-" + std::to_string(run_no);
        RunResult raw, pms, closed;
        if (o.only != "pms") {
          raw = run_raw(raw_dir, shards, batch, duration, prealloc_bytes);
          remove_and_settle(raw_dir, root);
        }
        const std::string pms_dir = root + "/pms-" + std::to_string(run_no);
        if (o.only != "raw") {
          const uint64_t prealloc_mib = pms_prealloc_mib_for(o, raw, shards, root);
          pms = run_pms(pms_dir, shards, batch, o.pipeline, duration, o.backend_kind, prealloc_mib);
          remove_and_settle(pms_dir, root);
          if (o.pipeline > 1) {
            closed = run_pms(pms_dir, shards, batch, 1, duration, o.backend_kind, prealloc_mib);
            remove_and_settle(pms_dir, root);
          }
        }
        ++run_no;
        if (o.verbose || o.repeat == 1)
          std::printf(
              "  shards %u batch %5u run %d: raw %s rec/s p99 %.1f µs | pms %s rec/s | pms "
              "closed loop %s rec/s p99 %.1f µs\n",
              shards, batch, rep + 1, with_commas(raw.records_per_s).c_str(), raw.p99_us,
              with_commas(pms.records_per_s).c_str(), with_commas(closed.records_per_s).c_str(),
              (o.pipeline > 1 ? closed : pms).p99_us);
        std::fflush(stdout);
        for (const RunResult* r : {&raw, &pms, &closed}) {
          if (r == &closed && o.pipeline == 1) continue;
          if (!r->error.empty()) {
            std::fprintf(stderr, "cp_store_bench: shards %u batch %u: %s: %s\n", shards, batch,
                         r == &raw ? "raw" : "pms", r->error.c_str());
            failed = true;
          } else if (r->records == 0 && o.only != (r == &raw ? "pms" : "raw")) {
            std::fprintf(stderr, "cp_store_bench: shards %u batch %u: %s made nothing durable\n",
                         shards, batch, r == &raw ? "raw" : "pms");
            failed = true;
          }
        }
        cell.raw.push_back(raw);
        cell.pms.push_back(pms);
        if (o.pipeline > 1) cell.pms_closed.push_back(closed);
      }
      cells.push_back(std::move(cell));
      if (failed) break;
    }
    if (failed) break;
  }
  remove_and_settle(root, root);
  print_commit_table(cells);
  if (!o.json.empty() && !write_commit_json(o, backend_name, cells)) failed = true;
  return failed ? kExitFailed : 0;
}

// ---- recovery ------------------------------------------------------------------------------

uint64_t historical_mb_for(uint64_t records) {
  return records > kActiveTailRecords ? (records - kActiveTailRecords) / storage::kRecordsPerMiB
                                      : 0;
}

// Writes <shard_dir>/pms.bin: `records` sealed records (all delivered except the last 1 MiB,
// which is active), then 64 MiB of zeros; O_DIRECT, 4 MiB at a time; then historical-mb and
// base-index.
bool build_shard(const std::string& shard_dir, uint64_t records, uint64_t prealloc_bytes) {
  std::error_code ec;
  fs::create_directories(shard_dir, ec);
  const std::string path = shard_dir + "/pms.bin";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0640);
  if (fd < 0) {
    std::fprintf(stderr, "%s: open O_DIRECT: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  const uint64_t total = align_up(records * kRecordBytes, kBlockBytes) + prealloc_bytes;
  const uint64_t active_from = records > kActiveTailRecords ? records - kActiveTailRecords : 0;
  storage::AlignedBuffer chunk = storage::make_aligned(kBuildChunkBytes);
  const SmRecord historical = [] {
    SmRecord r = model_record(false);
    r.disposition = static_cast<uint8_t>(storage::Disposition::delivered);
    return r;
  }();
  const SmRecord active = model_record(true);
  const Nanos started = now_ns();
  bool ok = true;
  for (uint64_t at = 0; at < total && ok;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kBuildChunkBytes, total - at));
    std::memset(chunk.get(), 0, n);
    const uint64_t first_slot = at / kRecordBytes;
    const uint64_t end_slot = std::min<uint64_t>(records, (at + n) / kRecordBytes);
    for (uint64_t slot = first_slot; slot < end_slot; ++slot) {
      SmRecord r = slot < active_from ? historical : active;
      r.message_id = storage::make_message_id(0, slot);
      r.time_entry_ns = kT0 + static_cast<int64_t>(slot) * 1000;  // 1 M messages/s
      if (slot < active_from) r.time_discharge_ns = r.time_entry_ns + 2 * kNanosPerSecond;
      storage::seal(r);
      std::memcpy(chunk.get() + (slot - first_slot) * kRecordBytes, &r, kRecordBytes);
    }
    ok = ::pwrite(fd, chunk.get(), n, static_cast<off_t>(at)) == static_cast<ssize_t>(n);
    at += n;
  }
  ok = ok && ::fsync(fd) == 0;
  if (!ok) std::fprintf(stderr, "%s: write: %s\n", path.c_str(), std::strerror(errno));
  ::close(fd);
  if (!ok) return false;
  for (const auto& [name, value] :
       {std::pair{"historical-mb", historical_mb_for(records)}, std::pair{"base-index", 0ul}}) {
    if (auto w = storage::write_number_file(shard_dir + "/" + name, value); !w) {
      std::fprintf(stderr, "%s\n", w.error().c_str());
      return false;
    }
  }
  std::printf("built %s: %s records (%.2f GB) + %llu MiB of zeros in %.1f s\n", path.c_str(),
              with_commas(static_cast<double>(records)).c_str(),
              static_cast<double>(records * kRecordBytes) / 1e9,
              static_cast<unsigned long long>(prealloc_bytes >> 20),
              static_cast<double>(now_ns() - started) / 1e9);
  return true;
}

void drop_cache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

struct OpenTiming {
  double ms = 0;
  storage::RecoveryReport report;
  std::string error;
};

OpenTiming time_open(const std::string& shard_dir) {
  OpenTiming t;
  drop_cache(shard_dir + "/pms.bin");
  storage::ShardOptions so;
  so.shard = 0;
  so.dir = shard_dir;
  so.create = false;
  const Nanos t0 = now_ns();
  auto shard = storage::Shard::open_dir(so, SystemClock::instance(), nullptr, &t.report);
  t.ms = static_cast<double>(now_ns() - t0) / 1e6;
  if (!shard) t.error = shard.error();
  return t;
}

int run_recovery(const Options& o) {
  if (o.records == 0) {
    std::fprintf(stderr, "--records must be at least 1\n");
    return kExitUsage;
  }
  Scratch scratch = make_scratch(o.dir);
  if (scratch.error_code != 0) {
    std::fprintf(stderr, "cp_store_bench: %s\n", scratch.error.c_str());
    return scratch.error_code;
  }
  const std::string& root = scratch.root;
  const std::string shard_dir = root + "/shard-0";
  const uint64_t prealloc_bytes = storage::ShardOptions{}.prealloc_bytes;
  const uint64_t mark = historical_mb_for(o.records);
  const uint64_t want_active = std::min<uint64_t>(o.records, kActiveTailRecords);
  auto cleanup = [&] {
    if (o.keep)
      std::printf("kept %s\n", root.c_str());
    else
      remove_and_settle(root, root);
  };
  if (!build_shard(shard_dir, o.records, prealloc_bytes)) {
    cleanup();
    return kExitFailed;
  }
  auto check = [&](const OpenTiming& t, const char* what) {
    if (!t.error.empty()) {
      std::fprintf(stderr, "cp_store_bench: %s: %s\n", what, t.error.c_str());
      return false;
    }
    if (t.report.log_records != o.records || t.report.active_records != want_active ||
        t.report.torn_slots != 0) {
      std::fprintf(stderr,
                   "cp_store_bench: %s: recovered %llu records, %llu active, %llu torn slots; "
                   "expected %llu, %llu, 0\n",
                   what, static_cast<unsigned long long>(t.report.log_records),
                   static_cast<unsigned long long>(t.report.active_records),
                   static_cast<unsigned long long>(t.report.torn_slots),
                   static_cast<unsigned long long>(o.records),
                   static_cast<unsigned long long>(want_active));
      return false;
    }
    return true;
  };

  std::vector<double> open_ms, took_ms;
  OpenTiming last;
  for (int rep = 0; rep < o.repeat; ++rep) {
    last = time_open(shard_dir);
    if (!check(last, "open with historical-mb")) {
      cleanup();
      return kExitFailed;
    }
    open_ms.push_back(last.ms);
    took_ms.push_back(static_cast<double>(last.report.took) / 1e6);
    if (o.verbose) std::printf("  open %d: %.2f ms\n", rep + 1, last.ms);
  }
  const double med = median(open_ms);
  const double max = *std::max_element(open_ms.begin(), open_ms.end());
  std::printf(
      "\nrecovery of %s records (%s active, historical-mb %llu), page cache dropped, %d "
      "opens:\n",
      with_commas(static_cast<double>(o.records)).c_str(),
      with_commas(static_cast<double>(want_active)).c_str(), static_cast<unsigned long long>(mark),
      o.repeat);
  std::printf("  Shard::open_dir: median %.2f ms, max %.2f ms  (target <= %.0f ms: %s)\n", med, max,
              kRecoveryTargetMs, max <= kRecoveryTargetMs ? "PASS" : "MISS");
  std::printf(
      "  RecoveryReport: took %.2f ms (median), scanned_records %s, active_records %s, "
      "log_records %s, file %.1f MiB\n",
      median(took_ms), with_commas(static_cast<double>(last.report.scanned_records)).c_str(),
      with_commas(static_cast<double>(last.report.active_records)).c_str(),
      with_commas(static_cast<double>(last.report.log_records)).c_str(),
      static_cast<double>(last.report.file_bytes) / (1 << 20));

  OpenTiming full;
  const bool do_full = o.full_scan && o.records <= 10'000'000 && mark > 0;
  if (do_full) {
    std::error_code ec;
    fs::remove(shard_dir + "/historical-mb", ec);
    full = time_open(shard_dir);
    // The shard wrote its mark back when it closed; put the built one back regardless.
    if (auto w = storage::write_number_file(shard_dir + "/historical-mb", mark); !w)
      std::fprintf(stderr, "%s\n", w.error().c_str());
    if (!check(full, "open without historical-mb")) {
      cleanup();
      return kExitFailed;
    }
    std::printf(
        "  without historical-mb (full scan, once): %.1f ms, scanned_records %s — "
        "historical-mb saves %.0fx\n",
        full.ms, with_commas(static_cast<double>(full.report.scanned_records)).c_str(),
        med > 0 ? full.ms / med : 0);
  }
  cleanup();

  if (!o.json.empty()) {
    FILE* f = std::fopen(o.json.c_str(), "w");
    if (f == nullptr) {
      std::fprintf(stderr, "%s: %s\n", o.json.c_str(), std::strerror(errno));
      return kExitFailed;
    }
    std::fprintf(f,
                 "{\n  \"mode\": \"recovery\",\n  \"records\": %llu,\n  \"active_records\": %llu,"
                 "\n  \"historical_mb\": %llu,\n  \"open_ms\": %s,\n  \"median_ms\": %.3f,\n  "
                 "\"max_ms\": %.3f,\n  \"pass\": %s,\n  \"scanned_records\": %llu,\n  "
                 "\"report_took_ms\": %s",
                 static_cast<unsigned long long>(o.records),
                 static_cast<unsigned long long>(last.report.active_records),
                 static_cast<unsigned long long>(mark), json_array(open_ms).c_str(), med, max,
                 max <= kRecoveryTargetMs ? "true" : "false",
                 static_cast<unsigned long long>(last.report.scanned_records),
                 json_array(took_ms).c_str());
    if (do_full)
      std::fprintf(f, ",\n  \"full_scan_ms\": %.3f,\n  \"full_scan_scanned_records\": %llu",
                   full.ms, static_cast<unsigned long long>(full.report.scanned_records));
    std::fprintf(f, "\n}\n");
    if (std::fclose(f) != 0) return kExitFailed;
  }
  return 0;
}

// ---- main ----------------------------------------------------------------------------------

int parse(int argc, char** argv, Options& o) {
  cli::App app{
      "cp_store_bench: the message store against raw O_DIRECT writes (commit) and its start-up "
      "time (recovery). docs/BENCHMARKS.md, \"Message store\"."};
  app.option("mode", o.mode, "commit (default) or recovery").one_of({"commit", "recovery"});
  app.option("--dir", o.dir,
             "parent of the scratch directory (default /tmp; never tmpfs: O_DIRECT)");
  app.option("--repeat", o.repeat,
             "commit: runs of raw and of pms per cell; recovery: cold opens (default 5)")
      .range(1, 1000);
  app.option("--json", o.json, "also write the figures to this file");
  app.flag("--verbose", o.verbose, "print every run, and the engine's log at info level");
  cli::App& commit = app.group("commit", "commit mode");
  commit.option("--batches", o.batches, "records per batch, comma separated")
      .delimiter(',')
      .range(1u, 1u << 20);
  commit.option("--shards", o.shards, "shard (and core) counts, comma separated")
      .delimiter(',')
      .range(1u, 64u);
  commit.option("--seconds", o.seconds, "length of each run (default 3)").range(0.01, 3600.0);
  commit.option("--backend", o.backend, "the engine's backend: auto, io_uring (default), epoll")
      .one_of({"auto", "io_uring", "epoll"});
  commit
      .option("--pipeline", o.pipeline,
              "batches each pms loader keeps outstanding: 1 = closed loop, 2 (default) = "
              "the next batch is appended while the previous one commits")
      .range(1u, 8u);
  commit
      .option("--raw-sync", o.raw_sync,
              "how raw makes a batch durable: fdatasync (default: pwrite + fdatasync, the "
              "issue's baseline) or dsync (one pwritev2 with RWF_DSYNC)")
      .one_of({"fdatasync", "dsync"});
  commit.option("--only", o.only, "run one side only, raw or pms (for profiling)")
      .one_of({"raw", "pms"});
  commit
      .option("--pms-prealloc", o.pms_prealloc,
              "the store's zero-filled preallocation, filled before the timer as raw's "
              "file is: run (default: sized to what the raw run wrote), default (the "
              "store's 64 MiB; the run pays for zero-filling the rest), or a size in MiB")
      .check([](const std::string& v) -> std::string {
        if (v == "run" || v == "default") return {};
        if (!v.empty() && v.size() <= 7 && v.find_first_not_of("0123456789") == std::string::npos &&
            std::stoull(v) > 0)
          return {};
        return "expected run, default or a size in MiB";
      });
  cli::App& recovery = app.group("recovery", "recovery mode");
  recovery.option("--records", o.records, "records in the shard (default 10,000,000)");
  recovery.flag("--keep", o.keep, "keep the shard afterwards");
  recovery.flag("--full-scan,!--no-full-scan", o.full_scan,
                "also time one open without historical-mb (default on, up to 10 M records)");
  if (const auto status = app.parse(argc, argv)) return *status == 0 ? 0 : kExitUsage;
  auto kind = engine::parse_backend_kind(o.backend);
  if (!kind) {
    std::fprintf(stderr, "--backend: %s\n", kind.error().c_str());
    return kExitUsage;
  }
  o.backend_kind = *kind;
  return -1;
}

}  // namespace
}  // namespace cp::bench

int main(int argc, char** argv) {
  cp::bench::Options o;
  if (const int rc = cp::bench::parse(argc, argv, o); rc >= 0) return rc;
  cp::set_log_level(o.verbose ? cp::LogLevel::info : cp::LogLevel::warn);
  cp::bench::g_raw_dsync = o.raw_sync == "dsync";
  return o.mode == "recovery" ? cp::bench::run_recovery(o) : cp::bench::run_commit(o);
}
