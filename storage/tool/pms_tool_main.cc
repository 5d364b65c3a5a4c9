// pms-tool: offline maintenance of message-store shards (docs/STORAGE.md).
//   pms-tool split  --shard-dir DIR --archive DIR [--mib N]   move historical MiBs out
//   pms-tool split  --shard-dir DIR --resume                  finish an interrupted split
//   pms-tool verify --shard-dir DIR                           check every record, read only
// Exit status: 0 done, 1 failed (nothing changed unless the message says so), 2 usage.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "base/cli.h"
#include "base/log.h"
#include "storage/split.h"
#include "storage/verify.h"

namespace {

// A progress bar on a terminal, a line per 10 % otherwise (logs, ssh without a tty).
class Progress {
 public:
  explicit Progress(const char* what) : what_(what), tty_(::isatty(STDERR_FILENO) == 1) {}
  void operator()(uint64_t done, uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    const int pct = total ? static_cast<int>(done * 100 / total) : 100;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double mib = static_cast<double>(done) / (1 << 20);
    if (tty_) {
      if (done != total && now - last_ < std::chrono::milliseconds(100)) return;
      last_ = now;
      char bar[31];
      const int filled = pct * 30 / 100;
      for (int i = 0; i < 30; ++i) bar[i] = i < filled ? '#' : '.';
      bar[30] = 0;
      std::fprintf(stderr, "\r%s [%s] %3d%%  %.0f / %.0f MiB  %.0f MiB/s", what_, bar, pct, mib,
                   static_cast<double>(total) / (1 << 20), secs > 0 ? mib / secs : 0.0);
      if (done == total) std::fputc('\n', stderr);
    } else if (pct / 10 > last_decile_ || done == total) {
      last_decile_ = pct / 10;
      std::fprintf(stderr, "%s: %d%% (%.0f MiB)\n", what_, pct, mib);
    }
  }

 private:
  const char* what_;
  bool tty_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace

int main(int argc, char** argv) {
  cp::set_thread_log_tag("pms-tool");
  cp::cli::App app{
      "pms-tool: offline maintenance of cellplane message-store shards.\n"
      "Run it only while cellplaned is stopped (it takes the shard's lock)."};
  app.require_subcommand(1);

  std::string shard_dir, archive;
  uint64_t mib = 0;
  bool resume = false;
  cp::cli::App& split = app.subcommand(
      "split",
      "move the historical-only head of a shard (historical-mb MiB) into an archive store, "
      "verified, and keep the rest (design section 2.2.2)");
  split.option("--shard-dir", shard_dir, "the shard, e.g. state/pms/shard-0").required();
  split.option("--archive", archive,
               "archive store root; the shard lands in ARCHIVE/shard-N (smsc-dump reads it)");
  split.option("--mib", mib, "MiB to move (default: all of historical-mb)");
  split.flag("--resume", resume, "finish a split that was interrupted");

  bool json = false;
  cp::cli::App& verify =
      app.subcommand("verify",
                     "check every record of a shard (read only): checksums, ids, the historical "
                     "mark, the tail");
  verify.option("--shard-dir", shard_dir, "the shard, e.g. state/pms/shard-0").required();
  verify.flag("--json", json, "one JSON object instead of text");

  if (const auto status = app.parse(argc, argv)) return *status;

  if (split.parsed()) {
    if (resume) {
      auto rep = cp::storage::resume_split(shard_dir);
      if (!rep) {
        std::fprintf(stderr, "pms-tool: %s\n", rep.error().c_str());
        return 1;
      }
      std::printf("split finished: base-index %llu\n",
                  static_cast<unsigned long long>(rep->new_base_index));
      return 0;
    }
    if (archive.empty()) {
      std::fprintf(stderr, "pms-tool split: --archive is required (or --resume)\n");
      return 2;
    }
    cp::storage::SplitOptions o;
    o.shard_dir = shard_dir;
    o.archive_dir = archive;
    o.mib = mib;
    Progress bar("split");
    o.progress = [&](uint64_t done, uint64_t total) { bar(done, total); };
    auto rep = cp::storage::split_shard(o);
    if (!rep) {
      std::fprintf(stderr, "pms-tool: %s\n", rep.error().c_str());
      return 1;
    }
    std::printf("moved %llu records to %s; %llu kept; base-index %llu, historical-mb 0\n",
                static_cast<unsigned long long>(rep->records_moved), rep->archive_shard_dir.c_str(),
                static_cast<unsigned long long>(rep->records_kept),
                static_cast<unsigned long long>(rep->new_base_index));
    return 0;
  }
  Progress bar("verify");
  auto rep = cp::storage::verify_shard(shard_dir,
                                       [&](uint64_t done, uint64_t total) { bar(done, total); });
  if (!rep) {
    std::fprintf(stderr, "pms-tool: %s\n", rep.error().c_str());
    return 1;
  }
  std::fputs((json ? cp::storage::to_json(*rep) : cp::storage::to_text(*rep)).c_str(), stdout);
  return rep->problems.empty() ? 0 : 1;
}
