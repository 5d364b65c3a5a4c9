#include "services/smsc/wiring.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "base/atomic_file.h"
#include "base/log.h"
#include "base/octet_set.h"
#include "engine/engine.h"
#include "services/store/wiring.h"
#include "storage/dump/dump.h"

namespace cp::wiring {
namespace {

using smsc::SmscStats;
using Row = ctl::Counter<SmscStats>;

// `cellctl smsc` fields and the cellplane_smsc_* families, in one table.
constexpr Row kCounters[] = {
    {"clients", "cellplane_smsc_clients", "Connections open on the SMSC socket.",
     ctl::MetricType::gauge, &SmscStats::clients},
    {"submits", "cellplane_smsc_submits_total", "Messages accepted and made durable.",
     ctl::MetricType::counter, &SmscStats::submits},
    {"submit_refusals", "cellplane_smsc_submit_refusals_total", "SUBMITs refused by admission.",
     ctl::MetricType::counter, &SmscStats::submit_refusals},
    {"duplicates", "cellplane_smsc_duplicates_total", "SUBMITs answered as duplicates.",
     ctl::MetricType::counter, &SmscStats::duplicates},
    {"delivered", "cellplane_smsc_delivered_total", "Messages discharged as delivered.",
     ctl::MetricType::counter, &SmscStats::delivered},
    {"failed", "cellplane_smsc_failed_total", "Messages discharged as failed.",
     ctl::MetricType::counter, &SmscStats::failed},
    {"expired", "cellplane_smsc_expired_total", "Messages discharged as expired.",
     ctl::MetricType::counter, &SmscStats::expired},
    {"cancelled", "cellplane_smsc_cancelled_total", "Messages discharged as cancelled.",
     ctl::MetricType::counter, &SmscStats::cancelled},
    {"status_reports", "cellplane_smsc_status_reports_total", "Status reports entered.",
     ctl::MetricType::counter, &SmscStats::status_reports},
    {"status_report_retries", "cellplane_smsc_status_report_retries_total",
     "Status reports refused by the store (full, a failed commit) and entered again later.",
     ctl::MetricType::counter, &SmscStats::status_report_retries},
    {"status_reports_lost", "cellplane_smsc_status_reports_lost_total",
     "Status reports that could not be made: every report of the core was in flight.",
     ctl::MetricType::counter, &SmscStats::status_reports_lost},
    {"protocol_errors", "cellplane_smsc_protocol_errors_total", "Bad messages on the SMSC socket.",
     ctl::MetricType::counter, &SmscStats::protocol_errors},
};

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
    R"(# Downstream peers' numbers (docs/SMSC.md): NUMBER-OR-BLOCK PEER [upstream], a block is
# digits then '*'. Each PEER must be an SMPP peer account. upstream: the peer may send from these
# numbers to the Outside World (off by default). Edit, then `cellctl numdb reload`.
212666*  demo
)";

// The store's peer-index file: downstream peer names in index order (records and queues hold
// the index), so a reordered peers file never renames a peer. Missing: no peers yet.
std::string peer_index_path(const ctl::Config& config) {
  return (std::filesystem::path(store_path(config)) / "peer-index").string();
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
  auto db = smsc::Numdb::load(config.state_path(config.section<SmscConfig>().numbers),
                              config.state_path(config.section<SmscConfig>().peers), known);
  if (!db) return db;
  if ((*db)->peer_names() != known) {
    if (auto ok = write_peer_index(peer_index_path(config), (*db)->peer_names()); !ok)
      return fail("peer index: " + ok.error());
  }
  return db;
}

smsc::SmscOptions smsc_options(const ctl::Config& config) {
  const SmscConfig& c = config.section<SmscConfig>();
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
  o.part_timeout = static_cast<Nanos>(c.part_timeout_s) * kNanosPerSecond;
  o.max_active_per_core = c.max_active_per_core;
  o.status_reports = c.status_reports;
  return o;
}

// id=: the message id as smsc-dump and smsc-submit print it (decimal), or SHARD:INDEX.
Result<uint64_t, std::string> message_id(const ctl::ControlRequest& req) {
  auto text = req.string_arg("id");
  if (!text) return fail(text.error());
  auto id = storage::dump::parse_message_id(*text);
  if (!id) return fail("id: " + id.error());
  return *id;
}

void write_status(ctl::JsonWriter& out, const smsc::SmscService& smsc) {
  const int64_t now = SystemClock::instance().wall_now();
  out.begin_object().field("socket", smsc.options().socket_path);
  ctl::write_counters<SmscStats>(out, smsc.stats(), kCounters);
  out.key("roles").begin_array();
  for (const auto& r : smsc.roles())
    out.begin_object()
        .field("role", r.role)
        .field("peer", r.peer)
        .field("state", r.up ? "up" : "down")
        .field("outstanding", r.outstanding)
        .end_object();
  out.end_array();
  out.key("queues").begin_array();
  uint64_t active = 0;
  for (const auto& c : smsc.queues()) {
    active += c.active;
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
  }
  out.end_array();
  out.field("active", active).end_object();
}

void write_message(ctl::JsonWriter& out, const storage::SmRecord& r, std::string_view where) {
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
}

void add_commands(ctl::ServiceHost& host, smsc::SmscService& smsc) {
  const ctl::Config& config = host.config();
  // Reading the files and writing the peer index block: done on the engine's blocking worker,
  // the new database put in place back on the control reactor.
  host.add_async_command(
      "numdb.reload",
      "reread the SMSC number database (numbers and peers files); on any error the old one stays",
      [&config = config, &smsc = smsc, &host = host](const ctl::ControlRequest&,
                                                     ctl::AsyncDone done) {
        using Loaded = Result<std::shared_ptr<const smsc::Numdb>, std::string>;
        auto loaded = std::make_shared<std::optional<Loaded>>();
        host.control_reactor().run_blocking(
            [&config, known = smsc.numdb()->peer_names(), loaded] {
              *loaded = load_numdb(config, known);
            },
            [&smsc, loaded, done] {
              auto& db = **loaded;
              if (!db) {
                CP_LOG_WARN("smsc: number database reload refused, the old one stays:\n{}",
                            db.error());
                return done(fail("not reloaded, the old database stays:\n" + db.error()));
              }
              CP_LOG_INFO("smsc: number database reloaded: {} numbers, {} short, {} peer blocks",
                          (*db)->nanp_count(), (*db)->short_count(), (*db)->block_count());
              std::string json =
                  fmt::format(R"({{"numbers":{},"short_numbers":{},"peer_blocks":{},"peers":{}}})",
                              (*db)->nanp_count(), (*db)->short_count(), (*db)->block_count(),
                              (*db)->peer_count());
              smsc.set_numdb(std::move(*db));
              done(std::move(json));
            });
      });
  host.add_async_command(
      "smsc.cancel", "cancel an active message: id=ID (as smsc-dump prints it, or SHARD:INDEX)",
      [&smsc = smsc](const ctl::ControlRequest& req, ctl::AsyncDone done) {
        auto id = message_id(req);
        if (!id) return done(fail(id.error()));
        smsc.control_cancel(*id, [done, mid = *id](smsc::wire::Status st) {
          if (st != smsc::wire::Status::ok)
            return done(fail(fmt::format("message {}: {}", mid, smsc::wire::to_string(st))));
          done(fmt::format("{{\"id\":{},\"cancelled\":true}}", mid));
        });
      });
  host.add_async_command(
      "smsc.show",
      "an active message by id=ID (as smsc-dump prints it, or SHARD:INDEX): where it is and its "
      "metadata",
      [&smsc = smsc](const ctl::ControlRequest& req, ctl::AsyncDone done) {
        auto id = message_id(req);
        if (!id) return done(fail(id.error()));
        smsc.control_lookup(
            *id, [done, mid = *id](smsc::wire::Status st, const storage::SmRecord& r,
                                   std::string_view where) {
              if (st != smsc::wire::Status::ok)
                return done(fail(fmt::format(
                    "message {}: {} (not active in the core; smsc-dump --id {} shows the stored "
                    "record)",
                    mid, smsc::wire::to_string(st), mid)));
              ctl::JsonWriter out;
              write_message(out, r, where);
              done(std::string(out.view()));
            });
      });
  host.add_command("smsc",
                   "SMSC core: counters, role handlers and their state, queue depths per core",
                   [&smsc = smsc](const ctl::ControlRequest&,
                                  ctl::JsonWriter& out) -> Result<void, std::string> {
                     write_status(out, smsc);
                     return {};
                   });
}

}  // namespace

