#include "daemon/services.h"

#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>

#include "base/atomic_file.h"
#include "base/log.h"
#include "base/octet_set.h"
#include "engine/http/metrics.h"
#include "storage/dump/dump.h"

#include <filesystem>
#include <fstream>
#include <thread>

namespace cp::daemon {

engine::EngineConfig engine_config(const ctl::Config& config) {
  engine::EngineConfig out;
  const auto& e = config.engine;
  out.cores = e.cores;
  out.pin_threads = e.pin_threads;
  out.reactor.steer_connections = e.steer_connections;
  out.backend = e.io_backend;
  out.cross_core_ring_capacity = e.cross_core_ring_capacity;
  out.drain_timeout = static_cast<Nanos>(e.drain_timeout_ms) * kNanosPerMilli;
  out.reactor.max_connections = e.max_connections_per_core;
  out.reactor.rx_buffer_bytes = e.rx_buffer_bytes;
  out.reactor.tx_buffer_bytes = e.tx_buffer_bytes;
  out.reactor.idle_timeout = static_cast<Nanos>(e.idle_timeout_ms) * kNanosPerMilli;
  return out;
}

Services::Services(const ctl::Config& config, engine::Engine& engine, DaemonInfo info)
    : config_(config), engine_(engine), info_(std::move(info)) {}

namespace {

// One counter of a stats struct exported as a Prometheus family.
template <typename Stats>
struct MetricField {
  const char* name;
  const char* help;
  proto::http::MetricType type;
  const std::atomic<uint64_t> Stats::*member;
};

// The store's shards as Prometheus families, labelled by shard.
void append_store_metrics(proto::http::PrometheusWriter& out, const storage::Store& store) {
  using proto::http::MetricType;
  using storage::ShardStats;
  using Field = MetricField<ShardStats>;
  static constexpr Field kFields[] = {
      {"cellplane_store_file_bytes", "Size of the shard's pms.bin, preallocation included.",
       MetricType::gauge, &ShardStats::file_bytes},
      {"cellplane_store_records", "Records ever appended to the shard.", MetricType::gauge,
       &ShardStats::log_records},
      {"cellplane_store_historical_mb", "The shard's historical-mb mark.", MetricType::gauge,
       &ShardStats::historical_mb},
      {"cellplane_store_active", "Active messages in the shard.", MetricType::gauge,
       &ShardStats::active_records},
      {"cellplane_store_commits_total", "Group commits made durable.", MetricType::counter,
       &ShardStats::commits},
      {"cellplane_store_commit_errors_total", "Group commits that failed.", MetricType::counter,
       &ShardStats::commit_errors},
      {"cellplane_store_full_refusals_total", "Appends/updates refused: batch at capacity.",
       MetricType::counter, &ShardStats::full_refusals},
  };
  const auto shards = store.shards();
  for (const Field& f : kFields) {
    out.begin_family(f.name, f.help, f.type);
    for (const storage::ShardView& v : shards) {
      const std::string id = std::to_string(v.id);
      const proto::http::PrometheusLabel labels[] = {{"shard", id}};
      out.sample(f.name, labels, (v.stats->*f.member).load(std::memory_order_relaxed));
    }
  }
  for (const double q : {0.5, 0.99}) {
    const char* name =
        q == 0.5 ? "cellplane_store_commit_p50_seconds" : "cellplane_store_commit_p99_seconds";
    out.begin_family(name, "Group commit latency quantile since start.", MetricType::gauge);
    for (const storage::ShardView& v : shards) {
      const std::string id = std::to_string(v.id);
      const proto::http::PrometheusLabel labels[] = {{"shard", id}};
      out.sample_double(name, labels,
                        static_cast<double>(v.stats->commit_latency.quantile(q)) / 1e9);
    }
  }
}

// The SMSC core's counters, active messages and queue depths as Prometheus families.
void append_smsc_metrics(proto::http::PrometheusWriter& out, const smsc::SmscService& smsc) {
  using proto::http::MetricType;
  using smsc::SmscStats;
  using Field = MetricField<SmscStats>;
  static constexpr Field kFields[] = {
      {"cellplane_smsc_submits_total", "Messages accepted and made durable.", MetricType::counter,
       &SmscStats::submits},
      {"cellplane_smsc_submit_refusals_total", "SUBMITs refused by admission.", MetricType::counter,
       &SmscStats::submit_refusals},
      {"cellplane_smsc_duplicates_total", "SUBMITs answered as duplicates.", MetricType::counter,
       &SmscStats::duplicates},
      {"cellplane_smsc_delivered_total", "Messages discharged as delivered.", MetricType::counter,
       &SmscStats::delivered},
      {"cellplane_smsc_failed_total", "Messages discharged as failed.", MetricType::counter,
       &SmscStats::failed},
      {"cellplane_smsc_expired_total", "Messages discharged as expired.", MetricType::counter,
       &SmscStats::expired},
      {"cellplane_smsc_cancelled_total", "Messages discharged as cancelled.", MetricType::counter,
       &SmscStats::cancelled},
      {"cellplane_smsc_status_reports_total", "Status reports entered.", MetricType::counter,
       &SmscStats::status_reports},
      {"cellplane_smsc_protocol_errors_total", "Bad messages on the SMSC socket.",
       MetricType::counter, &SmscStats::protocol_errors},
      {"cellplane_smsc_clients", "Connections open on the SMSC socket.", MetricType::gauge,
       &SmscStats::clients},
  };
  for (const Field& f : kFields) {
    out.begin_family(f.name, f.help, f.type);
    out.sample(f.name, {}, (smsc.stats().*f.member).load(std::memory_order_relaxed));
  }
  const auto cores = smsc.queues();
  out.begin_family("cellplane_smsc_active", "Active messages held by the core.", MetricType::gauge);
  for (const auto& c : cores) {
    const std::string core = std::to_string(c.core);
    const proto::http::PrometheusLabel labels[] = {{"core", core}};
    out.sample("cellplane_smsc_active", labels, c.active);
  }
  out.begin_family("cellplane_smsc_queue_depth", "Messages in a queue (per core).",
                   MetricType::gauge);
  for (const auto& c : cores) {
    const std::string core = std::to_string(c.core);
    for (const auto& q : c.queues) {
      const proto::http::PrometheusLabel labels[] = {{"core", core}, {"queue", q.name}};
      out.sample("cellplane_smsc_queue_depth", labels, q.depth);
    }
  }
}

storage::StoreOptions store_options(const ctl::Config& config, unsigned cores) {
  storage::StoreOptions out;
  out.dir = config.store_path();
  out.cores = cores;
  out.shard.prealloc_bytes = uint64_t{config.store.prealloc_mib} << 20;
  out.shard.batch_blocks_max = config.store.batch_kib / 4;
  out.shard.historical_mark_interval =
      static_cast<Nanos>(config.store.historical_mark_interval_ms) * kNanosPerMilli;
  return out;
}

// The SMPP server's counters as Prometheus families.
void append_smpp_metrics(proto::http::PrometheusWriter& out, const smpp::SmppServer& server) {
  using proto::http::MetricType;
  using smpp::ServerStats;
  using Field = MetricField<ServerStats>;
  static constexpr Field kFields[] = {
      {"cellplane_smpp_connections_total", "TCP connections accepted by the SMPP server.",
       MetricType::counter, &ServerStats::connections},
      {"cellplane_smpp_binds_total", "Successful binds.", MetricType::counter, &ServerStats::binds},
      {"cellplane_smpp_bind_failures_total", "Refused binds (bad credentials, limits).",
       MetricType::counter, &ServerStats::bind_failures},
      {"cellplane_smpp_bind_rate_refusals_total", "Binds refused by the per-address failure limit.",
       MetricType::counter, &ServerStats::bind_refused_rate},
      {"cellplane_smpp_submits_total", "submit_sm answered ok (durable).", MetricType::counter,
       &ServerStats::submits},
      {"cellplane_smpp_submit_errors_total", "submit_sm answered with an error.",
       MetricType::counter, &ServerStats::submit_errors},
      {"cellplane_smpp_delivers_total", "deliver_sm acknowledged by peers.", MetricType::counter,
       &ServerStats::delivers},
      {"cellplane_smpp_deliver_errors_total", "deliver_sm refused, timed out or lost.",
       MetricType::counter, &ServerStats::deliver_errors},
      {"cellplane_smpp_receipts_total", "Delivery receipts acknowledged by peers.",
       MetricType::counter, &ServerStats::receipts},
      {"cellplane_smpp_protocol_errors_total", "Malformed or unknown PDUs.", MetricType::counter,
       &ServerStats::protocol_errors},
  };
  for (const Field& f : kFields) {
    out.begin_family(f.name, f.help, f.type);
    out.sample(f.name, {}, (server.stats().*f.member).load(std::memory_order_relaxed));
  }
  out.begin_family("cellplane_smpp_binds", "Binds open.", MetricType::gauge);
  out.sample("cellplane_smpp_binds", {}, static_cast<uint64_t>(server.binds().size()));
}

// The remsim server's and bank daemon's state as Prometheus families (reactor 0, where the
// server lives and /metrics is served).
void append_remsim_metrics(proto::http::PrometheusWriter& out, const remsim::RemsimServer* server,
                           const remsim::Bankd* bankd) {
  using proto::http::MetricType;
  auto gauge = [&](std::string_view name, std::string_view help, uint64_t v) {
    out.begin_family(name, help, MetricType::gauge);
    out.sample(name, {}, v);
  };
  auto counter = [&](std::string_view name, std::string_view help, uint64_t v) {
    out.begin_family(name, help, MetricType::counter);
    out.sample(name, {}, v);
  };
  if (server) {
    gauge("cellplane_remsim_banks", "Bank daemons registered with the remsim server.",
          server->banks().size());
    gauge("cellplane_remsim_clients", "Clients registered with the remsim server.",
          server->clients().size());
    uint64_t by_state[5] = {};
    for (const auto& [id, m] : server->slotmaps().all()) ++by_state[static_cast<size_t>(m.state)];
    out.begin_family("cellplane_remsim_slotmaps", "Slot mappings, by state.", MetricType::gauge);
    for (size_t i = 0; i < 5; ++i) {
      const std::string_view state = remsim::to_string(static_cast<remsim::SlotmapState>(i));
      const proto::http::PrometheusLabel label[] = {{"state", state}};
      out.sample("cellplane_remsim_slotmaps", label, by_state[i]);
    }
    counter("cellplane_remsim_id_timeouts_total",
            "Connections closed for not identifying themselves in time.",
            server->stats().id_timeouts.load());
    counter("cellplane_remsim_identity_in_use_total",
            "Banks or clients refused because their identity was connected already.",
            server->stats().identity_in_use.load());
  }
  if (bankd) {
    const auto& s = bankd->stats();
    gauge("cellplane_bankd_server_link_up",
          "1 while the bank daemon is registered with the server.", s.server_up.load() ? 1 : 0);
    gauge("cellplane_bankd_clients", "Client connections of the bank daemon.",
          bankd->workers().size());
    gauge("cellplane_bankd_mappings", "Mappings the bank daemon serves.", bankd->mappings().size());
    counter("cellplane_bankd_tpdus_total", "TPDUs from clients to cards.", s.tpdus.load());
    counter("cellplane_bankd_card_errors_total",
            "Card failures (removed, mute, transmission errors) that closed a client.",
            s.card_errors.load());
    counter("cellplane_bankd_resets_total", "Card resets asked by clients.", s.resets.load());
  }
}

constexpr std::string_view kExampleAccounts =
    R"(# SMPP peer accounts (docs/SMPP.md). One account per line:
#   PEER  system_id=ID password=PW [binds=trx,tx,rx] [window=N] [tps=N] [max_binds=N]
#         [allow=CIDR,...] [dc0=gsm7|ia5|latin1] [any_source] [trusted]
# PEER is the peer's name in the peers file: messages to its numbers are delivered to its
# receiver binds, and it may send only from those numbers. Edit, then `cellctl smpp reload`.
# The example account: bind as system_id demo, password demo, from this machine only.
demo  system_id=demo password=demo allow=127.0.0.1/32,::1/128 window=64
)";

// The example number database written when the configured files do not exist (a fresh state
// directory), so the default configuration runs an SMSC that routes out of the box.
constexpr std::string_view kExampleNumbers =
    R"(# Locally owned numbers (docs/SMSC.md, "Number database"). One per line:
#   NUMBER  TYPE  [smsprov]
# NUMBER: 10-digit NANP (NPANXXXXXX, 1NPANXXXXXX or +1NPANXXXXXX) or a 4-digit local short
# number. TYPE: gsm (a subscriber: MSISDN -> IMSI lookup, GSM MT delivery), local (writing into
# the store is final delivery), nosms (cannot receive SMS). smsprov: may send to the upstream.
# Edit, then `cellctl numdb reload`. These are examples (555-01xx numbers are fictional).
2125550100  gsm    smsprov
2125550101  gsm
2125550150  local  smsprov
5000        local
)";
constexpr std::string_view kExamplePeers =
    R"(# Downstream peers' numbers (docs/SMSC.md): NUMBER-OR-BLOCK PEER, a block is digits then '*'.
