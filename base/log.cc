#include "base/log.h"

#include <unistd.h>

#include <array>
#include <cstring>
#include <ctime>

#include "base/clock.h"

namespace cp {

namespace log_detail {
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::atomic<bool> g_wire_trace{false};
}  // namespace log_detail

namespace {
thread_local std::array<char, 24> t_tag{"main"};
constexpr std::array<std::string_view, 6> kLevelNames{"trace",  "debug", "info",
                                                      "notice", "warn",  "error"};
}  // namespace

std::string_view to_string(LogLevel level) {
  return kLevelNames[static_cast<int>(level)];
}

std::optional<LogLevel> parse_log_level(std::string_view name) {
  for (size_t i = 0; i < kLevelNames.size(); ++i) {
    if (kLevelNames[i] == name) return static_cast<LogLevel>(i);
  }
  return std::nullopt;
}

void set_log_level(LogLevel level) {
  log_detail::g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}
LogLevel log_level() {
  return static_cast<LogLevel>(log_detail::g_level.load());
}
void set_wire_trace(bool on) {
  log_detail::g_wire_trace.store(on, std::memory_order_relaxed);
}
bool wire_trace_enabled() {
  return log_detail::g_wire_trace.load(std::memory_order_relaxed);
}

void set_thread_log_tag(std::string_view tag) {
  const size_t n = std::min(tag.size(), t_tag.size() - 1);
  std::memcpy(t_tag.data(), tag.data(), n);
  t_tag[n] = '\0';
}

void escape_bytes(std::span<const std::byte> bytes, fmt::memory_buffer& out) {
  for (std::byte b : bytes) {
    const auto c = std::to_integer<unsigned char>(b);
    switch (c) {
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      case '\\':
        out.append(std::string_view("\\\\"));
        break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out.push_back(static_cast<char>(c));
        } else {
          fmt::format_to(std::back_inserter(out), "\\x{:02X}", c);
        }
    }
  }
}

void log_wire(std::string_view tag, std::span<const std::byte> bytes) {
  if (!wire_trace_enabled()) return;
  fmt::memory_buffer escaped;
  escape_bytes(bytes, escaped);
  log(LogLevel::info, "{} ->{}<-", tag, std::string_view(escaped.data(), escaped.size()));
}

namespace log_detail {
void emit(LogLevel level, fmt::string_view format, fmt::format_args args) {
  const Nanos now = read_clock(CLOCK_REALTIME);
  const time_t secs = static_cast<time_t>(now / kNanosPerSecond);
  tm utc{};
  gmtime_r(&secs, &utc);
  fmt::memory_buffer line;
  fmt::format_to(std::back_inserter(line), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z {:<6} [{}] ",
                 utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                 utc.tm_sec, (now % kNanosPerSecond) / 1000, to_string(level), t_tag.data());
  fmt::vformat_to(std::back_inserter(line), format, args);
  line.push_back('\n');
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
}
}  // namespace log_detail

}  // namespace cp
