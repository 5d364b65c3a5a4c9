// What cellctl shows people, and how it reads its command words: pure functions over strings, so
// they are tested without a daemon. `--json` bypasses the renderers and prints the raw result.
//
// Known result shapes (registered by the daemon, see docs/CONTROL.md):
//   status       {"version", "uptime_s", "cores", "backend", "pid", ...}  -> key: value lines
//   stats        [{"core", "backend", "connections_open", ...}, ...]     -> per-core table
//   config.show  {"toml": "..."}                                          -> the TOML text
//   log-level    {"level": "..."}                                         -> "log level: ..."
//   shutdown     anything                                                 -> one line
// Anything else: an array of objects becomes an aligned table, an object key: value lines, an
// array of scalars one per line, a scalar itself, null nothing.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace cp::ctl {

// The text for the result of a successful `cmd`, ending in a newline unless empty. Fails only
// when `result_json` is not valid JSON.
Result<std::string, std::string> render_result(std::string_view cmd, std::string_view result_json);

// Columns padded to their widest cell, two spaces apart; `right_aligned[i]` for numbers.
// Headers are printed as given.
std::string render_table(std::span<const std::string> headers,
                         std::span<const std::vector<std::string>> rows,
                         const std::vector<bool>& right_aligned);

// "3725" -> "1h 2m 5s"; "90061" -> "1d 1h 1m 1s".
std::string format_duration_s(uint64_t seconds);

// cellctl's command line after the options: words before the first key=value form the command
// (joined with '.'), key=value pairs the arguments. Built-in commands that take a positional
// value: `log-level LEVEL` (level=LEVEL) and `help PREFIX...` (prefix=PREFIX joined with '.').
struct CommandLine {
  std::string cmd;
  std::vector<std::pair<std::string, std::string>> args;
};
Result<CommandLine, std::string> parse_command_words(std::span<const std::string> words);

}  // namespace cp::ctl
