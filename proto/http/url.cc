#include "proto/http/url.h"

namespace cp::proto::http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes the character at `pos` of `encoded` and moves `pos` past it.
Result<char, UrlError> decode_one(std::string_view encoded, size_t& pos, PercentMode mode) {
  const char c = encoded[pos];
  if (c == '+' && mode == PercentMode::form) {
    ++pos;
    return ' ';
  }
  if (c != '%') {
    ++pos;
    return c;
  }
  if (encoded.size() - pos < 3) return fail(UrlError::bad_escape);
  const int hi = hex_value(encoded[pos + 1]);
  const int lo = hex_value(encoded[pos + 2]);
  if (hi < 0 || lo < 0) return fail(UrlError::bad_escape);
  const int value = hi * 16 + lo;
  if (value == 0) return fail(UrlError::encoded_nul);
  pos += 3;
  return static_cast<char>(value);
}

// Whether `encoded`, once decoded, equals `plain`.
Result<bool, UrlError> decoded_equals(std::string_view encoded, std::string_view plain) {
  size_t pos = 0;
  size_t matched = 0;
  bool equal = true;
  while (pos < encoded.size()) {
    auto c = decode_one(encoded, pos, PercentMode::form);
    if (!c) return fail(c.error());
    if (matched >= plain.size() || plain[matched] != *c) equal = false;
    ++matched;
  }
  return equal && matched == plain.size();
}

}  // namespace

std::string_view to_string(UrlError error) {
  switch (error) {
    case UrlError::bad_escape:
      return "malformed percent-escape";
    case UrlError::encoded_nul:
      return "encoded NUL";
    case UrlError::no_room:
      return "decoded text too long";
    case UrlError::not_found:
      return "parameter not found";
  }
  return "unknown URL error";
}

Result<std::string_view, UrlError> percent_decode(std::string_view encoded, std::span<char> out,
                                                  PercentMode mode) {
  size_t pos = 0;
  size_t written = 0;
  while (pos < encoded.size()) {
    auto c = decode_one(encoded, pos, mode);
    if (!c) return fail(c.error());
    if (written == out.size()) return fail(UrlError::no_room);
    out[written++] = *c;
  }
  return std::string_view(out.data(), written);
}

Result<std::string_view, UrlError> query_param(std::string_view query, std::string_view name,
                                               std::span<char> out) {
  std::string_view rest = query;
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    auto match = decoded_equals(pair.substr(0, eq), name);
    if (!match) return fail(match.error());
    if (!*match) continue;
    if (eq == std::string_view::npos) return std::string_view(out.data(), 0);
    return percent_decode(pair.substr(eq + 1), out, PercentMode::form);
  }
  return fail(UrlError::not_found);
}

}  // namespace cp::proto::http
