// The [remsim_server] and [bankd] sections: the remote-SIM server and the SIM bank daemon
// (docs/CONFIG.md, docs/REMSIM.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ctl/config_section.h"

namespace cp::wiring {

// The remsim server (docs/REMSIM.md): RSPRO for banks and clients, the REST API, the slotmaps.
struct RemsimServerConfig {
  static constexpr std::string_view kSection = "remsim_server";
  static constexpr std::string_view kDefaults = R"([remsim_server]
# The remote-SIM server (docs/REMSIM.md): bank daemons and clients register over RSPRO; slot
# mappings are managed over its REST API (osmo-remsim compatible) or `cellctl remsim`.
enabled = true
# RSPRO for banks and clients, host:port.
listen = "127.0.0.1:9998"
# The REST API (/api/backend/v1/...), host:port; "" = none.
rest_listen = "127.0.0.1:9997"
# When set, every REST request needs "Authorization: Bearer <token>".
rest_token = ""
# The slot mappings, kept across restarts; a relative path is under state_dir.
slotmaps = "remsim-slotmaps.txt"
# The bank daemon address told to clients: "" = the source address of the bank's control
# connection with bankd_port (with [bankd] in this daemon: the port it listens on); or host:port.
bankd_advertise = ""
bankd_port = 9999
# A connection must identify itself (ConnectBankReq / ConnectClientReq) within this long, ms.
id_timeout_ms = 10000
# RSPRO connections open at once (banks, clients, not yet identified); more are closed at accept.
# Range 1..1048576.
max_connections = 1024
# Networks banks and clients may connect from ("10.0.0.0/8, fd00::/8"); "" = anywhere.
allow = ""
)";

  bool enabled = true;
  std::string listen = "127.0.0.1:9998";
  std::string rest_listen = "127.0.0.1:9997";  // "" = no REST API
  std::string rest_token;                      // "" = no authentication
  std::string slotmaps = "remsim-slotmaps.txt";
  std::string bankd_advertise;  // "" = the bank's source address with bankd_port
  uint32_t bankd_port = 9999;
  uint32_t id_timeout_ms = 10000;
  uint32_t max_connections = 1024;
  std::string allow;  // CIDR list; "" = anywhere
  void visit(ctl::ConfigVisitor& v);
  bool operator==(const RemsimServerConfig&) const = default;
};

// The SIM bank daemon (docs/REMSIM.md).
struct BankdConfig {
  static constexpr std::string_view kSection = "bankd";
  static constexpr std::string_view kDefaults = R"([bankd]
# The SIM bank daemon (docs/REMSIM.md): serves this bank's cards to remsim clients.
enabled = true
# The remsim server, host:port; "" = the one in this daemon ([remsim_server]).
server = ""
# Where clients connect, host:port.
listen = "127.0.0.1:9999"
# Networks clients may connect from ("10.0.0.0/8, fd00::/8"); "" = anywhere.
allow = ""
# Our bank id (0..1023) and the name we register with.
bank_id = 1
name = "cellplane-bankd"
# "sim": simulated cards in the process (sim_slots of them); "pcsc": the cards in PC/SC readers,
# one hardware thread per reader (readers).
backend = "sim"
sim_slots = 4
# Optional directory of card contents files slot-N.txt (cp-simcard's format); missing ones are
# generated from the bank id and slot. A relative path is under state_dir.
sim_cards = ""
# PC/SC: osmo-remsim's CSV of "bankId","slotNr","reader name regex"; relative: under state_dir.
readers = "bankd_pcsc_slots.csv"
# Open PC/SC cards exclusively (nothing else on the host may talk to them meanwhile).
exclusive = true
# A client must identify itself (ConnectClientReq) within this long, ms.
id_timeout_ms = 10000
# Client connections open at once (identified or not); more are closed at accept. 1..1048576.
max_connections = 1024
)";

  bool enabled = true;
  std::string server;  // "" = this daemon's remsim server
  std::string listen = "127.0.0.1:9999";
  std::string allow;  // CIDR list; "" = anywhere
  uint32_t bank_id = 1;
  std::string name = "cellplane-bankd";
  size_t backend = 0;  // index into {sim, pcsc}
  uint32_t sim_slots = 4;
  std::string sim_cards;
  std::string readers = "bankd_pcsc_slots.csv";
  bool exclusive = true;
  uint32_t id_timeout_ms = 10000;
  uint32_t max_connections = 1024;
  void visit(ctl::ConfigVisitor& v);
  bool operator==(const BankdConfig&) const = default;
};

}  // namespace cp::wiring
