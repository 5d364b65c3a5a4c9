// The message-store shard on real O_DIRECT files and on the simulated disk: append, group
// commit and acknowledgement, in-place update and discharge, backpressure, historical-mb,
// recovery of torn tails, refusal of damage it must not truncate, the shard lock.
#include "storage/shard.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "base/clock.h"
#include "storage/testing/sim_disk.h"
#include "tests/storage/store_test_util.h"

namespace cp::storage {
namespace {

using test::Acks;
using test::make_record;
using test::same_content;
using test::TempDir;

ShardOptions small_options(const std::string& dir, unsigned shard = 0) {
  ShardOptions o;
  o.shard = shard;
  o.dir = dir;
  o.prealloc_bytes = 1 << 20;
  o.batch_blocks_max = 64;
  o.historical_mark_interval = 0;
  return o;
}

std::unique_ptr<Shard> open_file_shard(const ShardOptions& o, Clock& clock,
                                       RecoveryReport* report = nullptr) {
  auto s = Shard::open_dir(o, clock, nullptr, report);
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error());
  return s ? std::move(*s) : nullptr;
}

TEST(Shard, AppendCommitReopenOnRealFile) {
  TempDir tmp;
  ManualClock clock;
  clock.set_wall(1'700'000'000 * kNanosPerSecond);
  const auto o = small_options(tmp.sub("shard-3"), 3);
  Acks acks;
  {
    auto s = open_file_shard(o, clock);
    ASSERT_TRUE(s);
    for (uint64_t i = 0; i < 100; ++i) {
      SmRecord r = make_record(i, i % 3 != 0);
      auto index = s->append(r, &Acks::on_ack, &acks);
      ASSERT_TRUE(index.has_value());
      EXPECT_EQ(*index, i);
      EXPECT_EQ(r.message_id, make_message_id(3, i));
      EXPECT_EQ(check(r), RecordCheck::valid);
    }
    EXPECT_TRUE(acks.results.empty()) << "acknowledged before any commit";
    ASSERT_TRUE(s->flush_sync());
    EXPECT_EQ(acks.results.size(), 100u);
    for (const auto& [index, result] : acks.results) EXPECT_EQ(result, 0) << index;
    EXPECT_EQ(s->active_count(), 66u);
  }
  // On disk, in slot order, whole and sealed; the tail is zero-filled ahead.
  const auto slots = test::read_slots(o.dir);
  ASSERT_GE(slots.size() * kRecordBytes, (1u << 20));
  for (uint64_t i = 0; i < 100; ++i) {
    ASSERT_EQ(check(slots[i]), RecordCheck::valid) << i;
    EXPECT_TRUE(same_content(slots[i], make_record(i, i % 3 != 0))) << i;
  }
  EXPECT_EQ(check(slots[100]), RecordCheck::blank);

  RecoveryReport rep;
  auto s = open_file_shard(o, clock, &rep);
  ASSERT_TRUE(s);
  EXPECT_EQ(rep.log_records, 100u);
  EXPECT_EQ(rep.active_records, 66u);
  EXPECT_EQ(rep.torn_slots, 0u);
  EXPECT_EQ(s->next_index(), 100u);
  size_t seen = 0;
  s->for_each_active([&](uint64_t index, const SmRecord& r) {
    EXPECT_NE(index % 3, 0u);
    EXPECT_TRUE(same_content(r, make_record(index, true)));
    ++seen;
  });
  EXPECT_EQ(seen, 66u);
  // Appends continue in the half-filled tail block.
  SmRecord r = make_record(100);
  auto index = s->append(r, nullptr, nullptr);
  ASSERT_TRUE(index.has_value());
  EXPECT_EQ(*index, 100u);
  ASSERT_TRUE(s->flush_sync());
}

TEST(Shard, EntryTimeNeverGoesBackwards) {
  TempDir tmp;
  ManualClock clock;
  clock.set_wall(2'000 * kNanosPerSecond);
  auto s = open_file_shard(small_options(tmp.sub("s")), clock);
  ASSERT_TRUE(s);
  SmRecord a = make_record(1);
  ASSERT_TRUE(s->append(a, nullptr, nullptr));
  clock.set_wall(1'000 * kNanosPerSecond);  // the wall clock stepped back
  SmRecord b = make_record(2);
  ASSERT_TRUE(s->append(b, nullptr, nullptr));
  EXPECT_EQ(b.time_entry_ns, a.time_entry_ns);
  ASSERT_TRUE(s->flush_sync());
}

TEST(Shard, UpdateInPlaceThenDischargeIsFinal) {
  TempDir tmp;
  ManualClock clock;
  clock.set_wall(5 * kNanosPerSecond);
  const auto o = small_options(tmp.sub("s"));
  uint64_t index = 0;
  {
    auto s = open_file_shard(o, clock);
    for (int i = 0; i < 40; ++i) {
      SmRecord r = make_record(static_cast<uint64_t>(i));
      ASSERT_TRUE(s->append(r, nullptr, nullptr));
    }
    ASSERT_TRUE(s->flush_sync());
    index = 3;
    SmRecord next = *s->find_active(index);
    ASSERT_TRUE(set_imsi(next, "001010123456789"));
    Acks acks;
    ASSERT_TRUE(s->update(index, next, &Acks::on_ack, &acks));
    EXPECT_TRUE(acks.results.empty());
    ASSERT_TRUE(s->flush_sync());
    EXPECT_EQ(acks.results.at(index), 0);

    // Identity cannot change; discharge needs a disposition.
    SmRecord bad = next;
    bad.message_id += 1;
    EXPECT_EQ(s->update(index, bad, nullptr, nullptr).error(), StoreError::bad_record);
    bad = next;
    bad.state = static_cast<uint8_t>(RecordState::historical);
    EXPECT_EQ(s->update(index, bad, nullptr, nullptr).error(), StoreError::bad_record);

    clock.set_wall(9 * kNanosPerSecond);
    SmRecord done = next;
    done.state = static_cast<uint8_t>(RecordState::historical);
    done.disposition = static_cast<uint8_t>(Disposition::delivered);
    done.extra_info = 42;
    ASSERT_TRUE(s->update(index, done, nullptr, nullptr));
    EXPECT_EQ(s->find_active(index), nullptr);
    EXPECT_EQ(s->update(index, done, nullptr, nullptr).error(), StoreError::not_active)
        << "historical records are immutable";
    EXPECT_EQ(s->update(999, done, nullptr, nullptr).error(), StoreError::not_active);
    ASSERT_TRUE(s->flush_sync());
    EXPECT_EQ(s->active_count(), 39u);
  }
  const auto slots = test::read_slots(o.dir);
  ASSERT_EQ(check(slots[3]), RecordCheck::valid);
  EXPECT_EQ(imsi(slots[3]), "001010123456789");
  EXPECT_EQ(slots[3].state, static_cast<uint8_t>(RecordState::historical));
  EXPECT_EQ(slots[3].disposition, static_cast<uint8_t>(Disposition::delivered));
  EXPECT_EQ(slots[3].time_discharge_ns, 9 * kNanosPerSecond);
  EXPECT_EQ(slots[3].extra_info, 42u);
  RecoveryReport rep;
  auto s = open_file_shard(o, clock, &rep);
  EXPECT_EQ(rep.active_records, 39u);
  EXPECT_EQ(s->find_active(3), nullptr);
  ASSERT_NE(s->find_active(4), nullptr);
}

TEST(Shard, GroupCommitAcknowledgesOnlyWhenDurable) {
  TempDir tmp;
  ManualClock clock;
  SimDisk disk;
  auto o = small_options(tmp.sub("s"));
  auto opened = Shard::open(o, disk.open(false), clock);
  ASSERT_TRUE(opened) << opened.error();
  auto& s = **opened;
  Acks acks;
  for (uint64_t i = 0; i < 20; ++i) {
    SmRecord r = make_record(i);
    ASSERT_TRUE(s.append(r, &Acks::on_ack, &acks));
  }
  EXPECT_TRUE(s.commit());
  EXPECT_TRUE(disk.commit_in_flight());
  EXPECT_FALSE(s.commit()) << "one commit in flight at a time";
  // Records written while the first commit is in flight ride the next one.
  for (uint64_t i = 20; i < 30; ++i) {
    SmRecord r = make_record(i);
    ASSERT_TRUE(s.append(r, &Acks::on_ack, &acks));
  }
  EXPECT_TRUE(acks.results.empty());
  disk.complete_commit();
  EXPECT_EQ(acks.results.size(), 20u);
  EXPECT_EQ(acks.results.rbegin()->first, 19u);
  EXPECT_TRUE(s.commit());
  disk.complete_commit();
  EXPECT_EQ(acks.results.size(), 30u);
  EXPECT_EQ(disk.commits(), 2u);
  EXPECT_FALSE(s.commit()) << "nothing dirty";
}

TEST(Shard, FullBatchPushesBackUntilTheNextCommit) {
  TempDir tmp;
  ManualClock clock;
  SimDisk disk;
  auto o = small_options(tmp.sub("s"));
  o.batch_blocks_max = 2;
  auto s = std::move(*Shard::open(o, disk.open(false), clock));
  for (uint64_t i = 0; i < 32; ++i) {
    SmRecord r = make_record(i);
    ASSERT_TRUE(s->append(r, nullptr, nullptr)) << i;
  }
  SmRecord r = make_record(32);
  EXPECT_EQ(s->append(r, nullptr, nullptr).error(), StoreError::full);
  EXPECT_EQ(s->stats().full_refusals.load(), 1u);
  ASSERT_TRUE(s->commit());
  // Still full while in flight? No: the batch that is in flight left the dirty set.
  EXPECT_TRUE(s->append(r, nullptr, nullptr));
  disk.complete_commit();
  ASSERT_TRUE(s->commit());
  disk.complete_commit();
}

TEST(Shard, CommitFailureFailsTheWaitersAndTheShard) {
  TempDir tmp;
  ManualClock clock;
  SimDisk disk;
  const auto o = small_options(tmp.sub("s"));
  Acks acks;
  {
    auto s = std::move(*Shard::open(o, disk.open(false), clock));
    for (uint64_t i = 0; i < 5; ++i) {
      SmRecord r = make_record(i);
      ASSERT_TRUE(s->append(r, &Acks::on_ack, &acks));
    }
    ASSERT_TRUE(s->commit());
    disk.complete_commit();
    for (uint64_t i = 5; i < 8; ++i) {
      SmRecord r = make_record(i);
      ASSERT_TRUE(s->append(r, &Acks::on_ack, &acks));
    }
    ASSERT_TRUE(s->commit());
    SmRecord r = make_record(8);
    ASSERT_TRUE(s->append(r, &Acks::on_ack, &acks));  // waiting for the next commit
    disk.fail_next_commit(-EIO);
    disk.complete_commit();
    EXPECT_TRUE(s->failed());
    for (uint64_t i = 0; i < 5; ++i) EXPECT_EQ(acks.results.at(i), 0);
    for (uint64_t i = 5; i < 9; ++i) EXPECT_EQ(acks.results.at(i), -EIO) << i;
    SmRecord more = make_record(9);
    EXPECT_EQ(s->append(more, nullptr, nullptr).error(), StoreError::failed);
  }
  // A restart keeps exactly what was durable.
  RecoveryReport rep;
  auto s = Shard::open(o, disk.open(true), clock, &rep);
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(rep.log_records, 5u);
}

TEST(Shard, HistoricalMarkAdvancesAndStartUpSkipsIt) {
  TempDir tmp;
  ManualClock clock;
  SimDisk disk;
  auto o = small_options(tmp.sub("s"));
  o.batch_blocks_max = 1024;
  const uint64_t total = 3 * kRecordsPerMiB + 100;
  {
    auto s = std::move(*Shard::open(o, disk.open(true), clock));
    test::append_seeded(*s, 0, total);
    EXPECT_EQ(s->historical_mb(), 0u);
    // Discharge everything but record 2*4096+5: the mark may reach 2 MiB, not beyond.
    for (uint64_t i = 0; i < total; ++i) {
      if (i == 2 * kRecordsPerMiB + 5) continue;
      test::discharge(*s, i);
      if (i % 1000 == 999) {
        ASSERT_TRUE(s->flush_sync());
      }
    }
    ASSERT_TRUE(s->flush_sync());
    EXPECT_EQ(s->historical_mb(), 2u);
    EXPECT_EQ(s->active_count(), 1u);
  }
  EXPECT_EQ(*read_number_file(o.dir + "/historical-mb"), 2u);
  RecoveryReport rep;
  auto s = std::move(*Shard::open(o, disk.open(true), clock, &rep));
  EXPECT_EQ(rep.historical_mb, 2u);
  EXPECT_EQ(rep.log_records, total);
  EXPECT_EQ(rep.active_records, 1u);
  EXPECT_LE(rep.scanned_records, kRecordsPerMiB + 200) << "start-up read the historical MiBs";
  ASSERT_NE(s->find_active(2 * kRecordsPerMiB + 5), nullptr);
  // Discharging the last one lets the mark reach the tail's MiB once durable.
  test::discharge(*s, 2 * kRecordsPerMiB + 5, Disposition::expired);
  ASSERT_TRUE(s->flush_sync());
  EXPECT_EQ(s->historical_mb(), 3u);
}

TEST(Shard, MarkNeverCoversARecordWhoseDischargeIsNotDurable) {
  TempDir tmp;
  ManualClock clock;
  SimDisk disk;
  auto o = small_options(tmp.sub("s"));
  o.batch_blocks_max = 1024;
  auto s = std::move(*Shard::open(o, disk.open(false), clock));
  auto flush = [&] {
    while (s->commit()) disk.complete_commit();
  };
  for (uint64_t i = 0; i < kRecordsPerMiB + 10; ++i) {
    SmRecord r = make_record(i, i == 7);
    ASSERT_TRUE(s->append(r, nullptr, nullptr));
    if (i % 1000 == 999) {
      flush();
    }
  }
  flush();
  test::discharge(*s, 7);
  ASSERT_TRUE(s->commit());
  // In flight: a crash now may lose the discharge, so the mark must still be 0.
  EXPECT_EQ(*read_number_file(o.dir + "/historical-mb"), 0u);
  disk.complete_commit();
  EXPECT_EQ(*read_number_file(o.dir + "/historical-mb"), 1u);
}

TEST(Shard, TornTailIsZeroedAndAppendsContinue) {
  TempDir tmp;
  ManualClock clock;
  const auto o = small_options(tmp.sub("s"));
  {
    auto s = open_file_shard(o, clock);
    for (uint64_t i = 0; i < 21; ++i) {
      SmRecord r = make_record(i);
      ASSERT_TRUE(s->append(r, nullptr, nullptr));
    }
    ASSERT_TRUE(s->flush_sync());
  }
  // A torn record at slot 21 and leftovers at 22 and 40 (a later block of the same commit).
  {
    const int fd = ::open((o.dir + "/pms.bin").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    SmRecord torn = make_record(21);
    torn.message_id = make_message_id(0, 21);
    seal(torn);
    std::memset(reinterpret_cast<char*>(&torn) + 128, 0, 128);  // half landed
    ASSERT_EQ(::pwrite(fd, &torn, sizeof torn, 21 * kRecordBytes), 256);
    // Written in the commit that tore: sealed while slots from 21 on were not yet durable.
    SmRecord whole = make_record(22);
    whole.message_id = make_message_id(0, 22);
    whole.unsynced_before = 22 - 21;
    seal(whole);
    ASSERT_EQ(::pwrite(fd, &whole, sizeof whole, 22 * kRecordBytes), 256);
    whole.message_id = make_message_id(0, 40);
    whole.unsynced_before = 40 - 21;
    seal(whole);
    ASSERT_EQ(::pwrite(fd, &whole, sizeof whole, 40 * kRecordBytes), 256);
    ::close(fd);
  }
  RecoveryReport rep;
  auto s = open_file_shard(o, clock, &rep);
  ASSERT_TRUE(s);
  EXPECT_EQ(rep.log_records, 21u);
  EXPECT_EQ(rep.torn_slots, 3u);
  const auto slots = test::read_slots(o.dir);
  for (uint64_t i = 21; i < 64; ++i) EXPECT_EQ(check(slots[i]), RecordCheck::blank) << i;
  SmRecord r = make_record(99);
  EXPECT_EQ(*s->append(r, nullptr, nullptr), 21u);
  ASSERT_TRUE(s->flush_sync());
}

TEST(Shard, DamageInTheMiddleIsRefusedNotTruncated) {
  TempDir tmp;
  ManualClock clock;
  auto o = small_options(tmp.sub("s"));
  o.batch_blocks_max = 2;  // residue window: 3 blocks
  {
    auto s = open_file_shard(o, clock);
    for (uint64_t i = 0; i < 200; ++i) {
      SmRecord r = make_record(i);
      ASSERT_TRUE(s->append(r, nullptr, nullptr));
      if (i % 16 == 15) {
        ASSERT_TRUE(s->flush_sync());
      }
    }
    ASSERT_TRUE(s->flush_sync());
  }
  const int fd = ::open((o.dir + "/pms.bin").c_str(), O_WRONLY);
  const char junk[4] = {1, 2, 3, 4};
  ASSERT_EQ(::pwrite(fd, junk, 4, 10 * kRecordBytes + 100), 4);  // a flipped record at slot 10
  ::close(fd);
  auto s = Shard::open_dir(o, clock, nullptr);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("damage in the middle"), std::string::npos) << s.error();
  // And nothing was zeroed.
  EXPECT_EQ(check(test::read_slots(o.dir)[199]), RecordCheck::valid);
}

// Damage to an acknowledged record close to the end (inside the reach of a torn commit) used to
// be taken for a torn tail: the valid, acknowledged records after it were zeroed. Records written
// after it was durable say so (unsynced_before), and recovery refuses instead.
TEST(Shard, DamageInsideTheTornCommitWindowIsRefusedWhenLaterRecordsWereAcknowledged) {
  TempDir tmp;
  ManualClock clock;
  auto o = small_options(tmp.sub("s"));
  o.batch_blocks_max = 8;  // residue window: 9 blocks, 144 slots
  {
    auto s = open_file_shard(o, clock);
    for (uint64_t i = 0; i < 60; ++i) {
      SmRecord r = make_record(i);
      ASSERT_TRUE(s->append(r, nullptr, nullptr));
      if (i % 20 == 19) {
        ASSERT_TRUE(s->flush_sync());  // three commits: 0-19, 20-39, 40-59
      }
    }
  }
  const auto before = test::read_slots(o.dir);
  EXPECT_EQ(before[45].unsynced_before, 45u - 40u);  // sealed when 0-39 were durable
  {
    const int fd = ::open((o.dir + "/pms.bin").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    const char junk[4] = {1, 2, 3, 4};
    ASSERT_EQ(::pwrite(fd, junk, 4, 25 * kRecordBytes + 100), 4);  // slot 25 (acknowledged)
    ::close(fd);
  }
  auto s = Shard::open_dir(o, clock, nullptr);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("damage in the middle"), std::string::npos) << s.error();
  EXPECT_NE(s.error().find("slot 25"), std::string::npos) << s.error();
  const auto after = test::read_slots(o.dir);
  for (uint64_t i = 26; i < 60; ++i) EXPECT_EQ(check(after[i]), RecordCheck::valid) << i;
}

// Files written before unsynced_before existed still open.
TEST(Shard, LayoutOneRecordsAreStillRead) {
  TempDir tmp;
  ManualClock clock;
  const auto o = small_options(tmp.sub("s"));
  {
    auto s = open_file_shard(o, clock);
    for (uint64_t i = 0; i < 5; ++i) {
      SmRecord r = make_record(i);
      ASSERT_TRUE(s->append(r, nullptr, nullptr));
    }
    ASSERT_TRUE(s->flush_sync());
  }
  {  // rewrite slot 3 as a layout-1 record (its unsynced_before bytes were reserved, zero)
    auto slots = test::read_slots(o.dir);
    SmRecord r = slots[3];
    r.unsynced_before = 0;
    r.magic_version = kRecordMagic | 1;
    r.crc32c = crc32c(std::as_bytes(std::span(&r, 1)).subspan(8));
    const int fd = ::open((o.dir + "/pms.bin").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, &r, sizeof r, 3 * kRecordBytes), 256);
    ::close(fd);
  }
  RecoveryReport rep;
  auto s = open_file_shard(o, clock, &rep);
  ASSERT_TRUE(s);
  EXPECT_EQ(rep.log_records, 5u);
  EXPECT_NE(s->find_active(3), nullptr);
}

// Recovery tells which active records are parts of a multi-part message whose last part never
// reached the log (docs/SMSC.md "Multi-part messages"): those the core cancels at start.
TEST(Shard, RecoveryFindsMultiPartMessagesWhoseLastPartIsMissing) {
  TempDir tmp;
  ManualClock clock;
  const auto o = small_options(tmp.sub("s"));
  auto part = [](uint64_t seed, uint8_t k, uint8_t n, uint32_t back, bool active = true) {
    SmRecord r = make_record(seed, active);
    r.part = k;
    r.parts = n;
    r.first_part_back = back;
    return r;
  };
  {
    auto s = open_file_shard(o, clock);
    // 0, 2: parts 1-2 of 3, never completed; 1, 3: a message of 2 parts, whole; 4: a single
    // message; 5, 6, 7: a message of 3 whose last part is already historical (delivered);
    // 8: a part 2 that claims a part 1 before the log (damage: not believed a part).
    const SmRecord records[] = {part(0, 1, 3, 0), part(1, 1, 2, 0),        part(2, 2, 3, 2),
                                part(3, 2, 2, 2), make_record(4),          part(5, 1, 3, 0),
                                part(6, 2, 3, 1), part(7, 3, 3, 2, false), part(8, 2, 2, 100)};
    for (SmRecord r : records) ASSERT_TRUE(s->append(r, nullptr, nullptr));
    ASSERT_TRUE(s->flush_sync());
  }
  RecoveryReport rep;
  auto s = open_file_shard(o, clock, &rep);
  ASSERT_TRUE(s);
  EXPECT_EQ(rep.incomplete_messages, 1u);
  std::vector<uint64_t> incomplete;
  s->for_each_active([&](uint64_t index, const SmRecord& r) {
    if (s->incomplete_message(r, index)) incomplete.push_back(index);
  });
  EXPECT_EQ(incomplete, (std::vector<uint64_t>{0, 2}));
}

TEST(Shard, AnotherShardsFileIsRefused) {
  TempDir tmp;
  ManualClock clock;
  {
    auto s = open_file_shard(small_options(tmp.sub("a"), 1), clock);
    SmRecord r = make_record(1);
    ASSERT_TRUE(s->append(r, nullptr, nullptr));
    ASSERT_TRUE(s->flush_sync());
  }
  std::filesystem::create_directories(tmp.sub("b"));
  std::filesystem::copy_file(tmp.sub("a") + "/pms.bin", tmp.sub("b") + "/pms.bin");
  auto s = Shard::open_dir(small_options(tmp.sub("b"), 2), clock, nullptr);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("not this shard's"), std::string::npos) << s.error();
}

TEST(Shard, BadAuxiliaryFilesGiveClearErrors) {
  TempDir tmp;
  ManualClock clock;
  const auto o = small_options(tmp.sub("s"));
  { ASSERT_TRUE(open_file_shard(o, clock)); }
  std::ofstream(o.dir + "/historical-mb") << "lots\n";
  auto s = Shard::open_dir(o, clock, nullptr);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("historical-mb: not a number"), std::string::npos) << s.error();
  std::ofstream(o.dir + "/historical-mb") << "5000\n";
  s = Shard::open_dir(o, clock, nullptr);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("5000 MiB"), std::string::npos) << s.error();
}

