// A simulated disk under power loss, one level below SimDisk: it stands in for the system calls
// (storage::ShardFile), so the real FileShardIo — its writes, its fdatasync at open and after
// every commit, the directory sync of a new pms.bin — runs on it, and removing any of those
// syncs makes the crash tests fail. The failure model (after TigerBeetle's simulator):
//   - a write is volatile until datasync(); a new file exists for good only once its directory
//     entry was synced (without that a power loss takes the whole file);
//   - the process can die after any number of calls (die_after): every later call fails with
//     -EIO and reaches nothing;
//   - a restart without power loss keeps what the dead process wrote, still volatile (the
//     page cache, a device's write cache);
//   - a power loss decides, per volatile 512-byte sector and from the caller's seeded
//     generator, whether it was lost, landed, landed as garbage (a device that does not write
//     sectors atomically) or landed in place of another volatile sector (a misdirected write);
//     garbage and misdirection only where nothing durable lies yet (the space appends go to):
//     over synced data they would break the sector atomicity the store is built on.
// Durable content never changes under a power loss: damage to what was synced is a different
// failure (bit rot), which recovery can only detect, not undo.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "storage/shard_io.h"

namespace cp::storage {

struct PowerLossFaults {
  // Weights of a volatile sector's fate at a power loss.
  unsigned lost = 4;
  unsigned landed = 4;
  unsigned garbage = 1;
  unsigned misdirected = 1;
};

struct PowerLossReport {
  bool file_lost = false;  // its directory entry had never been synced
  uint64_t lost = 0, landed = 0, garbage = 0, misdirected = 0;
};

class PowerLossDisk {
 public:
  explicit PowerLossDisk(std::string path = "sim:pms.bin") : path_(std::move(path)) {}

  // The file (created when missing and `create`; `created` says whether it was), or null when
  // it does not exist. The disk outlives it.
  std::unique_ptr<ShardFile> open(bool create, bool* created = nullptr);

  // The process dies after `calls` more writes, datasyncs or directory syncs.
  void die_after(uint64_t calls) { die_at_ = calls_ + calls; }
  bool dead() const { return calls_ >= die_at_; }
  // A restart without power loss: the next process sees what this one wrote, still volatile.
  void restart() { die_at_ = UINT64_MAX; }
  // Power loss (see above), then a restart.
  PowerLossReport power_loss(std::mt19937_64& rng, const PowerLossFaults& faults = {});

  // What a reader sees now (durable content with the volatile sectors over it).
  std::vector<std::byte> visible() const;
  const std::vector<std::byte>& durable() const { return durable_; }

 private:
  friend class PowerLossFile;
  static constexpr size_t kSector = 512;
  using Sector = std::vector<std::byte>;
  bool call();  // counts a call; false once the process is dead
  uint64_t visible_size() const;
  void land(uint64_t sector, const Sector& bytes);

  std::string path_;
  bool exists_ = false;
  bool entry_durable_ = false;
  std::vector<std::byte> durable_;
  uint64_t volatile_size_ = 0;          // the size a reader sees (grows with writes)
  std::map<uint64_t, Sector> overlay_;  // sector number -> bytes written, not yet synced
  uint64_t calls_ = 0;
  uint64_t die_at_ = UINT64_MAX;
};

}  // namespace cp::storage
