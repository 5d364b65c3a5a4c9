// Percent-decoding (RFC 3986 §2.1) of request paths and query parameters, for REST handlers
// that take ids and filters from the URL. The request parser leaves path and query encoded;
// handlers decode the pieces they use into a buffer of their own (decoded text is never longer
// than the encoded text, so a buffer of the input's size always suffices).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "base/result.h"

namespace cp::proto::http {

enum class UrlError : uint8_t {
  bad_escape,   // '%' not followed by two hex digits
  encoded_nul,  // "%00": refused, decoded text is used as C strings and keys
  no_room,      // the output buffer is too small
  not_found,    // query_param: no parameter of that name
};
std::string_view to_string(UrlError error);

enum class PercentMode : uint8_t {
  path,  // '+' is a literal plus
  form,  // application/x-www-form-urlencoded query: '+' is a space
};

// Decodes `encoded` into `out`; returns the decoded text (a view into `out`).
Result<std::string_view, UrlError> percent_decode(std::string_view encoded, std::span<char> out,
                                                  PercentMode mode = PercentMode::path);

// Looks up parameter `name` in a query string ("a=1&b=x%20y", form-encoded) and decodes its
// value into `out`. Names are compared after decoding. A parameter without '=' has an empty
// value. The first occurrence wins.
Result<std::string_view, UrlError> query_param(std::string_view query, std::string_view name,
                                               std::span<char> out);

}  // namespace cp::proto::http