# Each PEER must be an SMPP peer account. Edit, then `cellctl numdb reload`.
212666*  demo
)";

Result<void, std::string> write_example(const std::string& path, std::string_view text) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return {};
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) return fail(path + ": cannot write the example number database");
  CP_LOG_NOTICE("smsc: {} did not exist; wrote an example (edit it, then `cellctl numdb reload`)",
                path);
  return {};
}

// The store's peer-index file: downstream peer names in index order (records and queues hold
// the index), so a reordered peers file never renames a peer. Missing: no peers yet.
std::string peer_index_path(const ctl::Config& config) {
  return (std::filesystem::path(config.store_path()) / "peer-index").string();
}

Result<std::vector<std::string>, std::string> read_peer_index(const std::string& path) {
  std::vector<std::string> names;
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT || !std::filesystem::exists(path)) return names;
    return fail(path + ": " + std::strerror(errno));
  }
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) return fail(path + ": an empty line (the file is damaged)");
    names.push_back(line);
  }
  return names;
}

// Written whole and renamed into place (a crash leaves the old or the new one).
Result<void, std::string> write_peer_index(const std::string& path,
                                           const std::vector<std::string>& names) {
  std::string text;
  for (const auto& n : names) text += n + "\n";
  return write_file_atomic(path, text);
}