void SmscModule::append_metrics(ctl::PrometheusWriter& out) const {
  ctl::append_counters<SmscStats>(out, smsc_->stats(), kCounters);
  const auto cores = smsc_->queues();
  out.begin_family("cellplane_smsc_active", "Active messages held by the core.",
                   ctl::MetricType::gauge);
  for (const auto& c : cores) {
    const std::string core = std::to_string(c.core);
    const ctl::PrometheusLabel labels[] = {{"core", core}};
    out.sample("cellplane_smsc_active", labels, c.active);
  }
  out.begin_family("cellplane_smsc_queue_depth", "Messages in a queue (per core).",
                   ctl::MetricType::gauge);
  for (const auto& c : cores) {
    const std::string core = std::to_string(c.core);
    for (const auto& q : c.queues) {
      const ctl::PrometheusLabel labels[] = {{"core", core}, {"queue", q.name}};
      out.sample("cellplane_smsc_queue_depth", labels, q.depth);
    }
  }
}

Result<void, std::string> install_smsc(ctl::ServiceHost& host) {
  const ctl::Config& config = host.config();
  if (!config.section<SmscConfig>().enabled) return {};
  auto* store = host.find<StoreModule>();
  if (!store) return fail(std::string("[smsc] needs the message store ([store] enabled = true)"));
  const std::string numbers = config.state_path(config.section<SmscConfig>().numbers);
  const std::string peers = config.state_path(config.section<SmscConfig>().peers);
  if (auto ok = ctl::write_example_file(numbers, kExampleNumbers, "cellctl numdb reload"); !ok)
    return ok;
  if (auto ok = ctl::write_example_file(peers, kExamplePeers, "cellctl numdb reload"); !ok)
    return ok;
  auto known = read_peer_index(peer_index_path(config));
  if (!known) return fail("smsc: " + known.error());
  auto db = load_numdb(config, *known);
  if (!db) return fail("smsc number database:\n" + db.error());
  CP_LOG_INFO("smsc: number database: {} numbers, {} short numbers, {} peer blocks of {} peers",
              (*db)->nanp_count(), (*db)->short_count(), (*db)->block_count(), (*db)->peer_count());
  engine::Engine& engine = host.engine();
  auto& module = host.add(std::make_unique<SmscModule>(std::make_unique<smsc::SmscService>(
      smsc_options(config), store->store(), std::move(*db), engine.core_count())));
  smsc::SmscService& smsc = module.smsc();
  engine.on_each_core([&smsc = smsc](engine::Reactor& r) -> Result<void, std::string> {
    return smsc.start_on_core(r);
  });
  add_commands(host, smsc);
  return {};
}

void add_smsc_config(ctl::ConfigSchema& schema) {
  schema.add<SmscConfig>();
}

}  // namespace cp::wiring
