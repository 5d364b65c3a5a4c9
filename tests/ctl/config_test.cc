// Configuration loading: defaults, every kind of rejected value with its file:line:col, and the
// round trip through to_toml().
#include "ctl/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

namespace cp::ctl {
namespace {

// A service's section as the services declare theirs (services/<name>/config.h).
struct WidgetConfig {
  static constexpr std::string_view kSection = "widget";
  static constexpr std::string_view kDefaults = R"([widget]
# A test section.
enabled = true
port = 7
)";
  bool enabled = true;
  uint32_t port = 7;
  void visit(ConfigVisitor& v) {
    v.boolean("enabled", enabled);
    v.u32("port", port, 1, 65535);
  }
  bool operator==(const WidgetConfig&) const = default;
};

const ConfigSchema& schema() {
  static const ConfigSchema s = [] {
    ConfigSchema out;
    out.add<WidgetConfig>();
    return out;
  }();
  return s;
}

Result<Config, ConfigError> load(std::string_view text, std::string_view name) {
  return load_config_string(text, name, schema());
}

ConfigError expect_error(std::string_view text) {
  auto config = load(text, "test.toml");
  EXPECT_FALSE(config.has_value()) << "accepted:\n" << text;
  return config ? ConfigError{} : config.error();
}

void expect_error_at(std::string_view text, uint32_t line, uint32_t column,
                     std::string_view message_part) {
  const ConfigError e = expect_error(text);
  EXPECT_EQ(e.file, "test.toml");
  EXPECT_EQ(e.line, line) << e.to_string();
  EXPECT_EQ(e.column, column) << e.to_string();
  EXPECT_NE(e.message.find(message_part), std::string::npos) << e.to_string();
}

TEST(Config, DefaultTomlParsesToDefaults) {
  auto config = load(default_config_toml(schema()), "default.toml");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(*config, Config(schema()));
}

TEST(Config, EmptyFileIsAllDefaults) {
  auto config = load("", "empty.toml");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(*config, Config(schema()));
}

TEST(Config, ReadsEveryKind) {
  auto config = load(R"(state_dir = "/var/lib/cellplane"
[engine]
cores = 4
pin_threads = false
io_backend = "epoll"
cross_core_ring_capacity = 8192
[control]
socket_mode = "0660"
[metrics]
enabled = false
listen = "[::1]:9100"
[log]
level = "debug"
wire_trace = true
)",
                     "t.toml");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->state_dir, "/var/lib/cellplane");
  EXPECT_EQ(config->engine.cores, 4u);
  EXPECT_FALSE(config->engine.pin_threads);
  EXPECT_EQ(config->engine.io_backend, engine::IoBackendKind::epoll);
  EXPECT_EQ(config->engine.cross_core_ring_capacity, 8192u);
  EXPECT_EQ(config->control.socket_mode, 0660u);
  EXPECT_FALSE(config->metrics.enabled);
  EXPECT_EQ(config->metrics.listen, "[::1]:9100");
  EXPECT_EQ(config->log.level, LogLevel::debug);
  EXPECT_TRUE(config->log.wire_trace);
  EXPECT_EQ(config->control_socket_path(), "/var/lib/cellplane/cellplane.ctl");
}

TEST(Config, DottedKeysAreTheSameTables) {
  auto config = load("engine.cores = 3\nlog.level = \"warn\"\n", "t.toml");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->engine.cores, 3u);
  EXPECT_EQ(config->log.level, LogLevel::warn);
}

TEST(Config, InlineTablesAndIntegerForms) {
  auto config = load(
      "engine = { cores = 0x10, rx_buffer_bytes = 0o40000, tx_buffer_bytes = 1_024 }\n", "t.toml");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->engine.cores, 16u);
  EXPECT_EQ(config->engine.rx_buffer_bytes, 16384u);
  EXPECT_EQ(config->engine.tx_buffer_bytes, 1024u);
  expect_error_at("engine = { cores = 1, bogus = 2 }\n", 1, 23, "unknown key 'engine.bogus'");
}

TEST(Config, SocketPath) {
  Config c;
  EXPECT_EQ(c.control_socket_path(), "state/cellplane.ctl");
  c.control.socket = "/run/cellplane/ctl.sock";
  EXPECT_EQ(c.control_socket_path(), "/run/cellplane/ctl.sock");
  c.control.socket = "sub/../ctl";
  c.state_dir = "/srv/cp/";
  EXPECT_EQ(c.control_socket_path(), "/srv/cp/ctl");
}

TEST(Config, UnknownKeys) {
  expect_error_at("[engine]\ncores = 2\ncorse = 3\n", 3, 1, "unknown key 'engine.corse'");
  expect_error_at("[engine]\ncorse = 3\n", 2, 1, "did you mean 'cores'?");
  expect_error_at("statedir = \"x\"\n", 1, 1, "unknown key 'statedir' (did you mean 'state_dir'?)");
  expect_error_at("[log]\n  verbose = true\n", 2, 3, "unknown key 'log.verbose'");
  expect_error_at("[bogus]\nx = 1\n", 1, 2, "unknown section [bogus]");
  expect_error_at("[engine.extra]\nx = 1\n", 1, 9, "unknown section [engine.extra]");
}

