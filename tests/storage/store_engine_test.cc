// The store on the engine: per-core shards committing through each reactor's backend (io_uring
// linked writes + fdatasync, or epoll's synchronous fallback), leftover shards adopted when the
// core count shrinks, and the real crash test: a child process appending under load is killed
// with SIGKILL at random moments; every record whose acknowledgement the parent saw must be
// there after restart, intact.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <thread>

#include "engine/engine.h"
#include "storage/store.h"
#include "tests/storage/store_test_util.h"
#include "tests/support/reactor_harness.h"

namespace cp::storage {
namespace {

using test::make_record;
using test::same_content;
using test::TempDir;

// Appends up to `per_turn` records per loop turn until `target`, counting acknowledgements.
class Loader final : public engine::Poller {
 public:
  Loader(Store& store, unsigned core, uint64_t target, uint32_t per_turn)
      : store_(store), core_(core), target_(target), per_turn_(per_turn) {}
  bool poll() override {
    Shard* s = store_.primary(core_);
    uint32_t n = 0;
    while (appended_ < target_ && n < per_turn_) {
      SmRecord r = make_record(s->next_index(), s->next_index() % 3 != 0);
      if (!s->append(r, &Loader::on_ack, this)) break;
      ++appended_;
      ++n;
    }
    return n > 0;
  }
  bool has_work() const override { return appended_ < target_; }
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> failed{0};

