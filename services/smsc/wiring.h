// Wiring of the SMSC core into the daemon: the [smsc] section, the example number database of a
// fresh state directory, the store's peer index, `cellctl numdb reload`, `cellctl smsc`
// (+ `show`, `cancel`) and the cellplane_smsc_* families.
#pragma once

#include <memory>

#include "ctl/service.h"
#include "services/smsc/config.h"
#include "services/smsc/core.h"

namespace cp::wiring {

class SmscModule final : public ctl::Service {
 public:
  explicit SmscModule(std::unique_ptr<smsc::SmscService> smsc) : smsc_(std::move(smsc)) {}
  std::string_view name() const override { return "smsc"; }
  void append_metrics(ctl::PrometheusWriter& out) const override;
  smsc::SmscService& smsc() const { return *smsc_; }

 private:
  std::unique_ptr<smsc::SmscService> smsc_;
};

// Installs the core when [smsc] enabled (needs the store).
Result<void, std::string> install_smsc(ctl::ServiceHost& host);

// Adds this folder's configuration sections to the schema the daemon reads its file against.
void add_smsc_config(ctl::ConfigSchema& schema);

}  // namespace cp::wiring
