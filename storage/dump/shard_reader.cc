#include "storage/dump/shard_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string_view>
#include <system_error>
#include <utility>

#include "base/assert.h"
#include "storage/shard.h"

namespace cp::storage {
namespace {

// A copy of an active record can catch the daemon rewriting it in place; a few re-reads get a
// consistent one. A torn tail stays bad however often it is read.
constexpr int kReadAttemptsMax = 4;
// base-index and historical-mb are one short decimal line.

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

std::string_view check_name(RecordCheck c) {
  switch (c) {
    case RecordCheck::valid:
      return "valid";
    case RecordCheck::blank:
      return "blank";
    case RecordCheck::bad_magic:
      return "bad magic";
    case RecordCheck::bad_version:
      return "bad version";
    case RecordCheck::bad_checksum:
      return "bad checksum";
  }
  return "unknown";
}

bool is_blank(const SmRecord& record) {
  // Cheaper than check(): no checksum, and it stops at the first non-zero byte.
  const auto* bytes = reinterpret_cast<const unsigned char*>(&record);
  if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0 || bytes[3] != 0) return false;
  static const unsigned char zeros[kRecordBytes] = {};
  return std::memcmp(bytes, zeros, kRecordBytes) == 0;
}

}  // namespace

std::optional<unsigned> parse_shard_dir_name(std::string_view name) {
  constexpr std::string_view kPrefix = "shard-";
  if (!name.starts_with(kPrefix)) return std::nullopt;
  name.remove_prefix(kPrefix.size());
  if (name.empty() || name.size() > 3) return std::nullopt;
  if (name.size() > 1 && name[0] == '0') return std::nullopt;  // one spelling per shard
  unsigned value = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value >= kShardsMax) return std::nullopt;
  return value;
}

// ---- ShardReader ------------------------------------------------------------------------------

