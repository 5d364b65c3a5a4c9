// The offline split (ThemWi-SMSC design, section 2.2.2) as a tool instead of hand-typed dd:
// moves the historical-only head of a stopped shard (historical-mb MiB) into an archive and
// keeps the rest, so a live server's disk does not fill with years of history.
//
// The archive is itself a store root: <archive>/shard-<id>/{pms.bin, base-index, historical-mb},
// readable by smsc-dump like the live store. The shard keeps its message ids: its base-index
// rises by the records moved out.
//
// Crash safety: both halves are written and verified under temporary names first; the switch is
// journalled in a `split-pending` file, so an interrupted split is finished by running the tool
// again (`resume`) and the daemon refuses to open a shard with a split pending.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/result.h"

namespace cp::storage {

struct SplitOptions {
  std::string shard_dir;    // the stopped shard (its lock is taken for the whole split)
  std::string archive_dir;  // store root of the archive; must not hold this shard yet
  // MiB to move; 0 = all of historical-mb. Never more than historical-mb (those are known to be
  // historical) — and every record moved is verified to be historical.
  uint64_t mib = 0;
  // Progress: (bytes done, bytes total) now and then.
  std::function<void(uint64_t done, uint64_t total)> progress;
  // Tests: stop after this step of the switch (1: journal written, 2: pms.bin replaced,
  // 3: base-index written) as if the machine died there. 0 = run to the end.
  int stop_after_step = 0;
};

struct SplitReport {
  unsigned shard = 0;
  uint64_t records_moved = 0;
  uint64_t records_kept = 0;  // log records left in the shard
  uint64_t new_base_index = 0;
  std::string archive_shard_dir;
};

// Splits; on any error before the switch nothing has changed (temporary files are removed).
Result<SplitReport, std::string> split_shard(const SplitOptions& options);
// Finishes a split whose switch was interrupted (a `split-pending` file exists).
Result<SplitReport, std::string> resume_split(const std::string& shard_dir);

// The name of the journal file in a shard directory.
inline constexpr const char* kSplitPendingFile = "split-pending";

}  // namespace cp::storage
