// append_reactor_metrics(): every ReactorStats field of every reactor, grouped by family, in
// valid text format 0.0.4, plus the backend info gauge. Reactors are built but not run.
#include "engine/http/metrics.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "base/clock.h"

namespace cp::engine::http {
namespace {

std::unique_ptr<Reactor> make_reactor(unsigned core) {
  auto backend = make_backend(IoBackendKind::epoll, {});
  if (!backend) return nullptr;
  ReactorConfig config;
  config.core = core;
  config.max_connections = 4;
  return std::make_unique<Reactor>(config, std::move(*backend), SystemClock::instance());
}

bool name_char(char c, bool first, bool colon_ok) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return alpha || (colon_ok && c == ':') || (!first && c >= '0' && c <= '9');
}

// name{label="value",...} 123 -- a sample line as the text format grammar has it (values here
// need no escapes and are unsigned integers).
bool valid_sample_line(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && name_char(line[i], i == 0, true)) ++i;
  if (i == 0) return false;
  if (i < line.size() && line[i] == '{') {
    do {
      ++i;
      const size_t start = i;
      while (i < line.size() && name_char(line[i], i == start, false)) ++i;
      if (i == start || line.substr(i, 2) != "=\"") return false;
      i += 2;
      while (i < line.size() && line[i] != '"' && line[i] != '\\') ++i;
      if (i == line.size() || line[i] != '"') return false;
      ++i;
    } while (i < line.size() && line[i] == ',');
    if (i == line.size() || line[i] != '}') return false;
    ++i;
  }
  if (i == line.size() || line[i] != ' ' || i + 1 == line.size()) return false;
  for (++i; i < line.size(); ++i) {
    if (line[i] < '0' || line[i] > '9') return false;
  }
  return true;
}

TEST(ReactorMetrics, EveryFieldOfEveryCore) {
  auto r0 = make_reactor(0);
  auto r1 = make_reactor(7);
  ASSERT_TRUE(r0 && r1);
  char buffer[16384];
  proto::http::SpanWriter out(buffer);
  PrometheusWriter writer(out);
  const Reactor* reactors[] = {r0.get(), r1.get()};
  append_reactor_metrics(writer, reactors);
  ASSERT_FALSE(writer.overflowed());
  ASSERT_FALSE(writer.refused_names());
  const std::string text(out.view());

  const char* fields[] = {"loop_iterations",
                          "connections_open",
                          "connections_accepted",
                          "connections_closed",
                          "connections_refused_limit",
                          "accept_errors",
                          "idle_timeouts",
                          "rx_overflows",
                          "bytes_received",
                          "bytes_sent",
                          "recv_pauses",
                          "recv_parked",
                          "send_refusals",
                          "close_discard_aborts",
                          "cross_core_sent",
                          "cross_core_received",
                          "cross_core_full",
                          "io_waits"};
  for (const char* field : fields) {
    const std::string name = std::string("cellplane_") + field;
    const std::string type = name == "cellplane_connections_open" ? "gauge" : "counter";
    const std::string family = "# TYPE " + name + " " + type + "\n" + name + "{core=\"0\"} ";
    const size_t at = text.find(family);
    ASSERT_NE(at, std::string::npos) << name;
    // Core 7 follows core 0 directly: a family's samples are together.
    const size_t line_end = text.find('\n', at + family.size());
    EXPECT_EQ(text.compare(line_end + 1, name.size() + 11, name + "{core=\"7\"} "), 0) << name;
  }
  EXPECT_NE(text.find("cellplane_backend_info{core=\"0\",backend=\"epoll\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("cellplane_backend_info{core=\"7\",backend=\"epoll\"} 1\n"),
            std::string::npos);

  // Every line is a HELP, a TYPE, or a sample the Prometheus text parser accepts.
  std::istringstream lines(text);
  std::string line;
  size_t samples = 0;
  while (std::getline(lines, line)) {
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    EXPECT_TRUE(valid_sample_line(line)) << line;
    ++samples;
  }
  EXPECT_EQ(samples, 2u * (std::size(fields) + 2));  // + cross_core_backlog, backend_info
}

}  // namespace
}  // namespace cp::engine::http
