// Internal to proto/sms: the UTF-8 primitives and the counting decoders behind text.h, shared
// by gsm7.cc and text.cc. decode_user_data needs the counts to word its warnings; the public
// functions only return text. Not for use outside proto/sms.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace cp::sms::detail {

inline constexpr char32_t kReplacement = 0xFFFD;

// The code point starting at s[pos], advancing `pos` past it. On a malformed sequence (RFC 3629
// table 3-7: overlong, surrogate, beyond U+10FFFF, truncated, stray continuation) returns
// nullopt and advances `pos` by one octet, so a caller that substitutes U+FFFD resynchronises.
std::optional<char32_t> next_code_point(std::string_view s, size_t& pos);

// Appends `cp` as UTF-8; a surrogate or a value beyond U+10FFFF is appended as U+FFFD.
void append_utf8(std::string& out, char32_t cp);

// Upper-case hex, two digits per octet, no separators.
void append_hex(std::string& out, std::span<const std::byte> bytes);

struct Gsm7Counts {
  size_t unknown_escapes = 0;  // 0x1B + undefined code, 0x1B 0x1B, dangling 0x1B
  size_t invalid_septets = 0;  // bytes above 0x7F
};
// gsm7_to_utf8, appending to `out` and counting what it had to substitute.
Gsm7Counts append_gsm7_as_utf8(std::span<const uint8_t> septets, std::string& out);

// unpack_septets into a caller buffer: returns the septets written, at most out.size().
size_t unpack_septets_into(std::span<const std::byte> packed, unsigned fill_bits,
                           std::span<uint8_t> out);

// ucs2_to_utf8, appending to `out`; returns how many lone surrogates became U+FFFD (the odd
// last octet, if any, is the caller's to report).
size_t append_ucs2_as_utf8(std::span<const std::byte> be, std::string& out);

}  // namespace cp::sms::detail
