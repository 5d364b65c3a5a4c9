// Crash consistency of the message store on the simulated disk (storage/testing/sim_disk.h),
// checked against a model of what was acknowledged:
//   - a commit torn at every sector boundary (every prefix of its sectors landed), and at random
//     subsets of sectors (a device reorders), must recover every acknowledged record intact and
//     believe nothing half-written;
//   - a long random run of appends, updates, discharges, commits, crashes and restarts.
//   - power loss under the real FileShardIo (storage/testing/power_loss_disk.h): a seeded sweep of
//     crash points, each followed by a power loss that loses, lands, tears or misdirects what
//     was not synced; and the syncs at open and of a new file's directory.
// Seeds are printed on failure; CP_STORE_SEED replays one (CP_STORE_SWEEP sets the sweep's
// seed count).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <span>
#include <vector>

#include "storage/shard.h"
#include "storage/testing/power_loss_disk.h"
#include "storage/testing/sim_disk.h"
#include "tests/storage/store_test_util.h"

namespace cp::storage {
namespace {

using test::make_record;
using test::TempDir;

// Whether two records carry the same payload: identity, seal and the shard's durability mark
// (unsynced_before) aside.
bool same_payload(const SmRecord& a, const SmRecord& b) {
  const auto* pa = reinterpret_cast<const char*>(&a);
  const auto* pb = reinterpret_cast<const char*>(&b);
  constexpr size_t from = offsetof(SmRecord, time_expiry_ns);
  constexpr size_t mark = offsetof(SmRecord, unsynced_before);
  constexpr size_t after = mark + sizeof(SmRecord::unsynced_before);
  return std::memcmp(pa + from, pb + from, mark - from) == 0 &&
         std::memcmp(pa + after, pb + after, sizeof(SmRecord) - after) == 0;
}

// The last acknowledged version of each record, by index (indices are dense: appends count up).
struct Acked {
  std::vector<SmRecord> records;
  std::vector<bool> known;
  size_t count = 0;

  void set(uint64_t index, const SmRecord& r) {
    if (index >= records.size()) {
      records.resize(index + 1);
      known.resize(index + 1);
    }
    if (!known[index]) ++count;
    known[index] = true;
    records[index] = r;
  }
  const SmRecord* find(uint64_t index) const {
    return index < known.size() && known[index] ? &records[index] : nullptr;
  }
  size_t size() const { return count; }
  void clear() {
    records.clear();
    known.clear();
    count = 0;
  }
};

// What the submitters were told, and what they may yet find.
struct Model {
  Acked acked;                                        // last acknowledged versions
  std::map<uint64_t, std::vector<SmRecord>> pending;  // versions submitted, not yet acked
  uint64_t next_index = 0;                            // after the last acked/pending append

  uint64_t failed_acks = 0;

