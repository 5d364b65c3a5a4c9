// cellctl's renderings of control results and its command-word parsing (see render.h).
#include "ctl/render.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <array>

#include "ctl/control_protocol.h"

namespace cp::ctl {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

struct Column {
  std::string_view header;
  std::string_view key;
};

// The per-core table of `stats`, in the order people read it.
constexpr std::array<Column, 8> kStatsColumns{{
    {"CORE", "core"},
    {"BACKEND", "backend"},
    {"CONNS", "connections_open"},
    {"ACCEPTED", "connections_accepted"},
    {"BYTES IN", "bytes_received"},
    {"BYTES OUT", "bytes_sent"},
    {"RING DEPTH", "cross_core_backlog"},
    {"LOOP ITERATIONS", "loop_iterations"},
}};

// Commands whose first word takes positional values, and the argument those become.
struct Positional {
  std::string_view command;
  std::string_view arg;
  bool joins_words;  // several words joined with '.', else exactly one
};
constexpr std::array<Positional, 2> kPositionals{{
    {"log-level", "level", false},
    {"help", "prefix", true},
}};

bool is_scalar_array(element e);

bool is_number(element e) {
  const auto t = e.type();
  return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

// One line of text for a value: strings unquoted, containers as compact JSON, null as "-".
std::string value_text(element e) {
  switch (e.type()) {
    case element_type::STRING: {
      std::string text(e.get_string().value_unsafe());
      std::replace(text.begin(), text.end(), '\n', ' ');
      return text;
    }
    case element_type::INT64:
      return fmt::format("{}", e.get_int64().value_unsafe());
    case element_type::UINT64:
      return fmt::format("{}", e.get_uint64().value_unsafe());
    case element_type::DOUBLE:
      return fmt::format("{}", e.get_double().value_unsafe());
    case element_type::BOOL:
      return e.get_bool().value_unsafe() ? "true" : "false";
    case element_type::NULL_VALUE:
      return "-";
    case element_type::ARRAY:
      if (is_scalar_array(e)) {
        std::string out;
        const simdjson::dom::array items = e.get_array().value_unsafe();
        for (element item : items) {
          if (!out.empty()) out += ", ";
          out += value_text(item);
        }
        return out;
      }
      return simdjson::to_string(e);
    case element_type::OBJECT:
      return simdjson::to_string(e);
  }
  return "?";
}

// Display width: UTF-8 code points (continuation bytes do not count).
size_t text_width(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

void pad(std::string& out, size_t n) {
  out.append(n, ' ');
}

std::string upper_header(std::string_view key) {
  std::string h(key);
  for (char& c : h) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return h;
}

bool is_nested(element e) {
  return e.type() == element_type::ARRAY || e.type() == element_type::OBJECT;
}

bool is_scalar_array(element e) {
  simdjson::dom::array array;
  if (e.get_array().get(array) != simdjson::SUCCESS) return false;
  return std::none_of(array.begin(), array.end(), [](element item) { return is_nested(item); });
}

std::string render_generic(element e);

// Every line of `text` indented by two spaces.
std::string indent(std::string_view text) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    const size_t stop = end == std::string_view::npos ? text.size() : end + 1;
    out += "  ";
    out.append(text.substr(start, stop - start));
    start = stop;
  }
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
  return out;
}

// key: value lines, values aligned; `annotate` may add a note after a value. Nested values
// follow the scalars, each as a section of its own: "key:" and its table or key: value lines
// indented below (an empty array is "key: (none)", an array of scalars one line, comma-separated).
template <typename Annotate>
std::string render_key_values(simdjson::dom::object object, Annotate annotate) {
  auto inline_value = [](element value) {
    if (!is_nested(value)) return true;
    simdjson::dom::array array;
    return value.get_array().get(array) == simdjson::SUCCESS &&
           (array.size() == 0 || is_scalar_array(value));
  };
  size_t width = 0;
  for (auto [key, value] : object)
    if (inline_value(value)) width = std::max(width, text_width(key) + 1);
  std::string out;
  for (auto [key, value] : object) {
    if (!inline_value(value)) continue;
    out.append(key);
    out.push_back(':');
    pad(out, width - text_width(key));
    simdjson::dom::array items;
    if (value.get_array().get(items) == simdjson::SUCCESS && items.size() == 0) {
      out += "(none)";
    } else {
      out += value_text(value);
    }
    out += annotate(key, value);
    out.push_back('\n');
  }
  for (auto [key, value] : object) {
    if (inline_value(value)) continue;
    if (!out.empty()) out.push_back('\n');
    out.append(key);
    out += ":\n";
    out += indent(render_generic(value));
  }
  return out;
}

std::string no_note(std::string_view, element) {
  return "";
}

std::string render_generic_table(simdjson::dom::array rows) {
  std::vector<std::string> keys;
  for (element row : rows) {
    const simdjson::dom::object object = row.get_object().value_unsafe();
    for (auto [key, value] : object) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.emplace_back(key);
    }
  }
  std::vector<std::string> headers;
  std::vector<bool> numeric(keys.size(), true);
  std::vector<std::vector<std::string>> cells;
  for (const auto& k : keys) headers.push_back(upper_header(k));
  for (element row : rows) {
    auto& line = cells.emplace_back();
    simdjson::dom::object object = row.get_object().value_unsafe();
    for (size_t i = 0; i < keys.size(); ++i) {
      element value;
      if (object.at_key(keys[i]).get(value) != simdjson::SUCCESS) {
        line.emplace_back("-");
        continue;
      }
      if (!is_number(value)) numeric[i] = false;
      line.push_back(value_text(value));
    }
  }
  return render_table(headers, cells, numeric);
}

