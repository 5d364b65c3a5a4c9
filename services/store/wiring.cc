#include "services/store/wiring.h"

#include <fmt/format.h>

#include "base/clock.h"
#include "engine/engine.h"

namespace cp::wiring {
namespace {

using storage::ShardStats;
using Row = ctl::Counter<ShardStats>;

// Per shard: cellctl's `store` rows and the cellplane_store_* families (label shard="N").
constexpr Row kShardCounters[] = {
    {"file_bytes", "cellplane_store_file_bytes",
     "Size of the shard's pms.bin, preallocation included.", ctl::MetricType::gauge,
     &ShardStats::file_bytes},
    {"records", "cellplane_store_records", "Records ever appended to the shard.",
     ctl::MetricType::gauge, &ShardStats::log_records},
    {"historical_mb", "cellplane_store_historical_mb", "The shard's historical-mb mark.",
     ctl::MetricType::gauge, &ShardStats::historical_mb},
    {"active", "cellplane_store_active", "Active messages in the shard.", ctl::MetricType::gauge,
     &ShardStats::active_records},
    {"commits", "cellplane_store_commits_total", "Group commits made durable.",
     ctl::MetricType::counter, &ShardStats::commits},
    {"commit_errors", "cellplane_store_commit_errors_total", "Group commits that failed.",
     ctl::MetricType::counter, &ShardStats::commit_errors},
    {"full_refusals", "cellplane_store_full_refusals_total",
     "Appends/updates refused: batch at capacity.", ctl::MetricType::counter,
     &ShardStats::full_refusals},
    {"cached_blocks", "", "", ctl::MetricType::gauge, &ShardStats::cached_blocks},
};

storage::StoreOptions store_options(const ctl::Config& config, unsigned cores) {
  storage::StoreOptions out;
  out.dir = store_path(config);
  out.cores = cores;
  out.shard.prealloc_bytes = uint64_t{config.section<StoreConfig>().prealloc_mib} << 20;
  out.shard.batch_blocks_max = config.section<StoreConfig>().batch_kib / 4;
  out.shard.historical_mark_interval =
      static_cast<Nanos>(config.section<StoreConfig>().historical_mark_interval_ms) *
      kNanosPerMilli;
  return out;
}

void write_shards(ctl::JsonWriter& out, const storage::Store& store) {
  const Nanos now = SystemClock::instance().now();
  out.begin_array();
  for (const storage::ShardView& v : store.shards()) {
    const ShardStats& s = *v.stats;
    auto get = [](const auto& a) { return a.load(std::memory_order_relaxed); };
    // Rates describe the last full second of activity; stale after two quiet seconds.
    const bool fresh = now - get(s.rate_updated_ns) < 2 * kNanosPerSecond;
    out.begin_object().field("shard", v.id).field("core", v.core).field("dir", v.dir);
    ctl::write_counters<ShardStats>(out, s, kShardCounters);
    out.field("commits_per_s", fresh ? get(s.commits_per_second) : uint64_t{0})
        .field("records_per_s", fresh ? get(s.records_per_second) : uint64_t{0})
        .field("commit_p50_us", static_cast<uint64_t>(s.commit_latency.quantile(0.5) / 1000))
        .field("commit_p99_us", static_cast<uint64_t>(s.commit_latency.quantile(0.99) / 1000))
        .field("recovery_ms", static_cast<double>(v.recovery.took / 1000) / 1000)
        .end_object();
  }
  out.end_array();
}

}  // namespace

void StoreModule::append_metrics(ctl::PrometheusWriter& out) const {
  const auto shards = store_->shards();
  ctl::append_counters_by<ShardStats>(
      out, kShardCounters, shards, "shard",
      [](const storage::ShardView& v) -> const ShardStats& { return *v.stats; },
      [](const storage::ShardView& v) { return std::to_string(v.id); });
  for (const double q : {0.5, 0.99}) {
    const char* name =
        q == 0.5 ? "cellplane_store_commit_p50_seconds" : "cellplane_store_commit_p99_seconds";
    out.begin_family(name, "Group commit latency quantile since start.", ctl::MetricType::gauge);
    for (const storage::ShardView& v : shards) {
      const std::string id = std::to_string(v.id);
      const ctl::PrometheusLabel labels[] = {{"shard", id}};
      out.sample_double(name, labels,
                        static_cast<double>(v.stats->commit_latency.quantile(q)) / 1e9);
    }
  }
}

Result<void, std::string> install_store(ctl::ServiceHost& host) {
  const ctl::Config& config = host.config();
  engine::Engine& engine = host.engine();
  StoreModule* module = nullptr;
  const StoreConfig& c = config.section<StoreConfig>();
  if (c.enabled) {
    // A commit's block runs and its fdatasync go to io_uring as one linked chain (the backend
    // refuses a longer one): the largest batch must fit the ring.
    if (c.batch_kib / 4 + 1 > config.engine.io_queue_depth)
      return fail(
          fmt::format("[store] batch_kib = {} needs [engine] io_queue_depth of at least {} "
                      "(one ring entry per 4 KiB block, and one more); it is {}",
                      c.batch_kib, c.batch_kib / 4 + 1, config.engine.io_queue_depth));
    if (engine.core_count() > storage::kShardsMax)
      return fail(
          fmt::format("[store] supports at most {} cores (one shard each)", storage::kShardsMax));
    module = &host.add(std::make_unique<StoreModule>(
        std::make_unique<storage::Store>(store_options(config, engine.core_count()))));
    // Every core opens and recovers its shards on its own thread, before it serves anything.
    engine.on_each_core([module](engine::Reactor& r) -> Result<void, std::string> {
      if (auto ok = module->store().open_on_core(r, SystemClock::instance()); !ok)
        return fail("store: " + ok.error());
      return {};
    });
  }
  host.add_command(
      "store",
      "message store, per shard: size, historical mark, active messages, commit rate and "
      "latency",
      [module](const ctl::ControlRequest&, ctl::JsonWriter& out) -> Result<void, std::string> {
        if (!module) return fail("the message store is disabled ([store] enabled = false)");
        write_shards(out, module->store());
        return {};
      });
  return {};
}

void add_store_config(ctl::ConfigSchema& schema) {
  schema.add<StoreConfig>();
}

}  // namespace cp::wiring
