#include "services/smsc/config.h"

#include "base/octet_set.h"

namespace cp::wiring {

namespace {

std::string check_octet_set(std::string_view v) {
  auto set = parse_octet_set(v);
  return set ? "" : set.error();
}

}  // namespace

void SmscConfig::visit(ctl::ConfigVisitor& v) {
  v.boolean("enabled", enabled);
  v.text("socket", socket, ctl::check_socket_path);
  v.file_mode("socket_mode", socket_mode);
  v.text("numbers", numbers, ctl::check_path);
  v.text("peers", peers, ctl::check_path);
  v.u32("default_validity_s", default_validity_s, 1, 31'536'000);
  v.u32("max_validity_s", max_validity_s, 1, 31'536'000);
  v.text("untrusted_pid", untrusted_pid, check_octet_set);
  v.text("untrusted_dcs", untrusted_dcs, check_octet_set);
  v.u32("duplicate_window_s", duplicate_window_s, 0, 31'536'000);
  v.u32("peer_window", peer_window, 1, 4096);
  v.u32("mt_transfer_window", mt_transfer_window, 1, 65536);
  v.u32("imsi_lookup_window", imsi_lookup_window, 1, 4096);
  v.u32("imsi_cache_s", imsi_cache_s, 0, 86'400);
  v.u32("retry_delay_ms", retry_delay_ms, 10, 3'600'000);
  v.u32("handler_timeout_ms", handler_timeout_ms, 100, 3'600'000);
  v.u32("part_timeout_s", part_timeout_s, 1, 3600);
  v.u32("max_active_per_core", max_active_per_core, 1024, 16'777'216);
  v.boolean("status_reports", status_reports);
}

}  // namespace cp::wiring