// Loads the number database with the peer indices of `known`, and records any new peer in the
// peer-index file before the database is used.
Result<std::shared_ptr<const smsc::Numdb>, std::string> load_numdb(
    const ctl::Config& config, const std::vector<std::string>& known) {
  auto db = smsc::Numdb::load(config.state_path(config.smsc.numbers),
                              config.state_path(config.smsc.peers), known);
  if (!db) return db;
  if ((*db)->peer_names() != known) {
    if (auto ok = write_peer_index(peer_index_path(config), (*db)->peer_names()); !ok)
      return fail("peer index: " + ok.error());
  }
  return db;
}

smsc::SmscOptions smsc_options(const ctl::Config& config) {
  const ctl::SmscConfig& c = config.smsc;
  smsc::SmscOptions o;
  o.socket_path = config.state_path(c.socket);
  o.socket_mode = c.socket_mode;
  o.admission.default_validity_s = std::min(c.default_validity_s, c.max_validity_s);
  o.admission.max_validity_s = c.max_validity_s;
  o.admission.filter.pid = *parse_octet_set(c.untrusted_pid);  // checked when loaded
  o.admission.filter.dcs = *parse_octet_set(c.untrusted_dcs);
  o.duplicate_window = static_cast<Nanos>(c.duplicate_window_s) * kNanosPerSecond;
  o.peer_window = c.peer_window;
  o.mt_transfer_window = c.mt_transfer_window;
  o.imsi_lookup_window = c.imsi_lookup_window;
  o.imsi_cache_ttl = static_cast<Nanos>(c.imsi_cache_s) * kNanosPerSecond;
  o.retry_delay = static_cast<Nanos>(c.retry_delay_ms) * kNanosPerMilli;
  o.handler_timeout = static_cast<Nanos>(c.handler_timeout_ms) * kNanosPerMilli;
  o.max_active_per_core = c.max_active_per_core;
  o.status_reports = c.status_reports;
  return o;
}

}  // namespace

Result<void, std::string> Services::install_smsc() {
  if (!store_) return fail(std::string("[smsc] needs the message store ([store] enabled = true)"));
  const std::string numbers = config_.state_path(config_.smsc.numbers);
  const std::string peers = config_.state_path(config_.smsc.peers);
  if (auto ok = write_example(numbers, kExampleNumbers); !ok) return ok;
  if (auto ok = write_example(peers, kExamplePeers); !ok) return ok;
  auto known = read_peer_index(peer_index_path(config_));
  if (!known) return fail("smsc: " + known.error());
  auto db = load_numdb(config_, *known);
  if (!db) return fail("smsc number database:\n" + db.error());
  CP_LOG_INFO("smsc: number database: {} numbers, {} short numbers, {} peer blocks of {} peers",
              (*db)->nanp_count(), (*db)->short_count(), (*db)->block_count(), (*db)->peer_count());
  smsc_ = std::make_unique<smsc::SmscService>(smsc_options(config_), *store_, std::move(*db),
                                              engine_.core_count());
  engine_.on_each_core(
      [this](engine::Reactor& r) -> Result<void, std::string> { return smsc_->start_on_core(r); });
  register_smsc_commands();
  return {};
}

