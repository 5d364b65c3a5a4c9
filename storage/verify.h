// A read-only check of a whole shard (pms-tool verify): every record's checksum and place, the
// historical mark against the records, entry-time order, and what lies after the end of the log.
// Safe while the daemon runs (it only reads), though a live shard may move under it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"

namespace cp::storage {

struct VerifyReport {
  std::string dir;
  unsigned shard = 0;
  uint64_t base_index = 0;
  uint64_t historical_mb = 0;
  uint64_t file_bytes = 0;
  uint64_t records = 0;  // the log: valid records before the first slot that is not
  uint64_t active = 0;
  uint64_t historical = 0;
  int64_t first_entry_ns = 0;
  int64_t last_entry_ns = 0;
  uint64_t non_blank_after_end = 0;  // residue recovery would zero (or damage, see problems)
  bool split_pending = false;
  std::vector<std::string> problems;  // empty: the shard is sound
};

Result<VerifyReport, std::string> verify_shard(
    const std::string& shard_dir,
    const std::function<void(uint64_t done, uint64_t total)>& progress);
std::string to_text(const VerifyReport& report);
std::string to_json(const VerifyReport& report);

}  // namespace cp::storage
