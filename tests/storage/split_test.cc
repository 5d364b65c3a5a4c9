// The offline split (pms-tool split) and verify: history moves to an archive store, the shard
// keeps its message ids and reopens; refusals leave everything unchanged; an interrupted split
// blocks start-up until resumed. Plus the random-operation test with splits and restarts on real
// files, checked against an in-memory model.
#include "storage/split.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "storage/shard.h"
#include "storage/verify.h"
#include "tests/storage/store_test_util.h"

namespace cp::storage {
namespace {

namespace fs = std::filesystem;
using test::make_record;
using test::same_content;
using test::TempDir;

ShardOptions options_at(const std::string& dir) {
  ShardOptions o;
  o.dir = dir;
  o.prealloc_bytes = 256 << 10;
  o.batch_blocks_max = 256;
  o.historical_mark_interval = 0;
  return o;
}

// A shard with 2.5 MiB of records whose first 2 MiB are historical (mark = 2).
void build(const std::string& dir, ManualClock& clock) {
  auto s = std::move(*Shard::open_dir(options_at(dir), clock, nullptr));
  test::append_seeded(*s, 0, 2 * kRecordsPerMiB + kRecordsPerMiB / 2);
  for (uint64_t i = 0; i < 2 * kRecordsPerMiB + 10; ++i) {
    test::discharge(*s, i);
    if (i % 1000 == 999) {
      ASSERT_TRUE(s->flush_sync());
    }
  }
  ASSERT_TRUE(s->flush_sync());
  ASSERT_EQ(s->historical_mb(), 2u);
}

TEST(Split, MovesHistoryOutAndTheShardReopensWithItsIds) {
  TempDir tmp;
  ManualClock clock;
  const std::string dir = tmp.sub("pms/shard-0");
  build(dir, clock);
  if (HasFatalFailure()) return;
  SplitOptions o;
  o.shard_dir = dir;
  o.archive_dir = tmp.sub("archive");
  uint64_t last_done = 0, calls = 0;
  o.progress = [&](uint64_t done, uint64_t total) {
    EXPECT_GE(done, last_done);
    EXPECT_LE(done, total);
    last_done = done;
    ++calls;
  };
  auto rep = split_shard(o);
  ASSERT_TRUE(rep) << rep.error();
  EXPECT_EQ(rep->records_moved, 2 * kRecordsPerMiB);
  EXPECT_EQ(rep->records_kept, kRecordsPerMiB / 2);
  EXPECT_EQ(rep->new_base_index, 2 * kRecordsPerMiB);
  EXPECT_GT(calls, 0u);
  EXPECT_FALSE(fs::exists(dir + "/split-pending"));
  EXPECT_FALSE(fs::exists(dir + "/pms.bin.split"));

  // The archive is a store root with a shard of exactly the history, verified sound.
  auto arch = verify_shard(tmp.sub("archive/shard-0"), nullptr);
  ASSERT_TRUE(arch) << arch.error();
  EXPECT_TRUE(arch->problems.empty()) << arch->problems.front();
  EXPECT_EQ(arch->records, 2 * kRecordsPerMiB);
  EXPECT_EQ(arch->active, 0u);
  EXPECT_EQ(arch->base_index, 0u);
  EXPECT_EQ(arch->historical_mb, 2u);
  const std::string json = to_json(*arch);
  EXPECT_NE(json.find("\"records\":8192,\"active\":0"), std::string::npos) << json;
  EXPECT_NE(json.find("\"problems\":[]"), std::string::npos) << json;

  // The shard: base-index raised, mark reset, every id unchanged, active messages all there.
  EXPECT_EQ(*read_number_file(dir + "/base-index"), 2 * kRecordsPerMiB);
  EXPECT_EQ(*read_number_file(dir + "/historical-mb"), 0u);
  auto v = verify_shard(dir, nullptr);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->problems.empty()) << v->problems.front();
  RecoveryReport rr;
  auto s = Shard::open_dir(options_at(dir), clock, nullptr, &rr);
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ((*s)->next_index(), 2 * kRecordsPerMiB + kRecordsPerMiB / 2);
  EXPECT_EQ(rr.active_records, kRecordsPerMiB / 2 - 10);
  const uint64_t probe = 2 * kRecordsPerMiB + 100;
  ASSERT_NE((*s)->find_active(probe), nullptr);
  EXPECT_TRUE(same_content(*(*s)->find_active(probe), make_record(probe)));
  SmRecord r = make_record(7);
  EXPECT_EQ(*(*s)->append(r, nullptr, nullptr), 2 * kRecordsPerMiB + kRecordsPerMiB / 2);
  ASSERT_TRUE((*s)->flush_sync());
}

TEST(Split, RefusalsChangeNothing) {
  TempDir tmp;
  ManualClock clock;
  const std::string dir = tmp.sub("shard-0");
  build(dir, clock);
  if (HasFatalFailure()) return;
  const auto before = test::read_slots(dir);
  SplitOptions o;
  o.shard_dir = dir;
  o.archive_dir = tmp.sub("archive");
  {  // while the daemon holds the shard
    auto open = Shard::open_dir(options_at(dir), clock, nullptr);
    ASSERT_TRUE(open);
    auto rep = split_shard(o);
    ASSERT_FALSE(rep);
    EXPECT_NE(rep.error().find("in use"), std::string::npos) << rep.error();
  }
  o.mib = 3;  // more than is marked historical
  auto rep = split_shard(o);
  ASSERT_FALSE(rep);
  EXPECT_NE(rep.error().find("only 2 MiB"), std::string::npos) << rep.error();
  // A wrong mark that would move an active message.
  o.mib = 0;
  ASSERT_TRUE(write_number_file(dir + "/historical-mb", 2));
  // Record 100 active again (rewritten by hand): the mark now lies about it.
  std::fstream f(dir + "/pms.bin", std::ios::in | std::ios::out | std::ios::binary);
  SmRecord r = before[100];
  r.state = static_cast<uint8_t>(RecordState::active);
  r.disposition = 0;
  seal(r);
  f.seekp(100 * kRecordBytes);
  f.write(reinterpret_cast<const char*>(&r), sizeof r);
  f.close();
  rep = split_shard(o);
  ASSERT_FALSE(rep);
  EXPECT_NE(rep.error().find("still active"), std::string::npos) << rep.error();
  EXPECT_FALSE(fs::exists(tmp.sub("archive/shard-0")));
  EXPECT_FALSE(fs::exists(dir + "/pms.bin.split"));
  EXPECT_EQ(*read_number_file(dir + "/base-index"), 0u);
  auto v = verify_shard(dir, nullptr);
  ASSERT_TRUE(v);
  ASSERT_FALSE(v->problems.empty());
  EXPECT_NE(v->problems.front().find("within historical-mb"), std::string::npos);
  v->dir = "a \"quoted\"\tdir";  // what pms-tool verify --json prints stays valid JSON
  const std::string json = to_json(*v);
  EXPECT_NE(json.find("\"dir\":\"a \\\"quoted\\\"\\tdir\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"problems\":[\"record 100 is active"), std::string::npos) << json;
}

TEST(Split, InterruptedSwitchBlocksStartUpUntilResumed) {
  for (int step = 1; step <= 3; ++step) {
    SCOPED_TRACE("stopped after step " + std::to_string(step));
    TempDir tmp;
    ManualClock clock;
    const std::string dir = tmp.sub("shard-0");
    build(dir, clock);
    if (HasFatalFailure()) return;
    SplitOptions o;
    o.shard_dir = dir;
    o.archive_dir = tmp.sub("archive");
    o.stop_after_step = step;
    ASSERT_FALSE(split_shard(o));
    auto blocked = Shard::open_dir(options_at(dir), clock, nullptr);
    ASSERT_FALSE(blocked);
    EXPECT_NE(blocked.error().find("--resume"), std::string::npos) << blocked.error();
    o.stop_after_step = 0;
    auto again = split_shard(o);
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().find("interrupted"), std::string::npos);
    auto done = resume_split(dir);
    ASSERT_TRUE(done) << done.error();
    auto s = Shard::open_dir(options_at(dir), clock, nullptr);
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ((*s)->base_index(), 2 * kRecordsPerMiB);
    EXPECT_EQ((*s)->next_index(), 2 * kRecordsPerMiB + kRecordsPerMiB / 2);
  }
}