Result<void, std::string> Services::install_smpp() {
  if (!smsc_) return fail(std::string("[smpp] needs the SMSC core ([smsc] enabled = true)"));
  const std::string path = config_.state_path(config_.smpp.accounts);
  if (auto ok = write_example(path, kExampleAccounts); !ok) return ok;
  auto accounts = smpp::Accounts::load(path);
  if (!accounts) return fail("smpp accounts:\n" + accounts.error());
  auto listen = SocketAddress::parse(config_.smpp.listen);
  if (!listen) return fail("[smpp] listen: " + listen.error());
  const ctl::SmppConfig& c = config_.smpp;
  smpp::ServerOptions o;
  o.listen = *listen;
  o.core_socket = smsc_->options().socket_path;
  o.system_id = c.system_id;
  o.bind_timeout = static_cast<Nanos>(c.bind_timeout_ms) * kNanosPerMilli;
  o.enquire_interval = static_cast<Nanos>(c.enquire_link_s) * kNanosPerSecond;
  o.response_timeout = static_cast<Nanos>(c.response_timeout_ms) * kNanosPerMilli;
  o.bind_failures_max = c.bind_failures_max;
  o.bind_failure_window = static_cast<Nanos>(c.bind_failure_window_s) * kNanosPerSecond;
  CP_LOG_INFO("smpp: {} peer account(s) from {}", (*accounts)->all().size(), path);
  smpp_ = std::make_unique<smpp::SmppServer>(
      o, std::move(*accounts), [this] { return smsc_->numdb(); }, engine_.core_count());
  engine_.on_each_core(
      [this](engine::Reactor& r) -> Result<void, std::string> { return smpp_->start_on_core(r); });
  add_command(
      "smpp.reload",
      "reread the SMPP peer accounts file; on any error the old accounts stay (open binds keep "
      "theirs)",
      [this, path](const ctl::ControlRequest&, ctl::JsonWriter& out) -> Result<void, std::string> {
        auto a = smpp::Accounts::load(path);
        if (!a) {
          CP_LOG_WARN("smpp: accounts reload refused, the old ones stay:\n{}", a.error());
          return fail("not reloaded, the old accounts stay:\n" + a.error());
        }
        out.begin_object()
            .field("accounts", static_cast<uint64_t>((*a)->all().size()))
            .end_object();
        CP_LOG_INFO("smpp: {} peer account(s) reloaded from {}", (*a)->all().size(), path);
        smpp_->set_accounts(std::move(*a));
        return {};
      });
  add_command(
      "smpp", "SMPP server: address, counters, open binds",
      [this](const ctl::ControlRequest&, ctl::JsonWriter& out) -> Result<void, std::string> {
        const smpp::ServerStats& s = smpp_->stats();
        auto get = [](const auto& a) { return a.load(std::memory_order_relaxed); };
        out.begin_object()
            .field("listen", smpp_->bound_address().to_string())
            .field("connections", get(s.connections))
            .field("binds_total", get(s.binds))
            .field("bind_failures", get(s.bind_failures))
            .field("bind_rate_refusals", get(s.bind_refused_rate))
            .field("submits", get(s.submits))
            .field("submit_errors", get(s.submit_errors))
            .field("delivers", get(s.delivers))
            .field("deliver_errors", get(s.deliver_errors))
            .field("receipts", get(s.receipts))
            .field("protocol_errors", get(s.protocol_errors));
        out.key("binds").begin_array();
        for (const auto& b : smpp_->binds())
          out.begin_object()
              .field("system_id", b.system_id)
              .field("peer", b.peer)
              .field("type", b.type)
              .field("remote", b.remote)
              .field("core", b.core)
              .field("submits_in_flight", b.submits_in_flight)
              .field("delivers_in_flight", b.delivers_in_flight)
              .end_object();
        out.end_array().end_object();
        return {};
      });
  return {};
}

Result<void, std::string> Services::install_uplink() {
  if (!smsc_) return fail(std::string("[uplink] needs the SMSC core ([smsc] enabled = true)"));
  const ctl::UplinkConfig& c = config_.uplink;
  if (c.system_id.empty()) return fail(std::string("[uplink] system_id is required when enabled"));
  auto server = SocketAddress::parse(c.server);
  if (!server) return fail("[uplink] server: " + server.error());
  smpp::UplinkOptions o;
  o.server = *server;
  o.system_id = c.system_id;
  o.password = c.password;
  o.system_type = c.system_type;
  o.interface_version = static_cast<uint8_t>(c.interface_version);
  o.core_socket = smsc_->options().socket_path;
  o.window = c.window;
  o.enquire_interval = static_cast<Nanos>(c.enquire_link_s) * kNanosPerSecond;
  o.response_timeout = static_cast<Nanos>(c.response_timeout_ms) * kNanosPerMilli;
  o.reconnect_min = static_cast<Nanos>(c.reconnect_min_ms) * kNanosPerMilli;
  o.reconnect_max =
      static_cast<Nanos>(std::max(c.reconnect_min_ms, c.reconnect_max_ms)) * kNanosPerMilli;
  o.dc0 = static_cast<proto::smpp::DefaultAlphabet>(c.dc0);
  uplink_ = std::make_unique<smpp::SmppUplink>(o);
  engine_.on_each_core([this](engine::Reactor& r) -> Result<void, std::string> {
    if (r.core() != 0) return {};
    return uplink_->start(r);
  });
  add_command(
      "uplink", "SMPP uplink: the upstream SMSC, bind state, counters",
      [this](const ctl::ControlRequest&, ctl::JsonWriter& out) -> Result<void, std::string> {
        const smpp::UplinkStats& s = uplink_->stats();
        auto get = [](const auto& a) { return a.load(std::memory_order_relaxed); };
        out.begin_object()
            .field("server", uplink_->options().server.to_string())
            .field("system_id", uplink_->options().system_id)
            .field("state", get(s.bound) ? "bound" : "down")
            .field("connects", get(s.connects))
            .field("binds", get(s.binds))
            .field("bind_failures", get(s.bind_failures))
            .field("submits", get(s.submits))
            .field("submit_errors", get(s.submit_errors))
            .field("delivers", get(s.delivers))
            .field("deliver_errors", get(s.deliver_errors))
            .field("receipts", get(s.receipts))
            .field("receipts_unmatched", get(s.receipts_unmatched))
            .end_object();
        return {};
      });
  return {};
}

namespace {

Result<std::pair<uint16_t, uint16_t>, std::string> parse_pair(const ctl::ControlRequest& req,
                                                              std::string_view key) {
  auto v = req.string_arg(key);
  if (!v) return fail(v.error());
  const size_t colon = v->find(':');
  uint32_t a = 0, b = 0;
  auto num = [](std::string_view s, uint32_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && out <= 1023;
  };
  if (colon == std::string_view::npos || !num(v->substr(0, colon), a) ||
      !num(v->substr(colon + 1), b))
    return fail(fmt::format("{}= takes ID:SLOT, each 0..1023 (got \"{}\")", key, *v));
  return std::pair{static_cast<uint16_t>(a), static_cast<uint16_t>(b)};
}

void write_slotmaps(ctl::JsonWriter& out, const remsim::Slotmaps& maps) {
  out.begin_array();
  for (const auto& [id, m] : maps.all())
    out.begin_object()
        .field("id", static_cast<uint64_t>(id))
        .field("bank", fmt::format("{}:{}", m.bank.bank_id, m.bank.slot))
        .field("client", fmt::format("{}:{}", m.client.client_id, m.client.slot))
        .field("state", remsim::to_string(m.state))
        .end_object();
  out.end_array();
}

}  // namespace

