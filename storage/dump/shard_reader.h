// Read-only access to the persistent message store (ThemWi-SMSC design, section 2.2.3): each
// shard's pms.bin is opened O_RDONLY and mapped PROT_READ, MAP_SHARED, so binary search by entry
// time is index arithmetic on the mapping and touches only the pages it probes. Nothing here
// ever writes, locks or talks to the daemon; a daemon may be appending (O_DIRECT) while a reader
// is open, and the reader works on the snapshot of the valid prefix it found at open().
//
// End of the log (docs/STORAGE.md, "smsc-dump"): the writer guarantees that every slot before
// the first non-valid one (`end`) is valid, that the slots of one group commit after it
// [end, end + window) may hold anything (a torn block, blocks that landed out of order, zeros),
// and that every slot after that window is blank. The window is the writer's (storage/shard.cc,
// recovery): [store] batch_kib / 4 + 1 blocks of 16 records, 16,400 slots for the default
// batch_kib of 4096. open() binary-searches for a non-blank slot followed by a blank one (which
// lies within the window, so `end` is at most one window before it), then checks slots linearly
// from one window before that point to find the first non-valid one. Cost: about 25 probes plus
// at most window + 1 record checks (4 MiB of CRC32C by default), whatever the size of the shard;
// nothing before the last window of the log is read (it is prefetched with one MADV_WILLNEED).
//
// Lifetime: a ShardReader owns its mapping (unmapped on destruction) and is move-only; the
// pointers and references it hands out live as long as it. Not thread-safe to move while in use;
// reading from several threads is fine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "storage/record.h"

namespace cp::storage {

class ShardReader {
 public:
  static constexpr uint64_t kSlotsPerMiB = (uint64_t{1} << 20) / kRecordBytes;  // 4096
  static constexpr uint64_t kSlotsPerBlock = 4096 / kRecordBytes;               // 16
  static constexpr uint32_t kDefaultBatchKib = 4096;  // the writer's default [store] batch_kib
  // How far past the end of the log a writer with this batch_kib may leave non-blank slots.
  static constexpr uint64_t tail_window_slots(uint32_t batch_kib) {
    return (uint64_t{batch_kib} / 4 + 1) * kSlotsPerBlock;
  }
  static constexpr uint64_t kDefaultTailWindowSlots =
      (uint64_t{kDefaultBatchKib} / 4 + 1) * kSlotsPerBlock;  // = tail_window_slots(default)

  // Opens `dir` (a shard directory holding pms.bin and optionally base-index and historical-mb).
  // The shard number is taken from the directory's name, which must be "shard-N" (N in 0..255),
  // unless `shard` is given. `tail_window_slots` (>= 1) is the writer's window above: a larger
  // one only costs time, a smaller one than the writer's may believe a record after a torn one.
  // Errors are one line naming the file, e.g. "pms/shard-0/base-index: not a number".
  static Result<ShardReader, std::string> open(
      const std::filesystem::path& dir, std::optional<unsigned> shard = std::nullopt,
      uint64_t tail_window_slots = kDefaultTailWindowSlots);

  ShardReader(ShardReader&& other) noexcept;
  ShardReader& operator=(ShardReader&& other) noexcept;
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;
  ~ShardReader();

  unsigned shard() const { return shard_; }
  // Valid records (the log) found at open: slots [0, size()).
  uint64_t size() const { return slot_count_; }
  // Slots the file held at open (the log, the torn tail and the preallocated blank space).
  uint64_t file_slots() const { return file_slots_; }
  // The record index of slot 0 (base-index; raised by an offline split).
  uint64_t base_index() const { return base_index_; }
  // Slots at the start known to be historical (historical-mb x 4096, at most size()).
  uint64_t historical_slots() const { return historical_slots_; }
  // What the slot at size() is when it lies in the file: blank normally, bad_* on a torn tail.
  std::optional<RecordCheck> tail_check() const { return tail_check_; }
  // Things an operator should know (a torn tail, an inconsistent historical-mb), one line each.
  const std::vector<std::string>& warnings() const { return warnings_; }
  const std::filesystem::path& dir() const { return dir_; }

