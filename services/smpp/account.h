// SMPP peer accounts (docs/SMPP.md): who may bind to the SMPP server, how, from where and with
// which limits. One file, one account per line, compiled whole or not at all (every bad line is
// reported as file:line); `cellctl smpp reload` swaps a new set in for the binds that follow.
//
//   PEER  system_id=ID password=PW [binds=trx,tx,rx] [window=N] [tps=N] [max_binds=N]
//         [allow=CIDR[,CIDR...]] [dc0=gsm7|ia5|latin1] [concat=udh|sar] [any_source]
//         [trusted]
//
// PEER is the peer's name in the SMSC's peers file: messages routed to that peer's numbers are
// delivered to its receiver-capable binds, and it may send only from those numbers (unless
// any_source).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/constant_time.h"
#include "base/result.h"
#include "base/socket_address.h"
#include "proto/smpp/coding.h"

namespace cp::smpp {

// Bind types an account may use.
inline constexpr uint8_t kBindTx = 0x01;
inline constexpr uint8_t kBindRx = 0x02;
inline constexpr uint8_t kBindTrx = 0x04;

// An address block a peer may bind from: IPv4 or IPv6 with a prefix length.
struct Cidr {
  int family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};
  uint8_t prefix = 0;
  static Result<Cidr, std::string> parse(std::string_view text);
  bool contains(const SocketAddress& address) const;
};

struct Account {
  std::string peer;
  std::string system_id;
  std::string password;
  uint8_t binds = kBindTx | kBindRx | kBindTrx;
  uint32_t window = 64;     // requests outstanding each way per bind
  uint32_t tps = 0;         // submits per second per bind (0: no limit)
  uint32_t max_binds = 8;   // binds open at once
  std::vector<Cidr> allow;  // empty: from anywhere
  proto::smpp::DefaultAlphabet dc0 = proto::smpp::DefaultAlphabet::gsm7;
  bool any_source = false;  // may send from any number (not only its own)
  bool trusted = false;     // its PID/DCS octets are not filtered (design 2.4.3)
  bool concat_sar = false;  // long messages reach it with sar_* TLVs instead of a UDH

  bool allowed_from(const SocketAddress& address) const;
};

class Accounts {
 public:
  static Result<std::shared_ptr<const Accounts>, std::string> parse(std::string_view text,
                                                                    std::string_view name);
  static Result<std::shared_ptr<const Accounts>, std::string> load(const std::string& path);

  // The account with this system_id (nullptr: none).
  const Account* find(std::string_view system_id) const;
  const std::vector<Account>& all() const { return accounts_; }

 private:
  std::vector<Account> accounts_;
};

}  // namespace cp::smpp