Result<void, std::string> Services::install_remsim_server() {
  const ctl::RemsimServerConfig& c = config_.remsim_server;
  remsim::ServerOptions o;
  auto listen = SocketAddress::parse(c.listen);
  if (!listen) return fail("[remsim_server] listen: " + listen.error());
  o.listen = *listen;
  if (c.rest_listen.empty()) {
    o.rest_listen.reset();
  } else {
    auto rest = SocketAddress::parse(c.rest_listen);
    if (!rest) return fail("[remsim_server] rest_listen: " + rest.error());
    o.rest_listen = *rest;
  }
  o.rest_token = c.rest_token;
  o.slotmaps_path = config_.state_path(c.slotmaps);
  if (!c.bankd_advertise.empty()) o.bankd_advertise = *SocketAddress::parse(c.bankd_advertise);
  o.bankd_port = static_cast<uint16_t>(c.bankd_port);
  o.id_timeout = static_cast<Nanos>(c.id_timeout_ms) * kNanosPerMilli;
  auto server = remsim::RemsimServer::create(std::move(o));
  if (!server) return fail("remsim server: " + server.error());
  remsim_server_ = std::move(*server);
  engine_.on_each_core([this](engine::Reactor& r) -> Result<void, std::string> {
    if (r.core() != 0) return {};
    return remsim_server_->start(r);
  });
  using ctl::ControlRequest;
  using ctl::JsonWriter;
  add_command("remsim", "remsim server: addresses, banks, clients and slotmaps at a glance",
              [this](const ControlRequest&, JsonWriter& out) -> Result<void, std::string> {
                const auto& s = remsim_server_->stats();
                size_t active = 0;
                for (const auto& [id, m] : remsim_server_->slotmaps().all())
                  active += m.state == remsim::SlotmapState::active;
                out.begin_object()
                    .field("rspro", remsim_server_->bound_address().to_string())
                    .field("rest", remsim_server_->rest_address()
                                       ? "http://" + remsim_server_->rest_address()->to_string()
                                       : std::string("off"))
                    .field("banks", static_cast<uint64_t>(remsim_server_->banks().size()))
                    .field("clients", static_cast<uint64_t>(remsim_server_->clients().size()))
                    .field("slotmaps",
                           static_cast<uint64_t>(remsim_server_->slotmaps().all().size()))
                    .field("slotmaps_active", static_cast<uint64_t>(active))
                    .field("restart_counter", remsim_server_->restart_counter())
                    .field("connections", s.connections.load())
                    .field("id_timeouts", s.id_timeouts.load())
                    .field("identity_in_use", s.identity_in_use.load())
                    .field("protocol_errors", s.protocol_errors.load())
                    .field("rest_requests", s.rest_requests.load())
                    .field("rest_unauthorized", s.rest_unauthorized.load())
                    .end_object();
                return {};
              });
  add_command("remsim.banks", "bank daemons registered with the remsim server",
              [this](const ControlRequest&, JsonWriter& out) -> Result<void, std::string> {
                out.begin_array();
                for (const auto& b : remsim_server_->banks())
                  out.begin_object()
                      .field("bank", static_cast<uint64_t>(b.bank_id))
                      .field("slots", static_cast<uint64_t>(b.number_of_slots))
                      .field("state", b.state)
                      .field("name", b.identity.name)
                      .field("software", b.identity.software + " " + b.identity.sw_version)
                      .field("remote", b.remote)
                      .end_object();
                out.end_array();
                return {};
              });
  add_command("remsim.clients",
              "clients registered with the remsim server, and the bank each was told",
              [this](const ControlRequest&, JsonWriter& out) -> Result<void, std::string> {
                out.begin_array();
                for (const auto& cl : remsim_server_->clients())
                  out.begin_object()
                      .field("client", fmt::format("{}:{}", cl.client.client_id, cl.client.slot))
                      .field("state", cl.state)
                      .field("bankd", cl.bankd)
                      .field("name", cl.identity.name)
                      .field("software", cl.identity.software + " " + cl.identity.sw_version)
                      .field("remote", cl.remote)
                      .end_object();
                out.end_array();
                return {};
              });
  add_command("remsim.slotmaps.list", "slot mappings (bank slot -> client slot) and their state",
              [this](const ControlRequest&, JsonWriter& out) -> Result<void, std::string> {
                write_slotmaps(out, remsim_server_->slotmaps());
                return {};
              });
  add_command("remsim.slotmaps.add",
              "map a bank slot to a client slot: bank=ID:SLOT client=ID:SLOT",
              [this](const ControlRequest& req, JsonWriter& out) -> Result<void, std::string> {
                auto bank = parse_pair(req, "bank");
                if (!bank) return fail(bank.error());
                auto client = parse_pair(req, "client");
                if (!client) return fail(client.error());
                auto m = remsim_server_->add_slotmap({bank->first, bank->second},
                                                     {client->first, client->second});
                if (!m) return fail(m.error());
                out.begin_object()
                    .field("id", static_cast<uint64_t>((*m)->id()))
                    .field("state", remsim::to_string((*m)->state))
                    .end_object();
                return {};
              });
  add_command("remsim.slotmaps.delete", "delete a slot mapping: id=N or bank=ID:SLOT",
              [this](const ControlRequest& req, JsonWriter& out) -> Result<void, std::string> {
                uint32_t id = 0;
                if (req.has("id")) {
                  auto v = req.int_arg("id");
                  if (!v) return fail(v.error());
                  if (*v < 0 || *v > (1023 << 16 | 1023))
                    return fail(std::string("id= is out of range"));
                  id = static_cast<uint32_t>(*v);
                } else {
                  auto bank = parse_pair(req, "bank");
                  if (!bank) return fail(std::string("give id=N or bank=ID:SLOT"));
                  id = uint32_t{bank->first} << 16 | bank->second;
                }
                if (auto r = remsim_server_->delete_slotmap(id); !r)
                  return fail(fmt::format("slotmap {}: {}", id, r.error()));
                const remsim::Slotmap* m = remsim_server_->slotmaps().by_id(id);
                out.begin_object()
                    .field("id", static_cast<uint64_t>(id))
                    .field("state", m ? remsim::to_string(m->state) : "deleted")
                    .end_object();
                return {};
              });
  return {};
}

