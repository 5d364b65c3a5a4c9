#include "services/store/config.h"

namespace cp::wiring {

namespace {

// A commit's writes and its fdatasync go to io_uring as one linked chain, which must fit the ring
// (IoBackendOptions::queue_depth, 4096): at most 4,095 block runs, so 16,380 KiB.
constexpr uint32_t kBatchKibMax = (4096 - 1) * 4;

std::string check_batch_kib(uint32_t v) {
  return v % 4 == 0 ? "" : "must be a multiple of 4 (whole 4 KiB blocks)";
}

}  // namespace

void StoreConfig::visit(ctl::ConfigVisitor& v) {
  v.boolean("enabled", enabled);
  v.text("dir", dir, ctl::check_path);
  v.u32("prealloc_mib", prealloc_mib, 1, 65536);
  v.u32("batch_kib", batch_kib, 8, kBatchKibMax, check_batch_kib);
  v.u32("historical_mark_interval_ms", historical_mark_interval_ms, 0, 3'600'000);
}

std::string store_path(const ctl::Config& config) {
  return config.state_path(config.section<StoreConfig>().dir);
}

}  // namespace cp::wiring
