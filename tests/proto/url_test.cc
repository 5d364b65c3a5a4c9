// Percent-decoding of paths and query parameters (RFC 3986 §2.1, form encoding for queries).
#include "proto/http/url.h"

#include <gtest/gtest.h>

#include <string>

namespace cp::proto::http {
namespace {

std::string decode(std::string_view in, PercentMode mode = PercentMode::path) {
  char out[64];
  auto r = percent_decode(in, out, mode);
  return r ? std::string(*r) : "<" + std::string(to_string(r.error())) + ">";
}

std::string param(std::string_view query, std::string_view name) {
  char out[64];
  auto r = query_param(query, name, out);
  return r ? std::string(*r) : "<" + std::string(to_string(r.error())) + ">";
}

TEST(PercentDecode, Decodes) {
  EXPECT_EQ(decode(""), "");
  EXPECT_EQ(decode("/plain/path"), "/plain/path");
  EXPECT_EQ(decode("a%20b"), "a b");
  EXPECT_EQ(decode("%41%42%43"), "ABC");
  EXPECT_EQ(decode("%e2%82%AC"), "\xe2\x82\xac");
  EXPECT_EQ(decode("%2F"), "/");
  EXPECT_EQ(decode("a+b"), "a+b");
  EXPECT_EQ(decode("a+b", PercentMode::form), "a b");
  EXPECT_EQ(decode("100%25"), "100%");
}

TEST(PercentDecode, RefusesMalformedEscapes) {
  EXPECT_EQ(decode("%"), "<malformed percent-escape>");
  EXPECT_EQ(decode("a%4"), "<malformed percent-escape>");
  EXPECT_EQ(decode("%zz"), "<malformed percent-escape>");
  EXPECT_EQ(decode("%4g"), "<malformed percent-escape>");
  EXPECT_EQ(decode("%00"), "<encoded NUL>");
}

TEST(PercentDecode, BoundedByTheOutput) {
  char out[3];
  EXPECT_EQ(*percent_decode("%41bc", out), "Abc");
  EXPECT_EQ(percent_decode("abcd", out).error(), UrlError::no_room);
  EXPECT_EQ(percent_decode("", std::span<char>{}).value(), "");
}

TEST(QueryParam, FindsAndDecodes) {
  const std::string_view q = "bank=1&slot%4Er=2&name=a+b%21&flag&empty=&bank=9";
  EXPECT_EQ(param(q, "bank"), "1");
  EXPECT_EQ(param(q, "slotNr"), "2");
  EXPECT_EQ(param(q, "name"), "a b!");
  EXPECT_EQ(param(q, "flag"), "");
  EXPECT_EQ(param(q, "empty"), "");
  EXPECT_EQ(param(q, "missing"), "<parameter not found>");
  EXPECT_EQ(param(q, "ban"), "<parameter not found>");
  EXPECT_EQ(param("", "a"), "<parameter not found>");
  EXPECT_EQ(param("&&a=1&", "a"), "1");
  EXPECT_EQ(param("a=%zz", "a"), "<malformed percent-escape>");
  EXPECT_EQ(param("b%=1&a=2", "a"), "<malformed percent-escape>");
  EXPECT_EQ(param("a+b=1", "a b"), "1");
}

}  // namespace
}  // namespace cp::proto::http