bool is_array_of_objects(element e) {
  simdjson::dom::array array;
  if (e.get_array().get(array) != simdjson::SUCCESS || array.size() == 0) return false;
  return std::all_of(array.begin(), array.end(),
                     [](element row) { return row.type() == element_type::OBJECT; });
}

std::string render_generic(element e) {
  switch (e.type()) {
    case element_type::NULL_VALUE:
      return "";
    case element_type::OBJECT:
      return render_key_values(e.get_object().value_unsafe(), no_note);
    case element_type::ARRAY: {
      if (is_array_of_objects(e)) return render_generic_table(e.get_array().value_unsafe());
      std::string out;
      const simdjson::dom::array items = e.get_array().value_unsafe();
      for (element item : items) out += value_text(item) + "\n";
      return out.empty() ? "(none)\n" : out;
    }
    default:
      return value_text(e) + "\n";
  }
}

std::string render_stats(simdjson::dom::array cores) {
  std::vector<std::string> headers;
  for (const auto& c : kStatsColumns) headers.emplace_back(c.header);
  std::vector<bool> right(kStatsColumns.size(), false);
  std::array<uint64_t, kStatsColumns.size()> totals{};
  std::vector<std::vector<std::string>> rows;
  for (element core : cores) {
    auto& row = rows.emplace_back();
    simdjson::dom::object object = core.get_object().value_unsafe();
    for (size_t i = 0; i < kStatsColumns.size(); ++i) {
      element value;
      if (object.at_key(kStatsColumns[i].key).get(value) != simdjson::SUCCESS) {
        row.emplace_back("-");
        continue;
      }
      uint64_t n = 0;
      if (value.get_uint64().get(n) == simdjson::SUCCESS) {
        totals[i] += n;
        right[i] = true;
      }
      row.push_back(value_text(value));
    }
  }
  if (rows.size() > 1) {
    auto& total = rows.emplace_back();
    total.emplace_back("total");
    total.emplace_back("");
    for (size_t i = 2; i < kStatsColumns.size(); ++i) {
      total.push_back(right[i] ? fmt::format("{}", totals[i]) : "");
    }
  }
  right[0] = false;  // "total" is a label
  return render_table(headers, rows, right);
}

std::string status_note(std::string_view key, element value) {
  uint64_t seconds = 0;
  if (key != "uptime_s" || value.get_uint64().get(seconds) != simdjson::SUCCESS) return "";
  return " (" + format_duration_s(seconds) + ")";
}

