// Wiring of the message store (storage/) into the daemon: the [store] section, one shard per
// reactor opened and recovered on its core before anything is served, `cellctl store`, and the
// cellplane_store_* families.
#pragma once

#include <memory>

#include "ctl/service.h"
#include "services/store/config.h"
#include "storage/store.h"

namespace cp::wiring {

class StoreModule final : public ctl::Service {
 public:
  explicit StoreModule(std::unique_ptr<storage::Store> store) : store_(std::move(store)) {}
  std::string_view name() const override { return "store"; }
  void append_metrics(ctl::PrometheusWriter& out) const override;
  storage::Store& store() const { return *store_; }

 private:
  std::unique_ptr<storage::Store> store_;
};

// Installs the store when [store] enabled; `cellctl store` answers either way.
Result<void, std::string> install_store(ctl::ServiceHost& host);

// Adds this folder's configuration sections to the schema the daemon reads its file against.
void add_store_config(ctl::ConfigSchema& schema);

}  // namespace cp::wiring
