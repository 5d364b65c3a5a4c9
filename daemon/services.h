// The services cellplaned runs and the control commands it answers, wired onto an Engine.
// Split from main() so a test can start the same daemon inside its own process. The services
// themselves are installed by their own wiring units (services/<name>/wiring.h); this class
// lists them, adds the daemon's built-in commands (status, stats, config show, log-level,
// wire-trace, shutdown) and serves the control socket and /metrics.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "base/result.h"
#include "ctl/config.h"
#include "ctl/control_server.h"
#include "ctl/service.h"
#include "engine/engine.h"
#include "engine/http/http_server.h"

namespace cp::daemon {

struct DaemonInfo {
  std::string version;
  std::string allocator;
  Nanos started_at = 0;  // monotonic
  int pid = 0;
};

// Everything the daemon runs besides the engine itself. Lives on the main thread's stack for the
// whole run; its control socket and /metrics run on reactor 0.
class Services {
 public:
  Services(const ctl::Config& config, engine::Engine& engine, DaemonInfo info);
  ~Services();

  // Installs every enabled service, registers the built-in control commands and installs the
  // control socket and /metrics on reactor 0 (engine.on_each_core). Call before engine.start().
  Result<void, std::string> install();
  // SIGHUP (the main thread): runs every `*.reload` command (numdb.reload, smpp.reload, ...),
  // as `cellctl ... reload` would, through the daemon's own control socket, and logs each result.
  void reload_all();
  // Set when `cellctl shutdown` was received (the main thread polls it).
  bool shutdown_requested() const { return shutdown_requested_.load(); }
  ctl::CommandRegistry& registry() { return registry_; }
  // The address /metrics is served on ("" when disabled); known once engine.start() returned.
  const std::string& metrics_address() const { return metrics_address_; }

 private:
  void register_builtin_commands();

  const ctl::Config& config_;
  engine::Engine& engine_;
  DaemonInfo info_;
  ctl::CommandRegistry registry_;
  ctl::ServiceHost host_;
  std::unique_ptr<ctl::ControlService> control_;
  std::unique_ptr<engine::http::HttpServer> metrics_;
  std::atomic<bool> shutdown_requested_{false};
  std::string metrics_address_;
};

// Every section the daemon's configuration file may hold: the daemon's own and each listed
// service's. Built once; start-up, --check-config and --print-default-config read against it.
const ctl::ConfigSchema& config_schema();

// engine::EngineConfig from the [engine] section.
engine::EngineConfig engine_config(const ctl::Config& config);

}  // namespace cp::daemon
