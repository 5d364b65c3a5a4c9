// Log levels and the wire-trace escaping (the modem seed's `SER_W ->AT+CMGF=1\r\n<-` form).
#include <gtest/gtest.h>

#include "base/byte_reader.h"
#include "base/log.h"

namespace cp {
namespace {

std::string escaped(std::string_view in) {
  fmt::memory_buffer out;
  escape_bytes(as_bytes(in), out);
  return std::string(out.data(), out.size());
}

TEST(Log, EscapesLikeTheModemTrace) {
  EXPECT_EQ(escaped("AT+CMGF=1\r\n"), "AT+CMGF=1\\r\\n");
  EXPECT_EQ(escaped("Hello World!\x1A\r\n"), "Hello World!\\x1A\\r\\n");
  EXPECT_EQ(escaped(std::string_view("\0\t\\\xff", 4)), "\\x00\\t\\\\\\xFF");
}

TEST(Log, LevelsParseAndFilter) {
  EXPECT_EQ(parse_log_level("debug"), LogLevel::debug);
  EXPECT_FALSE(parse_log_level("loud"));
  const LogLevel saved = log_level();
  set_log_level(LogLevel::warn);
  EXPECT_FALSE(log_enabled(LogLevel::info));
  EXPECT_TRUE(log_enabled(LogLevel::error));
  set_log_level(saved);
}

}  // namespace
}  // namespace cp
