// The SMSC core on a disk that loses power (storage/testing/power_loss_disk.h), with seeds: a
// client enters single and multi-part messages, the process dies after a seeded number of disk
// calls, the power goes (what was not synced is lost, lands, lands torn or lands misdirected),
// and the core starts again on what the disk kept. Every message the core acknowledged must be
// there and active; a multi-part message every part of which was acknowledged must be whole;
// and no multi-part message may be left in part — one whose last part never reached the disk is
// cancelled at start, so no part of it can be delivered (issue 15: the core, not only the store,
// on the power-loss disk).
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "engine/reactor.h"
#include "engine/sim/sim_backend.h"
#include "engine/sim/sim_gtest.h"
#include "services/smsc/core.h"
#include "storage/testing/power_loss_disk.h"
#include "tests/services/smsc/smsc_harness.h"

namespace cp::smsc::power_loss {
namespace {

using sim::ipv4;
using wire::Status;

constexpr uint32_t kCoreIp = ipv4(10, 0, 9, 1);
constexpr uint32_t kClientIp = ipv4(10, 0, 9, 2);
constexpr uint16_t kPort = 7000;

// The core on one simulated host, its store's pms.bin on `disk`; a client on another.
struct World {
  ManualClock clock;
  sim::SimNetwork net{1, clock, sim::SimFaults{}};
  engine::Reactor core_r{test::sim_reactor_config(),
                         std::make_unique<sim::SimBackend>(net, kCoreIp), clock};
  engine::Reactor client_r{test::sim_reactor_config(),
                           std::make_unique<sim::SimBackend>(net, kClientIp), clock};
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<SmscService> smsc;
  test::EngineClient client;

  World(const std::string& dir, storage::PowerLossDisk& disk) {
    storage::StoreOptions so;
    so.dir = dir + "/pms";
    so.cores = 1;
    so.shard.prealloc_bytes = 1 << 20;
    so.shard.batch_blocks_max = 16;
    so.open_io = [&disk](unsigned) {
      bool created = false;
      auto file = disk.open(true, &created);  // before `created` is read
      return storage::open_shard_io(std::move(file), created, nullptr);
    };
    store = std::make_unique<storage::Store>(so);
    SmscOptions opt = test::test_options(dir);
    opt.stream_listen = SocketAddress::ipv4(kCoreIp, kPort);
    smsc = std::make_unique<SmscService>(opt, *store, test::test_numdb(), 1);
  }
  bool start() {
    if (!store->open_on_core(core_r, clock)) return false;
    return static_cast<bool>(smsc->start_on_core(core_r));
  }
  void round() {
    core_r.run_once(0);
    client_r.run_once(0);
    net.tick(100 * kNanosPerMicro);
  }
  void rounds(int n) {
    for (int i = 0; i < n; ++i) round();
  }
  ~World() {
    smsc.reset();
    store.reset();
  }
};

struct Sent {
  uint64_t group = 0;  // 0: a single message
  uint8_t part = 0;
  std::optional<Status> answer;
  uint64_t id = 0;
};

// One seed: enter messages until the process dies, lose power, start again; the checks.
void run(uint64_t seed, const std::string& dir) {
  std::mt19937_64 rng(seed);
  storage::PowerLossDisk disk;
  std::vector<Sent> sent;
  {
    World w(dir, disk);
    ASSERT_TRUE(w.start());
    disk.die_after(rng() % 120);
    std::byte buf[wire::kMessageMax];
    w.client.on_message = [&](test::EngineClient&, const wire::Message& m) {
      if (!m.header.response() || m.header.request_id == 0 || m.header.request_id > sent.size())
        return;
      Sent& s = sent[m.header.request_id - 1];
      s.answer = m.header.status;
      s.id = m.message_id;
    };
    ASSERT_NE(w.client_r.connect(SocketAddress::ipv4(kCoreIp, kPort), w.client), nullptr);
    for (uint64_t msg = 1; msg <= 60; ++msg) {
      const bool multi = rng() % 3 == 0;
      const uint8_t parts = multi ? 3 : 1;
      for (uint8_t k = 1; k <= parts; ++k) {
        auto s = test::make_submit("2125550100", "41555501" + std::to_string(10 + msg % 50),
                                   "m" + std::to_string(msg) + "." + std::to_string(k),
                                   static_cast<uint16_t>(msg));
        if (multi) {
          s.record.part = k;
          s.record.parts = parts;
          s.group = static_cast<uint32_t>(msg);
        }
        sent.push_back({multi ? msg : 0, k, std::nullopt, 0});
        w.client.send({buf, wire::encode_submit(buf, sent.size(), s)});
      }
      w.rounds(20);
    }
    w.rounds(2000);
  }
  const storage::PowerLossReport lost = disk.power_loss(rng);

  World w(dir, disk);
  ASSERT_TRUE(w.start()) << "the core did not start again (seed " << seed << ")";
  w.rounds(3000);  // cancelling what recovery found incomplete
  storage::Shard* shard = w.store->primary(0);
  ASSERT_NE(shard, nullptr);
  std::set<uint64_t> active;
  shard->for_each_active([&](uint64_t index, const storage::SmRecord&) { active.insert(index); });
  std::map<uint64_t, std::pair<int, int>> groups;  // group -> (parts acknowledged, parts active)
  for (const Sent& s : sent) {
    const bool acked = s.answer == Status::ok;
    const bool here = acked && active.count(storage::message_index(s.id)) == 1;
    if (s.group == 0) {
      if (acked) {
        EXPECT_TRUE(here) << "an acknowledged message was lost (seed " << seed << ")";
      }
      continue;
    }
    auto& g = groups[s.group];
    if (acked) ++g.first;
    if (here) ++g.second;
  }
  // A part that was never acknowledged may still have reached the disk: count the parts of
  // each group actually active from the records themselves.
  std::map<uint64_t, int> active_parts;  // part 1's index -> active parts
  shard->for_each_active([&](uint64_t index, const storage::SmRecord& r) {
    if (storage::is_part(r, index)) ++active_parts[storage::first_part_index(r, index)];
  });
  for (const auto& [first, n] : active_parts)
    EXPECT_EQ(n, 3) << "a multi-part message left in part (part 1 at " << first << ", seed " << seed
                    << ", power loss: " << lost.lost << " lost, " << lost.landed << " landed, "
                    << lost.garbage << " garbage, " << lost.misdirected << " misdirected)";
  for (const auto& [group, g] : groups) {
    if (g.first == 3) {
      EXPECT_EQ(g.second, 3) << "an acknowledged multi-part message lost a part (seed " << seed
                             << ")";
    }
  }
}

TEST(SmscPowerLoss, AcknowledgedMessagesSurviveAndNoMultiPartMessageIsLeftInPart) {
  const int seeds = std::getenv("CP_SMSC_SWEEP") ? std::atoi(std::getenv("CP_SMSC_SWEEP")) : 300;
  for (int i = 0; i < seeds; ++i) {
    CP_SIM_SEED(seed, 0x5a0000ull + static_cast<uint64_t>(i));
    cp::test::TempDir tmp;
    run(seed, tmp.str());
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace cp::smsc::power_loss
