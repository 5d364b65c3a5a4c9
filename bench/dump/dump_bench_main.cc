// cp_dump_bench: how fast smsc-dump finds its starting point in a big shard. Writes a real
// shard of --records sealed records (10 million = 2.56 GB by default: no sparse file, large
// buffered writes), then a torn record and one MiB of zero-filled preallocation, and measures
//   - ShardReader::open (end-of-log detection), cold (page cache dropped) and warm;
//   - lower_bound_time for --searches random times: cold (the mapping's pages dropped with
//     madvise(MADV_DONTNEED) and the file's with posix_fadvise(DONTNEED) before every search)
//     and warm (the same times searched again).
// Every search result is checked; a wrong one fails the run (exit 1). The target is ~1 ms for
// open + search excluding the page faults, i.e. the warm figures. The shard is written under
// --dir (default a fresh directory under $TMPDIR or /tmp) and deleted afterwards unless --keep;
// an existing shard of the right size there is reused.
//
// Cold figures need a file system whose clean pages can be dropped (not tmpfs); they are then
// dominated by the device's read latency, about 25 page reads per search.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "base/cli.h"
#include "base/clock.h"
#include "storage/dump/shard_reader.h"
#include "storage/record.h"

namespace {

using cp::storage::kRecordBytes;
using cp::storage::SmRecord;

constexpr int64_t kT0 = 1'764'000'000'000'000'000;  // 2025-11-24T16:00:00Z
constexpr size_t kWriteBatchRecords = 16'384;       // 4 MiB per pwrite

struct Options {
  std::string dir;
  uint64_t records = 10'000'000;
  int searches = 1000;
  int open_runs = 20;
  bool keep = false;
  uint32_t seed = 1;
  uint32_t batch_kib = cp::storage::ShardReader::kDefaultBatchKib;  // the reader's tail window
};

int64_t now_ns() {
  return cp::read_clock(CLOCK_MONOTONIC);
}

// Entry time of record i: about 1,000 messages a second with ties (every 7th record shares the
// time of the one before), as a busy shard would hold.
int64_t time_of(uint64_t i) {
  const uint64_t step = i - i / 7;  // records 7k and 7k-1 share a time
  return kT0 + static_cast<int64_t>(step) * 1'000'000 + static_cast<int64_t>(step % 13) * 1000;
}

bool write_shard(const std::filesystem::path& file, uint64_t records) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(file.c_str());
    return false;
  }
  SmRecord model;
  model.src_class = 1;
  model.dst_class = 1;
  model.state = 1;
  model.disposition = 1;
  cp::storage::set_digits(model.src, "15551230001", 1, 1);
  cp::storage::set_digits(model.dst_written, "5551230002", 0, 1);
  cp::storage::set_digits(model.dst_routed, "15551230002", 1, 1);
  model.ud_length = 5;
  std::memcpy(model.user_data, "\xE8\x32\x9B\xFD\x06", 5);  // "hello", GSM 7-bit packed
  std::vector<SmRecord> batch(kWriteBatchRecords, model);
  const int64_t start = now_ns();
  for (uint64_t done = 0; done < records;) {
    const uint64_t n = std::min<uint64_t>(batch.size(), records - done);
    for (uint64_t i = 0; i < n; ++i) {
      SmRecord& r = batch[i];
      r.time_entry_ns = time_of(done + i);
      r.time_discharge_ns = r.time_entry_ns + 2'000'000'000;
      r.time_expiry_ns = r.time_entry_ns + 86'400'000'000'000;
      r.message_ref = static_cast<uint16_t>(done + i);
      cp::storage::seal(r);
    }
    const size_t bytes = n * kRecordBytes;
    if (::pwrite(fd, batch.data(), bytes, static_cast<off_t>(done * kRecordBytes)) !=
        static_cast<ssize_t>(bytes)) {
      std::perror("pwrite");
      ::close(fd);
      return false;
    }
    done += n;
  }
  // A torn record, then one MiB of zero-filled preallocation, as a live writer leaves them.
  SmRecord torn = batch[0];
  torn.user_data[0] ^= 1;
  const off_t end = static_cast<off_t>(records * kRecordBytes);
  const bool ok = ::pwrite(fd, &torn, sizeof torn, end) == static_cast<ssize_t>(sizeof torn) &&
                  ::ftruncate(fd, end + static_cast<off_t>((1 + 4096) * kRecordBytes)) == 0 &&
                  ::fdatasync(fd) == 0;
  ::close(fd);
  std::printf("wrote %llu records (%.2f GB) in %.1f s\n", static_cast<unsigned long long>(records),
              static_cast<double>(records * kRecordBytes) / 1e9,
              static_cast<double>(now_ns() - start) / 1e9);
  return ok;
}