TEST(Config, WrongTypes) {
  expect_error_at("[engine]\ncores = \"4\"\n", 2, 9,
                  "engine.cores: expected an integer, got a string");
  expect_error_at("[engine]\ncores = 2.0\n", 2, 9, "expected an integer, got a float");
  expect_error_at("[engine]\npin_threads = 1\n", 2, 15, "expected a boolean");
  expect_error_at("[engine]\nio_backend = 1\n", 2, 14, "expected a string, got an integer");
  expect_error_at("state_dir = [1]\n", 1, 13, "expected a string, got an array");
  expect_error_at("engine = 5\n", 1, 10, "engine: expected a table, got an integer");
  expect_error_at("[control]\nsocket_mode = 384\n", 2, 15, "octal mode string");
  expect_error_at("[[engine]]\ncores = 1\n", 1, 1, "engine: expected a table, got an array");
}

TEST(Config, OutOfRange) {
  expect_error_at("[engine]\ncores = 5000\n", 2, 9,
                  "engine.cores = 5000 is out of range (0..1024)");
  expect_error_at("[engine]\nmax_connections_per_core = -1\n", 2, 28, "out of range");
  expect_error_at("[engine]\nmax_connections_per_core = 0\n", 2, 28, "out of range (1..");
  expect_error_at("[engine]\nrx_buffer_bytes = 100\n", 2, 19, "out of range (512..16777216)");
  expect_error_at("[engine]\ntx_buffer_bytes = 99999999999\n", 2, 19, "out of range");
  expect_error_at("[engine]\nidle_timeout_ms = 86400001\n", 2, 19, "out of range");
  expect_error_at("[engine]\ndrain_timeout_ms = 600001\n", 2, 20, "out of range");
  expect_error_at("[engine]\ncross_core_ring_capacity = 1000\n", 2, 28,
                  "= 1000 must be a power of two");
  expect_error_at("[engine]\ncross_core_ring_capacity = 8\n", 2, 28, "out of range (16..");
  // Buffer ids are 16 bits; the io_uring ring a power of two.
  expect_error_at("[engine]\nrecv_buffers = 65536\n", 2, 16, "out of range (16..32768)");
  expect_error_at("[engine]\nrecv_buffers = 1000\n", 2, 16, "must be a power of two");
  expect_error_at("[engine]\nio_queue_depth = 100\n", 2, 18, "must be a power of two");
  expect_error_at("[engine]\nrecv_buffer_bytes = 100\n", 2, 21, "out of range (512..1048576)");
}

TEST(Config, BadEnums) {
  expect_error_at("[engine]\nio_backend = \"kqueue\"\n", 2, 14,
                  "engine.io_backend = \"kqueue\" is not one of: auto, io_uring, epoll");
  expect_error_at("[log]\nlevel = \"verbose\"\n", 2, 9,
                  "is not one of: trace, debug, info, notice, warn, error");
}

TEST(Config, BadValues) {
  expect_error_at("[metrics]\nlisten = \"localhost\"\n", 2, 10, "metrics.listen = \"localhost\"");
  expect_error_at("[metrics]\nlisten = \"unix:/tmp/m\"\n", 2, 10, "not a Unix socket");
  expect_error_at("[control]\nsocket_mode = \"0800\"\n", 2, 15, "not an octal file mode");
  expect_error_at("[control]\nsocket_mode = \"60\"\n", 2, 15, "not an octal file mode");
  expect_error_at("[control]\nsocket_mode = \"0400\"\n", 2, 15, "owner read and write");
  expect_error_at("[control]\nsocket = \"\"\n", 2, 10, "must not be empty");
  expect_error_at("state_dir = \"\"\n", 1, 13, "must not be empty");
  const std::string long_name(120, 'x');
  expect_error_at("[control]\nsocket = \"" + long_name + "\"\n", 2, 10, "Unix socket path");
  // Fits alone but not under state_dir.
  const std::string name(100, 'y');
  expect_error_at("state_dir = \"/var/lib/cellplane\"\n[control]\nsocket = \"" + name + "\"\n", 3,
                  10, "control socket path");
}

TEST(Config, SyntaxErrorHasPosition) {
  const ConfigError e = expect_error("[engine]\ncores = \n");
  EXPECT_EQ(e.line, 2u);
  EXPECT_GT(e.column, 0u);
  EXPECT_EQ(e.to_string().rfind("test.toml:2:", 0), 0u) << e.to_string();
  const ConfigError dup = expect_error("[engine]\ncores = 1\ncores = 2\n");
  EXPECT_EQ(dup.line, 3u);
}

