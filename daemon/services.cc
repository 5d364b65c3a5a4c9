#include "daemon/services.h"

#include <csignal>

#include "base/log.h"
#include "ctl/control_client.h"
#include "engine/http/metrics.h"
#include "services/remsim/wiring.h"
#include "services/smpp/wiring.h"
#include "services/smsc/wiring.h"
#include "services/store/wiring.h"

namespace cp::daemon {

// The services cellplaned runs, in installation order: a service may use those before it.
// Each installer reads its own configuration section and does nothing when it is disabled.
constexpr ctl::ServiceInstaller kInstallers[] = {
    wiring::install_store,          // [store]: one shard per core
    wiring::install_smsc,           // [smsc]: the SMSC core (needs the store)
    wiring::install_smpp,           // [smpp]: the SMPP server (needs the SMSC)
    wiring::install_uplink,         // [uplink]: the SMPP uplink (needs the SMSC)
    wiring::install_remsim_server,  // [remsim_server]
    wiring::install_bankd,          // [bankd] (its server may be the one above)
};

// Their configuration sections, in the order the default file and `config show` print them.
constexpr void (*kConfigSections[])(ctl::ConfigSchema&) = {
    wiring::add_store_config,   // [store]
    wiring::add_smsc_config,    // [smsc]
    wiring::add_smpp_config,    // [smpp], [uplink]
    wiring::add_remsim_config,  // [remsim_server], [bankd]
};

const ctl::ConfigSchema& config_schema() {
  static const ctl::ConfigSchema schema = [] {
    ctl::ConfigSchema s;
    for (auto add : kConfigSections) add(s);
    return s;
  }();
  return schema;
}

void Services::reload_all() {
  std::vector<std::string> names;
  for (const auto& c : registry_.commands())
    if (c.name.ends_with(".reload")) names.push_back(c.name);
  if (names.empty()) {
    CP_LOG_NOTICE("SIGHUP: no service has anything to reload");
    return;
  }
  constexpr int kReloadTimeoutMs = 30'000;
  auto client = ctl::ControlClient::connect(config_.control_socket_path(), kReloadTimeoutMs);
  if (!client) {
    CP_LOG_ERROR("SIGHUP: cannot reach the control socket: {}", client.error().message);
    return;
  }
  for (const auto& name : names) {
    auto r = client->call(name, {}, kReloadTimeoutMs);
    if (!r) {
      CP_LOG_ERROR("SIGHUP: {}: {}", name, r.error().message);
    } else if (r->ok) {
      CP_LOG_NOTICE("SIGHUP: {} done: {}", name, r->result_json);
    } else {
      CP_LOG_WARN("SIGHUP: {} failed: {}", name, r->error);
    }
  }
}

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
  out.io.queue_depth = e.io_queue_depth;
  out.io.recv_buffer_count = e.recv_buffers;
  out.io.recv_buffer_bytes = e.recv_buffer_bytes;
  return out;
}

Services::Services(const ctl::Config& config, engine::Engine& engine, DaemonInfo info)
    : config_(config), engine_(engine), info_(std::move(info)), host_(config, engine, registry_) {}

Services::~Services() = default;

Result<void, std::string> Services::install() {
  for (ctl::ServiceInstaller installer : kInstallers) {
    if (auto ok = installer(host_); !ok) return ok;
  }
  register_builtin_commands();
  ctl::ControlServiceOptions opts;
  opts.socket_path = config_.control_socket_path();
  opts.socket_mode = config_.control.socket_mode;
  opts.first_request_timeout =
      static_cast<Nanos>(config_.control.first_request_timeout_ms) * kNanosPerMilli;
  control_ = std::make_unique<ctl::ControlService>(registry_, opts);
  if (config_.metrics.enabled) {
    auto addr = SocketAddress::parse(config_.metrics.listen);
    if (!addr) return fail("[metrics] listen: " + addr.error());
    metrics_ = std::make_unique<engine::http::HttpServer>();
    engine::http::add_metrics_route(*metrics_, [this](engine::http::PrometheusWriter& out) {
      const auto reactors = engine_.reactors();
      engine::http::append_reactor_metrics(out, reactors);
      for (const auto& service : host_.services()) service->append_metrics(out);
    });
  }
  engine_.on_each_core([this](engine::Reactor& r) -> Result<void, std::string> {
    if (r.core() != ctl::ServiceHost::kControlCore) return {};
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

void Services::register_builtin_commands() {
  host_.add_command(
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
  host_.add_command(
      "stats", "per-core counters: connections, bytes, ring depths, loop iterations",
      [this](const ctl::ControlRequest&, ctl::JsonWriter& out) -> Result<void, std::string> {
        out.begin_array();
        for (unsigned core = 0; core < engine_.core_count(); ++core) {
          const engine::Reactor& r = engine_.reactor(core);
          const auto& s = r.stats();
          out.begin_object().field("core", core).field("backend", r.backend().name());
          for (const auto& f : engine::http::reactor_stat_fields())
            out.field(f.key, (s.*f.member).load(std::memory_order_relaxed));
          out.field("cross_core_backlog", static_cast<uint64_t>(r.cross_core_backlog()))
              .field("recv_buffers", uint64_t{r.backend().recv_buffer_count()})
              .end_object();
        }
        out.end_array();
        return {};
      });
  host_.add_command(
      "config.show", "the configuration in force, as TOML",
      [this](const ctl::ControlRequest&, ctl::JsonWriter& out) -> Result<void, std::string> {
        out.begin_object().field("toml", ctl::to_toml(config_)).end_object();
        return {};
      });
  host_.add_command(
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
  host_.add_command(
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
  host_.add_command(
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
