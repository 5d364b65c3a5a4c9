// The [smpp] and [uplink] sections: the SMPP server and the SMPP uplink (docs/CONFIG.md,
// docs/SMPP.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ctl/config_section.h"

namespace cp::wiring {

// The SMPP server for downstream peers (docs/SMPP.md).
struct SmppConfig {
  static constexpr std::string_view kSection = "smpp";
  static constexpr std::string_view kDefaults = R"([smpp]
# The SMPP server for downstream peers (docs/SMPP.md). Needs [smsc].
enabled = true
# host:port to listen on; every reactor core serves binds.
listen = "127.0.0.1:2775"
# Peer accounts (system_id, password, limits); a relative path is under state_dir. A missing file
# is created with the example account `demo` (password `demo`, loopback only).
# `cellctl smpp reload` rereads it.
accounts = "smpp-accounts.txt"
# Our system_id in bind responses.
system_id = "cellplane"
# A connection must bind within this long, ms.
bind_timeout_ms = 10000
# enquire_link after this long without input from a peer, seconds.
enquire_link_s = 30
# A deliver_sm or enquire_link unanswered this long drops the bind (deliveries are retried), ms.
response_timeout_ms = 30000
# After this many failed binds from one IP address within the window, its binds are refused
# until the window has passed.
bind_failures_max = 5
bind_failure_window_s = 60
)";

  bool enabled = true;
  std::string listen = "127.0.0.1:2775";
  std::string accounts = "smpp-accounts.txt";  // relative: under state_dir
  std::string system_id = "cellplane";
  uint32_t bind_timeout_ms = 10000;
  uint32_t enquire_link_s = 30;
  uint32_t response_timeout_ms = 30000;
  uint32_t bind_failures_max = 5;
  uint32_t bind_failure_window_s = 60;
  void visit(ctl::ConfigVisitor& v);
  bool operator==(const SmppConfig&) const = default;
};

// The SMPP uplink to the upstream SMSC (docs/SMPP.md, "Uplink").
struct UplinkConfig {
  static constexpr std::string_view kSection = "uplink";
  static constexpr std::string_view kDefaults = R"([uplink]
# Our SMPP client link to the upstream SMSC (docs/SMPP.md, "Uplink"): bind_transceiver, the
# core's delivery handler for upstream-bound messages, messages from the outside world in.
enabled = false
# host:port of the upstream SMSC.
server = "127.0.0.1:2776"
# The credentials it gave us (at most 15 and 8 characters), and an optional system_type.
system_id = ""
password = ""
system_type = ""
# interface_version of our bind (52 = 0x34, SMPP 3.4).
interface_version = 52
# submit_sm outstanding upstream.
window = 16
# enquire_link after this long without input, seconds; a request unanswered this long drops the
# link, ms.
enquire_link_s = 30
response_timeout_ms = 30000
# Reconnect backoff: from the first delay, doubling to the last, with jitter, ms.
reconnect_min_ms = 1000
reconnect_max_ms = 60000
# How data_coding 0 is read and written: gsm7, ia5 or latin1.
dc0 = "gsm7"
)";

  bool enabled = false;
  std::string server = "127.0.0.1:2776";
  std::string system_id;
  std::string password;
  std::string system_type;
  uint32_t interface_version = 0x34;
  uint32_t window = 16;
  uint32_t enquire_link_s = 30;
  uint32_t response_timeout_ms = 30000;
  uint32_t reconnect_min_ms = 1000;
  uint32_t reconnect_max_ms = 60000;
  size_t dc0 = 0;  // index into {gsm7, ia5, latin1}
  void visit(ctl::ConfigVisitor& v);
  bool operator==(const UplinkConfig&) const = default;
};

}  // namespace cp::wiring
