// Which peers may connect: a list of networks in CIDR form, IPv4 and IPv6
// ("127.0.0.0/8, 10.1.0.0/16, ::1/128"; a bare address is a /32 or /128). IPv4 peers reaching an
// IPv6 listener as ::ffff:a.b.c.d are matched against the IPv4 networks. An empty list allows
// everyone; Unix-socket peers are always allowed (file permissions guard those).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/socket_address.h"

namespace cp {

class AddressFilter {
 public:
  // Parses a comma- or space-separated list; the error names the entry that is wrong.
  static Result<AddressFilter, std::string> parse(std::string_view text);

  bool empty() const { return networks_.empty(); }
  bool allows(const SocketAddress& peer) const;
  // The networks as parsed, normalised ("10.0.0.0/8, ::1/128").
  std::string to_string() const;

 private:
  struct Network {
    bool v6 = false;
    std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4
    uint8_t prefix = 0;
  };
  std::vector<Network> networks_;
};

}  // namespace cp
