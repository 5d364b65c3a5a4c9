// Operator-readable logging: one line per event, UTC timestamp, level, the thread's tag
// (reactor core, hw thread, ctl), then the message. A line is formatted on the calling thread
// and written whole, so threads never interleave within a line. In the daemon a log writer
// thread does the writing (start_log_writer): a reactor hands its line over a lock-free queue
// and never blocks on write(2) to a slow stderr or journal. Tools and tests write directly.
// The wire-trace mode prints payloads escaped the way the modem bridge seed shows:
//   SER_W ->AT+CMGF=1\r\n<-
#pragma once

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace cp {

enum class LogLevel : int { trace = 0, debug, info, notice, warn, error };

// Indexed by LogLevel; the one spelling of each level (config checks use it too).
inline constexpr std::array<std::string_view, 6> kLogLevelNames{"trace",  "debug", "info",
                                                                "notice", "warn",  "error"};
std::string_view to_string(LogLevel level);
std::optional<LogLevel> parse_log_level(std::string_view name);

namespace log_detail {
extern std::atomic<int> g_level;
extern std::atomic<bool> g_wire_trace;
void emit(LogLevel level, fmt::string_view format, fmt::format_args args);
}  // namespace log_detail

inline bool log_enabled(LogLevel level) {
  return static_cast<int>(level) >= log_detail::g_level.load(std::memory_order_relaxed);
}
void set_log_level(LogLevel level);
LogLevel log_level();
void set_wire_trace(bool on);
bool wire_trace_enabled();

// Starts the log writer thread. From then on each line goes to the writer over a bounded
// lock-free queue (moodycamel's ConcurrentQueue: many producing threads, one writer) of
// `capacity` lines; a line that finds it full — the writer is that far behind — is dropped and
// counted, and the writer logs how many once it catches up. A line is cut at kLogLineMax bytes.
// stop_log_writer() writes what is queued and joins the thread (call it before exiting).
inline constexpr size_t kLogLineMax = 2048;
void start_log_writer(size_t capacity = 4096);
void stop_log_writer();
uint64_t log_lines_dropped();

// Names the calling thread in log lines ("core0", "hw:reader1", "ctl").
void set_thread_log_tag(std::string_view tag);

// Appends `bytes` to `out` with control and non-ASCII bytes escaped: \r \n \t \\ and \xNN.
void escape_bytes(std::span<const std::byte> bytes, fmt::memory_buffer& out);

// Logs one wire-trace line, `<tag> -><escaped payload><-`, when wire tracing is on.
void log_wire(std::string_view tag, std::span<const std::byte> bytes);

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (!log_enabled(level)) return;
  log_detail::emit(level, format, fmt::make_format_args(args...));
}

#define CP_LOG_TRACE(...) ::cp::log(::cp::LogLevel::trace, __VA_ARGS__)
#define CP_LOG_DEBUG(...) ::cp::log(::cp::LogLevel::debug, __VA_ARGS__)
#define CP_LOG_INFO(...) ::cp::log(::cp::LogLevel::info, __VA_ARGS__)
#define CP_LOG_NOTICE(...) ::cp::log(::cp::LogLevel::notice, __VA_ARGS__)
#define CP_LOG_WARN(...) ::cp::log(::cp::LogLevel::warn, __VA_ARGS__)
#define CP_LOG_ERROR(...) ::cp::log(::cp::LogLevel::error, __VA_ARGS__)

}  // namespace cp
