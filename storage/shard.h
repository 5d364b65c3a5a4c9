// One shard of the persistent message store: an append-only pms.bin owned by one reactor core,
// written in 4 KiB O_DIRECT blocks with group commit (docs/STORAGE.md).
//
// In memory a shard keeps the image of every block that still holds an active record, plus the
// tail block being filled: active records are updated in place there (IMSI filled in,
// discharge) and rewritten whole, so an update never reads the disk. Historical records are
// immutable; a block whose last active record became historical leaves memory once written.
//
// Group commit: append() and update() change block images and mark them dirty; commit() copies
// the dirty blocks into a staging buffer and writes them with one fdatasync behind them. Every
// submitter's callback runs once its record is durable (result 0) or the commit failed (-errno);
// never before. One commit is in flight at a time; what arrives meanwhile rides the next one.
// When a batch is at capacity, append/update answer StoreError::full: backpressure, retry after
// the next commit.
//
// Crash safety rests on two facts: nothing is acknowledged before its fdatasync returns, and a
// device writes a 512-byte sector atomically (2 whole records), so rewriting a block leaves each
// record either old or new. Recovery (open) verifies every record of the possibly-active tail,
// stops at the first one that is not valid, and zeroes whatever a torn last commit left behind;
// it refuses to start when a record proves the damage hit something acknowledged (shard.cc).
//
// A shard is used from one thread (its reactor's); the stats are atomics any thread may read.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <memory_resource>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/histogram.h"
#include "base/result.h"
#include "storage/record.h"
#include "storage/shard_io.h"

namespace cp::storage {

struct ShardOptions {
  unsigned shard = 0;  // the owning core; part of every message id
  std::string dir;     // the shard directory: pms.bin, historical-mb, base-index, lock
  bool create = true;  // create the directory and pms.bin when missing
  // Kept zero-filled ahead of the tail (pure overwrites commit ~2x faster than extending ones).
  uint64_t prealloc_bytes = 64ull << 20;
  // The most dirty blocks one commit carries (4 MiB): the batch capacity behind backpressure,
  // and the span in which recovery expects the residue of a torn last commit.
  uint32_t batch_blocks_max = 1024;
  // historical-mb is rewritten (temp + fsync + rename) at most this often.
  Nanos historical_mark_interval = kNanosPerSecond;
};

enum class StoreError : uint8_t {
  full,        // this batch is at capacity: retry after the next commit
  failed,      // a commit failed; the shard accepts nothing until restarted (recovery decides)
  not_active,  // no active record with that index here (historical, unknown, other shard)
  bad_record,  // the update would change the record's identity, or discharge without disposition
};
std::string_view to_string(StoreError error);

// What open() found and did.
struct RecoveryReport {
  uint64_t historical_mb = 0;    // the mark read from historical-mb (MiB skipped)
  uint64_t base_index = 0;       // index of slot 0 (raised by offline splits)
  uint64_t scanned_records = 0;  // records read and verified
  uint64_t log_records = 0;      // records in the log (slots before the end)
  uint64_t active_records = 0;
  uint64_t torn_slots = 0;           // non-blank slots found after the end and zeroed
  uint64_t incomplete_messages = 0;  // multi-part messages with an active part but no last part
  uint64_t file_bytes = 0;
  Nanos took = 0;  // the recovery proper (reading, verifying, repairing), not the preallocation
};

// Counters written by the owning thread, read by any (cellctl store, metrics).
struct ShardStats {
  std::atomic<uint64_t> file_bytes{0};
  std::atomic<uint64_t> log_records{0};  // records ever appended (the next slot)
  std::atomic<uint64_t> historical_mb{0};
  std::atomic<uint64_t> active_records{0};
  std::atomic<uint64_t> cached_blocks{0};
  std::atomic<uint64_t> appends{0};
  std::atomic<uint64_t> updates{0};
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> commit_errors{0};
  std::atomic<uint64_t> blocks_written{0};
  std::atomic<uint64_t> full_refusals{0};
  LatencyHistogram commit_latency;  // start of the commit to its fdatasync's return
  // Rates over the last full second of activity, and when that second ended (monotonic ns).
  std::atomic<uint64_t> commits_per_second{0};
  std::atomic<uint64_t> records_per_second{0};
  std::atomic<int64_t> rate_updated_ns{0};
};

class Shard final : public CommitListener, public ExtendListener {
 public:
  // Called once per append/update when the record is durable (result 0) or will never be
  // (-errno). `index` is the record's index in this shard.
  using AckFn = void (*)(void* ctx, uint64_t index, int32_t result);