// The renderer for a known command, or "" with `handled` false when the shape is unexpected.
std::string render_known(std::string_view cmd, element result, bool& handled) {
  handled = true;
  std::string_view text;
  if (cmd == "status" && result.type() == element_type::OBJECT) {
    return render_key_values(result.get_object().value_unsafe(), status_note);
  }
  if (cmd == "stats" && is_array_of_objects(result)) {
    return render_stats(result.get_array().value_unsafe());
  }
  if (cmd == "config.show" && result["toml"].get_string().get(text) == simdjson::SUCCESS) {
    std::string out(text);
    if (!out.empty() && out.back() != '\n') out.push_back('\n');
    return out;
  }
  if (cmd == "log-level" && result["level"].get_string().get(text) == simdjson::SUCCESS) {
    return fmt::format("log level: {}\n", text);
  }
  if (cmd == "shutdown") return "cellplaned is shutting down\n";
  handled = false;
  return "";
}

bool valid_arg_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

}  // namespace

std::string render_table(std::span<const std::string> headers,
                         std::span<const std::vector<std::string>> rows,
                         const std::vector<bool>& right_aligned) {
  std::vector<size_t> widths(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) widths[i] = text_width(headers[i]);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], text_width(row[i]));
    }
  }
  std::string out;
  const auto emit = [&](std::span<const std::string> cells) {
    std::string line;
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string_view cell = i < cells.size() ? std::string_view(cells[i]) : "";
      const size_t fill = widths[i] - text_width(cell);
      if (i > 0) line += "  ";
      const bool right = i < right_aligned.size() && right_aligned[i];
      if (right) pad(line, fill);
      line += cell;
      if (!right) pad(line, fill);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out.push_back('\n');
  };
  emit(headers);
  for (const auto& row : rows) emit(row);
  return out;
}

std::string format_duration_s(uint64_t seconds) {
  const uint64_t days = seconds / 86400;
  const uint64_t hours = seconds / 3600 % 24;
  const uint64_t minutes = seconds / 60 % 60;
  const uint64_t secs = seconds % 60;
  std::string out;
  if (days) out += fmt::format("{}d ", days);
  if (days || hours) out += fmt::format("{}h ", hours);
  if (days || hours || minutes) out += fmt::format("{}m ", minutes);
  out += fmt::format("{}s", secs);
  return out;
}

Result<std::string, std::string> render_result(std::string_view cmd, std::string_view result_json) {
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(result_json);
  element result;
  if (auto err = parser.parse(padded).get(result); err != simdjson::SUCCESS) {
    return fail(std::string("the result is not valid JSON: ") + simdjson::error_message(err));
  }
  bool handled = false;
  std::string text = render_known(cmd, result, handled);
  if (handled) return text;
  return render_generic(result);
}

Result<CommandLine, std::string> parse_command_words(std::span<const std::string> words) {
  CommandLine line;
  std::vector<std::string_view> command;
  std::vector<std::string_view> positional;
  const Positional* takes = nullptr;
  for (const std::string& word : words) {
    const size_t eq = word.find('=');
    if (eq != std::string::npos) {
      const std::string key = word.substr(0, eq);
      if (!valid_arg_key(key)) return fail(fmt::format("bad argument name in '{}'", word));
      const bool repeated = std::any_of(line.args.begin(), line.args.end(),
                                        [&](const auto& a) { return a.first == key; });
      if (repeated) return fail(fmt::format("argument '{}' given twice", key));
      line.args.emplace_back(key, word.substr(eq + 1));
      continue;
    }
    if (!line.args.empty()) {
      return fail(fmt::format("'{}' after key=value arguments (command words come first)", word));
    }
    if (takes) {
      positional.push_back(word);
    } else {
      command.push_back(word);
      for (const auto& p : kPositionals) {
        if (command.size() == 1 && word == p.command) takes = &p;
      }
    }
  }
  if (command.empty()) return fail(std::string("no command given (try: cellctl help)"));
  for (const auto w : command) line.cmd += (line.cmd.empty() ? "" : ".") + std::string(w);
  if (!valid_command_name(line.cmd)) {
    return fail(
        fmt::format("'{}' is not a command name (letters, digits, '_', '-', '.')", line.cmd));
  }
  if (takes && !positional.empty()) {
    if (!takes->joins_words && positional.size() > 1) {
      return fail(fmt::format("{} takes one value", takes->command));
    }
    std::string value;
    for (const auto w : positional) value += (value.empty() ? "" : ".") + std::string(w);
    line.args.emplace_back(takes->arg, value);
  }
  return line;
}

}  // namespace cp::ctl
