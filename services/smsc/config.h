// The [smsc] section: the SMSC core (docs/CONFIG.md, docs/SMSC.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ctl/config_section.h"

namespace cp::wiring {

// The SMSC core (docs/SMSC.md): admission, queues and custody, the local socket.
struct SmscConfig {
  static constexpr std::string_view kSection = "smsc";
  static constexpr std::string_view kDefaults = R"([smsc]
# The SMSC core: admission and routing, queues and custody, its local socket (docs/SMSC.md).
# Needs [store].
enabled = true
# SOCK_SEQPACKET socket of the core (docs/SMSC-SOCKET.md); a relative path is under state_dir.
socket = "smsc.sock"
# File mode of the socket, octal: who may submit and act as a role handler.
socket_mode = "0660"
# Number database (docs/SMSC.md): locally owned numbers and downstream peers' numbers. Relative
# paths are under state_dir; a missing file is created with a commented example at start.
# `cellctl numdb reload` rereads both.
numbers = "numbers.txt"
peers = "peers.txt"
# Validity when the submitter sets none, and the longest accepted, seconds.
default_validity_s = 172800
max_validity_s = 604800
# PID and DCS octets untrusted submitters may use (lists of octets and ranges).
untrusted_pid = "0x00-0x1f"
untrusted_dcs = "0x00,0x08"
# A message equal to an active one entered this recently is a duplicate, seconds.
duplicate_window_s = 600
# Per core (a destination's messages all live on one core): deliveries outstanding per SMPP
# peer (the design drains one at a time), MT transfers toward the GSM handler, MSISDN lookups
# toward the IMSI resolver.
peer_window = 1
mt_transfer_window = 64
imsi_lookup_window = 1
# How long a resolved MSISDN -> IMSI stays cached, seconds.
imsi_cache_s = 60
# After a handler's temporary failure, the queue waits this long, ms.
retry_delay_ms = 10000
# A role handler that has not answered a request after this long loses it (the message is
# retried as after a temporary failure), ms.
handler_timeout_ms = 60000
# A multi-part message whose parts stop coming is cancelled after this long, seconds.
part_timeout_s = 30
# Active messages one core holds (its tables are sized for this at start). Range 1024..16777216.
max_active_per_core = 262144
# Status reports to originators who asked for one.
status_reports = true
)";

  bool enabled = true;
  std::string socket = "smsc.sock";  // relative paths are under state_dir
  uint32_t socket_mode = 0660;
  std::string numbers = "numbers.txt";  // locally owned numbers; relative: under state_dir
  std::string peers = "peers.txt";      // downstream peers' numbers
  uint32_t default_validity_s = 172800;
  uint32_t max_validity_s = 604800;
  std::string untrusted_pid = "0x00-0x1f";
  std::string untrusted_dcs = "0x00,0x08";
  uint32_t duplicate_window_s = 600;
  uint32_t peer_window = 1;
  uint32_t mt_transfer_window = 64;
  uint32_t imsi_lookup_window = 1;
  uint32_t imsi_cache_s = 60;
  uint32_t retry_delay_ms = 10000;
  uint32_t handler_timeout_ms = 60000;
  uint32_t part_timeout_s = 30;
  uint32_t max_active_per_core = 262144;
  bool status_reports = true;
  void visit(ctl::ConfigVisitor& v);
  bool operator==(const SmscConfig&) const = default;
};

}  // namespace cp::wiring