TEST(Config, AllProblemsReportedInDocumentOrder) {
  const ConfigError e = expect_error("[log]\nlevel = \"loud\"\n[engine]\ncores = -1\nfoo = 1\n");
  EXPECT_EQ(e.line, 2u);
  ASSERT_EQ(e.more.size(), 2u) << e.to_string();
  EXPECT_EQ(e.more[0].rfind("test.toml:4:9: engine.cores = -1", 0), 0u) << e.more[0];
  EXPECT_EQ(e.more[1].rfind("test.toml:5:1: unknown key 'engine.foo'", 0), 0u) << e.more[1];
  const std::string all = e.to_string();
  EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 2);
}

TEST(Config, RoundTripDefaults) {
  const std::string text = to_toml(Config(schema()));
  auto back = load(text, "show.toml");
  ASSERT_TRUE(back) << back.error().to_string() << "\n" << text;
  EXPECT_EQ(*back, Config(schema()));
  EXPECT_NE(text.find("[engine]\ncores = 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("socket_mode = \"0600\""), std::string::npos) << text;
}

TEST(Config, RoundTripEveryFieldChanged) {
  Config c(schema());
  c.state_dir = "/tmp/odd \"dir\"\\ \t é";
  c.engine = {8,  false, false,   engine::IoBackendKind::io_uring, 100, 4096, 8192, 30000, 65536, 1,
              64, 16,    1u << 20};
  c.control = {"/run/x.ctl", 0660};
  c.metrics = {false, "0.0.0.0:1"};
  c.log = {LogLevel::trace, true};
  c.section<WidgetConfig>() = {false, 65535};
  const std::string text = to_toml(c);
  auto back = load(text, "show.toml");
  ASSERT_TRUE(back) << back.error().to_string() << "\n" << text;
  EXPECT_EQ(*back, c) << text;
}

TEST(Config, ServiceSections) {
  auto config = load("[widget]\nport = 99\n", "t.toml");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->section<WidgetConfig>().port, 99u);
  EXPECT_TRUE(config->section<WidgetConfig>().enabled);
  expect_error_at("[widget]\nport = 0\n", 2, 8, "widget.port = 0 is out of range (1..65535)");
  expect_error_at("[widget]\nprot = 1\n", 2, 1, "unknown key 'widget.prot' (did you mean 'port'?)");
  expect_error_at("[widgte]\nport = 1\n", 1, 2,
                  "unknown section [widgte] (did you mean 'widget'?)");
  // The default text holds the section, after the daemon's own.
  const std::string text = default_config_toml(schema());
  EXPECT_NE(text.find("[log]"), std::string::npos);
  EXPECT_GT(text.find("[widget]\n# A test section.\nenabled = true\nport = 7\n"),
            text.find("[log]"));
  // Copies are deep and compare by value.
  Config a(schema());
  Config b = a;
  b.section<WidgetConfig>().port = 8;
  EXPECT_EQ(a.section<WidgetConfig>().port, 7u);
  EXPECT_NE(a, b);
  EXPECT_NE(a, Config{});  // a configuration without the section
}

TEST(Config, ToolsSkipSectionsTheyDoNotRead) {
  const std::string text = "state_dir = \"/srv\"\n[widget]\nport = 1\n[elsewhere]\nx = 1\n";
  // A tool that reads no service section: the rest is the daemon's to check.
  auto tool = load_config_string(text, "t.toml", ConfigSchema{}, UnknownSections::skip);
  ASSERT_TRUE(tool) << tool.error().to_string();
  EXPECT_EQ(tool->state_dir, "/srv");
  // Unknown keys of the daemon's own sections are still errors.
  EXPECT_FALSE(
      load_config_string("stat_dir = 1\n", "t.toml", ConfigSchema{}, UnknownSections::skip));
  // The daemon (every section known) refuses the unknown one.
  auto daemon = load_config_string(text, "t.toml", schema());
  ASSERT_FALSE(daemon);
  EXPECT_NE(daemon.error().message.find("unknown section [elsewhere]"), std::string::npos);
}

TEST(Config, LoadFile) {
  const ConfigError missing = load_config_file("/nonexistent/cellplane.toml", schema()).error();
  EXPECT_EQ(missing.line, 0u);
  EXPECT_EQ(missing.to_string().rfind("/nonexistent/cellplane.toml: cannot open", 0), 0u);

  const std::string path =
      testing::TempDir() + "ctl_config_test_" + std::to_string(::getpid()) + ".toml";
  {
    std::ofstream out(path);
    out << "[engine]\ncores = 2\n[log]\nlevel = 3\n";
  }
  const ConfigError e = load_config_file(path, schema()).error();
  EXPECT_EQ(e.to_string(), path + ":4:9: log.level: expected a string, got an integer");
  {
    std::ofstream out(path);
    out << "[engine]\ncores = 2\n";
  }
  auto ok = load_config_file(path, schema());
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->engine.cores, 2u);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace cp::ctl