Result<void, std::string> Services::install_bankd() {
  const ctl::BankdConfig& c = config_.bankd;
  remsim::BankdOptions o;
  auto listen = SocketAddress::parse(c.listen);
  if (!listen) return fail("[bankd] listen: " + listen.error());
  o.listen = *listen;
  o.bank_id = static_cast<uint16_t>(c.bank_id);
  o.name = c.name;
  if (!c.server.empty()) {
    o.server = *SocketAddress::parse(c.server);
  } else if (!remsim_server_) {
    return fail(std::string(
        "[bankd] server is empty (this daemon's remsim server) but [remsim_server] is disabled"));
  }
  std::unique_ptr<remsim::CardBackend> backend;
  if (c.backend == 0) {
    remsim::SimCardOptions so;
    so.bank_id = o.bank_id;
    so.slots = static_cast<uint16_t>(c.sim_slots);
    if (!c.sim_cards.empty()) so.contents_dir = config_.state_path(c.sim_cards);
    auto b = remsim::make_sim_backend(so);
    if (!b) return fail("[bankd] simulated cards: " + b.error());
    backend = std::move(*b);
  } else {
    const std::string path = config_.state_path(c.readers);
    auto text = read_small_file(path);
    if (!text) return fail("[bankd] readers: " + text.error());
    if (!*text)
      return fail(
          fmt::format("[bankd] readers: {} does not exist; it lists \"bankId\",\"slotNr\","
                      "\"reader name regex\" per line (osmo-remsim's CSV)",
                      path));
    auto readers = remsim::parse_reader_csv(**text, path, o.bank_id);
    if (!readers) return fail("[bankd] readers:\n" + readers.error());
    remsim::PcscOptions po;
    po.bank_id = o.bank_id;
    po.readers = std::move(*readers);
    po.exclusive = c.exclusive;
    // The reader threads mostly sleep in PC/SC calls; pinned to the last CPU, away from reactor
    // 0, which serves their clients (with one CPU, that one).
    po.pin_cpu = static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) - 1;
    auto b = remsim::make_pcsc_backend(po);
    if (!b) return fail(fmt::format("[bankd] {}: {}", path, b.error()));
    backend = std::move(*b);
  }
  bankd_ = std::make_unique<remsim::Bankd>(o, std::move(backend), engine_.core_count());
  const bool local_server = c.server.empty();
  engine_.on_each_core([this, local_server](engine::Reactor& r) -> Result<void, std::string> {
    // Core 0 runs the remsim server's setup first (registered before), so its address is known.
    if (r.core() == 0 && local_server) bankd_->set_server(remsim_server_->bound_address());
    auto ok = bankd_->start_on_core(r);
    if (!ok) return ok;
    if (r.core() == 0 && remsim_server_ && config_.remsim_server.bankd_advertise.empty())
      remsim_server_->set_bankd_port(bankd_->bound_port());
    return {};
  });
  using ctl::ControlRequest;
  using ctl::JsonWriter;
  add_command("bankd", "SIM bank daemon: bank, server link, counters",
              [this](const ControlRequest&, JsonWriter& out) -> Result<void, std::string> {
                const auto& s = bankd_->stats();
                auto get = [](const auto& a) { return a.load(std::memory_order_relaxed); };
                out.begin_object()
                    .field("bank", static_cast<uint64_t>(bankd_->options().bank_id))
                    .field("backend", bankd_->backend().name())
                    .field("slots", static_cast<uint64_t>(bankd_->backend().slots()))
                    .field("listen_port", static_cast<uint64_t>(bankd_->bound_port()))
                    .field("server", bankd_->options().server.to_string())
                    .field("server_link", get(s.server_up) ? "registered" : "down")
                    .field("mappings", static_cast<uint64_t>(bankd_->mappings().size()))
                    .field("clients", static_cast<uint64_t>(bankd_->workers().size()))
                    .field("clients_accepted", get(s.clients_accepted))
                    .field("tpdus", get(s.tpdus))
                    .field("card_errors", get(s.card_errors))
                    .field("resets", get(s.resets))
                    .end_object();
                return {};
              });
  add_command("bankd.workers", "SIM bank daemon: one row per client connection, with its state",
              [this](const ControlRequest&, JsonWriter& out) -> Result<void, std::string> {
                out.begin_array();
                for (const auto& w : bankd_->workers())
                  out.begin_object()
                      .field("core", static_cast<uint64_t>(w.core))
                      .field("remote", w.remote)
                      .field("state", remsim::to_string(w.state))
                      .field("client",
                             w.client ? fmt::format("{}:{}", w.client->client_id, w.client->slot)
                                      : std::string("-"))
                      .field("bank_slot", w.bank ? std::to_string(w.bank->slot) : std::string("-"))
                      .field("tpdus", w.tpdus)
                      .end_object();
                out.end_array();
                return {};
              });
  add_command("bankd.cards", "SIM bank daemon: the card or reader behind each slot",
              [this](const ControlRequest&, JsonWriter& out) -> Result<void, std::string> {
                out.begin_array();
                for (const auto& line : bankd_->backend().describe()) out.string(line);
                out.end_array();
                return {};
              });
  add_command("bankd.card", "simulated cards: remove or insert one: slot=N present=true|false",
              [this](const ControlRequest& req, JsonWriter& out) -> Result<void, std::string> {
                if (bankd_->backend().name() != "sim")
                  return fail(std::string("only simulated cards can be removed from here"));
                auto slot = req.int_arg("slot");
                if (!slot) return fail(slot.error());
                if (*slot < 0 || *slot >= bankd_->backend().slots())
                  return fail(fmt::format("slot= is 0..{}", bankd_->backend().slots() - 1));
                auto present = req.bool_arg("present");
                if (!present) return fail(present.error());
                remsim::sim_set_present(bankd_->backend(), static_cast<uint16_t>(*slot), *present);
                out.begin_object().field("slot", *slot).field("present", *present).end_object();
                return {};
              });
  return {};
}

void Services::add_command(std::string name, std::string help, ctl::CommandHandler handler) {
  // Names are ours and unique: a clash is a programming error.
  auto ok = registry_.add(std::move(name), std::move(help), std::move(handler));
  CP_ASSERT(ok);
}