 private:
  static void on_ack(void* ctx, uint64_t, int32_t result) {
    auto* self = static_cast<Loader*>(ctx);
    (result == 0 ? self->acked : self->failed).fetch_add(1, std::memory_order_relaxed);
  }
  Store& store_;
  unsigned core_;
  uint64_t target_;
  uint32_t per_turn_;
  uint64_t appended_ = 0;
};

StoreOptions store_options(const std::string& dir, unsigned cores) {
  StoreOptions o;
  o.dir = dir;
  o.cores = cores;
  o.shard.prealloc_bytes = 4 << 20;
  o.shard.batch_blocks_max = 256;
  return o;
}

class StoreEngineTest : public cp::test::BackendTest {};
INSTANTIATE_TEST_SUITE_P(Backends, StoreEngineTest,
                         ::testing::ValuesIn(cp::test::available_backends()),
                         cp::test::BackendName());

TEST_P(StoreEngineTest, EveryCoreAppendsToItsOwnShardWithGroupCommit) {
  TempDir tmp;
  constexpr unsigned kCores = 2;
  constexpr uint64_t kPerCore = 20000;
  Store store(store_options(tmp.str(), kCores));
  std::vector<std::unique_ptr<Loader>> loaders;
  for (unsigned c = 0; c < kCores; ++c)
    loaders.push_back(std::make_unique<Loader>(store, c, kPerCore, 64));
  engine::EngineConfig ec;
  ec.cores = kCores;
  ec.pin_threads = false;
  ec.backend = GetParam();
  engine::Engine engine(ec);
  engine.on_each_core([&](engine::Reactor& r) -> Result<void, std::string> {
    if (auto ok = store.open_on_core(r, SystemClock::instance()); !ok) return ok;
    r.add_poller(*loaders[r.core()]);
    return {};
  });
  ASSERT_TRUE(engine.start());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((loaders[0]->acked < kPerCore || loaders[1]->acked < kPerCore) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto views = store.shards();
  engine.request_stop();
  engine.join();
  ASSERT_EQ(views.size(), kCores);
  for (unsigned c = 0; c < kCores; ++c) {
    EXPECT_EQ(loaders[c]->acked.load(), kPerCore);
    EXPECT_EQ(loaders[c]->failed.load(), 0u);
    const ShardStats& st = *views[c].stats;
    EXPECT_EQ(views[c].core, c);
    EXPECT_EQ(st.appends.load(), kPerCore);
    EXPECT_GT(st.commits.load(), 0u);
    EXPECT_LT(st.commits.load(), kPerCore / 4) << "records were not grouped into commits";
    EXPECT_GT(st.commit_latency.quantile(0.5), 0);
  }
  // Everything is on disk, in each core's own shard, with that shard's message ids.
  for (unsigned c = 0; c < kCores; ++c) {
    const auto slots = test::read_slots(tmp.sub("shard-" + std::to_string(c)));
    ASSERT_GE(slots.size(), kPerCore);
    for (uint64_t i = 0; i < kPerCore; ++i) {
      ASSERT_EQ(check(slots[i]), RecordCheck::valid) << c << ":" << i;
      ASSERT_EQ(slots[i].message_id, make_message_id(c, i));
      ASSERT_TRUE(same_content(slots[i], make_record(i, i % 3 != 0))) << c << ":" << i;
    }
  }
}

TEST(StoreEngine, ShardsOfARunWithMoreCoresAreAdopted) {
  TempDir tmp;
  ManualClock clock;
  for (unsigned id : {0u, 1u, 2u}) {
    ShardOptions so;
    so.shard = id;
    so.dir = tmp.sub("shard-" + std::to_string(id));
    so.prealloc_bytes = 64 << 10;
    auto s = std::move(*Shard::open_dir(so, clock, nullptr));
    SmRecord r = make_record(id);
    ASSERT_TRUE(s->append(r, nullptr, nullptr));
    ASSERT_TRUE(s->flush_sync());
  }
  Store store(store_options(tmp.str(), 2));
  engine::EngineConfig ec;
  ec.cores = 2;
  ec.pin_threads = false;
  engine::Engine engine(ec);
  engine.on_each_core(
      [&](engine::Reactor& r) { return store.open_on_core(r, SystemClock::instance()); });
  ASSERT_TRUE(engine.start());
  const auto views = store.shards();
  engine.request_stop();
  engine.join();
  ASSERT_EQ(views.size(), 3u);
  EXPECT_EQ(views[2].id, 2u);
  EXPECT_EQ(views[2].core, 0u) << "shard 2 belongs to core 2 % 2";
  EXPECT_EQ(views[2].recovery.active_records, 1u);
}

// ---- SIGKILL --------------------------------------------------------------------------------

// The child: one reactor, the shard committing through it, appending as fast as commits allow;
// each acknowledgement is written to `ack_fd` (8 bytes: the index) only after it is durable.
[[noreturn]] void child_main(const std::string& dir, int ack_fd, engine::IoBackendKind kind) {
  auto backend = engine::make_backend(kind, {});
  if (!backend) _exit(3);
  engine::ReactorConfig rc;
  engine::Reactor reactor(rc, std::move(*backend), SystemClock::instance());
  ShardOptions so;
  so.dir = dir;
  so.prealloc_bytes = 8 << 20;
  so.batch_blocks_max = 64;
  so.historical_mark_interval = 0;
  auto shard = Shard::open_dir(so, SystemClock::instance(), &reactor);
  if (!shard) _exit(4);
  struct Ctx {
    int fd;
  } ctx{ack_fd};
  struct Pump final : engine::Poller {
    Shard* s;
    Ctx* ctx;
    std::mt19937_64 rng{static_cast<uint64_t>(getpid())};
    uint64_t appended = 0;
    bool poll() override {
      // Bounded, so the shard stays small enough for 24 restarts to be quick.
      const unsigned n = appended < 8000 ? static_cast<unsigned>(rng() % 100) : 0;
      for (unsigned i = 0; i < n; ++i) {
        const uint64_t index = s->next_index();
        SmRecord r = make_record(index, index % 5 == 0);
        if (!s->append(r, &Pump::on_ack, ctx)) break;
        ++appended;
      }
      // Discharge some active records too (in-place rewrites of older blocks).
      if (s->active_count() > 0 && rng() % 2 == 0) {
        const uint64_t index = rng() % s->next_index();
        if (const SmRecord* cur = s->find_active(index)) {
          SmRecord done = *cur;
          done.state = static_cast<uint8_t>(RecordState::historical);
          done.disposition = static_cast<uint8_t>(Disposition::delivered);
          (void)s->update(index, done, nullptr, nullptr);
        }
      }
      s->commit();
      return true;
    }
    bool has_work() const override { return true; }
    static void on_ack(void* c, uint64_t index, int32_t result) {
      if (result != 0) _exit(5);
      const int fd = static_cast<Ctx*>(c)->fd;
      if (::write(fd, &index, sizeof index) != sizeof index) _exit(6);
    }
  } pump;
  pump.s = shard->get();
  pump.ctx = &ctx;
  reactor.add_poller(pump);
  for (;;) reactor.run_once(0);
}

TEST(StoreCrash, SigkillUnderLoadLosesNothingAcknowledged) {
  TempDir tmp;
  const std::string dir = tmp.sub("shard-0");
  const auto kind = cp::test::preferred_backend();  // io_uring where it exists
  std::mt19937_64 rng(20261123);
  std::set<uint64_t> acked;
  uint64_t max_seen = 0;
  int rounds_with_acks = 0;
  for (int round = 0; round < 24; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      child_main(dir, fds[1], kind);
    }
    ::close(fds[1]);
    size_t before = acked.size();
    auto drain = [&](int timeout_ms) {
      pollfd p{fds[0], POLLIN, 0};
      while (::poll(&p, 1, timeout_ms) > 0) {
        uint64_t buf[512];
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) return;
        ASSERT_EQ(n % 8, 0);
        for (ssize_t i = 0; i < n / 8; ++i) {
          acked.insert(buf[i]);
          max_seen = std::max(max_seen, buf[i]);
        }
      }
    };
    // Under load from the first acknowledgement on; killed at a random moment after it.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (acked.size() == before && std::chrono::steady_clock::now() < give_up) drain(5);
    const auto kill_at =
        std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 80000);
    while (std::chrono::steady_clock::now() < kill_at) drain(1);
    ::kill(pid, SIGKILL);
    drain(100);  // acknowledgements already written before the kill were seen too
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ::close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited by itself, status " << status;
    if (acked.size() > before) ++rounds_with_acks;
    // After the restart every acknowledged record is there, intact.
    ManualClock clock;
    ShardOptions so;
    so.dir = dir;
    so.prealloc_bytes = 8 << 20;
    so.batch_blocks_max = 64;
    RecoveryReport rep;
    auto s = Shard::open_dir(so, clock, nullptr, &rep);
    ASSERT_TRUE(s) << s.error();
    ASSERT_GT((*s)->next_index(), max_seen);
    const auto slots = test::read_slots(dir);
    for (uint64_t index : acked) {
      ASSERT_EQ(check(slots[index]), RecordCheck::valid) << index;
      SmRecord want = make_record(index, index % 5 == 0);
      if (slots[index].state == static_cast<uint8_t>(RecordState::historical) &&
          index % 5 == 0) {  // discharged later: the same message, delivered
        want.state = slots[index].state;
        want.disposition = slots[index].disposition;
      }
      ASSERT_TRUE(same_content(slots[index], want)) << index;
    }
  }
  EXPECT_GE(rounds_with_acks, 20) << "the child acknowledged too little to test anything";
  EXPECT_GT(acked.size(), 1000u);
}

}  // namespace
}  // namespace cp::storage
