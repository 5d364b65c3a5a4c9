// The [store] section: the persistent message store (docs/CONFIG.md, docs/STORAGE.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ctl/config.h"
#include "ctl/config_section.h"

namespace cp::wiring {

// The persistent message store (docs/STORAGE.md): one shard per reactor core under `dir`.
struct StoreConfig {
  static constexpr std::string_view kSection = "store";
  static constexpr std::string_view kDefaults = R"([store]
# The persistent message store: one shard per reactor core, O_DIRECT, group commit.
enabled = true
# Its directory; a relative path is under state_dir.
dir = "pms"
# MiB kept zero-filled ahead of each shard's tail (pure overwrites commit faster). Range 1..65536.
prealloc_mib = 64
# The most one group commit of a shard writes, KiB; a multiple of 4 in 8..65536.
batch_kib = 4096
# historical-mb is rewritten at most this often, ms. Range 0..3600000.
historical_mark_interval_ms = 1000
)";

  bool enabled = true;
  std::string dir = "pms";     // relative paths are under state_dir
  uint32_t prealloc_mib = 64;  // zero-filled ahead of each shard's tail
  uint32_t batch_kib = 4096;   // the most one group commit writes per shard
  uint32_t historical_mark_interval_ms = 1000;
  void visit(ctl::ConfigVisitor& v);
  bool operator==(const StoreConfig&) const = default;
};

// The store's directory: store.dir under state_dir unless absolute, normalised.
std::string store_path(const ctl::Config& config);

}  // namespace cp::wiring
