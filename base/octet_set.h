// A set of octets written as a list of values and inclusive ranges ("0x00-0x1f,0x40", decimal
// or 0x-hex): the SMSC's PID / DCS filters in the configuration.
#pragma once

#include <bitset>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace cp {

inline Result<std::bitset<256>, std::string> parse_octet_set(std::string_view text) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  auto octet = [&](std::string_view s) -> std::optional<unsigned> {
    s = trim(s);
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      s.remove_prefix(2);
      base = 16;
    }
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v > 255) return std::nullopt;
    return v;
  };
  std::bitset<256> out;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const size_t dash = item.find('-');
    const auto lo = octet(item.substr(0, dash));
    const auto hi = dash == std::string_view::npos ? lo : octet(item.substr(dash + 1));
    if (item.empty() || !lo || !hi || *hi < *lo)
      return fail("'" + std::string(item) + "' is not an octet (0..255, 0x00..0xff) or a range");
    for (unsigned v = *lo; v <= *hi; ++v) out.set(v);
  }
  return out;
}

}  // namespace cp