// The random-operation test on real files: appends, updates, discharges, commits, clean
// restarts and offline splits against a model (index -> last version; archived indexes move to
// the archive's model and must be found there, byte for byte).
TEST(StoreModel, RandomOperationsWithSplitsAgainstTheModel) {
  const char* env = std::getenv("CP_STORE_SEED");
  const uint64_t seed = env ? std::strtoull(env, nullptr, 10) : 7;
  SCOPED_TRACE("CP_STORE_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  TempDir tmp;
  ManualClock clock;
  const std::string dir = tmp.sub("pms/shard-0");
  std::map<uint64_t, SmRecord> model;        // every record, as last acknowledged
  std::map<uint64_t, std::string> archived;  // index -> archive shard dir
  auto shard = std::move(*Shard::open_dir(options_at(dir), clock, nullptr));
  uint64_t oldest_active = 0;
  int splits = 0, restarts = 0;
  auto check_all = [&](const std::string& where) {
    SCOPED_TRACE(where);
    const auto slots = test::read_slots(dir);
    const uint64_t base = shard->base_index();
    for (const auto& [index, want] : model) {
      if (index < base) continue;
      ASSERT_LT(index - base, slots.size());
      const SmRecord& got = slots[index - base];
      ASSERT_EQ(check(got), RecordCheck::valid) << index;
      ASSERT_TRUE(same_content(got, want)) << index;
      ASSERT_EQ(got.state == 0, shard->find_active(index) != nullptr) << index;
    }
  };
  for (int step = 0; step < 30000; ++step) {
    const unsigned op = rng() % 1000;
    if (op < 600) {
      SmRecord r = make_record(rng(), rng() % 3 == 0);
      auto index = shard->append(r, nullptr, nullptr);
      ASSERT_TRUE(index);
      model[*index] = r;
    } else if (op < 900) {
      // Mostly discharge the oldest active message, so history accumulates at the front;
      // otherwise change a random one (IMSI filled in, or discharged).
      const uint64_t n = shard->next_index();
      const bool oldest = rng() % 4 != 0;
      uint64_t index =
          oldest ? oldest_active : shard->base_index() + rng() % (n - shard->base_index() + 1);
      while (index < n && !shard->find_active(index)) ++index;
      if (index >= n) continue;
      if (oldest) oldest_active = index;
      SmRecord next = *shard->find_active(index);
      if (!oldest && rng() % 2 == 0) {
        set_imsi(next, "310150123456789");
      } else {
        next.state = static_cast<uint8_t>(RecordState::historical);
        next.disposition = static_cast<uint8_t>(1 + rng() % 4);
      }
      ASSERT_TRUE(shard->update(index, next, nullptr, nullptr));
      model[index] = next;
    } else if (op < 990) {
      ASSERT_TRUE(shard->flush_sync());
    } else if (op < 997) {
      ASSERT_TRUE(shard->flush_sync());
      shard.reset();
      shard = std::move(*Shard::open_dir(options_at(dir), clock, nullptr));
      check_all("restart at step " + std::to_string(step));
      ++restarts;
    } else {
      ASSERT_TRUE(shard->flush_sync());
      const uint64_t mark = shard->historical_mb();
      shard.reset();
      if (mark > 0) {
        SplitOptions o;
        o.shard_dir = dir;
        o.archive_dir = tmp.sub("archive-" + std::to_string(splits));
        auto rep = split_shard(o);
        ASSERT_TRUE(rep) << rep.error();
        ++splits;
        const auto arch = test::read_slots(rep->archive_shard_dir);
        const uint64_t from = rep->new_base_index - rep->records_moved;
        ASSERT_EQ(arch.size(), rep->records_moved);
        for (uint64_t i = 0; i < arch.size(); ++i) {
          ASSERT_TRUE(same_content(arch[i], model.at(from + i))) << from + i;
          ASSERT_EQ(arch[i].state, static_cast<uint8_t>(RecordState::historical));
        }
      }
      auto reopened = Shard::open_dir(options_at(dir), clock, nullptr);
      ASSERT_TRUE(reopened) << reopened.error();
      shard = std::move(*reopened);
      check_all("after split at step " + std::to_string(step));
    }
    if (HasFatalFailure()) return;
  }
  EXPECT_GE(splits, 2) << "too few splits to test them";
  EXPECT_GE(restarts, 5);
}

}  // namespace
}  // namespace cp::storage
