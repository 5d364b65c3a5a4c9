#include "services/smpp/wiring.h"

#include <fmt/format.h>

#include "base/log.h"
#include "engine/engine.h"
#include "services/smsc/wiring.h"

namespace cp::wiring {
namespace {

using smpp::ServerStats;
using smpp::UplinkStats;

// `cellctl smpp` fields and the cellplane_smpp_* families, in one table.
constexpr ctl::Counter<ServerStats> kServerCounters[] = {
    {"connections", "cellplane_smpp_connections_total",
     "TCP connections accepted by the SMPP server.", ctl::MetricType::counter,
     &ServerStats::connections},
    {"binds_total", "cellplane_smpp_binds_total", "Successful binds.", ctl::MetricType::counter,
     &ServerStats::binds},
    {"bind_failures", "cellplane_smpp_bind_failures_total",
     "Refused binds (bad credentials, limits).", ctl::MetricType::counter,
     &ServerStats::bind_failures},
    {"bind_rate_refusals", "cellplane_smpp_bind_rate_refusals_total",
     "Binds refused by the per-address failure limit.", ctl::MetricType::counter,
     &ServerStats::bind_refused_rate},
    {"bind_timeouts", "cellplane_smpp_bind_timeouts_total",
     "Connections closed for not binding within the bind timeout.", ctl::MetricType::counter,
     &ServerStats::bind_timeouts},
    {"submits", "cellplane_smpp_submits_total", "submit_sm answered ok (durable).",
     ctl::MetricType::counter, &ServerStats::submits},
    {"submit_errors", "cellplane_smpp_submit_errors_total", "submit_sm answered with an error.",
     ctl::MetricType::counter, &ServerStats::submit_errors},
    {"delivers", "cellplane_smpp_delivers_total", "deliver_sm acknowledged by peers.",
     ctl::MetricType::counter, &ServerStats::delivers},
    {"deliver_errors", "cellplane_smpp_deliver_errors_total",
     "deliver_sm refused, timed out or lost.", ctl::MetricType::counter,
     &ServerStats::deliver_errors},
    {"receipts", "cellplane_smpp_receipts_total", "Delivery receipts acknowledged by peers.",
     ctl::MetricType::counter, &ServerStats::receipts},
    {"protocol_errors", "cellplane_smpp_protocol_errors_total", "Malformed or unknown PDUs.",
     ctl::MetricType::counter, &ServerStats::protocol_errors},
    {"send_backlog_bytes_max", "cellplane_smpp_send_backlog_bytes_max",
     "The largest send backlog one connection held (bytes).", ctl::MetricType::gauge,
     &ServerStats::send_backlog_bytes_max},
};

// `cellctl uplink` fields (not exported to Prometheus yet).
constexpr ctl::Counter<UplinkStats> kUplinkCounters[] = {
    {"connects", "", "", ctl::MetricType::counter, &UplinkStats::connects},
    {"binds", "", "", ctl::MetricType::counter, &UplinkStats::binds},
    {"bind_failures", "", "", ctl::MetricType::counter, &UplinkStats::bind_failures},
    {"submits", "", "", ctl::MetricType::counter, &UplinkStats::submits},
    {"submit_errors", "", "", ctl::MetricType::counter, &UplinkStats::submit_errors},
    {"delivers", "", "", ctl::MetricType::counter, &UplinkStats::delivers},
    {"deliver_errors", "", "", ctl::MetricType::counter, &UplinkStats::deliver_errors},
    {"receipts", "", "", ctl::MetricType::counter, &UplinkStats::receipts},
    {"receipts_unmatched", "", "", ctl::MetricType::counter, &UplinkStats::receipts_unmatched},
};

constexpr std::string_view kExampleAccounts =
    R"(# SMPP peer accounts (docs/SMPP.md). One account per line:
#   PEER  system_id=ID password=PW [binds=trx,tx,rx] [window=N] [tps=N] [max_binds=N]
#         [allow=CIDR,...] [dc0=gsm7|ia5|latin1] [any_source] [trusted]
# PEER is the peer's name in the peers file: messages to its numbers are delivered to its
# receiver binds, and it may send only from those numbers. Edit, then `cellctl smpp reload`.
# The example account: bind as system_id demo, password demo, from this machine only.
demo  system_id=demo password=demo allow=127.0.0.1/32,::1/128 window=64
)";

void write_status(ctl::JsonWriter& out, const smpp::SmppServer& server) {
  out.begin_object().field("listen", server.bound_address().to_string());
  ctl::write_counters<ServerStats>(out, server.stats(), kServerCounters);
  out.key("binds").begin_array();
  for (const auto& b : server.binds())
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
}

smpp::ServerOptions server_options(const SmppConfig& c, const SocketAddress& listen,
                                   const std::string& core_socket) {
  smpp::ServerOptions o;
  o.listen = listen;
  o.core_socket = core_socket;
  o.system_id = c.system_id;
  o.bind_timeout = static_cast<Nanos>(c.bind_timeout_ms) * kNanosPerMilli;
  o.enquire_interval = static_cast<Nanos>(c.enquire_link_s) * kNanosPerSecond;
  o.response_timeout = static_cast<Nanos>(c.response_timeout_ms) * kNanosPerMilli;
  o.bind_failures_max = c.bind_failures_max;
  o.bind_failure_window = static_cast<Nanos>(c.bind_failure_window_s) * kNanosPerSecond;
  return o;
}

smpp::UplinkOptions uplink_options(const UplinkConfig& c, const SocketAddress& server,
                                   const std::string& core_socket) {
  smpp::UplinkOptions o;
  o.server = server;
  o.system_id = c.system_id;
  o.password = c.password;
  o.system_type = c.system_type;
  o.interface_version = static_cast<uint8_t>(c.interface_version);
  o.core_socket = core_socket;
  o.window = c.window;
  o.enquire_interval = static_cast<Nanos>(c.enquire_link_s) * kNanosPerSecond;
  o.response_timeout = static_cast<Nanos>(c.response_timeout_ms) * kNanosPerMilli;
  o.reconnect_min = static_cast<Nanos>(c.reconnect_min_ms) * kNanosPerMilli;
  o.reconnect_max =
      static_cast<Nanos>(std::max(c.reconnect_min_ms, c.reconnect_max_ms)) * kNanosPerMilli;
  o.dc0 = static_cast<proto::smpp::DefaultAlphabet>(c.dc0);
  return o;
}

}  // namespace