  // The mapped record at `slot` < size(). A historical record never changes; an active one may
  // be rewritten in place by the daemon while it is read, so use read() for a stable copy.
  const SmRecord& record(uint64_t slot) const { return records_[slot]; }
  // Copies slot < size() into `out` and checks it, retrying a few times if the copy caught a
  // concurrent in-place update half way. Returns the check of the last copy.
  RecordCheck read(uint64_t slot, SmRecord& out) const;

  uint64_t index_of(uint64_t slot) const { return base_index_ + slot; }
  uint64_t message_id_of(uint64_t slot) const { return make_message_id(shard_, index_of(slot)); }
  // The slot holding record `index`, if it lies in this shard's log.
  std::optional<uint64_t> slot_of_index(uint64_t index) const;

  // The first slot whose time_entry_ns >= ns (size() when none): binary search, O(log n).
  uint64_t lower_bound_time(int64_t ns) const;

  // The mapping is advised MADV_RANDOM at open (a cold probe reads one page, not a read-ahead
  // window). A walk from `from_slot` to the end asks for read-ahead again (MADV_SEQUENTIAL).
  void advise_sequential(uint64_t from_slot) const;

 private:
  ShardReader() = default;
  Result<void, std::string> map_and_find_end(int fd, uint64_t file_bytes, uint64_t window);
  void find_end(uint64_t window);       // sets slot_count_
  void note_tail(uint64_t file_bytes);  // tail_check_, warnings, clamps historical_slots_
  void advise(uint64_t from_slot, uint64_t to_slot, int advice) const;
  // The first slot from `from` on that does not check valid (prefetching up to prefetch_to).
  uint64_t first_invalid(uint64_t from, uint64_t prefetch_to) const;
  bool read_valid(uint64_t slot) const;
  void release();

  std::filesystem::path dir_;
  unsigned shard_ = 0;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  const SmRecord* records_ = nullptr;
  uint64_t file_slots_ = 0;
  uint64_t slot_count_ = 0;
  uint64_t base_index_ = 0;
  uint64_t historical_slots_ = 0;
  std::optional<RecordCheck> tail_check_;
  std::vector<std::string> warnings_;
};

// Where one record of the store sits.
struct RecordPosition {
  const ShardReader* shard = nullptr;
  uint64_t slot = 0;

  const SmRecord& record() const { return shard->record(slot); }
  uint64_t index() const { return shard->index_of(slot); }
  uint64_t message_id() const { return shard->message_id_of(slot); }
};

// Every shard of a store root (its "shard-N" directories; other entries are ignored), and a
// merged walk over them in (time_entry_ns, shard, index) order.
class StoreReader {
 public:
  // Opens every shard-N under `root`, or only shard `only_shard`. Fails when `root` cannot be
  // listed, holds no shard (or not the one asked for), or any shard fails to open.
  // `tail_window_slots` as for ShardReader::open.
  static Result<StoreReader, std::string> open(
      const std::filesystem::path& root, std::optional<unsigned> only_shard = std::nullopt,
      uint64_t tail_window_slots = ShardReader::kDefaultTailWindowSlots);

  // The open shards, in shard order.
  const std::vector<ShardReader>& shards() const { return shards_; }
  const ShardReader* find_shard(unsigned shard) const;
  uint64_t total_records() const;
  // The record with this message id, if the store holds it: O(1).
  std::optional<RecordPosition> find_message(uint64_t message_id) const;

  // Walks every record with time_entry_ns >= from_ns in (time_entry_ns, shard, index) order:
  // one binary search per shard, then a k-way merge over a heap of at most one entry per shard.
  // Lives no longer than its StoreReader (which may be moved meanwhile).
  class Cursor {
   public:
    // The next record, or nullopt at the end of every shard's log.
    std::optional<RecordPosition> next();

   private:
    friend class StoreReader;
    struct Head {
      int64_t time_ns;
      unsigned shard_pos;  // position in shards_ (shard order)
      uint64_t slot;
    };
    static bool later(const Head& a, const Head& b);
    void push(unsigned shard_pos, uint64_t slot);

    const ShardReader* shards_ = nullptr;  // the store's vector (survives moving the store)
    std::vector<Head> heap_;
  };
  Cursor from_time(int64_t from_ns) const;

 private:
  std::vector<ShardReader> shards_;
};

// "shard-17" -> 17; nullopt for anything else (leading zeros, > 255, other names).
std::optional<unsigned> parse_shard_dir_name(std::string_view name);

}  // namespace cp::storage
