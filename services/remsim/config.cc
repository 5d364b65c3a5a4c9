#include "services/remsim/config.h"

#include <array>

#include "base/address_filter.h"

namespace cp::wiring {

namespace {

std::string check_component_name(std::string_view v) {
  if (v.empty() || v.size() > 32) return "must be 1..32 characters (RSPRO)";
  for (char c : v)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
      return "must be printable ASCII (RSPRO IA5String)";
  return "";
}

std::string check_networks(std::string_view v) {
  auto f = AddressFilter::parse(v);
  return f ? "" : f.error();
}

constexpr std::array<std::string_view, 2> kBankdBackendNames = {"sim", "pcsc"};

}  // namespace

void RemsimServerConfig::visit(ctl::ConfigVisitor& v) {
  v.boolean("enabled", enabled);
  v.text("listen", listen, ctl::check_tcp_address);
  v.text("rest_listen", rest_listen, ctl::check_optional_tcp_address);
  v.text("rest_token", rest_token);
  v.text("slotmaps", slotmaps, ctl::check_path);
  v.text("bankd_advertise", bankd_advertise, ctl::check_optional_tcp_address);
  v.u32("bankd_port", bankd_port, 1, 65535);
  v.u32("id_timeout_ms", id_timeout_ms, 100, 3'600'000);
  v.u32("max_connections", max_connections, 1, 1u << 20);
  v.text("allow", allow, check_networks);
}

void BankdConfig::visit(ctl::ConfigVisitor& v) {
  v.boolean("enabled", enabled);
  v.text("server", server, ctl::check_optional_tcp_address);
  v.text("listen", listen, ctl::check_tcp_address);
  v.text("allow", allow, check_networks);
  v.u32("bank_id", bank_id, 0, 1023);
  v.text("name", name, check_component_name);
  v.choice("backend", backend, kBankdBackendNames);
  v.u32("sim_slots", sim_slots, 1, 1024);
  v.text("sim_cards", sim_cards, ctl::check_optional_path);
  v.text("readers", readers, ctl::check_path);
  v.boolean("exclusive", exclusive);
  v.u32("id_timeout_ms", id_timeout_ms, 100, 3'600'000);
  v.u32("max_connections", max_connections, 1, 1u << 20);
}

}  // namespace cp::wiring
