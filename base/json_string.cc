#include "base/json_string.h"

#include <fmt/format.h>

#include <cstdint>
#include <iterator>

namespace cp {
namespace {

// Length (2..4) of the well-formed UTF-8 sequence starting at text[i] (a byte >= 0x80), or 0.
// Follows RFC 3629 section 4: no overlong forms, no surrogates, nothing above U+10FFFF.
size_t utf8_sequence_length(std::string_view text, size_t i) {
  const auto lead = static_cast<uint8_t>(text[i]);
  size_t length = 0;
  uint8_t low = 0x80;
  uint8_t high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (text.size() - i < length) return 0;
  const auto second = static_cast<uint8_t>(text[i + 1]);
  if (second < low || second > high) return 0;
  for (size_t k = 2; k < length; ++k) {
    const auto c = static_cast<uint8_t>(text[i + k]);
    if (c < 0x80 || c > 0xBF) return 0;
  }
  return length;
}

void append_escape(uint8_t c, std::string& out) {
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
    case '\f':
      out += "\\f";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
  }
}

}  // namespace

void append_json_string(std::string_view text, std::string& out) {
  out.push_back('"');
  size_t run_start = 0;
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<uint8_t>(text[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    out.append(text.substr(run_start, i - run_start));
    if (c < 0x80) {
      append_escape(c, out);
      ++i;
    } else if (const size_t n = utf8_sequence_length(text, i); n > 0) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      out += "\\ufffd";
      ++i;
    }
    run_start = i;
  }
  out.append(text.substr(run_start));
  out.push_back('"');
}

}  // namespace cp
