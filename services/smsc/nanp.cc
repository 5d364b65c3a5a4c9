#include "services/smsc/nanp.h"

#include <algorithm>

namespace cp::smsc {
bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view to_string(NanpCheck check) {
  switch (check) {
    case NanpCheck::ok:
      return "valid";
    case NanpCheck::not_ten_digits:
      return "not 10 digits";
    case NanpCheck::npa_leading_digit:
      return "area code (NPA) cannot start with 0 or 1";
    case NanpCheck::npa_reserved:
      return "area code (NPA) with 9 in the middle is reserved";
    case NanpCheck::npa_n11:
      return "N11 is a service code, not an area code";
    case NanpCheck::nxx_leading_digit:
      return "exchange (NXX) cannot start with 0 or 1";
    case NanpCheck::nxx_n11:
      return "exchange (NXX) of the form N11 is a service code";
  }
  return "?";
}

NanpCheck check_nanp(std::string_view d) {
  if (d.size() != 10 || !all_digits(d)) return NanpCheck::not_ten_digits;
  if (d[0] < '2') return NanpCheck::npa_leading_digit;
  if (d[1] == '1' && d[2] == '1') return NanpCheck::npa_n11;
  if (d[1] == '9') return NanpCheck::npa_reserved;
  if (d[3] < '2') return NanpCheck::nxx_leading_digit;
  if (d[4] == '1' && d[5] == '1') return NanpCheck::nxx_n11;
  return NanpCheck::ok;
}

std::optional<std::string> nanp_ten_digits(std::string_view w) {
  if (!w.empty() && w.front() == '+') {
    w.remove_prefix(1);
    if (w.size() != 11 || w.front() != '1') return std::nullopt;
  }
  if (!all_digits(w)) return std::nullopt;
  if (w.size() == 11 && w.front() == '1') return std::string(w.substr(1));
  if (w.size() == 10) return std::string(w);
  return std::nullopt;
}

bool is_us_short_code(std::string_view d) {
  return (d.size() == 5 || d.size() == 6) && all_digits(d) && d[0] >= '2';
}

uint64_t digits_key(std::string_view digits) {
  uint64_t v = 0;
  for (char c : digits) v = v * 10 + static_cast<uint64_t>(c - '0');
  return v * 32 + digits.size();  // the length keeps "0123" apart from "123"
}

}  // namespace cp::smsc
