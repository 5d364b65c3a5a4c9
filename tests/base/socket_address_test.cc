#include <gtest/gtest.h>
#include <sys/socket.h>

#include "base/socket_address.h"

namespace cp {
namespace {

TEST(SocketAddress, ParsesAndPrints) {
  auto v4 = SocketAddress::parse("127.0.0.1:2775");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->port(), 2775);
  EXPECT_EQ(v4->to_string(), "127.0.0.1:2775");
  auto v6 = SocketAddress::parse("[::1]:9464");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->family(), AF_INET6);
  EXPECT_EQ(v6->to_string(), "[::1]:9464");
  auto un = SocketAddress::parse("unix:/run/x.sock");
  ASSERT_TRUE(un);
  EXPECT_EQ(un->to_string(), "unix:/run/x.sock");
  EXPECT_EQ(SocketAddress::parse("localhost:1")->to_string(), "127.0.0.1:1");
}

TEST(SocketAddress, RejectsGarbage) {
  for (const char* bad : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:70000", "host.example:80", "[::1]80",
                          "unix:", "1.2.3.4:12x"}) {
    EXPECT_FALSE(SocketAddress::parse(bad)) << bad;
  }
}

}  // namespace
}  // namespace cp
