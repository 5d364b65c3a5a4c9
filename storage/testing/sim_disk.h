// A simulated disk for crash-consistency tests of the message store: a ShardIo whose content
// lives in memory, with the failure model of a real device under power loss:
//   - what a commit wrote is durable only once its fdatasync returned (complete_commit());
//   - a crash loses unsynced writes, or lands any subset of their 512-byte sectors — a torn
//     write — but a sector itself is all old or all new (the atomicity real devices give);
//   - injected I/O errors fail a commit.
// Commits stay in flight until the test completes them, so a test can crash at every moment.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "storage/shard_io.h"

namespace cp::storage {

class SimDisk {
 public:
  explicit SimDisk(std::string name = "sim:pms.bin") : name_(std::move(name)) {}

  // A ShardIo on this disk (the disk outlives it). With auto_complete, commits complete inside
  // start_commit (a synchronous disk); otherwise they wait for complete_commit().
  std::unique_ptr<ShardIo> open(bool auto_complete);

  bool commit_in_flight() const { return listener_ != nullptr; }
  // The in-flight commit lands (durable) and its listener hears `result` (a negative errno
  // fails it: nothing of it is durable, though some sectors may have landed).
  void complete_commit(int32_t result = 0);

  // Sectors of the in-flight commit, in write order (crash_image's `landed` indexes them).
  size_t in_flight_sectors() const;
  // The disk after a power loss now: the durable content plus the sectors of the in-flight
  // commit for which landed(i) is true. The process died with it: its listener hears
  // -ECANCELED, so the shard above promises nothing of it (its waiters learn the writes were
  // never acknowledged), accepts nothing more and can be destroyed — what a dead process's
  // shard would have done, without a test-only hook in the shard.
  std::vector<std::byte> crash_image(const std::function<bool(size_t sector)>& landed);
  // Replaces the content (a restart on the crashed disk).
  void restore(std::vector<std::byte> image);
  const std::vector<std::byte>& durable() const { return durable_; }

  // The next commit fails with `error` (e.g. -EIO) after landing nothing.
  void fail_next_commit(int32_t error) { fail_next_ = error; }
  uint64_t commits() const { return commits_; }

 private:
  friend class SimDiskIo;
  void apply(std::vector<std::byte>& image, const FileWrite& w) const;

  std::string name_;
  std::vector<std::byte> durable_;  // the content every reader sees once synced
  struct Pending {
    uint64_t offset;
    std::vector<std::byte> bytes;
  };
  std::vector<Pending> in_flight_;
  CommitListener* listener_ = nullptr;
  int32_t fail_next_ = 0;
  uint64_t commits_ = 0;
};

}  // namespace cp::storage
