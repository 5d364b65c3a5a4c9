// North American Numbering Plan rules (ThemWi-SMSC design section 1.1; themwi-nanp's role):
// validation of 10-digit NPA-NXX-XXXX numbers and the dialing forms the SMSC accepts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cp::smsc {

// Why a 10-digit string is not a valid NANP number (ok when it is).
enum class NanpCheck : uint8_t {
  ok,
  not_ten_digits,
  npa_leading_digit,  // NPA starts with 0 or 1
  npa_reserved,       // NPA with 9 in the middle (reserved for expansion)
  npa_n11,            // N11 codes (211, 311, ... 911) are service codes, not area codes
  nxx_leading_digit,  // NXX starts with 0 or 1
  nxx_n11,            // NXX of the form N11
};
std::string_view to_string(NanpCheck check);

// Checks a 10-digit NPA-NXX-XXXX string.
NanpCheck check_nanp(std::string_view ten_digits);

// The 10 NANP digits of a number written as "NPANXXXXXX", "1NPANXXXXXX" or "+1NPANXXXXXX";
// nullopt for any other shape (the digits are not validated here: see check_nanp).
std::optional<std::string> nanp_ten_digits(std::string_view written);

// A USA SMS short code: 5 or 6 digits, the first 2-9 (NXXXX, NXXXXX).
bool is_us_short_code(std::string_view digits);

// Non-empty and only 0-9.
bool all_digits(std::string_view s);

// Packs up to 19 decimal digits into an integer key (leading zeros kept apart by the length).
uint64_t digits_key(std::string_view digits);

}  // namespace cp::smsc
