// Loading, checking and printing the configuration. Each section is described once by a visit
// function (see ctl/config_schema.h); ConfigReader walks it over a parsed toml++ table and
// ConfigWriter walks it to print TOML.
#include "ctl/config.h"

#include <sys/un.h>

#include <toml++/toml.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/assert.h"
#include "base/socket_address.h"
#include "ctl/config_schema.h"

namespace cp::ctl {

namespace {

static_assert(static_cast<size_t>(engine::IoBackendKind::epoll) == 2);
static_assert(static_cast<size_t>(LogLevel::error) == 5);

constexpr uint32_t kCoresMax = 1024;
constexpr uint32_t kConnectionsPerCoreMax = 1u << 20;
constexpr uint32_t kBufferBytesMin = 512;  // the reactor's minimum receive buffer
constexpr uint32_t kBufferBytesMax = 16u << 20;
constexpr uint32_t kIdleTimeoutMsMax = 86'400'000;  // one day
constexpr uint32_t kRingCapacityMin = 16;
constexpr uint32_t kRingCapacityMax = 1u << 20;
constexpr uint32_t kDrainTimeoutMsMax = 600'000;  // ten minutes
constexpr size_t kUnixPathBytesMax = sizeof(sockaddr_un::sun_path) - 1;

// ---- the sections -----------------------------------------------------------------------------

std::string check_power_of_two(uint32_t value) {
  return (value & (value - 1)) == 0 ? "" : "must be a power of two";
}

void visit_engine(ConfigVisitor& v, EngineConfig& s) {
  v.u32("cores", s.cores, 0, kCoresMax);
  v.boolean("pin_threads", s.pin_threads);
  v.boolean("steer_connections", s.steer_connections);
  v.enumeration("io_backend", s.io_backend, engine::kIoBackendNames);
  v.u32("max_connections_per_core", s.max_connections_per_core, 1, kConnectionsPerCoreMax);
  v.u32("rx_buffer_bytes", s.rx_buffer_bytes, kBufferBytesMin, kBufferBytesMax);
  v.u32("tx_buffer_bytes", s.tx_buffer_bytes, kBufferBytesMin, kBufferBytesMax);
  v.u32("idle_timeout_ms", s.idle_timeout_ms, 0, kIdleTimeoutMsMax);
  v.u32("cross_core_ring_capacity", s.cross_core_ring_capacity, kRingCapacityMin, kRingCapacityMax,
        check_power_of_two);
  v.u32("drain_timeout_ms", s.drain_timeout_ms, 0, kDrainTimeoutMsMax);
  v.u32("io_queue_depth", s.io_queue_depth, 64, 32768, check_power_of_two);
  v.u32("recv_buffers", s.recv_buffers, 16, 32768, check_power_of_two);  // 16-bit buffer ids
  v.u32("recv_buffer_bytes", s.recv_buffer_bytes, 512, 1u << 20);
}

void visit_control(ConfigVisitor& v, ControlConfig& s) {
  v.text("socket", s.socket, check_socket_path);
  v.file_mode("socket_mode", s.socket_mode);
  v.u32("first_request_timeout_ms", s.first_request_timeout_ms, 100, 3'600'000);
}

void visit_metrics(ConfigVisitor& v, MetricsConfig& s) {
  v.boolean("enabled", s.enabled);
  v.text("listen", s.listen, check_tcp_address);
}

void visit_log(ConfigVisitor& v, LogConfig& s) {
  v.enumeration("level", s.level, kLogLevelNames);
  v.boolean("wire_trace", s.wire_trace);
}

// ---- helpers ----------------------------------------------------------------------------------

std::string_view type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
  }
  return "a value";
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// A TOML basic string: quotes, backslashes and control characters escaped.
std::string toml_quote(std::string_view text) {
  std::string out = "\"";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04X}", c);
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

// "0600" / "600" -> 0600; -1 when not 3 or 4 octal digits (4 only with a leading 0).
int64_t parse_octal_mode(std::string_view text) {
  if (text.size() == 4 && text[0] == '0') text.remove_prefix(1);
  if (text.size() != 3) return -1;
  int64_t mode = 0;
  for (const char c : text) {
    if (c < '0' || c > '7') return -1;
    mode = mode * 8 + (c - '0');
  }
  return mode;
}

// ---- reading ----------------------------------------------------------------------------------

struct Problem {
  uint32_t line = 0;
  uint32_t column = 0;
  std::string message;
};

// Walks the visit functions over a parsed table: takes each declared key, checks it, and at the
// end of each table reports every key nobody asked for. Values that fail a check leave the
// default in place; all problems are collected so the operator sees them at once.
class ConfigReader final : public ConfigVisitor {
 public:
  explicit ConfigReader(const toml::table& root) { frames_.push_back({&root, "", {}}); }

