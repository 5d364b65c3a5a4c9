// Wiring of remote SIM into the daemon: the remsim server ([remsim_server], `cellctl remsim`
// with banks, clients and slotmaps, cellplane_remsim_*) and the SIM bank daemon ([bankd],
// simulated cards or PC/SC readers, `cellctl bankd`, cellplane_bankd_*).
#pragma once

#include <memory>

#include "ctl/service.h"
#include "services/remsim/bankd.h"
#include "services/remsim/config.h"
#include "services/remsim/server.h"

namespace cp::wiring {

class RemsimServerModule final : public ctl::Service {
 public:
  explicit RemsimServerModule(std::unique_ptr<remsim::RemsimServer> server)
      : server_(std::move(server)) {}
  std::string_view name() const override { return "remsim_server"; }
  void append_metrics(ctl::PrometheusWriter& out) const override;
  remsim::RemsimServer& server() const { return *server_; }

 private:
  std::unique_ptr<remsim::RemsimServer> server_;
};

class BankdModule final : public ctl::Service {
 public:
  explicit BankdModule(std::unique_ptr<remsim::Bankd> bankd) : bankd_(std::move(bankd)) {}
  std::string_view name() const override { return "bankd"; }
  void append_metrics(ctl::PrometheusWriter& out) const override;
  remsim::Bankd& bankd() const { return *bankd_; }

 private:
  std::unique_ptr<remsim::Bankd> bankd_;
};

// Install the server when [remsim_server] enabled, the bank daemon when [bankd] enabled (after
// the server: an empty [bankd] server means this daemon's own).
Result<void, std::string> install_remsim_server(ctl::ServiceHost& host);
Result<void, std::string> install_bankd(ctl::ServiceHost& host);

// Adds this folder's configuration sections to the schema the daemon reads its file against.
void add_remsim_config(ctl::ConfigSchema& schema);

}  // namespace cp::wiring
