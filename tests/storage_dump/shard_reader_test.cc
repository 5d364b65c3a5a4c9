// The read-only shard reader: end-of-log detection (exact, preallocated, torn tails, blocks
// landed out of order, base-index / historical-mb), its files' errors, binary search by entry
// time, and the merged walk over several shards.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "storage/dump/shard_reader.h"
#include "tests/storage_dump/test_store.h"

namespace cp::storage {
namespace {

using test::Msg;
using test::ShardFile;
using test::TempDir;

constexpr int64_t kT0 = 1'764'000'000'000'000'000;
constexpr int64_t kSecond = 1'000'000'000;
constexpr uint64_t kMiB = ShardReader::kSlotsPerMiB;
constexpr uint64_t kWindow = ShardReader::kDefaultTailWindowSlots;  // 4 MiB + one block

Msg at(int64_t time_ns) {
  Msg m;
  m.time_ns = time_ns;
  return m;
}

ShardReader open_ok(const std::filesystem::path& dir) {
  auto reader = ShardReader::open(dir);
  EXPECT_TRUE(reader.has_value()) << (reader ? "" : reader.error());
  if (!reader) std::abort();
  return std::move(*reader);
}

TEST(ShardReader, EmptyFileIsAnEmptyLog) {
  TempDir tmp;
  ShardFile f(tmp.path(), 0);
  const ShardReader r = open_ok(f.dir());
  EXPECT_EQ(r.size(), 0u);
  EXPECT_EQ(r.file_slots(), 0u);
  EXPECT_FALSE(r.tail_check().has_value());
  EXPECT_TRUE(r.warnings().empty());
  EXPECT_EQ(r.lower_bound_time(kT0), 0u);
  EXPECT_EQ(r.shard(), 0u);
}

TEST(ShardReader, OnlyBlanksIsAnEmptyLog) {
  TempDir tmp;
  ShardFile f(tmp.path(), 3);
  f.preallocate(3 * kMiB);
  const ShardReader r = open_ok(f.dir());
  EXPECT_EQ(r.size(), 0u);
  EXPECT_EQ(r.file_slots(), 3 * kMiB);
  EXPECT_EQ(r.tail_check(), RecordCheck::blank);
  EXPECT_TRUE(r.warnings().empty());
  EXPECT_EQ(r.shard(), 3u);
}

TEST(ShardReader, LogFillingTheWholeFile) {
  TempDir tmp;
  ShardFile f(tmp.path(), 1);
  for (int i = 0; i < 5000; ++i) f.append(at(kT0 + i));
  const ShardReader r = open_ok(f.dir());
  EXPECT_EQ(r.size(), 5000u);
  EXPECT_FALSE(r.tail_check().has_value());
  EXPECT_TRUE(r.warnings().empty());
  EXPECT_EQ(r.record(4999).time_entry_ns, kT0 + 4999);
}

TEST(ShardReader, PreallocatedBlankTail) {
  for (uint64_t records : {1u, 2u, 4095u, 4096u, 4097u, 9000u}) {
    for (uint64_t blanks : {1u, 100u, 4096u, 20000u}) {
      TempDir tmp;
      ShardFile f(tmp.path(), 0);
      for (uint64_t i = 0; i < records; ++i) f.append(at(kT0 + static_cast<int64_t>(i)));
      f.preallocate(blanks);
      const ShardReader r = open_ok(f.dir());
      EXPECT_EQ(r.size(), records) << records << " records, " << blanks << " blanks";
      EXPECT_EQ(r.tail_check(), RecordCheck::blank);
      EXPECT_TRUE(r.warnings().empty());
    }
  }
}

TEST(ShardReader, TornTailEndsTheLogWithAWarning) {
  TempDir tmp;
  ShardFile f(tmp.path(), 0);
  for (int i = 0; i < 777; ++i) f.append(at(kT0 + i));
  f.append_torn();
  f.preallocate(8000);
  const ShardReader r = open_ok(f.dir());
  EXPECT_EQ(r.size(), 777u);
  EXPECT_EQ(r.tail_check(), RecordCheck::bad_checksum);
  ASSERT_EQ(r.warnings().size(), 1u);
  EXPECT_NE(r.warnings()[0].find("slot 777"), std::string::npos) << r.warnings()[0];
  EXPECT_NE(r.warnings()[0].find("torn tail"), std::string::npos) << r.warnings()[0];
}

TEST(ShardReader, GarbageTailWithoutBlanksAfterIt) {
  TempDir tmp;
  ShardFile f(tmp.path(), 0);
  for (int i = 0; i < 10; ++i) f.append(at(kT0 + i));
  f.append_garbage(0xAB);  // bad magic, and the last slot of the file
  const ShardReader r = open_ok(f.dir());
  EXPECT_EQ(r.size(), 10u);
  EXPECT_EQ(r.tail_check(), RecordCheck::bad_magic);
}

TEST(ShardReader, PartialLastRecordIsIgnored) {
  TempDir tmp;
  ShardFile f(tmp.path(), 0);
  for (int i = 0; i < 3; ++i) f.append(at(kT0 + i));
  f.truncate_bytes(3 * kRecordBytes + 100);
  const ShardReader r = open_ok(f.dir());
  EXPECT_EQ(r.size(), 3u);
  ASSERT_EQ(r.warnings().size(), 1u);
  EXPECT_NE(r.warnings()[0].find("100 bytes"), std::string::npos);
}

// Blocks of a group commit may land out of order: after the first non-valid slot, the writer
// may have left valid records, garbage and blanks anywhere within one MiB. None is believed.
TEST(ShardReader, OutOfOrderBlocksAfterTheEndAreNotBelieved) {
  TempDir tmp;
  ShardFile f(tmp.path(), 0);
  for (int i = 0; i < 5000; ++i) f.append(at(kT0 + i));
  f.preallocate(kWindow + 1000);
  // Slot 5000 is still blank, but the rest of the window landed first: valid records, a torn
  // one and blanks, up to the very edge of the window.
  const SmRecord valid = test::to_record(at(kT0 + 99'999));
  SmRecord torn = valid;
  torn.time_entry_ns ^= 1;
  for (uint64_t slot = 5001; slot < 5000 + kWindow; ++slot) {
    if (slot % 512 != 0) f.put(slot, slot == 7000 ? &torn : &valid);
  }
  const ShardReader r = open_ok(f.dir());
  EXPECT_EQ(r.size(), 5000u);
  EXPECT_EQ(r.tail_check(), RecordCheck::blank);
  EXPECT_TRUE(r.warnings().empty());

  // The same with the first slot of the window torn rather than blank.
  f.put(5000, &torn);
  const ShardReader torn_reader = open_ok(f.dir());
  EXPECT_EQ(torn_reader.size(), 5000u);
  EXPECT_EQ(torn_reader.tail_check(), RecordCheck::bad_checksum);
}

// Property: for random logs and random tails inside the writer's guarantee, the end is found
// exactly. Every failure prints its seed.
TEST(ShardReader, RandomTailsWithinTheWindow) {
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  const SmRecord valid = test::to_record(at(kT0));
  SmRecord torn = valid;
  torn.crc32c ^= 0x100;
  uint8_t garbage[kRecordBytes];
  std::memset(garbage, 0x77, sizeof garbage);
  for (int round = 0; round < 30; ++round) {
    TempDir tmp;
    ShardFile f(tmp.path(), 0);
    const uint64_t records = std::uniform_int_distribution<uint64_t>(0, 2 * kWindow)(rng);
    for (uint64_t i = 0; i < records; ++i) f.append(valid);
    const uint64_t window = std::uniform_int_distribution<uint64_t>(0, kWindow)(rng);
    const bool has_tail = window > 0;
    if (has_tail) f.put(records, &torn);  // the first slot of the window is never valid
    for (uint64_t i = 1; i < window; ++i) {
      switch (rng() % 4) {
        case 0:
          f.put(records + i, &valid);
          break;
        case 1:
          f.put(records + i, &torn);
          break;
        case 2:
          f.put(records + i, garbage);
          break;
        default:
          break;  // blank
      }
    }
    f.preallocate(std::uniform_int_distribution<uint64_t>(0, kWindow)(rng));
    if (rng() % 3 == 0) f.write_file("historical-mb", std::to_string(rng() % 10) + "\n");
    const ShardReader r = open_ok(f.dir());
    ASSERT_EQ(r.size(), records) << "seed " << seed << " round " << round << " window " << window;
    EXPECT_LE(r.historical_slots(), records);
  }
}

// A torn commit that reaches further than the window (a writer with a larger batch_kib): here
// the reader notices that the window does not hold the end, checks every record instead and
// still ends the log at the torn slot. Told the writer's batch, it finds the end directly.
TEST(ShardReader, WindowFollowsTheWritersBatch) {
  TempDir tmp;
  ShardFile f(tmp.path(), 0);
  for (int i = 0; i < 100; ++i) f.append(at(kT0 + i));
  f.append_torn();
  const SmRecord valid = test::to_record(at(kT0 + 99'999));
  for (uint64_t slot = 10'000; slot <= 20'100; ++slot) f.put(slot, &valid);  // landed early
  f.preallocate(100);
  const ShardReader fallback = open_ok(f.dir());
  EXPECT_EQ(fallback.size(), 100u);
  ASSERT_EQ(fallback.warnings().size(), 2u);
  EXPECT_NE(fallback.warnings()[0].find("does not end within 16400 slots"), std::string::npos)
      << fallback.warnings()[0];
  EXPECT_NE(fallback.warnings()[1].find("torn tail"), std::string::npos);

  auto told = ShardReader::open(f.dir(), std::nullopt, ShardReader::tail_window_slots(8192));
  ASSERT_TRUE(told.has_value());
  EXPECT_EQ(told->size(), 100u);
  ASSERT_EQ(told->warnings().size(), 1u);  // the torn tail only
  EXPECT_NE(told->warnings()[0].find("torn tail"), std::string::npos);
  EXPECT_EQ(ShardReader::tail_window_slots(8192), (8192 / 4 + 1) * 16u);
  EXPECT_EQ(ShardReader::tail_window_slots(ShardReader::kDefaultBatchKib), kWindow);
}

TEST(ShardReader, BaseIndexAndHistoricalMb) {
  TempDir tmp;
  ShardFile f(tmp.path(), 5);
  for (int i = 0; i < 5000; ++i) f.append(at(kT0 + i));
  f.preallocate(4096);
  f.write_file("base-index", "1000000\n");
  f.write_file("historical-mb", "1\n");
  const ShardReader r = open_ok(f.dir());
  EXPECT_EQ(r.size(), 5000u);
  EXPECT_EQ(r.base_index(), 1'000'000u);
  EXPECT_EQ(r.historical_slots(), 4096u);
  EXPECT_EQ(r.index_of(0), 1'000'000u);
  EXPECT_EQ(r.message_id_of(10), make_message_id(5, 1'000'010));
  EXPECT_EQ(r.slot_of_index(1'000'000 + 4999), 4999u);
  EXPECT_FALSE(r.slot_of_index(1'000'000 + 5000).has_value());
  EXPECT_FALSE(r.slot_of_index(999'999).has_value());
  EXPECT_TRUE(r.warnings().empty());
}

TEST(ShardReader, HistoricalMbBeyondTheLogIsOnlyAHint) {
  TempDir tmp;
  ShardFile f(tmp.path(), 0);
  for (int i = 0; i < 5000; ++i) f.append(at(kT0 + i));
  f.preallocate(3 * 4096);
  f.write_file("historical-mb", "3");
  const ShardReader r = open_ok(f.dir());
  EXPECT_EQ(r.size(), 5000u);
  EXPECT_EQ(r.historical_slots(), 5000u);
  ASSERT_EQ(r.warnings().size(), 1u);
  EXPECT_NE(r.warnings()[0].find("historical-mb"), std::string::npos);
}

// Everything before the last MiB of the log is trusted to be valid (the writer's guarantee)
// and never read at open: a corrupted record early in a big shard does not shorten the log,
// as it would for a reader that checks every record.
TEST(ShardReader, OpenDoesNotReadTheBulkOfTheLog) {
  TempDir tmp;
  ShardFile f(tmp.path(), 0);
  for (uint64_t i = 0; i < 2 * kWindow; ++i) f.append(at(kT0 + static_cast<int64_t>(i)));
  f.preallocate(100);
  uint8_t garbage[kRecordBytes];
  std::memset(garbage, 0x11, sizeof garbage);
  f.put(1234, garbage);
  const ShardReader r = open_ok(f.dir());
  EXPECT_EQ(r.size(), 2 * kWindow);
}

TEST(ShardReader, NumberFileErrors) {
  struct Case {
    const char* file;
    std::string content;
    const char* error;
  };
  const Case cases[] = {
      {"base-index", "abc\n", "shard-0/base-index: not a number"},
      {"base-index", "", "shard-0/base-index: not a number"},
      {"base-index", "12x", "shard-0/base-index: not a number"},
      {"base-index", "-1", "shard-0/base-index: not a number"},
      {"base-index", " 1", "shard-0/base-index: not a number"},
      {"base-index", std::string(40, '1'), "shard-0/base-index: number out of range"},
      {"base-index", "99999999999999999999", "shard-0/base-index: number out of range"},
      {"base-index", "72057594037927936", "shard-0/base-index: number out of range"},
      {"historical-mb", "two\n", "shard-0/historical-mb: not a number"},
      {"historical-mb", "18446744073709551615", "shard-0/historical-mb: number out of range"},
  };
  for (const Case& c : cases) {
    TempDir tmp;
    ShardFile f(tmp.path(), 0);
    f.append(at(kT0));
    f.write_file(c.file, c.content);
    auto r = ShardReader::open(f.dir());
    ASSERT_FALSE(r.has_value()) << c.file << " '" << c.content << "'";
    EXPECT_NE(r.error().find(c.error), std::string::npos) << r.error();
  }
  // Accepted spellings.
  for (const char* content : {"7", "7\n", "7\r\n", "7 \n"}) {
    TempDir tmp;
    ShardFile f(tmp.path(), 0);
    f.append(at(kT0));
    f.write_file("base-index", content);
    EXPECT_EQ(open_ok(f.dir()).base_index(), 7u) << content;
  }
}

TEST(ShardReader, UnreadableFilesAndBadDirectories) {
  TempDir tmp;
  std::filesystem::create_directories(tmp.path() / "shard-0");
  auto missing = ShardReader::open(tmp.path() / "shard-0");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().find("shard-0/pms.bin: No such file"), std::string::npos)
      << missing.error();

  std::filesystem::create_directories(tmp.path() / "elsewhere");
  auto named = ShardReader::open(tmp.path() / "elsewhere");
  ASSERT_FALSE(named.has_value());
  EXPECT_NE(named.error().find("not a shard directory"), std::string::npos);

  std::filesystem::create_directories(tmp.path() / "shard-0" / "pms.bin");
  auto dir = ShardReader::open(tmp.path() / "shard-0");
  ASSERT_FALSE(dir.has_value());
  EXPECT_NE(dir.error().find("not a regular file"), std::string::npos) << dir.error();

  EXPECT_EQ(parse_shard_dir_name("shard-0"), 0u);
  EXPECT_EQ(parse_shard_dir_name("shard-255"), 255u);
  EXPECT_FALSE(parse_shard_dir_name("shard-256"));
  EXPECT_FALSE(parse_shard_dir_name("shard-01"));
  EXPECT_FALSE(parse_shard_dir_name("shard-"));
  EXPECT_FALSE(parse_shard_dir_name("shard-1a"));
  EXPECT_FALSE(parse_shard_dir_name("shard-1000"));
  EXPECT_FALSE(parse_shard_dir_name("pms-hist.bin"));
}

TEST(ShardReader, LowerBoundTime) {
  TempDir tmp;
  ShardFile f(tmp.path(), 0);
  for (int64_t t : {10, 20, 20, 20, 30, 40}) f.append(at(t));
  f.preallocate(50);
  const ShardReader r = open_ok(f.dir());
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(r.lower_bound_time(std::numeric_limits<int64_t>::min()), 0u);
  EXPECT_EQ(r.lower_bound_time(5), 0u);   // before the first
  EXPECT_EQ(r.lower_bound_time(10), 0u);  // exact hit
  EXPECT_EQ(r.lower_bound_time(15), 1u);  // between records
  EXPECT_EQ(r.lower_bound_time(20), 1u);  // the first of equal timestamps
  EXPECT_EQ(r.lower_bound_time(21), 4u);
  EXPECT_EQ(r.lower_bound_time(40), 5u);
  EXPECT_EQ(r.lower_bound_time(41), 6u);  // after the last
  EXPECT_EQ(r.lower_bound_time(std::numeric_limits<int64_t>::max()), 6u);
}

TEST(ShardReader, LowerBoundTimeMatchesStdLowerBound) {
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  TempDir tmp;
  ShardFile f(tmp.path(), 0);
  std::vector<int64_t> times;
  int64_t t = kT0;
  for (int i = 0; i < 10'000; ++i) {
    t += rng() % 3 == 0 ? 0 : static_cast<int64_t>(rng() % 1000);
    times.push_back(t);
    f.append(at(t));
  }
  f.append_torn();
  f.preallocate(300);
  const ShardReader r = open_ok(f.dir());
  ASSERT_EQ(r.size(), times.size());
  for (int i = 0; i < 2000; ++i) {
    const int64_t q = kT0 - 10 + static_cast<int64_t>(rng() % (t - kT0 + 20));
    const auto expected = std::lower_bound(times.begin(), times.end(), q) - times.begin();
    ASSERT_EQ(r.lower_bound_time(q), static_cast<uint64_t>(expected)) << "seed " << seed;
  }
}

TEST(ShardReader, MoveKeepsTheMapping) {
  TempDir tmp;
  ShardFile f(tmp.path(), 0);
  for (int i = 0; i < 10; ++i) f.append(at(kT0 + i));
  ShardReader a = open_ok(f.dir());
  ShardReader b = std::move(a);
  EXPECT_EQ(b.size(), 10u);
  EXPECT_EQ(b.record(9).time_entry_ns, kT0 + 9);
  SmRecord copy;
  EXPECT_EQ(b.read(9, copy), RecordCheck::valid);
  a = std::move(b);
  EXPECT_EQ(a.record(0).time_entry_ns, kT0);
}

// ---- StoreReader ---------------------------------------------------------------------------

TEST(StoreReader, MergesShardsInTimeShardIndexOrder) {
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  TempDir tmp;
  std::vector<std::tuple<int64_t, unsigned, uint64_t>> all;  // (time, shard, index)
  for (unsigned shard : {0u, 2u, 7u}) {
    ShardFile f(tmp.path(), shard);
    const uint64_t base = shard * 100;
    f.write_file("base-index", std::to_string(base));
    int64_t t = kT0;
    const int n = 200 + static_cast<int>(rng() % 300);
    for (int i = 0; i < n; ++i) {
      t += static_cast<int64_t>(rng() % 4) * kSecond;  // many equal times, also across shards
      f.append(at(t));
      all.emplace_back(t, shard, base + static_cast<uint64_t>(i));
    }
    if (shard == 2) f.append_torn();
    f.preallocate(100);
  }
  std::filesystem::create_directories(tmp.path() / "shard-x");  // ignored
  std::ofstream(tmp.path() / "pms-hist.bin") << "x";            // ignored
  std::sort(all.begin(), all.end());

  auto store = StoreReader::open(tmp.path());
  ASSERT_TRUE(store.has_value()) << store.error();
  ASSERT_EQ(store->shards().size(), 3u);
  EXPECT_EQ(store->total_records(), all.size());

  for (int64_t from : {std::numeric_limits<int64_t>::min(), kT0 + 50 * kSecond,
                       kT0 + 51 * kSecond + 1, std::numeric_limits<int64_t>::max()}) {
    auto expected =
        std::lower_bound(all.begin(), all.end(), std::make_tuple(from, 0u, uint64_t{0}));
    auto cursor = store->from_time(from);
    size_t seen = 0;
    while (auto pos = cursor.next()) {
      ASSERT_NE(expected, all.end()) << "seed " << seed;
      EXPECT_EQ(std::make_tuple(pos->record().time_entry_ns, pos->shard->shard(), pos->index()),
                *expected)
          << "seed " << seed << " from " << from << " at " << seen;
      ++expected;
      ++seen;
    }
    EXPECT_EQ(expected, all.end()) << "seed " << seed;
  }
}

TEST(StoreReader, OneShardFindMessageAndErrors) {
  TempDir tmp;
  for (unsigned shard : {1u, 4u}) {
    ShardFile f(tmp.path(), shard);
    f.write_file("base-index", "50");
    for (int i = 0; i < 10; ++i) f.append(at(kT0 + i));
  }
  auto only = StoreReader::open(tmp.path(), 4u);
  ASSERT_TRUE(only.has_value());
  ASSERT_EQ(only->shards().size(), 1u);
  EXPECT_EQ(only->shards()[0].shard(), 4u);

  auto store = StoreReader::open(tmp.path());
  ASSERT_TRUE(store.has_value());
  auto pos = store->find_message(make_message_id(4, 55));
  ASSERT_TRUE(pos.has_value());
  EXPECT_EQ(pos->shard->shard(), 4u);
  EXPECT_EQ(pos->slot, 5u);
  EXPECT_EQ(pos->message_id(), make_message_id(4, 55));
  EXPECT_FALSE(store->find_message(make_message_id(4, 49)));
  EXPECT_FALSE(store->find_message(make_message_id(4, 60)));
  EXPECT_FALSE(store->find_message(make_message_id(2, 55)));

  auto none = StoreReader::open(tmp.path(), 3u);
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().find("no shard-3"), std::string::npos);
  auto missing = StoreReader::open(tmp.path() / "nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().find("nope"), std::string::npos);
  TempDir empty;
  auto no_shards = StoreReader::open(empty.path());
  ASSERT_FALSE(no_shards.has_value());
  EXPECT_NE(no_shards.error().find("no shard-N"), std::string::npos);

  // A broken shard fails the whole store, naming the file.
  ShardFile(tmp.path(), 9).write_file("historical-mb", "x");
  auto broken = StoreReader::open(tmp.path());
  ASSERT_FALSE(broken.has_value());
  EXPECT_NE(broken.error().find("shard-9/historical-mb: not a number"), std::string::npos)
      << broken.error();
}

// The 10-million-record case scaled down: 100,000 records (25.6 MB) with a torn tail and
// historical-mb. Page residency shows what open() and a search touch: the probes and the last
// window (4 MiB), not the file. Skipped where the page cache cannot be dropped (tmpfs).
TEST(StoreReader, BigShardTouchesFewPages) {
  TempDir tmp;
  constexpr uint64_t kRecords = 100'000;
  {
    ShardFile f(tmp.path(), 0);
    std::vector<SmRecord> block(4096);
    uint64_t written = 0;
    while (written < kRecords) {
      const uint64_t n = std::min<uint64_t>(block.size(), kRecords - written);
      for (uint64_t i = 0; i < n; ++i) {
        block[i] = test::to_record(at(kT0 + static_cast<int64_t>(written + i) * kSecond));
      }
      ASSERT_EQ(::pwrite(f.fd(), block.data(), n * kRecordBytes,
                         static_cast<off_t>(written * kRecordBytes)),
                static_cast<ssize_t>(n * kRecordBytes));
      written += n;
    }
    uint8_t garbage[kRecordBytes];
    std::memset(garbage, 0xEE, sizeof garbage);
    f.put(kRecords, garbage);  // a torn tail (bad magic) ...
    f.preallocate(4096);       // ... then the zero-filled preallocation
    f.write_file("historical-mb", "5");
    ASSERT_EQ(::fdatasync(f.fd()), 0);
    ASSERT_EQ(::posix_fadvise(f.fd(), 0, 0, POSIX_FADV_DONTNEED), 0);
  }
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  auto resident_pages = [&](const void* base, size_t bytes) {
    std::vector<unsigned char> resident((bytes + page - 1) / page);
    EXPECT_EQ(::mincore(const_cast<void*>(base), bytes, resident.data()), 0);
    return static_cast<size_t>(
        std::count_if(resident.begin(), resident.end(), [](unsigned char v) { return v & 1; }));
  };
  {
    // Whether this file system drops clean pages at all (tmpfs does not).
    const auto pms = tmp.path() / "shard-0" / "pms.bin";
    const int fd = ::open(pms.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    const size_t bytes = (kRecords + 1 + 4096) * kRecordBytes;
    void* probe = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    ASSERT_NE(probe, MAP_FAILED);
    const size_t before = resident_pages(probe, bytes);
    ::munmap(probe, bytes);
    if (before > bytes / page / 4) {
      GTEST_SKIP() << "the page cache could not be dropped here (tmpfs?): " << before
                   << " pages resident before open";
    }
  }
  ShardReader r = open_ok(tmp.path() / "shard-0");
  ASSERT_EQ(r.size(), kRecords);
  EXPECT_EQ(r.tail_check(), RecordCheck::bad_magic);
  EXPECT_EQ(r.historical_slots(), 5 * 4096u);
  EXPECT_EQ(r.lower_bound_time(kT0 + 12'345 * kSecond), 12'345u);
  EXPECT_EQ(r.lower_bound_time(kT0 + 12'345 * kSecond - 1), 12'345u);

  const size_t bytes = r.file_slots() * kRecordBytes;
  const size_t pages_in = resident_pages(&r.record(0), bytes);
  // The last MiB + fault-around/read-ahead of ~25 probes; far below the whole 10 MB file.
  EXPECT_LT(pages_in * page, bytes / 2) << pages_in << " of " << bytes / page << " pages";
}

}  // namespace
}  // namespace cp::storage
