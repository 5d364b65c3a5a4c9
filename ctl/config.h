// cellplaned's configuration: one TOML file (toml++), read once at start-up into a plain
// `Config` value that the daemon hands to each layer. Loading is strict: an unknown key, a value
// of the wrong type, out of range, a bad enum name or a bad address is an error that names the
// file, line and column. Every key has a default, so an empty file is a valid configuration;
// `kDefaultConfigToml` spells all of them out (docs/CONFIG.md describes each key).
//
// Each section is described once, as a visit function over a ConfigVisitor
// (ctl/config_schema.h); the same description drives loading, `to_toml` and the tests. To add a
// section (smsc, smpp, remsim, ...): add its struct here and a member to Config, write its visit
// function in config.cc and call it from visit_config().
//
// Exceptions: toml++ reports syntax errors by throwing; they are caught inside load_config_*,
// which only ever return a Result.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "base/result.h"
#include "engine/io_backend.h"

namespace cp::ctl {

struct EngineConfig {
  uint32_t cores = 0;             // reactor threads; 0 = one per online CPU
  bool pin_threads = true;        // reactor thread N on CPU N
  bool steer_connections = true;  // pinned reactors take the connections arriving on their CPU
  engine::IoBackendKind io_backend = engine::IoBackendKind::automatic;
  uint32_t max_connections_per_core = 16384;
  uint32_t rx_buffer_bytes = 16384;
  uint32_t tx_buffer_bytes = 16384;
  uint32_t idle_timeout_ms = 0;  // 0 = none
  uint32_t cross_core_ring_capacity = 4096;
  uint32_t drain_timeout_ms = 5000;
  bool operator==(const EngineConfig&) const = default;
};

struct ControlConfig {
  std::string socket = "cellplane.ctl";  // relative paths are under state_dir
  uint32_t socket_mode = 0600;
  bool operator==(const ControlConfig&) const = default;
};

struct MetricsConfig {
  bool enabled = true;
  std::string listen = "127.0.0.1:9464";
  bool operator==(const MetricsConfig&) const = default;
};

// The persistent message store (docs/STORAGE.md): one shard per reactor core under `dir`.
struct StoreConfig {
  bool enabled = true;
  std::string dir = "pms";     // relative paths are under state_dir
  uint32_t prealloc_mib = 64;  // zero-filled ahead of each shard's tail
  uint32_t batch_kib = 4096;   // the most one group commit writes per shard
  uint32_t historical_mark_interval_ms = 1000;
  bool operator==(const StoreConfig&) const = default;
};

// The SMSC core (docs/SMSC.md): admission, queues and custody, the local socket.
struct SmscConfig {
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
  uint32_t max_active_per_core = 262144;
  bool status_reports = true;
  bool operator==(const SmscConfig&) const = default;
};

// The SMPP server for downstream peers (docs/SMPP.md).
struct SmppConfig {
  bool enabled = true;
  std::string listen = "127.0.0.1:2775";
  std::string accounts = "smpp-accounts.txt";  // relative: under state_dir
  std::string system_id = "cellplane";
  uint32_t bind_timeout_ms = 10000;
  uint32_t enquire_link_s = 30;
  uint32_t response_timeout_ms = 30000;
  uint32_t bind_failures_max = 5;
  uint32_t bind_failure_window_s = 60;
  bool operator==(const SmppConfig&) const = default;
};

// The SMPP uplink to the upstream SMSC (docs/SMPP.md, "Uplink").
struct UplinkConfig {
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
  bool operator==(const UplinkConfig&) const = default;
};

// The remsim server (docs/REMSIM.md): RSPRO for banks and clients, the REST API, the slotmaps.
struct RemsimServerConfig {
  bool enabled = true;
  std::string listen = "127.0.0.1:9998";
  std::string rest_listen = "127.0.0.1:9997";  // "" = no REST API
  std::string rest_token;                      // "" = no authentication
  std::string slotmaps = "remsim-slotmaps.txt";
  std::string bankd_advertise;  // "" = the bank's source address with bankd_port
  uint32_t bankd_port = 9999;
  uint32_t id_timeout_ms = 10000;
  uint32_t max_connections = 1024;
  bool operator==(const RemsimServerConfig&) const = default;
};

// The SIM bank daemon (docs/REMSIM.md).
struct BankdConfig {
  bool enabled = true;
  std::string server;  // "" = this daemon's remsim server
  std::string listen = "127.0.0.1:9999";
  uint32_t bank_id = 1;
  std::string name = "cellplane-bankd";
  size_t backend = 0;  // index into {sim, pcsc}
  uint32_t sim_slots = 4;
  std::string sim_cards;
  std::string readers = "bankd_pcsc_slots.csv";
  bool exclusive = true;
  bool operator==(const BankdConfig&) const = default;
};

struct LogConfig {
  LogLevel level = LogLevel::info;
  bool wire_trace = false;
  bool operator==(const LogConfig&) const = default;
};

struct Config {
  std::string state_dir = "./state";
  EngineConfig engine;
  ControlConfig control;
  MetricsConfig metrics;
  StoreConfig store;
  SmscConfig smsc;
  SmppConfig smpp;
  UplinkConfig uplink;
  RemsimServerConfig remsim_server;
  BankdConfig bankd;
  LogConfig log;

