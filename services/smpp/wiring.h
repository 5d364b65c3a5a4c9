// Wiring of SMPP into the daemon: the server for downstream peers ([smpp], the example accounts
// file, `cellctl smpp` and `smpp reload`, the cellplane_smpp_* families) and the uplink to the
// upstream SMSC ([uplink], `cellctl uplink`).
#pragma once

#include <memory>

#include "ctl/service.h"
#include "services/smpp/config.h"
#include "services/smpp/server.h"
#include "services/smpp/uplink.h"

namespace cp::wiring {

class SmppModule final : public ctl::Service {
 public:
  explicit SmppModule(std::unique_ptr<smpp::SmppServer> server) : server_(std::move(server)) {}
  std::string_view name() const override { return "smpp"; }
  void append_metrics(ctl::PrometheusWriter& out) const override;
  smpp::SmppServer& server() const { return *server_; }

 private:
  std::unique_ptr<smpp::SmppServer> server_;
};

class UplinkModule final : public ctl::Service {
 public:
  explicit UplinkModule(std::unique_ptr<smpp::SmppUplink> uplink) : uplink_(std::move(uplink)) {}
  std::string_view name() const override { return "uplink"; }
  smpp::SmppUplink& uplink() const { return *uplink_; }

 private:
  std::unique_ptr<smpp::SmppUplink> uplink_;
};

// Install the server when [smpp] enabled, the uplink when [uplink] enabled (both need the SMSC).
Result<void, std::string> install_smpp(ctl::ServiceHost& host);
Result<void, std::string> install_uplink(ctl::ServiceHost& host);

// Adds this folder's configuration sections to the schema the daemon reads its file against.
void add_smpp_config(ctl::ConfigSchema& schema);

}  // namespace cp::wiring
