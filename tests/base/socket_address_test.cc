#include <gtest/gtest.h>
#include <sys/socket.h>

#include "base/socket_address.h"

#include "base/address_filter.h"

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

TEST(AddressFilter, MatchesNetworksOfBothFamilies) {
  auto f = AddressFilter::parse("10.1.2.3/8, 192.168.7.0/24 ::1 fd00::/8");
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->to_string(), "10.0.0.0/8, 192.168.7.0/24, ::1/128, fd00::/8");
  const auto allows = [&](const char* a) { return f->allows(*SocketAddress::parse(a)); };
  EXPECT_TRUE(allows("10.200.1.1:5"));
  EXPECT_TRUE(allows("192.168.7.255:5"));
  EXPECT_FALSE(allows("192.168.8.1:5"));
  EXPECT_FALSE(allows("127.0.0.1:5"));
  EXPECT_TRUE(allows("[::1]:5"));
  EXPECT_FALSE(allows("[::2]:5"));
  EXPECT_TRUE(allows("[fd12::1]:5"));
  EXPECT_TRUE(allows("[::ffff:10.9.9.9]:5"));  // an IPv4 peer on an IPv6 listener
  EXPECT_FALSE(allows("[::ffff:11.9.9.9]:5"));
  EXPECT_TRUE(allows("unix:/run/x.sock"));
  auto odd = AddressFilter::parse("0.0.0.0/0");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->allows(*SocketAddress::parse("8.8.8.8:53")));
  EXPECT_FALSE(odd->allows(*SocketAddress::parse("[2001:db8::1]:53")));
  auto none = AddressFilter::parse(" ");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(none->allows(*SocketAddress::parse("8.8.8.8:53")));
}

TEST(AddressFilter, RefusesWhatIsNotANetwork) {
  for (const char* bad : {"10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0",
                          "localhost", "10.0.0.0/8,fe80::/1000"}) {
    auto f = AddressFilter::parse(bad);
    EXPECT_FALSE(f) << bad;
  }
  EXPECT_NE(AddressFilter::parse("1.2.3.4, nope/8").error().find("'nope/8'"), std::string::npos);
}

}  // namespace
}  // namespace cp
