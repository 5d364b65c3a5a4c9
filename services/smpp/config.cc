#include "services/smpp/config.h"

#include <array>

namespace cp::wiring {

namespace {

std::string check_system_id(std::string_view v) {
  if (v.empty() || v.size() > 15) return "must be 1..15 characters (SMPP 3.4 system_id)";
  for (char c : v)
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7E)
      return "must be printable ASCII without spaces";
  return "";
}
std::string check_optional_system_id(std::string_view v) {
  return v.empty() ? "" : check_system_id(v);
}
std::string check_password(std::string_view v) {
  return v.size() > 8 ? "at most 8 characters (SMPP 3.4 password)" : "";
}
std::string check_system_type(std::string_view v) {
  return v.size() > 12 ? "at most 12 characters (SMPP 3.4 system_type)" : "";
}

constexpr std::array<std::string_view, 3> kDc0Names = {"gsm7", "ia5", "latin1"};

}  // namespace

void SmppConfig::visit(ctl::ConfigVisitor& v) {
  v.boolean("enabled", enabled);
  v.text("listen", listen, ctl::check_tcp_address);
  v.text("accounts", accounts, ctl::check_path);
  v.text("system_id", system_id, check_system_id);
  v.u32("bind_timeout_ms", bind_timeout_ms, 100, 3'600'000);
  v.u32("enquire_link_s", enquire_link_s, 1, 86'400);
  v.u32("response_timeout_ms", response_timeout_ms, 100, 3'600'000);
  v.u32("bind_failures_max", bind_failures_max, 1, 1'000'000);
  v.u32("bind_failure_window_s", bind_failure_window_s, 1, 86'400);
}

void UplinkConfig::visit(ctl::ConfigVisitor& v) {
  v.boolean("enabled", enabled);
  v.text("server", server, ctl::check_tcp_address);
  v.text("system_id", system_id, check_optional_system_id);
  v.text("password", password, check_password);
  v.text("system_type", system_type, check_system_type);
  v.u32("interface_version", interface_version, 0, 255);
  v.u32("window", window, 1, 10000);
  v.u32("enquire_link_s", enquire_link_s, 1, 86'400);
  v.u32("response_timeout_ms", response_timeout_ms, 100, 3'600'000);
  v.u32("reconnect_min_ms", reconnect_min_ms, 10, 3'600'000);
  v.u32("reconnect_max_ms", reconnect_max_ms, 10, 3'600'000);
  v.choice("dc0", dc0, kDc0Names);
}

}  // namespace cp::wiring