  // The control socket path: control.socket if absolute, else state_dir/control.socket,
  // lexically normalised ("./state" + "cellplane.ctl" -> "state/cellplane.ctl").
  std::string control_socket_path() const;
  // The store root: store.dir if absolute, else state_dir/store.dir, normalised.
  std::string store_path() const;
  // A path of the configuration: absolute as is, else under state_dir, normalised.
  std::string state_path(const std::string& path) const;
  bool operator==(const Config&) const = default;
};

// Where a configuration problem is. line/column are 1-based; 0 when the problem has no position
// (the file cannot be read).
struct ConfigError {
  std::string file;
  uint32_t line = 0;
  uint32_t column = 0;
  std::string message;
  // Further problems found in the same pass, already formatted as "file:line:col: message",
  // in document order. The operator sees them all at once instead of one per restart.
  std::vector<std::string> more;

  // "file:line:col: message" (or "file: message"), then one line per entry of `more`.
  std::string to_string() const;
};

// The built-in configuration: every key with its default value and a comment. Parsing it gives
// exactly `Config{}` (a test checks), so it is a template an operator can start from.
inline constexpr std::string_view kDefaultConfigToml = R"(# cellplaned configuration (TOML).
# Every key is optional; the values below are the defaults. docs/CONFIG.md describes each key.

# Directory for the control socket and other run-time state; relative to the working directory.
state_dir = "./state"

[engine]
# Reactor threads, one per core; 0 = one per online CPU. Range 0..1024.
cores = 0
# Pin reactor thread N to CPU N.
pin_threads = true
# With pinned reactors, services with many light connections (the bank daemon) keep each on the
# reactor of the CPU its packets arrive on (SO_INCOMING_CPU).
steer_connections = true
# "auto" (io_uring, falling back to epoll when it cannot be set up), "io_uring" or "epoll".
io_backend = "auto"
# Connections one reactor accepts before closing new ones at once. Range 1..1048576.
max_connections_per_core = 16384
# Per-connection receive (reassembly) and send buffers. Range 512..16777216.
rx_buffer_bytes = 16384
tx_buffer_bytes = 16384
# Close connections that received nothing for this long; 0 = never. Range 0..86400000.
idle_timeout_ms = 0
# Slots of each reactor-to-reactor ring; a power of two in 16..1048576.
cross_core_ring_capacity = 4096
# On shutdown, how long connections may finish what is queued. Range 0..600000.
drain_timeout_ms = 5000

[control]
# Unix socket cellctl talks to; a relative path is under state_dir.
socket = "cellplane.ctl"
# File mode of the socket, octal; must give the owner read and write.
socket_mode = "0600"

[metrics]
# Prometheus text exposition over HTTP.
enabled = true
listen = "127.0.0.1:9464"

[store]
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

[smsc]
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
# Active messages one core holds (its tables are sized for this at start). Range 1024..16777216.
max_active_per_core = 262144
# Status reports to originators who asked for one.
status_reports = true

[smpp]
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

[uplink]
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

[remsim_server]
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

[bankd]
# The SIM bank daemon (docs/REMSIM.md): serves this bank's cards to remsim clients.
enabled = true
# The remsim server, host:port; "" = the one in this daemon ([remsim_server]).
server = ""
# Where clients connect, host:port.
listen = "127.0.0.1:9999"
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

[log]
# trace, debug, info, notice, warn or error.
level = "info"
# Log every payload read from or written to serial devices and sockets, escaped.
wire_trace = false
)";

// Parses `text`; `name` is the file name used in error messages.
Result<Config, ConfigError> load_config_string(std::string_view text, std::string_view name);
// Reads and parses the file at `path`.
Result<Config, ConfigError> load_config_file(const std::string& path);

// The configuration as TOML, every key, in the order of kDefaultConfigToml (for `config show`).
// load_config_string(to_toml(c)) == c.
std::string to_toml(const Config& config);

}  // namespace cp::ctl