  static void on_ack(void* ctx, uint64_t index, int32_t result) {
    auto* m = static_cast<Model*>(ctx);
    if (result != 0) {  // never durable for sure: the versions stay possible, not promised
      ++m->failed_acks;
      return;
    }
    auto& versions = m->pending[index];
    ASSERT_FALSE(versions.empty()) << "ack for nothing pending at " << index;
    m->acked.set(index, versions.front());
    versions.erase(versions.begin());
    if (versions.empty()) m->pending.erase(index);
  }
};

// The records of a disk image, in place (operator new aligns the bytes for SmRecord).
std::span<const SmRecord> slots_of(const std::vector<std::byte>& image) {
  return {reinterpret_cast<const SmRecord*>(image.data()), image.size() / kRecordBytes};
}

// Checks a recovered shard against the model and makes the model match what is now durable.
void verify_and_adopt(Shard& shard, const std::vector<std::byte>& image, Model& m,
                      const std::string& where) {
  SCOPED_TRACE(where);
  const auto slots = slots_of(image);
  const uint64_t n = shard.next_index();
  // Every acknowledged record is there, as acknowledged or as a later submitted version.
  for (uint64_t index = 0; index < m.acked.known.size(); ++index) {
    const SmRecord* acked = m.acked.find(index);
    if (acked == nullptr) continue;
    const SmRecord& want = *acked;
    ASSERT_LT(index, n) << "acknowledged record " << index << " lost";
    const SmRecord& got = slots[index];
    ASSERT_EQ(check(got), RecordCheck::valid) << index;
    bool ok = same_payload(got, want);
    if (auto it = m.pending.find(index); !ok && it != m.pending.end())
      for (const SmRecord& v : it->second) ok = ok || same_payload(got, v);
    ASSERT_TRUE(ok) << "acknowledged record " << index << " changed to something never submitted";
  }
  // Everything else in the log was submitted exactly so (nothing half-written believed).
  for (uint64_t index = 0; index < n; ++index) {
    const SmRecord& got = slots[index];
    ASSERT_EQ(check(got), RecordCheck::valid) << index;
    ASSERT_EQ(got.message_id, make_message_id(shard.id(), index));
    if (m.acked.find(index)) continue;
    const auto it = m.pending.find(index);
    ASSERT_NE(it, m.pending.end()) << "record " << index << " was never submitted";
    bool ok = false;
    for (const SmRecord& v : it->second) ok = ok || same_payload(got, v);
    ASSERT_TRUE(ok) << "record " << index << " is not a submitted version";
  }
  // Slots after the end are blank: a later append can never resurrect residue.
  for (uint64_t i = n; i < slots.size(); ++i) ASSERT_EQ(check(slots[i]), RecordCheck::blank) << i;
  // The in-memory active set is exactly the active records of the log.
  uint64_t active = 0;
  for (uint64_t index = 0; index < n; ++index)
    if (slots[index].state == static_cast<uint8_t>(RecordState::active)) {
      ++active;
      const SmRecord* r = shard.find_active(index);
      ASSERT_NE(r, nullptr) << index;
      ASSERT_TRUE(same_payload(*r, slots[index])) << index;
    }
  ASSERT_EQ(shard.active_count(), active);
  // Adopt: what survived is now the acknowledged truth.
  m.acked.clear();
  m.pending.clear();
  for (uint64_t index = 0; index < n; ++index) m.acked.set(index, slots[index]);
  m.next_index = n;
}

ShardOptions options_for(const TempDir& tmp) {
  ShardOptions o;
  o.dir = tmp.sub("shard-0");
  o.prealloc_bytes = 64 << 10;
  o.batch_blocks_max = 8;
  o.historical_mark_interval = 0;
  return o;
}

// A shard and the model of what its submitters were told.
struct Driver {
  std::unique_ptr<Shard> shard;
  Model model;

  bool append(uint64_t seed, bool active) {
    SmRecord r = make_record(seed, active);
    auto index = shard->append(r, &Model::on_ack, &model);
    if (!index) return false;
    model.pending[*index].push_back(r);
    model.next_index = *index + 1;
    return true;
  }
  bool update(uint64_t index, bool discharge, uint64_t salt) {
    const SmRecord* cur = shard->find_active(index);
    if (!cur) return false;
    SmRecord next = *cur;
    next.extra_info = static_cast<uint32_t>(salt);
    set_imsi(next, std::to_string(310150000000000 + salt % 1000000));
    if (discharge) {
      next.state = static_cast<uint8_t>(RecordState::historical);
      next.disposition = static_cast<uint8_t>(Disposition::delivered);
      next.time_discharge_ns = 1234;
    }
    if (!shard->update(index, next, &Model::on_ack, &model)) return false;
    model.pending[index].push_back(next);
    return true;
  }
};

struct Harness : Driver {
  TempDir tmp;
  ManualClock clock;
  SimDisk disk;
  ShardOptions opts = options_for(tmp);