  void u32(std::string_view key, uint32_t& value, uint32_t min, uint32_t max,
           U32Check check) override;
  void boolean(std::string_view key, bool& value) override;
  void text(std::string_view key, std::string& value, TextCheck check) override;
  void choice(std::string_view key, size_t& index,
              std::span<const std::string_view> names) override;
  void file_mode(std::string_view key, uint32_t& mode) override;
  void begin_section(std::string_view key) override;
  void end_section() override;

  // Reports the unknown top-level keys (and, unless `skip_tables`, the unknown sections); call
  // once after visit_config().
  void finish(bool skip_tables) {
    CP_ASSERT(frames_.size() == 1);
    report_unknown(frames_.back(), skip_tables);
  }
  void report(const toml::source_region& where, std::string message) {
    problems_.push_back({where.begin.line, where.begin.column, std::move(message)});
  }
  std::vector<Problem>& problems() { return problems_; }

 private:
  struct Frame {
    const toml::table* table = nullptr;  // nullptr: the section is absent (all defaults)
    std::string path;                    // dotted path of the table, "" for the root
    std::vector<std::string> known;      // keys the visit function asked for
  };

  std::string full_key(std::string_view key) const {
    const std::string& path = frames_.back().path;
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
  const toml::node* take(std::string_view key) {
    Frame& f = frames_.back();
    f.known.emplace_back(key);
    return f.table ? f.table->get(key) : nullptr;
  }
  void wrong_type(const toml::node& node, std::string_view key, std::string_view expected) {
    report(node.source(),
           fmt::format("{}: expected {}, got {}", full_key(key), expected, type_name(node.type())));
  }
  void report_unknown(const Frame& frame, bool skip_tables = false);

  std::vector<Frame> frames_;
  std::vector<Problem> problems_;
};

void ConfigReader::u32(std::string_view key, uint32_t& value, uint32_t min, uint32_t max,
                       U32Check check) {
  const toml::node* node = take(key);
  if (!node) return;
  const auto* integer = node->as_integer();
  if (!integer) return wrong_type(*node, key, "an integer");
  const int64_t v = integer->get();
  if (v < min || v > max) {
    report(node->source(),
           fmt::format("{} = {} is out of range ({}..{})", full_key(key), v, min, max));
    return;
  }
  if (check) {
    if (auto why = check(static_cast<uint32_t>(v)); !why.empty()) {
      report(node->source(), fmt::format("{} = {} {}", full_key(key), v, why));
      return;
    }
  }
  value = static_cast<uint32_t>(v);
}

void ConfigReader::boolean(std::string_view key, bool& value) {
  const toml::node* node = take(key);
  if (!node) return;
  const auto* b = node->as_boolean();
  if (!b) return wrong_type(*node, key, "a boolean (true or false)");
  value = b->get();
}

void ConfigReader::text(std::string_view key, std::string& value, TextCheck check) {
  const toml::node* node = take(key);
  if (!node) return;
  const auto* s = node->as_string();
  if (!s) return wrong_type(*node, key, "a string");
  if (check) {
    if (auto why = check(s->get()); !why.empty()) {
      report(node->source(), fmt::format("{} = {} {}", full_key(key), toml_quote(s->get()), why));
      return;
    }
  }
  value = s->get();
}

void ConfigReader::choice(std::string_view key, size_t& index,
                          std::span<const std::string_view> names) {
  const toml::node* node = take(key);
  if (!node) return;
  const auto* s = node->as_string();
  if (!s) return wrong_type(*node, key, "a string");
  const auto it = std::find(names.begin(), names.end(), std::string_view(s->get()));
  if (it == names.end()) {
    std::string allowed;
    for (const auto name : names) allowed += (allowed.empty() ? "" : ", ") + std::string(name);
    report(node->source(),
           fmt::format("{} = {} is not one of: {}", full_key(key), toml_quote(s->get()), allowed));
    return;
  }
  index = static_cast<size_t>(it - names.begin());
}

void ConfigReader::file_mode(std::string_view key, uint32_t& mode) {
  const toml::node* node = take(key);
  if (!node) return;
  const auto* s = node->as_string();
  if (!s) return wrong_type(*node, key, "an octal mode string such as \"0600\"");
  const int64_t v = parse_octal_mode(s->get());
  if (v < 0) {
    report(node->source(), fmt::format("{} = {} is not an octal file mode such as \"0600\"",
                                       full_key(key), toml_quote(s->get())));
    return;
  }
  if ((v & 0600) != 0600) {
    report(node->source(), fmt::format("{} = {} must give the owner read and write (0600)",
                                       full_key(key), toml_quote(s->get())));
    return;
  }
  mode = static_cast<uint32_t>(v);
}

void ConfigReader::begin_section(std::string_view key) {
  const toml::node* node = take(key);
  const toml::table* table = nullptr;
  if (node) {
    table = node->as_table();
    if (!table) wrong_type(*node, key, "a table");
  }
  frames_.push_back({table, full_key(key), {}});
}

void ConfigReader::end_section() {
  CP_ASSERT(frames_.size() > 1);
  report_unknown(frames_.back());
  frames_.pop_back();
}

void ConfigReader::report_unknown(const Frame& frame, bool skip_tables) {
  if (!frame.table) return;
  for (const auto& [key, node] : *frame.table) {
    const std::string_view name = key.str();
    if (std::find(frame.known.begin(), frame.known.end(), name) != frame.known.end()) continue;
    if (skip_tables && node.is_table()) continue;
    const std::string full =
        frame.path.empty() ? std::string(name) : frame.path + "." + std::string(name);
    std::string message = node.is_table() ? fmt::format("unknown section [{}]", full)
                                          : fmt::format("unknown key '{}'", full);
    const std::string* best = nullptr;
    size_t best_distance = 3;  // suggest only close misspellings
    for (const auto& known : frame.known) {
      const size_t d = edit_distance(name, known);
      if (d < best_distance) {
        best = &known;
        best_distance = d;
      }
    }
    if (best) message += fmt::format(" (did you mean '{}'?)", *best);
    const auto& where = key.source().begin.line ? key.source() : node.source();
    report(where, std::move(message));
  }
}

// Checks that need more than one key: the resolved socket path must fit a sockaddr_un.
void check_whole(const toml::table& root, const Config& config, ConfigReader& reader) {
  const std::string path = config.control_socket_path();
  if (path.size() <= kUnixPathBytesMax) return;
  const toml::node* where = root.at_path("control.socket").node();
  if (!where) where = root.get("state_dir");
  const auto region = where ? where->source() : toml::source_region{};
  reader.report(region, fmt::format("control socket path {} is longer than a Unix socket path "
                                    "may be ({} bytes)",
                                    toml_quote(path), kUnixPathBytesMax));
}

ConfigError make_error(std::string_view file, std::vector<Problem>& problems) {
  std::stable_sort(problems.begin(), problems.end(), [](const Problem& a, const Problem& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  ConfigError error{
      std::string(file), problems[0].line, problems[0].column, problems[0].message, {}};
  for (size_t i = 1; i < problems.size(); ++i) {
    error.more.push_back(ConfigError{
        std::string(file), problems[i].line, problems[i].column, problems[i].message, {}}
                             .to_string());
  }
  return error;
}

// ---- writing ----------------------------------------------------------------------------------

// Prints each key as `key = value` in declaration order; a section's keys go under its
// [dotted.path] header, after the keys of the enclosing table.
class ConfigWriter final : public ConfigVisitor {
 public:
  ConfigWriter() { frames_.emplace_back(); }

  void u32(std::string_view key, uint32_t& value, uint32_t, uint32_t, U32Check) override {
    line(key, fmt::format("{}", value));
  }
  void boolean(std::string_view key, bool& value) override { line(key, value ? "true" : "false"); }
  void text(std::string_view key, std::string& value, TextCheck) override {
    line(key, toml_quote(value));
  }
  void choice(std::string_view key, size_t& index,
              std::span<const std::string_view> names) override {
    CP_ASSERT(index < names.size());
    line(key, toml_quote(names[index]));
  }
  void file_mode(std::string_view key, uint32_t& mode) override {
    line(key, fmt::format("\"{:04o}\"", mode));
  }
  void begin_section(std::string_view key) override {
    const std::string& parent = frames_.back().path;
    frames_.push_back(
        {parent.empty() ? std::string(key) : parent + "." + std::string(key), {}, {}});
  }
  void end_section() override {
    CP_ASSERT(frames_.size() > 1);
    Frame f = std::move(frames_.back());
    frames_.pop_back();
    frames_.back().children += "\n[" + f.path + "]\n" + f.body + f.children;
  }
  std::string result() const {
    CP_ASSERT(frames_.size() == 1);
    return frames_[0].body + frames_[0].children;
  }

 private:
  struct Frame {
    std::string path;
    std::string body;      // this table's own keys
    std::string children;  // its sub-tables, already printed
  };
  void line(std::string_view key, std::string_view value) {
    frames_.back().body += fmt::format("{} = {}\n", key, value);
  }
  std::vector<Frame> frames_;
};

}  // namespace

// ---- value checks -----------------------------------------------------------------------------

std::string check_path(std::string_view value) {
  if (value.empty()) return "must not be empty";
  if (value.find('\0') != std::string_view::npos) return "must not contain NUL";
  return "";
}

std::string check_socket_path(std::string_view value) {
  if (auto why = check_path(value); !why.empty()) return why;
  if (value.size() > kUnixPathBytesMax) {
    return fmt::format("is longer than a Unix socket path may be ({} bytes)", kUnixPathBytesMax);
  }
  return "";
}

std::string check_tcp_address(std::string_view value) {
  if (value.starts_with("unix:")) return "must be host:port, not a Unix socket";
  auto addr = SocketAddress::parse(value);
  if (!addr) return addr.error();
  return "";
}

std::string check_optional_tcp_address(std::string_view v) {
  return v.empty() ? "" : check_tcp_address(v);
}

std::string check_optional_path(std::string_view v) {
  return v.empty() ? "" : check_path(v);
}

void visit_config(ConfigVisitor& v, Config& config) {
  v.text("state_dir", config.state_dir, check_path);
  v.section("engine", config.engine, visit_engine);
  v.section("control", config.control, visit_control);
  v.section("metrics", config.metrics, visit_metrics);
  v.section("log", config.log, visit_log);
  config.services.visit(v);
}

std::string Config::control_socket_path() const {
  const std::filesystem::path socket(control.socket);
  if (socket.is_absolute()) return socket.lexically_normal().string();
  return (std::filesystem::path(state_dir) / socket).lexically_normal().string();
}

std::string Config::state_path(const std::string& path) const {
  const std::filesystem::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  return (std::filesystem::path(state_dir) / p).lexically_normal().string();
}

std::string ConfigError::to_string() const {
  std::string out = line ? fmt::format("{}:{}:{}: {}", file, line, column, message)
                         : fmt::format("{}: {}", file, message);
  for (const auto& m : more) out += "\n" + m;
  return out;
}

std::string default_config_toml(const ConfigSchema& schema) {
  std::string out(kDaemonDefaultsToml);
  for (const ConfigSchema::Entry& e : schema.entries()) {
    out += '\n';
    out += e.defaults;
  }
  return out;
}

Result<Config, ConfigError> load_config_string(std::string_view text, std::string_view name,
                                               const ConfigSchema& schema,
                                               UnknownSections unknown) {
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    return fail(ConfigError{std::string(name),
                            e.source().begin.line,
                            e.source().begin.column,
                            std::string(e.description()),
                            {}});
  }
  Config config(schema);
  ConfigReader reader(root);
  visit_config(reader, config);
  reader.finish(unknown == UnknownSections::skip);
  if (reader.problems().empty()) check_whole(root, config, reader);
  if (!reader.problems().empty()) return fail(make_error(name, reader.problems()));
  return config;
}

Result<Config, ConfigError> load_config_file(const std::string& path, const ConfigSchema& schema,
                                             UnknownSections unknown) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(ConfigError{path, 0, 0, fmt::format("cannot open: {}", std::strerror(errno)), {}});
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail(ConfigError{path, 0, 0, "read error", {}});
  return load_config_string(text.str(), path, schema, unknown);
}

std::string to_toml(const Config& config) {
  Config copy = config;  // the visitor takes mutable references; the writer changes nothing
  ConfigWriter writer;
  visit_config(writer, copy);
  return writer.result();
}

}  // namespace cp::ctl