void Services::register_smsc_commands() {
  add_command(
      "numdb.reload",
      "reread the SMSC number database (numbers and peers files); on any error the old one stays",
      [this](const ctl::ControlRequest&, ctl::JsonWriter& out) -> Result<void, std::string> {
        auto db = load_numdb(config_, smsc_->numdb()->peer_names());
        if (!db) {
          CP_LOG_WARN("smsc: number database reload refused, the old one stays:\n{}", db.error());
          return fail("not reloaded, the old database stays:\n" + db.error());
        }
        out.begin_object()
            .field("numbers", static_cast<uint64_t>((*db)->nanp_count()))
            .field("short_numbers", static_cast<uint64_t>((*db)->short_count()))
            .field("peer_blocks", static_cast<uint64_t>((*db)->block_count()))
            .field("peers", static_cast<uint64_t>((*db)->peer_count()))
            .end_object();
        CP_LOG_INFO("smsc: number database reloaded: {} numbers, {} short, {} peer blocks",
                    (*db)->nanp_count(), (*db)->short_count(), (*db)->block_count());
        smsc_->set_numdb(std::move(*db));
        return {};
      });
  auto add_async = [this](std::string name, std::string help, ctl::AsyncCommandHandler handler) {
    auto ok = registry_.add_async(std::move(name), std::move(help), std::move(handler));
    CP_ASSERT(ok);
  };
  // id=: the message id as smsc-dump and smsc-submit print it (decimal), or SHARD:INDEX.
  auto message_id = [](const ctl::ControlRequest& req) -> Result<uint64_t, std::string> {
    auto text = req.string_arg("id");
    if (!text) return fail(text.error());
    auto id = storage::dump::parse_message_id(*text);
    if (!id) return fail("id: " + id.error());
    return *id;
  };
  add_async("smsc.cancel",
            "cancel an active message: id=ID (as smsc-dump prints it, or SHARD:INDEX)",
            [this, message_id](const ctl::ControlRequest& req, ctl::AsyncDone done) {
              auto id = message_id(req);
              if (!id) return done(fail(id.error()));
              smsc_->control_cancel(*id, [done, mid = *id](smsc::wire::Status st) {
                if (st != smsc::wire::Status::ok)
                  return done(fail(fmt::format("message {}: {}", mid, smsc::wire::to_string(st))));
                done(fmt::format("{{\"id\":{},\"cancelled\":true}}", mid));
              });
            });
  add_async("smsc.show",
            "an active message by id=ID (as smsc-dump prints it, or SHARD:INDEX): where it is "
            "and its metadata",
            [this, message_id](const ctl::ControlRequest& req, ctl::AsyncDone done) {
              auto id = message_id(req);
              if (!id) return done(fail(id.error()));
              smsc_->control_lookup(*id, [done, mid = *id](smsc::wire::Status st,
                                                           const storage::SmRecord& r,
                                                           std::string_view where) {
                if (st != smsc::wire::Status::ok)
                  return done(fail(fmt::format(
                      "message {}: {} (not active in the core; smsc-dump --id {} shows the "
                      "stored record)",
                      mid, smsc::wire::to_string(st), mid)));
                ctl::JsonWriter out;
                out.begin_object()
                    .field("id", r.message_id)
                    .field("shard", storage::message_shard(r.message_id))
                    .field("index", storage::message_index(r.message_id))
                    .field("where", where)
                    .field("src", storage::digits(r.src))
                    .field("dst", storage::digits(r.dst_written))
                    .field("dst_routed", storage::digits(r.dst_routed))
                    .field("dst_class", storage::sme_class_name(r.dst_class))
                    .field("dst_imsi", storage::imsi(r))
                    .field("message_ref", r.message_ref)
                    .field("status_report", (r.flags & storage::SmRecord::kFlagStatusReport) != 0)
                    .field("entry_ns", r.time_entry_ns)
                    .field("expiry_ns", r.time_expiry_ns)
                    .end_object();
                done(std::string(out.view()));
              });
            });
  add_command(
      "smsc", "SMSC core: counters, role handlers and their state, queue depths per core",
      [this](const ctl::ControlRequest&, ctl::JsonWriter& out) -> Result<void, std::string> {
        const smsc::SmscStats& s = smsc_->stats();
        auto get = [](const auto& a) { return a.load(std::memory_order_relaxed); };
        const int64_t now = SystemClock::instance().wall_now();
        out.begin_object()
            .field("socket", smsc_->options().socket_path)
            .field("clients", get(s.clients))
            .field("submits", get(s.submits))
            .field("submit_refusals", get(s.submit_refusals))
            .field("duplicates", get(s.duplicates))
            .field("delivered", get(s.delivered))
            .field("failed", get(s.failed))
            .field("expired", get(s.expired))
            .field("cancelled", get(s.cancelled))
            .field("status_reports", get(s.status_reports))
            .field("protocol_errors", get(s.protocol_errors));
        out.key("roles").begin_array();
        for (const auto& r : smsc_->roles())
          out.begin_object()
              .field("role", r.role)
              .field("peer", r.peer)
              .field("state", r.up ? "up" : "down")
              .field("outstanding", r.outstanding)
              .end_object();
        out.end_array();
        out.key("queues").begin_array();
        for (const auto& c : smsc_->queues())
          for (const auto& q : c.queues)
            out.begin_object()
                .field("core", c.core)
                .field("queue", q.name)
                .field("depth", q.depth)
                .field("outstanding", q.outstanding)
                .field("oldest_age_s",
                       q.oldest_entry_ns
                           ? static_cast<uint64_t>(std::max<int64_t>(0, now - q.oldest_entry_ns) /
                                                   kNanosPerSecond)
                           : 0)
                .end_object();
        out.end_array();
        uint64_t active = 0;
        for (const auto& c : smsc_->queues()) active += c.active;
        out.field("active", active).end_object();
        return {};
      });
}

Result<void, std::string> Services::install() {
  if (config_.store.enabled) {
    if (engine_.core_count() > storage::kShardsMax)
      return fail(
          fmt::format("[store] supports at most {} cores (one shard each)", storage::kShardsMax));
    store_ = std::make_unique<storage::Store>(store_options(config_, engine_.core_count()));
    // Every core opens and recovers its shards on its own thread, before it serves anything.
    engine_.on_each_core([this](engine::Reactor& r) -> Result<void, std::string> {
      if (auto ok = store_->open_on_core(r, SystemClock::instance()); !ok)
        return fail("store: " + ok.error());
      return {};
    });
  }
  if (config_.smsc.enabled) {
    if (auto ok = install_smsc(); !ok) return ok;
  }
  if (config_.smpp.enabled) {
    if (auto ok = install_smpp(); !ok) return ok;
  }
  if (config_.uplink.enabled) {
    if (auto ok = install_uplink(); !ok) return ok;
  }
  if (config_.remsim_server.enabled) {
    if (auto ok = install_remsim_server(); !ok) return ok;
  }
  if (config_.bankd.enabled) {
    if (auto ok = install_bankd(); !ok) return ok;
  }
  register_commands();
  ctl::ControlServiceOptions opts;
  opts.socket_path = config_.control_socket_path();
  opts.socket_mode = config_.control.socket_mode;
  control_ = std::make_unique<ctl::ControlService>(registry_, opts);
  if (config_.metrics.enabled) {
    auto addr = SocketAddress::parse(config_.metrics.listen);
    if (!addr) return fail("[metrics] listen: " + addr.error());
    metrics_ = std::make_unique<engine::http::HttpServer>();
    engine::http::add_metrics_route(*metrics_, [this](engine::http::PrometheusWriter& out) {
      const auto reactors = engine_.reactors();
      engine::http::append_reactor_metrics(out, reactors);
      if (store_) append_store_metrics(out, *store_);
      if (smsc_) append_smsc_metrics(out, *smsc_);
      if (smpp_) append_smpp_metrics(out, *smpp_);
      if (remsim_server_ || bankd_) append_remsim_metrics(out, remsim_server_.get(), bankd_.get());
    });
  }
  engine_.on_each_core([this](engine::Reactor& r) -> Result<void, std::string> {
    if (r.core() != 0) return {};
    if (auto ok = control_->start(r); !ok) return fail("control socket: " + ok.error());
    if (metrics_) {
      auto bound = r.listen(*SocketAddress::parse(config_.metrics.listen), *metrics_);
      if (!bound) return fail("metrics: " + bound.error());
      metrics_address_ = bound->to_string();
      CP_LOG_INFO("metrics on http://{}/metrics", metrics_address_);
    }
    return {};
  });
  return {};
}