  ~Harness() {
    if (disk.commit_in_flight()) disk.crash_image([](size_t) { return false; });
    shard.reset();  // before the disk, clock and directory it uses
  }
  void open() {
    auto s = Shard::open(opts, disk.open(false), clock);
    ASSERT_TRUE(s) << s.error();
    shard = std::move(*s);
  }
  void flush() {
    while (shard->commit()) disk.complete_commit();
  }
  // Power loss with the in-flight commit's sectors landed per `landed`; then restart.
  void crash_and_restart(const std::function<bool(size_t)>& landed, const std::string& where) {
    auto image = disk.crash_image(landed);
    shard.reset();
    disk.restore(std::move(image));
    open();
    verify_and_adopt(*shard, disk.durable(), model, where);
  }
};

// Builds a state with acknowledged records, active ones in older blocks, and a commit in flight
// that appends across several blocks and updates/discharges records in older blocks.
void build_in_flight(Harness& h) {
  h.open();
  for (uint64_t i = 0; i < 53; ++i) ASSERT_TRUE(h.append(i, i % 4 != 0));
  h.flush();
  for (uint64_t i = 53; i < 90; ++i) ASSERT_TRUE(h.append(i, i % 2 == 0));
  ASSERT_TRUE(h.update(1, false, 7));  // IMSI filled in
  ASSERT_TRUE(h.update(2, true, 8));   // discharged
  ASSERT_TRUE(h.update(33, true, 9));
  ASSERT_TRUE(h.update(50, false, 10));  // in the block the tail shares
  ASSERT_TRUE(h.shard->commit());
  ASSERT_TRUE(h.disk.commit_in_flight());
}

TEST(StoreCrash, TornAtEverySectorBoundary) {
  size_t sectors = 0;
  {
    Harness probe;
    build_in_flight(probe);
    sectors = probe.disk.in_flight_sectors();
  }
  ASSERT_GT(sectors, 8u);
  // Every prefix (the write stopped at that sector) and every suffix (landed backwards).
  for (size_t k = 0; k <= sectors; ++k) {
    for (bool from_end : {false, true}) {
      Harness h;
      build_in_flight(h);
      h.crash_and_restart([&](size_t s) { return from_end ? s >= sectors - k : s < k; },
                          "sectors " + std::string(from_end ? "last " : "first ") +
                              std::to_string(k) + " of " + std::to_string(sectors));
      if (HasFatalFailure()) return;
      // The shard goes on: append, commit, restart, all still there.
      ASSERT_TRUE(h.append(1000 + k, true));
      h.flush();
      h.shard.reset();
      h.open();
      verify_and_adopt(*h.shard, h.disk.durable(), h.model, "after the restart");
      if (HasFatalFailure()) return;
    }
  }
}

uint64_t base_seed() {
  const char* env = std::getenv("CP_STORE_SEED");
  return env ? std::strtoull(env, nullptr, 10) : 20261123;
}

TEST(StoreCrash, TornInRandomSectorSubsets) {
  for (uint64_t round = 0; round < 200; ++round) {
    const uint64_t seed = base_seed() + round;
    SCOPED_TRACE("CP_STORE_SEED=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    Harness h;
    build_in_flight(h);
    h.crash_and_restart([&](size_t) { return rng() % 2 == 0; }, "random subset");
    if (HasFatalFailure()) return;
  }
}

TEST(StoreCrash, FailedCommitThenCrashKeepsTheAcknowledged) {
  Harness h;
  build_in_flight(h);
  ASSERT_TRUE(h.append(5000, true));  // waits behind the failing commit
  h.disk.complete_commit(-EIO);
  EXPECT_TRUE(h.shard->failed());
  EXPECT_EQ(h.model.failed_acks, 37u + 4u + 1u);
  h.shard.reset();
  h.open();
  verify_and_adopt(*h.shard, h.disk.durable(), h.model, "after the failed commit");
  EXPECT_EQ(h.shard->next_index(), 53u);
}

// The random-operation test: a long run of appends, updates, discharges, commits (completed or
// not), crashes at random moments with random sectors landed, and clean restarts.
TEST(StoreModel, RandomOperationsAgainstTheModel) {
  const uint64_t seed = base_seed();
  SCOPED_TRACE("CP_STORE_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Harness h;
  h.open();
  uint64_t crashes = 0, restarts = 0, appends = 0, updates = 0;
  for (int step = 0; step < 20000; ++step) {
    const unsigned op = rng() % 100;
    if (op < 45) {
      appends += h.append(rng(), rng() % 5 != 0);
    } else if (op < 65 && h.model.next_index > 0) {
      const uint64_t index = rng() % h.model.next_index;
      updates += h.update(index, rng() % 2 == 0, rng());
    } else if (op < 85) {
      h.shard->commit();
    } else if (op < 97) {
      if (h.disk.commit_in_flight()) h.disk.complete_commit();
    } else if (op < 99) {
      const uint64_t bits = rng();
      h.crash_and_restart([&](size_t s) { return (bits >> (s % 64)) & 1; },
                          "crash at step " + std::to_string(step));
      ++crashes;
    } else {
      h.flush();
      while (h.disk.commit_in_flight()) h.disk.complete_commit();
      h.flush();
      h.shard.reset();
      h.open();
      verify_and_adopt(*h.shard, h.disk.durable(), h.model,
                       "restart at step " + std::to_string(step));
      ++restarts;
    }
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(crashes, 50u);
  EXPECT_GT(restarts, 20u);
  EXPECT_GT(appends, 5000u);
  EXPECT_GT(updates, 1000u);
}

// ---- Power loss under the real FileShardIo ----

struct PowerHarness : Driver {
  TempDir tmp;
  ManualClock clock;
  PowerLossDisk disk;
  ShardOptions opts = options_for(tmp);
  std::string error;  // why the last open() failed

  ~PowerHarness() { shard.reset(); }
  bool open() {
    bool created = false;
    auto file = disk.open(true, &created);
    auto io = open_shard_io(std::move(file), created, nullptr);
    if (!io) {
      error = io.error();
      return false;
    }
    auto s = Shard::open(opts, std::move(*io), clock);
    if (!s) {
      error = s.error();
      return false;
    }
    shard = std::move(*s);
    return true;
  }
  // Random appends, updates and (synchronous) commits until `steps` or the process died.
  void run(std::mt19937_64& rng, int steps) {
    for (int i = 0; i < steps && !disk.dead(); ++i) {
      const unsigned op = rng() % 100;
      if (op < 50) {
        append(rng(), rng() % 4 != 0);
      } else if (op < 70 && model.next_index > 0) {
        update(rng() % model.next_index, rng() % 2 == 0, rng());
      } else {
        shard->commit();
      }
    }
  }
};

// Every acknowledged record survives a power loss right after a commit (the commit's
// fdatasync), and the file itself does (the directory sync of a new pms.bin).
TEST(PowerLoss, AcknowledgedRecordsOfANewFileSurvive) {
  PowerHarness h;
  ASSERT_TRUE(h.open()) << h.error;
  for (uint64_t i = 0; i < 40; ++i) ASSERT_TRUE(h.append(i, true));
  ASSERT_TRUE(h.shard->commit());
  ASSERT_FALSE(h.shard->failed());
  ASSERT_EQ(h.model.acked.size(), 40u);
  h.shard.reset();
  std::mt19937_64 rng(1);
  const PowerLossReport rep = h.disk.power_loss(rng);
  EXPECT_FALSE(rep.file_lost) << "pms.bin was created but its directory never synced";
  ASSERT_TRUE(h.open()) << h.error;
  verify_and_adopt(*h.shard, h.disk.durable(), h.model, "after the power loss");
  EXPECT_EQ(h.shard->next_index(), 40u);
}

// A process dies after writing a commit and before its fdatasync; the next one adopts those
// records (they read back valid) and may act on them. A power loss then must not take them:
// what recovery adopted is made durable before it is believed.
TEST(PowerLoss, WhatRecoveryAdoptsIsDurable) {
  PowerHarness h;
  h.opts.prealloc_bytes = 2 << 20;
  ASSERT_TRUE(h.open()) << h.error;
  h.opts.prealloc_bytes = 1 << 20;  // the restart finds room: no zero fill, whose sync hides this
  for (uint64_t i = 0; i < 20; ++i) ASSERT_TRUE(h.append(i, true));
  ASSERT_TRUE(h.shard->commit());
  for (uint64_t i = 20; i < 30; ++i) ASSERT_TRUE(h.append(i, true));
  h.disk.die_after(1);  // the commit's write lands in the cache; its fdatasync never runs
  h.shard->commit();
  ASSERT_TRUE(h.shard->failed());
  h.shard.reset();
  h.disk.restart();
  ASSERT_TRUE(h.open()) << h.error;
  const uint64_t adopted = h.shard->next_index();
  ASSERT_EQ(adopted, 30u);  // the unsynced commit read back whole
  h.shard.reset();
  std::mt19937_64 rng(2);
  PowerLossFaults lose_all;
  lose_all.landed = lose_all.garbage = lose_all.misdirected = 0;
  h.disk.power_loss(rng, lose_all);
  ASSERT_TRUE(h.open()) << h.error;
  EXPECT_EQ(h.shard->next_index(), adopted) << "records adopted at start-up were not durable";
}

// The seeded sweep: for each seed, rounds of random work with the process dying after a random
// number of system calls (the crash point), then sometimes a plain restart (page cache kept)
// checked and followed by a power loss, else a power loss at once; after each, every
// acknowledged record must be there and nothing never submitted believed.
TEST(PowerLoss, SeededCrashPointSweep) {
  const char* env = std::getenv("CP_STORE_SWEEP");
  const uint64_t seeds = env ? std::strtoull(env, nullptr, 10) : 1000;
  uint64_t crash_points = 0, restarts = 0, acked = 0;
  PowerLossReport total;
  for (uint64_t n = 0; n < seeds; ++n) {
    const uint64_t seed = base_seed() + n;
    SCOPED_TRACE("CP_STORE_SEED=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    PowerHarness h;
    ASSERT_TRUE(h.open()) << h.error;
    for (int round = 0; round < 3; ++round) {
      h.disk.die_after(rng() % 40);
      h.run(rng, 120);
      ++crash_points;
      acked += h.model.acked.size();
      h.shard.reset();
      if (rng() % 3 == 0) {  // the process restarts with the page cache intact
        h.disk.restart();
        ASSERT_TRUE(h.open()) << h.error;
        verify_and_adopt(*h.shard, h.disk.visible(), h.model, "restart without power loss");
        if (HasFatalFailure()) return;
        h.shard.reset();
        ++restarts;
      }
      const PowerLossReport rep = h.disk.power_loss(rng);
      ASSERT_FALSE(rep.file_lost);
      total.lost += rep.lost;
      total.landed += rep.landed;
      total.garbage += rep.garbage;
      total.misdirected += rep.misdirected;
      ASSERT_TRUE(h.open()) << h.error;
      verify_and_adopt(*h.shard, h.disk.durable(), h.model,
                       "power loss after round " + std::to_string(round));
      if (HasFatalFailure()) return;
    }
  }
  std::printf(
      "power-loss sweep: %llu seeds, %llu crash points, %llu restarts without power loss, %llu "
      "acknowledged records checked; volatile sectors lost %llu, landed %llu, garbage %llu, "
      "misdirected %llu\n",
      static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(crash_points),
      static_cast<unsigned long long>(restarts), static_cast<unsigned long long>(acked),
      static_cast<unsigned long long>(total.lost), static_cast<unsigned long long>(total.landed),
      static_cast<unsigned long long>(total.garbage),
      static_cast<unsigned long long>(total.misdirected));
  EXPECT_GT(total.garbage, 0u);
  EXPECT_GT(total.misdirected, 0u);
}

}  // namespace
}  // namespace cp::storage
