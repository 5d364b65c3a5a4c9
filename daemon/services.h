// The services cellplaned runs and the control commands it answers, wired onto an Engine.
// Split from main() so a test can start the same daemon inside its own process.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "base/result.h"
#include "ctl/config.h"
#include "ctl/control_server.h"
#include "engine/engine.h"
#include "engine/http/http_server.h"
#include "engine/remsim/bankd.h"
#include "engine/remsim/server.h"
#include "engine/smpp/server.h"
#include "engine/smpp/uplink.h"
#include "engine/smsc/core.h"
#include "storage/store.h"

namespace cp::daemon {

struct DaemonInfo {
  std::string version;
  std::string allocator;
  Nanos started_at = 0;  // monotonic
  int pid = 0;
};

// Everything the daemon runs besides the engine itself. Lives on the main thread's stack for the
// whole run; its services run on reactor 0.
class Services {
 public:
  Services(const ctl::Config& config, engine::Engine& engine, DaemonInfo info);

  // Registers the built-in control commands and installs the control socket and /metrics on
  // reactor 0 (engine.on_each_core). Call before engine.start().
  Result<void, std::string> install();
  // Set when `cellctl shutdown` was received (the main thread polls it).
  bool shutdown_requested() const { return shutdown_requested_.load(); }
  ctl::CommandRegistry& registry() { return registry_; }
  // The address /metrics is served on ("" when disabled); known once engine.start() returned.
  const std::string& metrics_address() const { return metrics_address_; }
  // The message store (null when [store] enabled = false).
  storage::Store* store() { return store_.get(); }
  // The SMSC core (null when [smsc] enabled = false).
  smsc::SmscService* smsc() { return smsc_.get(); }
  // The SMPP server (null when [smpp] enabled = false).
  smpp::SmppServer* smpp() { return smpp_.get(); }
  // The remsim server and bank daemon (null when disabled).
  remsim::RemsimServer* remsim_server() { return remsim_server_.get(); }
  remsim::Bankd* bankd() { return bankd_.get(); }

 private:
  void register_commands();
  void add_command(std::string name, std::string help, ctl::CommandHandler handler);
  void register_smsc_commands();
  Result<void, std::string> install_smsc();
  Result<void, std::string> install_smpp();
  Result<void, std::string> install_uplink();
  Result<void, std::string> install_remsim_server();
  Result<void, std::string> install_bankd();

  const ctl::Config& config_;
  engine::Engine& engine_;
  DaemonInfo info_;
  ctl::CommandRegistry registry_;
  std::unique_ptr<ctl::ControlService> control_;
  std::unique_ptr<engine::http::HttpServer> metrics_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<smsc::SmscService> smsc_;
  std::unique_ptr<smpp::SmppServer> smpp_;
  std::unique_ptr<smpp::SmppUplink> uplink_;
  std::unique_ptr<remsim::RemsimServer> remsim_server_;
  std::unique_ptr<remsim::Bankd> bankd_;
  std::atomic<bool> shutdown_requested_{false};
  std::string metrics_address_;
};

// engine::EngineConfig from the [engine] section.
engine::EngineConfig engine_config(const ctl::Config& config);

}  // namespace cp::daemon
