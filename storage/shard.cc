#include "storage/shard.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <optional>

#include "base/assert.h"
#include "base/log.h"
#include "engine/file_ops.h"

namespace cp::storage {
namespace {

constexpr size_t kScanChunkBytes = 4 << 20;
constexpr size_t kZeroChunkBytes = 4 << 20;
constexpr uint64_t kExtendChunkMin = 1 << 20;
constexpr uint64_t kExtendChunkMax = 32 << 20;
constexpr size_t kImagesPerChunk = 64;

uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

// A process-wide run of zeros for preallocation and repairs (never written to).
std::span<const std::byte> zeros(size_t bytes) {
  static const AlignedBuffer buffer = make_aligned(kZeroChunkBytes);
  CP_ASSERT(bytes <= kZeroChunkBytes);
  return {buffer.get(), bytes};
}

bool is_blank(const SmRecord& r) {
  return check(r) == RecordCheck::blank;
}

// A state the store understands: active without a disposition, or historical with one.
bool well_formed(const SmRecord& r) {
  if (r.state == static_cast<uint8_t>(RecordState::active))
    return r.disposition == static_cast<uint8_t>(Disposition::none);
  return r.state == static_cast<uint8_t>(RecordState::historical) &&
         r.disposition != static_cast<uint8_t>(Disposition::none) &&
         r.disposition <= static_cast<uint8_t>(Disposition::stored_only);
}

std::string errno_text(const std::string& what, const std::string& path) {
  return path + ": " + what + ": " + std::strerror(errno);
}

}  // namespace

std::string_view to_string(StoreError error) {
  switch (error) {
    case StoreError::full:
      return "store batch full, retry";
    case StoreError::failed:
      return "store failed (a commit could not be made durable); restart required";
    case StoreError::not_active:
      return "no such active message";
    case StoreError::bad_record:
      return "invalid record update";
  }
  return "?";
}

Result<uint64_t, std::string> read_number_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return uint64_t{0};
    return fail(errno_text("open", path));
  }
  char buf[64];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0) return fail(errno_text("read", path));
  std::string_view text(buf, static_cast<size_t>(n));
  while (!text.empty() &&
         (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) return fail(path + ": number out of range");
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      static_cast<size_t>(n) == sizeof buf)
    return fail(path + ": not a number (expected one decimal line)");
  return value;
}

Result<void, std::string> write_number_file(const std::string& path, uint64_t value) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return fail(errno_text("open", tmp));
  const std::string text = std::to_string(value) + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  const std::string err = ok ? "" : errno_text("write", tmp);
  ::close(fd);
  if (!ok) return fail(err);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(errno_text("rename", tmp));
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (const int rc = engine::file_ops::sync_directory(dir.empty() ? "." : dir.c_str()); rc < 0)
    return fail(dir + ": fsync: " + std::strerror(-rc));
  return {};
}

Shard::Shard(const ShardOptions& options, std::unique_ptr<ShardIo> io, Clock& clock)
    : options_(options), io_(std::move(io)), clock_(clock) {}