void Services::register_commands() {
  add_command(
      "status", "daemon version, uptime, cores and I/O backend",
      [this](const ctl::ControlRequest&, ctl::JsonWriter& out) -> Result<void, std::string> {
        const Nanos uptime = SystemClock::instance().now() - info_.started_at;
        out.begin_object()
            .field("version", info_.version)
            .field("pid", info_.pid)
            .field("uptime_s", static_cast<uint64_t>(uptime / kNanosPerSecond))
            .field("cores", engine_.core_count())
            .field("backend", engine_.backend_name())
            .field("allocator", info_.allocator)
            .field("control_socket", config_.control_socket_path())
            .field("metrics", metrics_address_)
            .field("state_dir", config_.state_dir)
            .end_object();
        return {};
      });
  add_command(
      "stats", "per-core counters: connections, bytes, ring depths, loop iterations",
      [this](const ctl::ControlRequest&, ctl::JsonWriter& out) -> Result<void, std::string> {
        out.begin_array();
        for (unsigned core = 0; core < engine_.core_count(); ++core) {
          const engine::Reactor& r = engine_.reactor(core);
          const auto& s = r.stats();
          auto v = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
          out.begin_object()
              .field("core", core)
              .field("backend", r.backend().name())
              .field("connections_open", v(s.connections_open))
              .field("connections_accepted", v(s.connections_accepted))
              .field("connections_closed", v(s.connections_closed))
              .field("connections_refused_limit", v(s.connections_refused_limit))
              .field("accept_errors", v(s.accept_errors))
              .field("idle_timeouts", v(s.idle_timeouts))
              .field("bytes_received", v(s.bytes_received))
              .field("bytes_sent", v(s.bytes_sent))
              .field("recv_pauses", v(s.recv_pauses))
              .field("cross_core_sent", v(s.cross_core_sent))
              .field("cross_core_received", v(s.cross_core_received))
              .field("cross_core_full", v(s.cross_core_full))
              .field("cross_core_backlog", static_cast<uint64_t>(r.cross_core_backlog()))
              .field("loop_iterations", v(s.loop_iterations))
              .end_object();
        }
        out.end_array();
        return {};
      });
  add_command(
      "store",
      "message store, per shard: size, historical mark, active messages, commit rate and "
      "latency",
      [this](const ctl::ControlRequest&, ctl::JsonWriter& out) -> Result<void, std::string> {
        if (!store_) return fail("the message store is disabled ([store] enabled = false)");
        const Nanos now = SystemClock::instance().now();
        out.begin_array();
        for (const storage::ShardView& v : store_->shards()) {
          const storage::ShardStats& s = *v.stats;
          auto get = [](const auto& a) { return a.load(std::memory_order_relaxed); };
          // Rates describe the last full second of activity; stale after two quiet seconds.
          const bool fresh = now - get(s.rate_updated_ns) < 2 * kNanosPerSecond;
          out.begin_object()
              .field("shard", v.id)
              .field("core", v.core)
              .field("dir", v.dir)
              .field("file_bytes", get(s.file_bytes))
              .field("records", get(s.log_records))
              .field("historical_mb", get(s.historical_mb))
              .field("active", get(s.active_records))
              .field("commits", get(s.commits))
              .field("commits_per_s", fresh ? get(s.commits_per_second) : uint64_t{0})
              .field("records_per_s", fresh ? get(s.records_per_second) : uint64_t{0})
              .field("commit_p50_us", static_cast<uint64_t>(s.commit_latency.quantile(0.5) / 1000))
              .field("commit_p99_us", static_cast<uint64_t>(s.commit_latency.quantile(0.99) / 1000))
              .field("commit_errors", get(s.commit_errors))
              .field("full_refusals", get(s.full_refusals))
              .field("cached_blocks", get(s.cached_blocks))
              .field("recovery_ms", static_cast<double>(v.recovery.took / 1000) / 1000)
              .end_object();
        }
        out.end_array();
        return {};
      });
  add_command(
      "config.show", "the configuration in force, as TOML",
      [this](const ctl::ControlRequest&, ctl::JsonWriter& out) -> Result<void, std::string> {
        out.begin_object().field("toml", ctl::to_toml(config_)).end_object();
        return {};
      });
  add_command(
      "log-level", "show the log level, or set it: level=trace|debug|info|notice|warn|error",
      [](const ctl::ControlRequest& req, ctl::JsonWriter& out) -> Result<void, std::string> {
        if (req.has("level")) {
          auto name = req.string_arg("level");
          if (!name) return fail(name.error());
          auto level = parse_log_level(*name);
          if (!level) return fail("unknown log level '" + std::string(*name) + "'");
          set_log_level(*level);
          CP_LOG_NOTICE("log level set to {} by the control socket", *name);
        }
        out.begin_object().field("level", to_string(log_level())).end_object();
        return {};
      });
  add_command(
      "wire-trace", "show wire tracing, or switch it: on=true|false",
      [](const ctl::ControlRequest& req, ctl::JsonWriter& out) -> Result<void, std::string> {
        if (req.has("on")) {
          auto on = req.bool_arg("on");
          if (!on) return fail(on.error());
          set_wire_trace(*on);
        }
        out.begin_object().field("wire_trace", wire_trace_enabled()).end_object();
        return {};
      });
  add_command(
      "shutdown", "stop accepting, drain connections and exit",
      [this](const ctl::ControlRequest&, ctl::JsonWriter& out) -> Result<void, std::string> {
        CP_LOG_NOTICE("shutdown requested over the control socket");
        shutdown_requested_ = true;
        ::kill(info_.pid, SIGTERM);  // wakes the main thread's sigwait
        out.begin_object().field("stopping", true).end_object();
        return {};
      });
}

}  // namespace cp::daemon