void drop_file_cache(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

bool read_into_cache(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::vector<char> buffer(8 << 20);
  ssize_t n = 0;
  while ((n = ::read(fd, buffer.data(), buffer.size())) > 0) {
  }
  ::close(fd);
  return n == 0;
}

struct Summary {
  double median_us, p99_us, max_us;
};
Summary summarize(std::vector<int64_t> ns) {
  std::sort(ns.begin(), ns.end());
  const auto at = [&](double q) {
    return static_cast<double>(ns[std::min(ns.size() - 1, static_cast<size_t>(q * ns.size()))]) /
           1e3;
  };
  return {at(0.5), at(0.99), static_cast<double>(ns.back()) / 1e3};
}

void print_row(const char* what, const Summary& s, size_t n) {
  std::printf("%-34s %10.1f %10.1f %10.1f %6zu\n", what, s.median_us, s.p99_us, s.max_us, n);
}

bool check_result(const cp::storage::ShardReader& r, int64_t q, uint64_t slot) {
  const bool ok = (slot == r.size() || r.record(slot).time_entry_ns >= q) &&
                  (slot == 0 || r.record(slot - 1).time_entry_ns < q);
  if (!ok)
    std::fprintf(stderr, "wrong lower_bound_time(%lld) = %llu\n", static_cast<long long>(q),
                 static_cast<unsigned long long>(slot));
  return ok;
}

int run(const Options& o) {
  namespace fs = std::filesystem;
  std::string root = o.dir;
  bool created_root = false;
  if (root.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    root = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/cp-dump-bench-XXXXXX";
    if (::mkdtemp(root.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    created_root = true;
  }
  const fs::path shard_dir = fs::path(root) / "shard-0";
  const fs::path file = shard_dir / "pms.bin";
  std::error_code ec;
  fs::create_directories(shard_dir, ec);
  const uint64_t expected_bytes = (o.records + 1 + 4096) * kRecordBytes;
  if (fs::exists(file, ec) && fs::file_size(file, ec) == expected_bytes) {
    std::printf("reusing %s\n", file.c_str());
  } else if (!write_shard(file, o.records)) {
    return 1;
  }
  const auto cleanup = [&] {
    if (o.keep) return;
    fs::remove_all(created_root ? fs::path(root) : shard_dir, ec);
  };

  const uint64_t window = cp::storage::ShardReader::tail_window_slots(o.batch_kib);
  std::vector<int64_t> open_cold, open_warm;
  for (int run = 0; run < o.open_runs; ++run) {
    drop_file_cache(file);
    const int64_t t = now_ns();
    auto cold = cp::storage::ShardReader::open(shard_dir, std::nullopt, window);
    open_cold.push_back(now_ns() - t);
    if (!cold || cold->size() != o.records) {
      std::fprintf(stderr, "open: %s\n", cold ? "wrong size" : cold.error().c_str());
      cleanup();
      return 1;
    }
  }
  // The first warm opens after a cache drop also pay for the page cache's bookkeeping (pages
  // read once move to the active list); they are not timed.
  constexpr int kWarmUpOpens = 10;
  for (int run = 0; run < kWarmUpOpens + 5 * o.open_runs; ++run) {
    const int64_t t = now_ns();
    auto warm = cp::storage::ShardReader::open(shard_dir, std::nullopt, window);
    if (run >= kWarmUpOpens) open_warm.push_back(now_ns() - t);
  }

  auto reader = cp::storage::ShardReader::open(shard_dir);
  if (!reader) return 1;
  const cp::storage::ShardReader& r = *reader;
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int64_t> pick(time_of(0) - 1'000'000'000,
                                              time_of(o.records - 1) + 1'000'000'000);
  std::vector<int64_t> queries(static_cast<size_t>(o.searches));
  for (auto& q : queries) q = pick(rng);

  void* base = const_cast<SmRecord*>(&r.record(0));
  const size_t map_bytes = r.file_slots() * kRecordBytes;
  std::vector<int64_t> cold, first_touch, warm;
  bool ok = true;
  for (int64_t q : queries) {
    ::madvise(base, map_bytes, MADV_DONTNEED);  // unmap our pages so the cache can drop them
    drop_file_cache(file);
    const int64_t t = now_ns();
    const uint64_t slot = r.lower_bound_time(q);
    cold.push_back(now_ns() - t);
    ok = ok && check_result(r, q, slot);
  }
  // Cached but unmapped: the whole file read into the page cache, none of it in our page
  // tables, so every probe's first touch is a minor fault.
  if (!read_into_cache(file)) return 1;
  ::madvise(base, map_bytes, MADV_DONTNEED);
  for (int64_t q : queries) {
    const int64_t t = now_ns();
    const uint64_t slot = r.lower_bound_time(q);
    first_touch.push_back(now_ns() - t);
    ok = ok && check_result(r, q, slot);
  }
  for (int64_t q : queries) {
    const int64_t t = now_ns();
    const uint64_t slot = r.lower_bound_time(q);
    warm.push_back(now_ns() - t);
    ok = ok && check_result(r, q, slot);
  }

  std::printf("\nshard: %llu records, %.2f GB, torn tail + 1 MiB preallocated\n",
              static_cast<unsigned long long>(r.size()), static_cast<double>(map_bytes) / 1e9);
  std::printf("%-34s %10s %10s %10s %6s\n", "", "median us", "p99 us", "max us", "n");
  print_row("open, page cache dropped", summarize(open_cold), open_cold.size());
  print_row("open, page cache warm", summarize(open_warm), open_warm.size());
  print_row("lower_bound_time, cold", summarize(cold), cold.size());
  print_row("lower_bound_time, cached, unmapped", summarize(first_touch), first_touch.size());
  print_row("lower_bound_time, warm", summarize(warm), warm.size());
  cleanup();
  if (!ok) {
    std::fprintf(stderr, "FAILED: a search returned a wrong slot\n");
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  cp::cli::App app("Open and binary-search a big message-store shard (smsc-dump's start).",
                   "cp_dump_bench");
  app.option("--dir", o.dir, "Store root to write shard-0/ into (default: a new temp dir)");
  app.option("--records", o.records, "Records in the shard (default 10,000,000)");
  app.option("--searches", o.searches, "Random lower_bound_time calls per figure")
      .range(1, 1'000'000);
  app.option("--open-runs", o.open_runs, "Opens per figure").range(1, 10'000);
  app.option("--seed", o.seed, "Seed of the random search times");
  app.option("--batch-kib", o.batch_kib, "The writer's batch, which sets the tail window")
      .range(4, 65536);
  app.flag("--keep", o.keep, "Keep the shard afterwards (reused by the next run)");
  if (const auto status = app.parse(argc, argv)) return *status;
  if (o.records == 0) {
    std::fprintf(stderr, "--records must be at least 1\n");
    return 2;
  }
  return run(o);
}
