// An IPv4/IPv6 TCP endpoint or a Unix socket path, parsed from "127.0.0.1:2775",
// "[::1]:2775" or "unix:/run/cellplane/ctl.sock".
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace cp {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  uint16_t port() const;
  std::string to_string() const;

  static Result<SocketAddress, std::string> parse(std::string_view text);
  static SocketAddress from_sockaddr(const sockaddr* sa, socklen_t len);
  static SocketAddress ipv4(uint32_t host_order_ip, uint16_t port);
};

}  // namespace cp