void SmppModule::append_metrics(ctl::PrometheusWriter& out) const {
  ctl::append_counters<ServerStats>(out, server_->stats(), kServerCounters);
  out.begin_family("cellplane_smpp_binds", "Binds open.", ctl::MetricType::gauge);
  out.sample("cellplane_smpp_binds", {}, static_cast<uint64_t>(server_->binds().size()));
}

Result<void, std::string> install_smpp(ctl::ServiceHost& host) {
  const ctl::Config& config = host.config();
  if (!config.section<SmppConfig>().enabled) return {};
  auto* core = host.find<SmscModule>();
  if (!core) return fail(std::string("[smpp] needs the SMSC core ([smsc] enabled = true)"));
  smsc::SmscService& smsc = core->smsc();
  const std::string path = config.state_path(config.section<SmppConfig>().accounts);
  if (auto ok = ctl::write_example_file(path, kExampleAccounts, "cellctl smpp reload"); !ok)
    return ok;
  auto accounts = smpp::Accounts::load(path);
  if (!accounts) return fail("smpp accounts:\n" + accounts.error());
  auto listen = SocketAddress::parse(config.section<SmppConfig>().listen);
  if (!listen) return fail("[smpp] listen: " + listen.error());
  CP_LOG_INFO("smpp: {} peer account(s) from {}", (*accounts)->all().size(), path);
  engine::Engine& engine = host.engine();
  auto& module = host.add(std::make_unique<SmppModule>(std::make_unique<smpp::SmppServer>(
      server_options(config.section<SmppConfig>(), *listen, smsc.options().socket_path),
      std::move(*accounts), [&smsc = smsc] { return smsc.numdb(); }, engine.core_count())));
  smpp::SmppServer& server = module.server();
  engine.on_each_core([&server = server](engine::Reactor& r) -> Result<void, std::string> {
    return server.start_on_core(r);
  });
  // The file is read on the engine's blocking worker; the accounts swap on the control reactor.
  host.add_async_command(
      "smpp.reload",
      "reread the SMPP peer accounts file; on any error the old accounts stay (open binds keep "
      "theirs)",
      [&server = server, &host = host, path](const ctl::ControlRequest&, ctl::AsyncDone done) {
        using Loaded = decltype(smpp::Accounts::load(path));
        auto loaded = std::make_shared<std::optional<Loaded>>();
        host.control_reactor().run_blocking(
            [path, loaded] { *loaded = smpp::Accounts::load(path); },
            [&server, path, loaded, done] {
              auto& a = **loaded;
              if (!a) {
                CP_LOG_WARN("smpp: accounts reload refused, the old ones stay:\n{}", a.error());
                return done(fail("not reloaded, the old accounts stay:\n" + a.error()));
              }
              const size_t n = (*a)->all().size();
              CP_LOG_INFO("smpp: {} peer account(s) reloaded from {}", n, path);
              server.set_accounts(std::move(*a));
              done(fmt::format(R"({{"accounts":{}}})", n));
            });
      });
  host.add_command("smpp", "SMPP server: address, counters, open binds",
                   [&server = server](const ctl::ControlRequest&,
                                      ctl::JsonWriter& out) -> Result<void, std::string> {
                     write_status(out, server);
                     return {};
                   });
  return {};
}