Result<ShardReader, std::string> ShardReader::open(const std::filesystem::path& dir,
                                                   std::optional<unsigned> shard,
                                                   uint64_t tail_window_slots) {
  CP_ASSERT(tail_window_slots >= 1);
  ShardReader reader;
  reader.dir_ = dir;
  if (shard) {
    if (*shard >= kShardsMax) return fail(dir.string() + ": shard number out of range");
    reader.shard_ = *shard;
  } else {
    const auto parsed = parse_shard_dir_name(dir.lexically_normal().filename().string());
    if (!parsed) return fail(dir.string() + ": not a shard directory (expected shard-N, N < 256)");
    reader.shard_ = *parsed;
  }

  auto base = read_number_file(dir / "base-index");
  if (!base) return fail(std::move(base.error()));
  reader.base_index_ = *base;
  if (reader.base_index_ > kIndexMask) {
    return fail((dir / "base-index").string() + ": number out of range (56-bit record index)");
  }
  auto historical_mb = read_number_file(dir / "historical-mb");
  if (!historical_mb) return fail(std::move(historical_mb.error()));
  const uint64_t mb = *historical_mb;
  if (mb > std::numeric_limits<uint64_t>::max() / kSlotsPerMiB) {
    return fail((dir / "historical-mb").string() + ": number out of range");
  }
  reader.historical_slots_ = mb * kSlotsPerMiB;  // clamped to the log in map_and_find_end

  const std::string bin = (dir / "pms.bin").string();
  const int fd = ::open(bin.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(bin + ": " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return fail(bin + ": " + errno_text(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(bin + ": not a regular file");
  }
  auto mapped = reader.map_and_find_end(fd, static_cast<uint64_t>(st.st_size), tail_window_slots);
  ::close(fd);  // the mapping keeps the file
  if (!mapped) return fail(bin + ": " + mapped.error());
  return reader;
}

Result<void, std::string> ShardReader::map_and_find_end(int fd, uint64_t file_bytes,
                                                        uint64_t window) {
  file_slots_ = file_bytes / kRecordBytes;
  if (file_slots_ > 0) {
    map_bytes_ = static_cast<size_t>(file_slots_ * kRecordBytes);
    map_ = ::mmap(nullptr, map_bytes_, PROT_READ, MAP_SHARED, fd, 0);
    if (map_ == MAP_FAILED) {
      map_ = nullptr;
      return fail("mmap: " + errno_text(errno));
    }
    records_ = static_cast<const SmRecord*>(map_);
    // Binary search touches one page per probe: without this, every cold probe would read a
    // whole read-ahead window (up to megabytes on some block devices).
    ::madvise(map_, map_bytes_, MADV_RANDOM);
  }
  find_end(window);
  note_tail(file_bytes);
  return {};
}

void ShardReader::find_end(uint64_t window) {
  const uint64_t n = file_slots_;
  auto nonblank = [&](uint64_t slot) { return slot < n && !is_blank(records_[slot]); };

  // 1. A non-blank slot t followed by a blank one (or the end of the file). Binary search keeps
  // nonblank(lo) and !nonblank(hi); every slot before `end` is non-blank, so t >= end - 1, and
  // every slot from end + window on is blank, so t < end + window.
  uint64_t lo = 0;
  const uint64_t historical_hint = std::min(historical_slots_, n);
  if (historical_hint > 0 && nonblank(historical_hint - 1)) {
    lo = historical_hint - 1;  // only a starting point: correctness needs nonblank(lo) alone
  }
  slot_count_ = 0;
  if (nonblank(lo)) {
    uint64_t hi = n;
    while (hi - lo > 1) {
      const uint64_t mid = lo + (hi - lo) / 2;
      (nonblank(mid) ? lo : hi) = mid;
    }
    // 2. end = the first non-valid slot from one window before t + 1 on. The records before
    // that point are valid by the writer's guarantee and are not read at all.
    const uint64_t from = lo + 1 > window ? lo + 1 - window : 0;
    slot_count_ = first_invalid(from, lo + 2);
    if (slot_count_ == from && from > 0 && !read_valid(from - 1)) {
      // Neither the first slot of the window nor the one before it is valid: the file breaks
      // the writer's guarantee (a batch larger than the window, or damage in the middle of the
      // log). Believe only what a full check finds, from the historical mark (or 0) on. (Not
      // every such file is caught: a window smaller than the writer's can be fooled.)
      const uint64_t restart =
          historical_hint > 0 && read_valid(historical_hint - 1) ? historical_hint : 0;
      advise(restart, n, MADV_SEQUENTIAL);
      slot_count_ = first_invalid(restart, restart);
      warnings_.push_back("the log does not end within " + std::to_string(window) +
                          " slots of its last written slot " + std::to_string(lo) +
                          " (a larger writer batch, or damage): checked every record from slot " +
                          std::to_string(restart));
    }
  }
}

void ShardReader::note_tail(uint64_t file_bytes) {
  if (slot_count_ < file_slots_) {
    SmRecord copy;
    std::memcpy(&copy, &records_[slot_count_], sizeof copy);
    tail_check_ = check(copy);
    if (*tail_check_ != RecordCheck::blank) {
      warnings_.push_back("slot " + std::to_string(slot_count_) + " (index " +
                          std::to_string(index_of(slot_count_)) + ") is " +
                          std::string(check_name(*tail_check_)) +
                          ": a torn tail (a write in progress or interrupted); the log ends "
                          "before it");
    }
  }
  if (historical_slots_ > slot_count_) {
    warnings_.push_back("historical-mb covers " + std::to_string(historical_slots_) +
                        " records but the log holds only " + std::to_string(slot_count_));
    historical_slots_ = slot_count_;
  }
  if (file_bytes % kRecordBytes != 0 && slot_count_ == file_slots_) {
    warnings_.push_back(std::to_string(file_bytes % kRecordBytes) +
                        " bytes at the end are not a whole record; ignored");
  }
}

ShardReader::ShardReader(ShardReader&& other) noexcept {
  *this = std::move(other);
}

ShardReader& ShardReader::operator=(ShardReader&& other) noexcept {
  if (this == &other) return *this;
  release();
  dir_ = std::move(other.dir_);
  shard_ = other.shard_;
  map_ = std::exchange(other.map_, nullptr);
  map_bytes_ = std::exchange(other.map_bytes_, 0);
  records_ = std::exchange(other.records_, nullptr);
  file_slots_ = std::exchange(other.file_slots_, 0);
  slot_count_ = std::exchange(other.slot_count_, 0);
  base_index_ = other.base_index_;
  historical_slots_ = std::exchange(other.historical_slots_, 0);
  tail_check_ = other.tail_check_;
  warnings_ = std::move(other.warnings_);
  return *this;
}

ShardReader::~ShardReader() {
  release();
}

void ShardReader::release() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
  map_ = nullptr;
  records_ = nullptr;
}

bool ShardReader::read_valid(uint64_t slot) const {
  SmRecord copy;
  return read(slot, copy) == RecordCheck::valid;
}

uint64_t ShardReader::first_invalid(uint64_t from, uint64_t prefetch_to) const {
  // One read-ahead of the range, then its page tables filled in one call, rather than a fault
  // per page (MADV_RANDOM turned fault read-ahead off).
  advise(from, prefetch_to, MADV_WILLNEED);
#ifdef MADV_POPULATE_READ
  advise(from, prefetch_to, MADV_POPULATE_READ);  // Linux 5.14+; older kernels just fault
#endif
  uint64_t slot = from;
  // The mapped record is checked in place; only one that fails is re-read (see read()).
  while (slot < file_slots_ && (check(records_[slot]) == RecordCheck::valid || read_valid(slot))) {
    ++slot;
  }
  return slot;
}

void ShardReader::advise(uint64_t from_slot, uint64_t to_slot, int advice) const {
  to_slot = std::min(to_slot, file_slots_);
  if (map_ == nullptr || from_slot >= to_slot) return;
  static const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t begin = from_slot * kRecordBytes / page * page;
  const uint64_t end = to_slot * kRecordBytes;
  ::madvise(static_cast<char*>(map_) + begin, static_cast<size_t>(end - begin), advice);
}

void ShardReader::advise_sequential(uint64_t from_slot) const {
  advise(from_slot, slot_count_, MADV_SEQUENTIAL);
}

RecordCheck ShardReader::read(uint64_t slot, SmRecord& out) const {
  CP_ASSERT(slot < file_slots_);
  RecordCheck result = RecordCheck::blank;
  for (int attempt = 0; attempt < kReadAttemptsMax; ++attempt) {
    std::memcpy(&out, &records_[slot], sizeof out);
    result = check(out);
    if (result == RecordCheck::valid) break;
  }
  return result;
}

std::optional<uint64_t> ShardReader::slot_of_index(uint64_t index) const {
  if (index < base_index_ || index - base_index_ >= slot_count_) return std::nullopt;
  return index - base_index_;
}

// Interpolation search with a bisection safeguard. Entry times grow nearly linearly in a shard
// (records arrive at a roughly steady rate), so guessing the slot from the times at the window's
// ends lands close in a few probes; every probe of a cold mapping is a disk read (~50 µs here),
// so 4-6 probes beat the ~24 of plain binary search on 10 million records. When a guess fails
// to halve the window (bursty arrivals), the next step bisects, so the worst case stays
// O(log n). The last few records are searched in order: they share a page.
uint64_t ShardReader::lower_bound_time(int64_t ns) const {
  // time_entry_ns never changes once written, so the mapped records are read directly.
  // Invariant: every slot below lo is earlier than ns; every slot from hi on is not.
  uint64_t lo = 0;
  uint64_t hi = slot_count_;
  bool bisect = false;
  while (hi - lo > kRecordsPerBlock) {
    const int64_t t_lo = records_[lo].time_entry_ns;
    const int64_t t_hi = records_[hi - 1].time_entry_ns;
    if (t_lo >= ns) return lo;
    if (t_hi < ns) return hi;
    const uint64_t width = hi - lo;
    uint64_t pos = lo + width / 2;
    if (!bisect) {
      // t_lo < ns <= t_hi, so 0 <= fraction < 1 and pos stays inside [lo, hi - 1).
      // In long double before subtracting: garbage times must not overflow int64.
      const long double fraction =
          (static_cast<long double>(ns) - static_cast<long double>(t_lo)) /
          (static_cast<long double>(t_hi) - static_cast<long double>(t_lo));
      pos = lo + static_cast<uint64_t>(fraction * static_cast<long double>(width - 1));
      pos = std::min(std::max(pos, lo), hi - 1);
    }
    if (records_[pos].time_entry_ns < ns) {
      lo = pos + 1;
    } else {
      hi = pos;
    }
    bisect = !bisect && hi - lo > width / 2;  // the guess did not halve it: bisect next
  }
  while (lo < hi && records_[lo].time_entry_ns < ns) ++lo;
  return lo;
}

// ---- StoreReader ------------------------------------------------------------------------------

Result<StoreReader, std::string> StoreReader::open(const std::filesystem::path& root,
                                                   std::optional<unsigned> only_shard,
                                                   uint64_t tail_window_slots) {
  std::error_code ec;
  std::filesystem::directory_iterator it(root, ec);
  if (ec) return fail(root.string() + ": " + ec.message());
  std::vector<std::pair<unsigned, std::filesystem::path>> dirs;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const auto shard = parse_shard_dir_name(it->path().filename().string());
    if (!shard || (only_shard && *shard != *only_shard)) continue;
    if (!it->is_directory(ec)) continue;
    dirs.emplace_back(*shard, it->path());
  }
  if (ec) return fail(root.string() + ": " + ec.message());
  if (dirs.empty()) {
    if (only_shard) return fail(root.string() + ": no shard-" + std::to_string(*only_shard));
    return fail(root.string() + ": no shard-N directories (not a message store?)");
  }
  std::sort(dirs.begin(), dirs.end());
  StoreReader store;
  store.shards_.reserve(dirs.size());
  for (auto& [shard, path] : dirs) {
    auto reader = ShardReader::open(path, shard, tail_window_slots);
    if (!reader) return fail(std::move(reader.error()));
    store.shards_.push_back(std::move(*reader));
  }
  return store;
}

const ShardReader* StoreReader::find_shard(unsigned shard) const {
  for (const auto& s : shards_) {
    if (s.shard() == shard) return &s;
  }
  return nullptr;
}

uint64_t StoreReader::total_records() const {
  uint64_t total = 0;
  for (const auto& s : shards_) total += s.size();
  return total;
}

std::optional<RecordPosition> StoreReader::find_message(uint64_t message_id) const {
  const ShardReader* shard = find_shard(message_shard(message_id));
  if (shard == nullptr) return std::nullopt;
  const auto slot = shard->slot_of_index(message_index(message_id));
  if (!slot) return std::nullopt;
  return RecordPosition{shard, *slot};
}

StoreReader::Cursor StoreReader::from_time(int64_t from_ns) const {
  Cursor cursor;
  cursor.shards_ = shards_.data();
  cursor.heap_.reserve(shards_.size());
  for (unsigned i = 0; i < shards_.size(); ++i) {
    const uint64_t slot = shards_[i].lower_bound_time(from_ns);
    if (slot < shards_[i].size()) {
      shards_[i].advise_sequential(slot);
      cursor.push(i, slot);
    }
  }
  return cursor;
}

// std::*_heap keep the greatest element first; ordering by "later" makes it the earliest.
bool StoreReader::Cursor::later(const Head& a, const Head& b) {
  if (a.time_ns != b.time_ns) return a.time_ns > b.time_ns;
  return a.shard_pos > b.shard_pos;  // shards_ is in shard order; one head per shard
}

void StoreReader::Cursor::push(unsigned shard_pos, uint64_t slot) {
  heap_.push_back(Head{shards_[shard_pos].record(slot).time_entry_ns, shard_pos, slot});
  std::push_heap(heap_.begin(), heap_.end(), later);
}

std::optional<RecordPosition> StoreReader::Cursor::next() {
  if (heap_.empty()) return std::nullopt;
  std::pop_heap(heap_.begin(), heap_.end(), later);
  const Head head = heap_.back();
  heap_.pop_back();
  const ShardReader& shard = shards_[head.shard_pos];
  if (head.slot + 1 < shard.size()) push(head.shard_pos, head.slot + 1);
  return RecordPosition{&shard, head.slot};
}

}  // namespace cp::storage