  // Opens the shard directory, takes its lock (one process, one owner), recovers (see above)
  // and preallocates. `io` is the shard's pms.bin; open_dir() below builds it.
  static Result<std::unique_ptr<Shard>, std::string> open(const ShardOptions& options,
                                                          std::unique_ptr<ShardIo> io, Clock& clock,
                                                          RecoveryReport* report = nullptr);
  // open() on `options.dir`/pms.bin (O_DIRECT), committing through `reactor` when given.
  static Result<std::unique_ptr<Shard>, std::string> open_dir(const ShardOptions& options,
                                                              Clock& clock,
                                                              engine::FileCommitter* committer,
                                                              RecoveryReport* report = nullptr);
  ~Shard() override;
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  unsigned id() const { return options_.shard; }
  const ShardOptions& options() const { return options_; }
  const ShardStats& stats() const { return stats_; }

  // Appends `record` (its identity is set here: message_id, time_entry_ns, never earlier than
  // the previous record's; then sealed). Returns the record's index; `ack` runs when durable.
  Result<uint64_t, StoreError> append(SmRecord& record, AckFn ack, void* ctx);
  // Replaces active record `index` with `next` (identity fields must match). A `next` in the
  // historical state discharges it (time_discharge_ns set if 0); it is then immutable.
  Result<void, StoreError> update(uint64_t index, const SmRecord& next, AckFn ack, void* ctx);
  // The active record `index` as it is in memory (including changes not yet durable), or null.
  const SmRecord* find_active(uint64_t index) const;
  // Whether the record at `index` (an active one, at start-up) is a part of a multi-part message
  // whose last part never reached the log: its submitter was never told it was stored, and no
  // part of it may be delivered.
  bool incomplete_message(const SmRecord& record, uint64_t index) const;
  // Calls fn(index, record) for every active record, oldest first.
  template <typename Fn>
  void for_each_active(Fn&& fn) const;

  // Starts a commit of everything dirty unless one is in flight or nothing is dirty. True if
  // it started one (which may already have completed with a synchronous ShardIo).
  bool commit();
  bool has_dirty() const { return !dirty_.empty(); }
  bool commit_in_flight() const { return in_flight_; }
  // commit() would start one now (the store's poller keeps the reactor awake while true).
  bool can_commit() const {
    return !in_flight_ && !failed_ && !dirty_.empty() && !extend_in_flight_;
  }
  bool failed() const { return failed_; }
  // Commits until nothing is dirty (synchronous ShardIo) — for tools and orderly shutdown.
  Result<void, std::string> flush_sync();

  uint64_t next_index() const { return base_index_ + tail_slot_; }
  uint64_t base_index() const { return base_index_; }
  uint64_t historical_mb() const { return historical_mb_; }
  uint64_t active_count() const { return active_count_; }

 private:
  struct Block {
    std::byte* data = nullptr;  // 4 KiB, aligned
    uint16_t active = 0;        // active records in it
    bool dirty = false;         // changed since it was last copied into a commit
  };
  struct Waiter {
    AckFn fn;
    void* ctx;
    uint64_t index;
  };