Result<void, std::string> install_uplink(ctl::ServiceHost& host) {
  const ctl::Config& config = host.config();
  if (!config.section<UplinkConfig>().enabled) return {};
  auto* core = host.find<SmscModule>();
  if (!core) return fail(std::string("[uplink] needs the SMSC core ([smsc] enabled = true)"));
  const UplinkConfig& c = config.section<UplinkConfig>();
  if (c.system_id.empty()) return fail(std::string("[uplink] system_id is required when enabled"));
  auto server = SocketAddress::parse(c.server);
  if (!server) return fail("[uplink] server: " + server.error());
  auto& module = host.add(std::make_unique<UplinkModule>(std::make_unique<smpp::SmppUplink>(
      uplink_options(c, *server, core->smsc().options().socket_path))));
  smpp::SmppUplink& uplink = module.uplink();
  host.engine().on_each_core([&uplink = uplink](engine::Reactor& r) -> Result<void, std::string> {
    if (r.core() != 0) return {};
    return uplink.start(r);
  });
  host.add_command("uplink", "SMPP uplink: the upstream SMSC, bind state, counters",
                   [&uplink = uplink](const ctl::ControlRequest&,
                                      ctl::JsonWriter& out) -> Result<void, std::string> {
                     const smpp::UplinkStats& s = uplink.stats();
                     out.begin_object()
                         .field("server", uplink.options().server.to_string())
                         .field("system_id", uplink.options().system_id)
                         .field("state",
                                s.bound.load(std::memory_order_relaxed) ? "bound" : "down");
                     ctl::write_counters<UplinkStats>(out, s, kUplinkCounters);
                     out.end_object();
                     return {};
                   });
  return {};
}

void add_smpp_config(ctl::ConfigSchema& schema) {
  schema.add<SmppConfig>();
  schema.add<UplinkConfig>();
}

}  // namespace cp::wiring
