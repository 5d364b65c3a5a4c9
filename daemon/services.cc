#include "daemon/services.h"

#include <csignal>

#include "base/log.h"
#include "engine/http/metrics.h"

namespace cp::daemon {

engine::EngineConfig engine_config(const ctl::Config& config) {
  engine::EngineConfig out;
  const auto& e = config.engine;
  out.cores = e.cores;
  out.pin_threads = e.pin_threads;
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

Result<void, std::string> Services::install() {
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
  auto add = [this](std::string name, std::string help, ctl::CommandHandler handler) {
    auto ok = registry_.add(std::move(name), std::move(help), std::move(handler));
    CP_ASSERT(ok);
  };
  add("status", "daemon version, uptime, cores and I/O backend",
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
  add("stats", "per-core counters: connections, bytes, ring depths, loop iterations",
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
  add("config.show", "the configuration in force, as TOML",
      [this](const ctl::ControlRequest&, ctl::JsonWriter& out) -> Result<void, std::string> {
        out.begin_object().field("toml", ctl::to_toml(config_)).end_object();
        return {};
      });
  add("log-level", "show the log level, or set it: level=trace|debug|info|notice|warn|error",
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
  add("wire-trace", "show wire tracing, or switch it: on=true|false",
      [](const ctl::ControlRequest& req, ctl::JsonWriter& out) -> Result<void, std::string> {
        if (req.has("on")) {
          auto on = req.bool_arg("on");
          if (!on) return fail(on.error());
          set_wire_trace(*on);
        }
        out.begin_object().field("wire_trace", wire_trace_enabled()).end_object();
        return {};
      });
  add("shutdown", "stop accepting, drain connections and exit",
      [this](const ctl::ControlRequest&, ctl::JsonWriter& out) -> Result<void, std::string> {
        CP_LOG_NOTICE("shutdown requested over the control socket");
        shutdown_requested_ = true;
        ::kill(info_.pid, SIGTERM);  // wakes the main thread's sigwait
        out.begin_object().field("stopping", true).end_object();
        return {};
      });
}

}  // namespace cp::daemon
