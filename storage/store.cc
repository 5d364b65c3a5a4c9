#include "storage/store.h"

#include <charconv>
#include <filesystem>

#include "base/assert.h"
#include "base/log.h"

namespace cp::storage {

// A shard and its group-commit poller, owned by one core.
struct Store::Slot final : engine::Poller {
  std::unique_ptr<Shard> shard;
  unsigned core = 0;
  RecoveryReport recovery;
  std::atomic<bool> open{false};

  bool poll() override { return shard->commit(); }
  bool has_work() const override { return shard->can_commit(); }
};

Store::Store(StoreOptions options) : options_(std::move(options)) {
  CP_ASSERT(options_.cores >= 1 && options_.cores <= kShardsMax);
  slots_.resize(kShardsMax);
  for (auto& s : slots_) s = std::make_unique<Slot>();
}

Store::~Store() = default;

Result<void, std::string> Store::open_on_core(engine::FileCommitter& committer, Clock& clock) {
  const unsigned core = committer.core();
  // The primary shard, and the leftovers of a run with more cores.
  std::vector<unsigned> ids{core};
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("shard-", 0) != 0) continue;
    unsigned id = 0;
    const char* first = name.data() + 6;
    const auto [end, err] = std::from_chars(first, name.data() + name.size(), id);
    if (err != std::errc() || end != name.data() + name.size() || id >= kShardsMax) continue;
    if (id != core && id % options_.cores == core) ids.push_back(id);
  }
  for (unsigned id : ids) {
    ShardOptions so = options_.shard;
    so.shard = id;
    so.dir = options_.dir + "/shard-" + std::to_string(id);
    so.create = id == core;
    Slot& slot = *slots_[id];
    Result<std::unique_ptr<Shard>, std::string> shard = fail(std::string());
    if (options_.open_io) {
      std::error_code made;
      std::filesystem::create_directories(so.dir, made);
      auto io = options_.open_io(id);
      if (!io) return fail(io.error());
      shard = Shard::open(so, std::move(*io), clock, &slot.recovery);
    } else {
      shard = Shard::open_dir(so, clock, &committer, &slot.recovery);
    }
    if (!shard) return fail(shard.error());
    const RecoveryReport& r = slot.recovery;
    CP_LOG_INFO(
        "store shard {} ({}): {} records, {} active, historical-mb {}, scanned {} in "
        "{:.1f} ms{}",
        id, so.dir, r.log_records, r.active_records, r.historical_mb, r.scanned_records,
        static_cast<double>(r.took) / 1e6,
        r.torn_slots ? fmt::format(", zeroed {} torn slots", r.torn_slots) : "");
    slot.shard = std::move(*shard);
    slot.core = core;
    committer.add_poller(slot);
    slot.open.store(true, std::memory_order_release);
  }
  return {};
}

Shard* Store::primary(unsigned core) const {
  return shard(core);
}

Shard* Store::shard(unsigned id) const {
  if (id >= slots_.size() || !slots_[id]->open.load(std::memory_order_acquire)) return nullptr;
  return slots_[id]->shard.get();
}

std::vector<ShardView> Store::shards() const {
  std::vector<ShardView> out;
  for (unsigned id = 0; id < slots_.size(); ++id) {
    const Slot& s = *slots_[id];
    if (!s.open.load(std::memory_order_acquire)) continue;
    out.push_back({id, s.core, s.shard->options().dir, &s.shard->stats(), s.recovery});
  }
  return out;
}

}  // namespace cp::storage
