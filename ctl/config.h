// cellplaned's configuration: one TOML file (toml++), read once at start-up into a plain
// `Config` value that the daemon hands to each layer. Loading is strict: an unknown key, a value
// of the wrong type, out of range, a bad enum name or a bad address is an error that names the
// file, line and column. Every key has a default, so an empty file is a valid configuration;
// `default_config_toml()` spells all of them out (docs/CONFIG.md describes each key).
//
// Each section is described once, as a visit function over a ConfigVisitor
// (ctl/config_schema.h); the same description drives loading, `to_toml` and the tests. This file
// holds the daemon's own sections ([engine], [control], [metrics], [log]); a service declares its
// section beside its code and adds it to the ConfigSchema the file is read against
// (ctl/config_section.h).
//
// Exceptions: toml++ reports syntax errors by throwing; they are caught inside load_config_*,
// which only ever return a Result.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/assert.h"
#include "base/log.h"
#include "base/result.h"
#include "ctl/config_section.h"
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
  uint32_t io_queue_depth = 4096;     // io_uring submission entries (epoll: events per wait)
  uint32_t recv_buffers = 1024;       // provided receive buffers per reactor
  uint32_t recv_buffer_bytes = 4096;  // bytes of each
  bool operator==(const EngineConfig&) const = default;
};

struct ControlConfig {
  std::string socket = "cellplane.ctl";  // relative paths are under state_dir
  uint32_t socket_mode = 0600;
  uint32_t first_request_timeout_ms = 10000;
  bool operator==(const ControlConfig&) const = default;
};

struct MetricsConfig {
  bool enabled = true;
  std::string listen = "127.0.0.1:9464";
  bool operator==(const MetricsConfig&) const = default;
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
  LogConfig log;
  // The services' sections ([store], [smsc], [smpp], ...), in schema order.
  ConfigSections services;

  // No service sections (a tool that reads only the daemon's own).
  Config() = default;
  // Every section of `schema` at its defaults.
  explicit Config(const ConfigSchema& schema) : services(schema.defaults()) {}

  // A service's section. It must be in the schema the configuration was built from (a
  // programming error otherwise, asserted).
  template <ConfigSectionType T>
  const T& section() const {
    const T* s = services.find<T>();
    CP_ASSERT(s != nullptr);
    return *s;
  }
  template <ConfigSectionType T>
  T& section() {
    T* s = services.find<T>();
    CP_ASSERT(s != nullptr);
    return *s;
  }

  // The control socket path: control.socket if absolute, else state_dir/control.socket,
  // lexically normalised ("./state" + "cellplane.ctl" -> "state/cellplane.ctl").
  std::string control_socket_path() const;
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

// The daemon's own sections with every key at its default value and a comment; the services'
// sections follow it in default_config_toml().
inline constexpr std::string_view kDaemonDefaultsToml = R"(# cellplaned configuration (TOML).
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
# io_uring submission queue entries per reactor (its completion queue is 4x); with epoll, the
# events one wait returns. A power of two in 64..32768; [store] batch_kib / 4 must stay below it.
io_queue_depth = 4096
# Receive buffers the kernel fills for each reactor, shared by its connections: a power of two in
# 16..32768, each recv_buffer_bytes (512..1048576). Input waits in the socket while all are held.
recv_buffers = 1024
recv_buffer_bytes = 4096

[control]
# Unix socket cellctl talks to; a relative path is under state_dir.
socket = "cellplane.ctl"
# File mode of the socket, octal; must give the owner read and write.
socket_mode = "0600"
# A client that sends no request this long after connecting is closed (it would hold one of the
# 16 sessions), ms.
first_request_timeout_ms = 10000

[metrics]
# Prometheus text exposition over HTTP.
enabled = true
listen = "127.0.0.1:9464"

[log]
# trace, debug, info, notice, warn or error.
level = "info"
# Log every payload read from or written to serial devices and sockets, escaped.
wire_trace = false
)";

// The built-in configuration of `schema`: every key with its default value and a comment. Parsing
// it gives exactly `Config(schema)` (a test checks), so it is a template an operator can start
// from (`cellplaned --print-default-config`).
std::string default_config_toml(const ConfigSchema& schema);

// What a section the schema does not know is: an error (the daemon: a misspelt or unsupported
// section is caught before anything starts), or skipped (a tool that reads a few keys of the
// daemon's file and leaves the rest to the daemon).
enum class UnknownSections { error, skip };

// Parses `text` against `schema`; `name` is the file name used in error messages.
Result<Config, ConfigError> load_config_string(std::string_view text, std::string_view name,
                                               const ConfigSchema& schema,
                                               UnknownSections unknown = UnknownSections::error);
// Reads and parses the file at `path`.
Result<Config, ConfigError> load_config_file(const std::string& path, const ConfigSchema& schema,
                                             UnknownSections unknown = UnknownSections::error);

// The configuration as TOML, every key, in the order of default_config_toml() (for
// `config show`). load_config_string(to_toml(c), schema) == c.
std::string to_toml(const Config& config);

}  // namespace cp::ctl