  Shard(const ShardOptions& options, std::unique_ptr<ShardIo> io, Clock& clock);
  Result<void, std::string> recover(RecoveryReport& report);
  Result<void, std::string> preallocate_sync();
  Block& block_for(uint64_t block_no);  // cached, or a new zeroed image
  SmRecord* slot_ptr(uint64_t slot);
  void mark_dirty(uint64_t block_no, Block& b);
  void release_block(uint64_t block_no);
  uint64_t oldest_possibly_active_slot() const;
  uint32_t unsynced_before(uint64_t slot) const;  // SmRecord::unsynced_before for `slot` now
  void maybe_write_historical_mark();
  void note_part(const SmRecord& record, uint64_t index);  // recovery: multi-part messages
  void on_commit_done(int32_t result) override;
  void maybe_extend();
  void on_extend_done(int32_t result) override;

  ShardOptions options_;
  std::unique_ptr<ShardIo> io_;
  Clock& clock_;
  int lock_fd_ = -1;
  uint64_t base_index_ = 0;
  uint64_t historical_mb_ = 0;
  uint64_t tail_slot_ = 0;     // next slot to append to
  uint64_t durable_slot_ = 0;  // every slot before it is durable (stamped into each record)
  uint64_t commit_tail_ = 0;   // tail_slot_ when the commit in flight was started
  uint64_t file_bytes_ = 0;    // zero-filled extent of pms.bin
  int64_t last_entry_ns_ = 0;
  uint64_t active_count_ = 0;
  // Recovery: part 1's index of each multi-part message with an active part -> whether its last
  // part was seen; then the sorted part-1 indices of those never completed.
  std::unordered_map<uint64_t, bool> parts_seen_;
  std::vector<uint64_t> incomplete_messages_;
  // Map nodes come from a pool that reuses freed ones and grows geometrically, so caching a
  // new block does not allocate from the heap once the cache has reached its working size.
  std::pmr::unsynchronized_pool_resource block_nodes_;
  std::pmr::map<uint64_t, Block> blocks_{&block_nodes_};  // block number -> image: active + tail
  std::vector<std::byte*> free_images_;
  std::vector<AlignedBuffer> image_chunks_;
  std::vector<uint64_t> dirty_;  // block numbers, unordered
  std::vector<Waiter> waiting_;  // acks for the next commit
  std::vector<Waiter> in_flight_waiters_;
  std::vector<FileWrite> writes_;
  AlignedBuffer staging_;
  bool in_flight_ = false;
  bool failed_ = false;
  bool acking_ = false;  // running acks: commit() waits (no nested commits from a callback)
  Nanos commit_started_ = 0;
  bool extend_in_flight_ = false;
  uint64_t extend_from_ = 0;  // the zero fill in flight covers [extend_from_, extend_to_)
  uint64_t extend_to_ = 0;
  uint64_t commit_end_ = 0;        // end of the highest block the commit in flight writes
  uint64_t commit_bytes_avg_ = 0;  // moving average of what a commit writes (sizes the fill)
  std::vector<FileWrite> extend_writes_;
  uint64_t mark_candidate_mb_ = 0;  // historical-mb the in-flight commit makes true
  Nanos last_mark_write_ = 0;
  Nanos rate_window_start_ = 0;
  uint64_t rate_commits_ = 0;
  uint64_t rate_records_ = 0;
  ShardStats stats_;
};

template <typename Fn>
void Shard::for_each_active(Fn&& fn) const {
  for (const auto& [block_no, b] : blocks_) {
    if (b.active == 0) continue;
    const auto* records = reinterpret_cast<const SmRecord*>(b.data);
    for (size_t i = 0; i < kRecordsPerBlock; ++i) {
      const SmRecord& r = records[i];
      if (r.magic_version != 0 && r.state == static_cast<uint8_t>(RecordState::active))
        fn(base_index_ + block_no * kRecordsPerBlock + i, r);
    }
  }
}

// Reads base-index / historical-mb style files: one ASCII decimal line. A missing file is 0.
Result<uint64_t, std::string> read_number_file(const std::string& path);
// Writes one atomically: temp file, fsync, rename, fsync of the directory.
Result<void, std::string> write_number_file(const std::string& path, uint64_t value);

}  // namespace cp::storage
