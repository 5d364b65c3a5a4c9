#include "base/address_filter.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include <fmt/format.h>

namespace cp {

namespace {

// Whether the first `prefix` bits of a and b agree.
bool same_prefix(const uint8_t* a, const uint8_t* b, unsigned prefix) {
  const unsigned whole = prefix / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  const unsigned bits = prefix % 8;
  if (bits == 0) return true;
  const auto mask = static_cast<uint8_t>(0xFF << (8 - bits));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

Result<AddressFilter, std::string> AddressFilter::parse(std::string_view text) {
  AddressFilter out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t end = text.find_first_of(", \t", at);
    const std::string_view entry = text.substr(at, end == std::string_view::npos ? end : end - at);
    at = end == std::string_view::npos ? text.size() : end + 1;
    if (entry.empty()) continue;
    const size_t slash = entry.find('/');
    const std::string host(entry.substr(0, slash));
    Network n;
    if (inet_pton(AF_INET, host.c_str(), n.bytes.data()) == 1) {
      n.prefix = 32;
    } else if (inet_pton(AF_INET6, host.c_str(), n.bytes.data()) == 1) {
      n.v6 = true;
      n.prefix = 128;
    } else {
      return fail(fmt::format("'{}' is not an IPv4 or IPv6 address (network/prefix)", entry));
    }
    if (slash != std::string_view::npos) {
      const std::string_view bits = entry.substr(slash + 1);
      unsigned prefix = 0;
      if (bits.empty() || bits.size() > 3) return fail(fmt::format("'{}': bad prefix", entry));
      for (const char c : bits) {
        if (c < '0' || c > '9') return fail(fmt::format("'{}': bad prefix", entry));
        prefix = prefix * 10 + static_cast<unsigned>(c - '0');
      }
      if (prefix > n.prefix)
        return fail(fmt::format("'{}': the prefix is longer than the address", entry));
      n.prefix = static_cast<uint8_t>(prefix);
    }
    // Host bits past the prefix are ignored ("10.1.2.3/8" is 10.0.0.0/8).
    for (unsigned bit = n.prefix; bit < (n.v6 ? 128u : 32u); ++bit)
      n.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
    out.networks_.push_back(n);
  }
  return out;
}

bool AddressFilter::allows(const SocketAddress& peer) const {
  if (networks_.empty()) return true;
  const uint8_t* v4 = nullptr;
  const uint8_t* v6 = nullptr;
  if (peer.family() == AF_INET) {
    v4 = reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in*>(&peer.storage)->sin_addr);
  } else if (peer.family() == AF_INET6) {
    const auto* a = &reinterpret_cast<const sockaddr_in6*>(&peer.storage)->sin6_addr;
    v6 = a->s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) v4 = a->s6_addr + 12;
  } else {
    return true;  // a Unix socket
  }
  for (const Network& n : networks_) {
    if (!n.v6 && v4 && same_prefix(v4, n.bytes.data(), n.prefix)) return true;
    if (n.v6 && v6 && same_prefix(v6, n.bytes.data(), n.prefix)) return true;
  }
  return false;
}

std::string AddressFilter::to_string() const {
  std::string out;
  for (const Network& n : networks_) {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(n.v6 ? AF_INET6 : AF_INET, n.bytes.data(), buf, sizeof buf);
    out += fmt::format("{}{}/{}", out.empty() ? "" : ", ", buf, n.prefix);
  }
  return out;
}

}  // namespace cp