TEST(Shard, MemoryHoldsOnlyBlocksWithActiveRecords) {
  TempDir tmp;
  ManualClock clock;
  SimDisk disk;
  auto s = std::move(*Shard::open(small_options(tmp.sub("s")), disk.open(true), clock));
  for (uint64_t i = 0; i < 20000; ++i) {
    SmRecord r = make_record(i, i == 5);  // one active message, the rest stored historical
    ASSERT_TRUE(s->append(r, nullptr, nullptr));
    if (i % 100 == 99) {
      ASSERT_TRUE(s->flush_sync());
    }
  }
  ASSERT_TRUE(s->flush_sync());
  EXPECT_LE(s->stats().cached_blocks.load(), 2u) << "the block of record 5 and the tail only";
  SmRecord bad = make_record(1);
  bad.state = 7;
  EXPECT_EQ(s->append(bad, nullptr, nullptr).error(), StoreError::bad_record);
  SmRecord next = *s->find_active(5);
  next.disposition = static_cast<uint8_t>(Disposition::delivered);  // active with a disposition
  EXPECT_EQ(s->update(5, next, nullptr, nullptr).error(), StoreError::bad_record);
}

TEST(Shard, OneOwnerAtATime) {
  TempDir tmp;
  ManualClock clock;
  const auto o = small_options(tmp.sub("s"));
  auto first = open_file_shard(o, clock);
  ASSERT_TRUE(first);
  auto second = Shard::open_dir(o, clock, nullptr);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().find("in use"), std::string::npos) << second.error();
}

TEST(Shard, NumberFilesAreWrittenAtomically) {
  TempDir tmp;
  const std::string p = tmp.sub("historical-mb");
  EXPECT_EQ(*read_number_file(p), 0u);
  ASSERT_TRUE(write_number_file(p, 17));
  EXPECT_EQ(*read_number_file(p), 17u);
  EXPECT_FALSE(std::filesystem::exists(p + ".tmp"));
}

}  // namespace
}  // namespace cp::storage