Shard::~Shard() {
  CP_ASSERT(!in_flight_ && !extend_in_flight_);
  if (!failed_ && dirty_.empty()) {
    // Everything in memory is durable: the mark may catch up with it.
    mark_candidate_mb_ = oldest_possibly_active_slot() / kRecordsPerMiB;
    last_mark_write_ = 0;
    options_.historical_mark_interval = 0;
    maybe_write_historical_mark();
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<std::unique_ptr<Shard>, std::string> Shard::open_dir(const ShardOptions& options,
                                                            Clock& clock,
                                                            engine::FileCommitter* committer,
                                                            RecoveryReport* report) {
  std::error_code ec;
  const bool made = options.create && std::filesystem::create_directories(options.dir, ec);
  if (ec) return fail(options.dir + ": cannot create: " + ec.message());
  if (made) {  // the new directory's own entry durable too (pms.bin's is synced when created)
    const std::string parent = std::filesystem::path(options.dir).parent_path().string();
    if (const int rc = engine::file_ops::sync_directory(parent.empty() ? "." : parent.c_str());
        rc < 0)
      return fail(parent + ": fsync: " + std::strerror(-rc));
  }
  auto io = open_shard_file(options.dir + "/pms.bin", options.create, committer);
  if (!io) return fail(io.error());
  return open(options, std::move(*io), clock, report);
}

Result<std::unique_ptr<Shard>, std::string> Shard::open(const ShardOptions& options,
                                                        std::unique_ptr<ShardIo> io, Clock& clock,
                                                        RecoveryReport* report) {
  CP_ASSERT(options.shard < kShardsMax);
  CP_ASSERT(options.batch_blocks_max >= 2);
  std::error_code ec;
  if (options.create) std::filesystem::create_directories(options.dir, ec);
  if (ec) return fail(options.dir + ": cannot create: " + ec.message());
  std::unique_ptr<Shard> s(new Shard(options, std::move(io), clock));
  const std::string lock_path = options.dir + "/lock";
  s->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (s->lock_fd_ < 0) return fail(errno_text("open", lock_path));
  if (::flock(s->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return fail(options.dir + ": in use by another process (a running cellplaned?)");
    return fail(errno_text("flock", lock_path));
  }
  if (std::filesystem::exists(options.dir + "/split-pending"))
    return fail(options.dir +
                ": an offline split was interrupted; finish it with `pms-tool split "
                "--resume --shard-dir " +
                options.dir + "` before starting");
  auto base = read_number_file(options.dir + "/base-index");
  if (!base) return fail(base.error());
  auto mark = read_number_file(options.dir + "/historical-mb");
  if (!mark) return fail(mark.error());
  s->base_index_ = *base;
  s->historical_mb_ = *mark;

  const Nanos started = clock.now();
  RecoveryReport local;
  RecoveryReport& rep = report ? *report : local;
  rep = RecoveryReport{};
  rep.historical_mb = *mark;
  rep.base_index = *base;
  auto recovered = s->recover(rep);
  s->io_->release_cache();
  if (!recovered) return fail(recovered.error());
  rep.took = clock.now() - started;  // recovery proper; the preallocation below is not in it
  if (auto ok = s->preallocate_sync(); !ok) return fail(ok.error());
  s->staging_ = make_aligned(size_t{options.batch_blocks_max} * kBlockBytes);
  s->writes_.reserve(options.batch_blocks_max + 1);
  s->mark_candidate_mb_ = s->historical_mb_;
  rep.file_bytes = s->file_bytes_;
  s->stats_.file_bytes.store(s->file_bytes_, std::memory_order_relaxed);
  s->stats_.log_records.store(s->next_index(), std::memory_order_relaxed);
  s->stats_.historical_mb.store(s->historical_mb_, std::memory_order_relaxed);
  s->stats_.active_records.store(s->active_count_, std::memory_order_relaxed);
  s->stats_.cached_blocks.store(s->blocks_.size(), std::memory_order_relaxed);
  return s;
}

// Recovery. Slots before historical-mb MiB are historical and skipped. From there every record
// is verified; the log ends at the first that is not valid. A valid record at the wrong place
// (another shard's file, a wrong base-index) stops the start-up: that is a configuration error,
// and treating it as a torn tail would destroy good data. After the end, the residue a torn last
// commit can leave lies within one batch; it is zeroed — unless a record there was sealed after
// the end was durable (SmRecord::unsynced_before), which proves damage to an acknowledged
// record. That, or valid records further on, is damage in the middle of the log: refused,
// never truncated.
// Multi-part messages (record.h, part / parts): the parts are appended in order, and the kept log
// is a prefix of what was written, so a message whose last part is in the log has all of its
// parts there. Only messages with an active part are tracked: a part that is active is seen
// before its message's last part (which has a higher index).
void Shard::note_part(const SmRecord& r, uint64_t index) {
  if (!is_part(r, index)) return;
  const uint64_t first = first_part_index(r, index);
  if (r.state == static_cast<uint8_t>(RecordState::active)) {
    bool& complete = parts_seen_[first];
    complete = complete || r.part == r.parts;
  } else if (r.part == r.parts) {
    if (auto it = parts_seen_.find(first); it != parts_seen_.end()) it->second = true;
  }
}

bool Shard::incomplete_message(const SmRecord& r, uint64_t index) const {
  return is_part(r, index) &&
         std::binary_search(incomplete_messages_.begin(), incomplete_messages_.end(),
                            first_part_index(r, index));
}

Result<void, std::string> Shard::recover(RecoveryReport& rep) {
  auto size = io_->size();
  if (!size) return fail(size.error());
  file_bytes_ = *size;
  // A partial last record (a file cut by hand) counts: it reads zero-padded, so it is never
  // valid, and as residue it is zeroed like any other.
  const uint64_t file_slots = (file_bytes_ + kRecordBytes - 1) / kRecordBytes;
  const uint64_t start = historical_mb_ * kRecordsPerMiB;
  if (start > file_slots)
    return fail(
        fmt::format("{}/historical-mb says {} MiB are historical, but pms.bin holds only "
                    "{} bytes",
                    options_.dir, historical_mb_, file_bytes_));
  const std::string& path = io_->path();
  // Everything from the mark to the end of the file is read once, in order: ask for all of it
  // now so the reads overlap instead of waiting for each other.
  io_->prefetch(start * kRecordBytes, file_bytes_ - start * kRecordBytes);
  // Read in chunks of up to 4 MiB, no larger than what there is to read: a small shard's
  // recovery (a test's, a fresh one's) does not fault in and zero 4 MiB for a few blocks.
  const uint64_t to_read = file_bytes_ - start * kRecordBytes;
  const size_t chunk_bytes = static_cast<size_t>(
      std::clamp<uint64_t>(align_up(to_read, kBlockBytes), kBlockBytes, kScanChunkBytes));
  AlignedBuffer chunk = make_aligned(chunk_bytes, /*zero=*/false);  // every read fills it
  const uint64_t chunk_slots = chunk_bytes / kRecordBytes;
  const uint64_t window_slots = uint64_t{options_.batch_blocks_max + 1} * kRecordsPerBlock;

  // Calls fn(slot, record) over [from, to) until it returns false; returns the stopping slot.
  auto scan = [&](uint64_t from, uint64_t to, auto&& fn) -> Result<uint64_t, std::string> {
    uint64_t slot = from;
    while (slot < to) {
      const uint64_t chunk_first = slot / kRecordsPerBlock * kRecordsPerBlock;
      const uint64_t chunk_end =
          std::min<uint64_t>(chunk_first + chunk_slots, align_up(to, kRecordsPerBlock));
      const size_t bytes = static_cast<size_t>((chunk_end - chunk_first) * kRecordBytes);
      if (auto ok = io_->read(chunk_first * kRecordBytes, {chunk.get(), bytes}); !ok)
        return fail(ok.error());
      const auto* records = reinterpret_cast<const SmRecord*>(chunk.get());
      for (; slot < std::min(chunk_end, to); ++slot) {
        if (!fn(slot, records[slot - chunk_first],
                records + (slot / kRecordsPerBlock * kRecordsPerBlock - chunk_first)))
          return slot;
      }
    }
    return slot;
  };

  std::string misplaced;
  auto misplaced_text = [&](uint64_t slot, const SmRecord& r) {
    return fmt::format(
        "{}: the record at slot {} is message {}:{}, not {}:{} — pms.bin is not "
        "this shard's or base-index is wrong; refusing to start (docs/STORAGE.md, "
        "recovery)",
        path, slot, message_shard(r.message_id), message_index(r.message_id), options_.shard,
        base_index_ + slot);
  };
  // The durable floor of a valid record of ours, computed for the slot it was sealed for.
  auto floor_of = [&](const SmRecord& r) -> std::optional<uint64_t> {
    if (message_shard(r.message_id) != options_.shard || message_index(r.message_id) < base_index_)
      return std::nullopt;
    return durable_floor(r, message_index(r.message_id) - base_index_);
  };
  // A valid record of ours at the wrong slot, sealed while `end` was not yet durable: a write of
  // the torn last commit that landed in the wrong place (a misdirected write) — residue, not a
  // sign of another shard's file.
  auto misdirected_residue = [&](const SmRecord& r, uint64_t end) {
    const auto floor = floor_of(r);
    return floor && *floor <= end;
  };
  uint64_t scanned = 0;
  auto end = scan(start, file_slots, [&](uint64_t slot, const SmRecord& r, const SmRecord* block) {
    ++scanned;
    if (check(r) != RecordCheck::valid) return false;
    if (r.message_id != make_message_id(options_.shard, base_index_ + slot)) {
      if (!misdirected_residue(r, slot)) misplaced = misplaced_text(slot, r);
      return false;
    }
    last_entry_ns_ = std::max(last_entry_ns_, r.time_entry_ns);
    note_part(r, base_index_ + slot);
    if (r.state == static_cast<uint8_t>(RecordState::active)) {
      const uint64_t block_no = slot / kRecordsPerBlock;
      auto it = blocks_.find(block_no);
      if (it == blocks_.end()) {
        Block& b = block_for(block_no);
        std::memcpy(b.data, block, kBlockBytes);
        it = blocks_.find(block_no);
      }
      ++it->second.active;
      ++active_count_;
    }
    return true;
  });
  if (!end) return fail(end.error());
  if (!misplaced.empty()) return fail(misplaced);
  for (const auto& [first, complete] : parts_seen_)
    if (!complete) incomplete_messages_.push_back(first);
  parts_seen_ = {};
  std::sort(incomplete_messages_.begin(), incomplete_messages_.end());
  rep.incomplete_messages = incomplete_messages_.size();
  tail_slot_ = *end;
  durable_slot_ = tail_slot_;
  rep.scanned_records = scanned;
  rep.log_records = tail_slot_;
  rep.active_records = active_count_;

  // The entry time of the last record, when the scan started at it or after it.
  if (tail_slot_ > 0 && tail_slot_ <= start) {
    const uint64_t last = tail_slot_ - 1;
    auto ok = scan(last, last + 1, [&](uint64_t, const SmRecord& r, const SmRecord*) {
      last_entry_ns_ = r.time_entry_ns;
      return true;
    });
    if (!ok) return fail(ok.error());
  }

  // The torn residue: non-blank slots within one batch after the end.
  const uint64_t window_end = std::min(file_slots, tail_slot_ + window_slots);
  std::vector<uint64_t> repair_blocks;
  std::optional<uint64_t> damaged_proof;
  auto residue =
      scan(tail_slot_, window_end, [&](uint64_t slot, const SmRecord& r, const SmRecord*) {
        if (is_blank(r)) return true;
        if (check(r) == RecordCheck::valid) {
          // A record sealed after the end slot was durable proves the end is damage to an
          // acknowledged record, not the residue of a torn last commit.
          if (const auto floor = floor_of(r); floor && *floor > tail_slot_) {
            damaged_proof = slot;
            return false;
          }
          if (r.message_id != make_message_id(options_.shard, base_index_ + slot) &&
              !misdirected_residue(r, tail_slot_)) {
            misplaced = misplaced_text(slot, r);
            return false;
          }
        }
        ++rep.torn_slots;
        const uint64_t block_no = slot / kRecordsPerBlock;
        if (repair_blocks.empty() || repair_blocks.back() != block_no)
          repair_blocks.push_back(block_no);
        return true;
      });
  if (!residue) return fail(residue.error());
  if (!misplaced.empty()) return fail(misplaced);
  if (damaged_proof)
    return fail(fmt::format(
        "{}: the record at slot {} is damaged, but the record at slot {} was written after it "
        "was durable (acknowledged): damage in the middle of the log, not a torn tail; "
        "refusing to zero acknowledged messages (docs/STORAGE.md, recovery)",
        path, tail_slot_, *damaged_proof));
  // Beyond it the writer leaves only zeros (preallocation), to the end of the file. A valid
  // record there means the end we found is damage in the middle of the log; anything else
  // non-blank is not ours. Either way: refuse rather than truncate.
  uint64_t found = file_slots;
  bool found_valid = false;
  auto beyond =
      scan(window_end, file_slots, [&](uint64_t slot, const SmRecord& r, const SmRecord*) {
        if (is_blank(r)) return true;
        found = slot;
        found_valid = check(r) == RecordCheck::valid;
        return false;
      });
  if (!beyond) return fail(beyond.error());
  if (found < file_slots && found_valid)
    return fail(
        fmt::format("{}: the record at slot {} is damaged but valid records follow (slot "
                    "{}): damage in the middle of the log, not a torn tail; refusing to "
                    "truncate acknowledged messages (docs/STORAGE.md, recovery)",
                    path, tail_slot_, found));
  if (found < file_slots)
    return fail(
        fmt::format("{}: unexpected data at slot {}, after the end of the log (slot {}) "
                    "and beyond the reach of a torn commit; refusing to start (check the "
                    "file with `pms-tool verify`)",
                    path, found, tail_slot_));

  // The tail block: kept in memory (appends continue in it), good records only.
  const uint64_t tail_block = tail_slot_ / kRecordsPerBlock;
  if (tail_slot_ % kRecordsPerBlock != 0) {
    const uint64_t first = tail_block * kRecordsPerBlock;
    auto ok = scan(first, first + 1, [&](uint64_t, const SmRecord&, const SmRecord* block) {
      Block& b = block_for(tail_block);
      if (b.active == 0) std::memcpy(b.data, block, kBlockBytes);
      std::memset(b.data + (tail_slot_ - first) * kRecordBytes, 0,
                  (first + kRecordsPerBlock - tail_slot_) * kRecordBytes);
      return true;
    });
    if (!ok) return fail(ok.error());
  }
  if (!repair_blocks.empty()) {
    std::vector<FileWrite> repairs;
    for (uint64_t block_no : repair_blocks) {
      const auto it = blocks_.find(block_no);
      repairs.push_back(
          {block_no * kBlockBytes, it != blocks_.end()
                                       ? std::span<const std::byte>(it->second.data, kBlockBytes)
                                       : zeros(kBlockBytes)});
    }
    if (auto ok = io_->write_durable(repairs); !ok) return fail(ok.error());
    CP_LOG_NOTICE("{}: zeroed {} slots of a torn last commit after record {}", path, rep.torn_slots,
                  base_index_ + tail_slot_);
  }
  return {};
}

Result<void, std::string> Shard::preallocate_sync() {
  uint64_t at = std::max(align_up(file_bytes_, kBlockBytes),
                         align_up(tail_slot_ * kRecordBytes, kBlockBytes));
  const uint64_t want = align_up(tail_slot_ * kRecordBytes, kBlockBytes) + options_.prealloc_bytes;
  std::vector<FileWrite> writes;  // all from the one zero buffer; one fdatasync behind them
  while (at < want) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(want - at, kZeroChunkBytes));
    writes.push_back({at, zeros(n)});
    at += n;
  }
  if (!writes.empty()) {
    if (auto ok = io_->write_durable(writes); !ok) return fail(ok.error());
  }
  file_bytes_ = std::max(file_bytes_, at);
  return {};
}

Shard::Block& Shard::block_for(uint64_t block_no) {
  auto [it, inserted] = blocks_.try_emplace(block_no);
  if (inserted) {
    if (free_images_.empty()) {
      // Not zeroed here: each image is zeroed when taken (below), touching only what is used.
      image_chunks_.push_back(make_aligned(kImagesPerChunk * kBlockBytes, /*zero=*/false));
      for (size_t i = kImagesPerChunk; i-- > 0;)
        free_images_.push_back(image_chunks_.back().get() + i * kBlockBytes);
    }
    it->second.data = free_images_.back();
    free_images_.pop_back();
    std::memset(it->second.data, 0, kBlockBytes);
  }
  return it->second;
}

SmRecord* Shard::slot_ptr(uint64_t slot) {
  const auto it = blocks_.find(slot / kRecordsPerBlock);
  if (it == blocks_.end()) return nullptr;
  return reinterpret_cast<SmRecord*>(it->second.data) + slot % kRecordsPerBlock;
}

void Shard::mark_dirty(uint64_t block_no, Block& b) {
  if (b.dirty) return;
  b.dirty = true;
  dirty_.push_back(block_no);
}

// Drops a block image that holds no active record, is written, and is not the tail.
void Shard::release_block(uint64_t block_no) {
  const auto it = blocks_.find(block_no);
  if (it == blocks_.end() || it->second.active > 0 || it->second.dirty) return;
  if (tail_slot_ % kRecordsPerBlock != 0 && block_no == tail_slot_ / kRecordsPerBlock) return;
  free_images_.push_back(it->second.data);
  blocks_.erase(it);
}

uint32_t Shard::unsynced_before(uint64_t slot) const {
  if (slot <= durable_slot_) return 0;
  return static_cast<uint32_t>(std::min<uint64_t>(slot - durable_slot_, UINT32_MAX));
}

uint64_t Shard::oldest_possibly_active_slot() const {
  for (const auto& [block_no, b] : blocks_) {
    if (b.active > 0) return block_no * kRecordsPerBlock;
  }
  return tail_slot_;
}

Result<uint64_t, StoreError> Shard::append(SmRecord& record, AckFn ack, void* ctx) {
  if (failed_) return fail(StoreError::failed);
  const uint64_t slot = tail_slot_;
  const uint64_t block_no = slot / kRecordsPerBlock;
  if (!well_formed(record)) return fail(StoreError::bad_record);
  const bool historical = record.state == static_cast<uint8_t>(RecordState::historical);
  const auto it = blocks_.find(block_no);
  const bool needs_slot = it == blocks_.end() || !it->second.dirty;
  if (needs_slot && dirty_.size() >= options_.batch_blocks_max) {
    stats_.full_refusals.fetch_add(1, std::memory_order_relaxed);
    return fail(StoreError::full);
  }
  // Starting a new block: the previous one leaves memory unless it still has active records.
  if (slot % kRecordsPerBlock == 0 && slot > 0) release_block(block_no - 1);
  Block& b = block_for(block_no);
  const int64_t now = clock_.wall_now();
  last_entry_ns_ = std::max<int64_t>(last_entry_ns_, now);
  const uint64_t index = base_index_ + slot;
  record.message_id = make_message_id(options_.shard, index);
  record.time_entry_ns = last_entry_ns_;
  if (historical && record.time_discharge_ns == 0) record.time_discharge_ns = now;
  record.unsynced_before = unsynced_before(slot);
  seal(record);
  std::memcpy(b.data + (slot % kRecordsPerBlock) * kRecordBytes, &record, kRecordBytes);
  if (!historical) {
    ++b.active;
    ++active_count_;
  }
  mark_dirty(block_no, b);
  ++tail_slot_;
  if (ack) waiting_.push_back({ack, ctx, index});
  stats_.appends.fetch_add(1, std::memory_order_relaxed);
  return index;
}

Result<void, StoreError> Shard::update(uint64_t index, const SmRecord& next, AckFn ack, void* ctx) {
  if (failed_) return fail(StoreError::failed);
  if (index < base_index_ || index >= next_index()) return fail(StoreError::not_active);
  const uint64_t slot = index - base_index_;
  const uint64_t block_no = slot / kRecordsPerBlock;
  const auto it = blocks_.find(block_no);
  if (it == blocks_.end()) return fail(StoreError::not_active);
  Block& b = it->second;
  auto* current = reinterpret_cast<SmRecord*>(b.data) + slot % kRecordsPerBlock;
  if (current->magic_version == 0 || current->state != static_cast<uint8_t>(RecordState::active))
    return fail(StoreError::not_active);
  if (next.message_id != current->message_id || next.time_entry_ns != current->time_entry_ns)
    return fail(StoreError::bad_record);
  if (!well_formed(next)) return fail(StoreError::bad_record);
  const bool discharge = next.state == static_cast<uint8_t>(RecordState::historical);
  if (!b.dirty && dirty_.size() >= options_.batch_blocks_max) {
    stats_.full_refusals.fetch_add(1, std::memory_order_relaxed);
    return fail(StoreError::full);
  }
  *current = next;
  if (discharge && current->time_discharge_ns == 0) current->time_discharge_ns = clock_.wall_now();
  current->unsynced_before = unsynced_before(slot);
  seal(*current);
  if (discharge) {
    --b.active;
    --active_count_;
  }
  mark_dirty(block_no, b);
  if (ack) waiting_.push_back({ack, ctx, index});
  stats_.updates.fetch_add(1, std::memory_order_relaxed);
  return {};
}

const SmRecord* Shard::find_active(uint64_t index) const {
  if (index < base_index_ || index >= next_index()) return nullptr;
  const uint64_t slot = index - base_index_;
  const auto it = blocks_.find(slot / kRecordsPerBlock);
  if (it == blocks_.end()) return nullptr;
  const auto* r = reinterpret_cast<const SmRecord*>(it->second.data) + slot % kRecordsPerBlock;
  if (r->magic_version == 0 || r->state != static_cast<uint8_t>(RecordState::active))
    return nullptr;
  return r;
}

bool Shard::commit() {
  if (in_flight_ || failed_ || acking_ || dirty_.empty()) return false;
  std::sort(dirty_.begin(), dirty_.end());
  // No commit while a zero fill is in flight (see maybe_extend).
  if (extend_in_flight_) return false;
  writes_.clear();
  std::byte* out = staging_.get();
  for (uint64_t block_no : dirty_) {
    Block& b = blocks_.find(block_no)->second;
    std::memcpy(out, b.data, kBlockBytes);
    b.dirty = false;
    const uint64_t offset = block_no * kBlockBytes;
    FileWrite& last =
        writes_.empty() ? writes_.emplace_back(FileWrite{offset, {out, 0}}) : writes_.back();
    if (last.offset + last.bytes.size() == offset) {
      last.bytes = {last.bytes.data(), last.bytes.size() + kBlockBytes};
    } else {
      writes_.push_back({offset, {out, kBlockBytes}});
    }
    out += kBlockBytes;
  }
  stats_.blocks_written.fetch_add(dirty_.size(), std::memory_order_relaxed);
  for (uint64_t block_no : dirty_) release_block(block_no);
  dirty_.clear();
  // Once this commit is durable, the disk holds exactly what memory holds now.
  mark_candidate_mb_ = oldest_possibly_active_slot() / kRecordsPerMiB;
  CP_ASSERT(in_flight_waiters_.empty());
  in_flight_waiters_.swap(waiting_);
  in_flight_ = true;
  commit_tail_ = tail_slot_;
  commit_started_ = clock_.now();
  commit_end_ = writes_.back().offset + writes_.back().bytes.size();
  uint64_t bytes = 0;
  for (const FileWrite& w : writes_) bytes += w.bytes.size();
  commit_bytes_avg_ = (commit_bytes_avg_ * 7 + bytes) / 8;
  stats_.cached_blocks.store(blocks_.size(), std::memory_order_relaxed);
  io_->start_commit(writes_, *this);
  return true;
}

// Keeps the zero-filled extent prealloc_bytes ahead of the tail, with its own writes +
// fdatasync, never inside an acknowledged commit's chain and never beside one: a zero fill
// allocates blocks, and any commit whose data sync overlaps that must wait for a journal
// commit too. So the fill starts right after a commit completed and the next commit waits for
// it. Its size follows the commits: about 128 of them, so that at most ~1 commit in 128 waits
// behind a fill (1..32 MiB).
void Shard::maybe_extend() {
  if (extend_in_flight_ || in_flight_ || failed_) return;
  const uint64_t tail_end = align_up(tail_slot_ * kRecordBytes, kBlockBytes);
  if (file_bytes_ >= tail_end + options_.prealloc_bytes / 2) return;
  extend_from_ = std::max(file_bytes_, tail_end);
  const uint64_t chunk = std::clamp<uint64_t>(align_up(commit_bytes_avg_ * 128, kBlockBytes),
                                              kExtendChunkMin, kExtendChunkMax);
  const uint64_t n = std::min<uint64_t>(chunk, tail_end + options_.prealloc_bytes - extend_from_);
  if (n == 0) return;
  extend_writes_.clear();
  for (uint64_t off = 0; off < n; off += kZeroChunkBytes) {
    const size_t len = static_cast<size_t>(std::min<uint64_t>(kZeroChunkBytes, n - off));
    extend_writes_.push_back({extend_from_ + off, zeros(len)});
  }
  extend_to_ = extend_from_ + n;
  extend_in_flight_ = true;
  io_->start_extend(extend_writes_, *this);
}

void Shard::on_extend_done(int32_t result) {
  extend_in_flight_ = false;
  if (result < 0) {
    // Not fatal: appends beyond the zero fill are extending writes, slower but as durable.
    CP_LOG_WARN("{}: extending the preallocation failed: {}", io_->path(), std::strerror(-result));
    return;
  }
  file_bytes_ = std::max(file_bytes_, extend_to_);
  stats_.file_bytes.store(file_bytes_, std::memory_order_relaxed);
  maybe_extend();  // still behind: the next chunk
}

void Shard::on_commit_done(int32_t result) {
  CP_ASSERT(in_flight_);
  in_flight_ = false;
  stats_.commit_latency.record(clock_.now() - commit_started_);
  stats_.commits.fetch_add(1, std::memory_order_relaxed);
  acking_ = true;
  if (result < 0) {
    failed_ = true;
    stats_.commit_errors.fetch_add(1, std::memory_order_relaxed);
    CP_LOG_ERROR(
        "{}: commit failed: {}; shard {} accepts nothing more until restarted "
        "(recovery will keep exactly what is durable)",
        io_->path(), std::strerror(-result), options_.shard);
    for (const Waiter& w : in_flight_waiters_) w.fn(w.ctx, w.index, result);
    for (const Waiter& w : waiting_) w.fn(w.ctx, w.index, result);
    waiting_.clear();
  } else {
    file_bytes_ = std::max(file_bytes_, commit_end_);  // a commit past the zero fill extends
    durable_slot_ = commit_tail_;
    for (const Waiter& w : in_flight_waiters_) w.fn(w.ctx, w.index, 0);
    maybe_extend();
    maybe_write_historical_mark();
  }
  in_flight_waiters_.clear();
  acking_ = false;
  const Nanos now = clock_.now();
  const uint64_t commits = stats_.commits.load(std::memory_order_relaxed);
  const uint64_t records = stats_.appends.load(std::memory_order_relaxed) +
                           stats_.updates.load(std::memory_order_relaxed);
  if (rate_window_start_ == 0) {
    rate_window_start_ = now;
    rate_commits_ = commits;
    rate_records_ = records;
  } else if (now - rate_window_start_ >= kNanosPerSecond) {
    const double secs = static_cast<double>(now - rate_window_start_) / 1e9;
    stats_.commits_per_second.store(
        static_cast<uint64_t>(static_cast<double>(commits - rate_commits_) / secs),
        std::memory_order_relaxed);
    stats_.records_per_second.store(
        static_cast<uint64_t>(static_cast<double>(records - rate_records_) / secs),
        std::memory_order_relaxed);
    stats_.rate_updated_ns.store(now, std::memory_order_relaxed);
    rate_window_start_ = now;
    rate_commits_ = commits;
    rate_records_ = records;
  }
  stats_.file_bytes.store(file_bytes_, std::memory_order_relaxed);
  stats_.log_records.store(next_index(), std::memory_order_relaxed);
  stats_.active_records.store(active_count_, std::memory_order_relaxed);
}

void Shard::maybe_write_historical_mark() {
  if (mark_candidate_mb_ <= historical_mb_) return;
  const Nanos now = clock_.now();
  if (last_mark_write_ != 0 && now - last_mark_write_ < options_.historical_mark_interval) return;
  last_mark_write_ = now;
  if (auto ok = write_number_file(options_.dir + "/historical-mb", mark_candidate_mb_); !ok) {
    CP_LOG_WARN("{} (start-up will scan more than it needs to)", ok.error());
    return;
  }
  historical_mb_ = mark_candidate_mb_;
  stats_.historical_mb.store(historical_mb_, std::memory_order_relaxed);
}

Result<void, std::string> Shard::flush_sync() {
  while (!dirty_.empty() || in_flight_) {
    if (failed_) return fail(io_->path() + ": a commit failed");
    if (!commit() && in_flight_) return fail(io_->path() + ": flush_sync on an asynchronous shard");
  }
  if (failed_) return fail(io_->path() + ": a commit failed");
  return {};
}

}  // namespace cp::storage
