#include "services/smpp/account.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace cp::smpp {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t end = s.find(sep, start);
    out.push_back(
        s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool parse_u32(std::string_view s, uint32_t& out, uint32_t min, uint32_t max) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < min || v > max) return false;
  out = v;
  return true;
}

bool printable(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7E) return false;
  return true;
}

// One account line; an error names the problem (the caller adds file:line).
Result<Account, std::string> parse_line(const std::vector<std::string_view>& w) {
  Account a;
  a.peer = std::string(w[0]);
  if (a.peer.size() > 32 || !printable(a.peer) || a.peer.find('=') != std::string::npos)
    return fail(fmt::format("bad peer name '{}' (1..32 printable characters, no '=')", w[0]));
  bool have_id = false, have_password = false;
  for (size_t i = 1; i < w.size(); ++i) {
    const std::string_view item = w[i];
    const size_t eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : item.substr(eq + 1);
    if (key == "any_source" && eq == std::string_view::npos) {
      a.any_source = true;
    } else if (key == "trusted" && eq == std::string_view::npos) {
      a.trusted = true;
    } else if (eq == std::string_view::npos) {
      return fail(fmt::format("'{}' is not KEY=VALUE", item));
    } else if (key == "system_id") {
      if (value.empty() || value.size() > 15 || !printable(value))
        return fail("system_id must be 1..15 printable characters (SMPP 3.4 limit)");
      a.system_id = std::string(value);
      have_id = true;
    } else if (key == "password") {
      if (value.size() > 8 || !printable(value))
        return fail("password must be at most 8 printable characters (SMPP 3.4 limit)");
      a.password = std::string(value);
      have_password = true;
    } else if (key == "binds") {
      a.binds = 0;
      for (auto b : split(value, ',')) {
        if (b == "tx")
          a.binds |= kBindTx;
        else if (b == "rx")
          a.binds |= kBindRx;
        else if (b == "trx")
          a.binds |= kBindTrx;
        else
          return fail(fmt::format("unknown bind type '{}' (tx, rx, trx)", b));
      }
    } else if (key == "window") {
      if (!parse_u32(value, a.window, 1, 10000)) return fail("window must be 1..10000");
    } else if (key == "tps") {
      if (!parse_u32(value, a.tps, 0, 10000000)) return fail("tps must be 0..10000000");
    } else if (key == "max_binds") {
      if (!parse_u32(value, a.max_binds, 1, 10000)) return fail("max_binds must be 1..10000");
    } else if (key == "allow") {
      for (auto c : split(value, ',')) {
        auto cidr = Cidr::parse(c);
        if (!cidr) return fail(cidr.error());
        a.allow.push_back(*cidr);
      }
    } else if (key == "concat") {
      if (value == "udh")
        a.concat_sar = false;
      else if (value == "sar")
        a.concat_sar = true;
      else
        return fail(fmt::format("concat '{}': udh or sar", value));
    } else if (key == "dc0") {
      if (value == "gsm7")
        a.dc0 = proto::smpp::DefaultAlphabet::gsm7;
      else if (value == "ia5")
        a.dc0 = proto::smpp::DefaultAlphabet::ia5;
      else if (value == "latin1")
        a.dc0 = proto::smpp::DefaultAlphabet::latin1;
      else
        return fail(fmt::format("dc0 '{}': gsm7, ia5 or latin1", value));
    } else {
      return fail(fmt::format("unknown key '{}'", key));
    }
  }
  if (!have_id) return fail("system_id= is required");
  if (!have_password) return fail("password= is required");
  return a;
}

}  // namespace

Result<Cidr, std::string> Cidr::parse(std::string_view text) {
  Cidr c;
  std::string_view addr = text;
  int prefix = -1;
  if (const size_t slash = text.find('/'); slash != std::string_view::npos) {
    uint32_t p = 0;
    if (!parse_u32(text.substr(slash + 1), p, 0, 128))
      return fail(fmt::format("bad prefix length in '{}'", text));
    prefix = static_cast<int>(p);
    addr = text.substr(0, slash);
  }
  const std::string a(addr);
  if (inet_pton(AF_INET, a.c_str(), c.bytes.data()) == 1) {
    c.family = AF_INET;
    if (prefix > 32) return fail(fmt::format("prefix beyond 32 in '{}'", text));
    c.prefix = static_cast<uint8_t>(prefix < 0 ? 32 : prefix);
  } else if (inet_pton(AF_INET6, a.c_str(), c.bytes.data()) == 1) {
    c.family = AF_INET6;
    c.prefix = static_cast<uint8_t>(prefix < 0 ? 128 : prefix);
  } else {
    return fail(fmt::format("'{}' is not an IP address or CIDR block", text));
  }
  return c;
}

bool Cidr::contains(const SocketAddress& address) const {
  const uint8_t* ip = nullptr;
  in_addr v4{};
  if (address.family() == AF_INET) {
    v4 = reinterpret_cast<const sockaddr_in*>(address.sa())->sin_addr;
    ip = reinterpret_cast<const uint8_t*>(&v4);
    if (family != AF_INET) return false;
  } else if (address.family() == AF_INET6) {
    const auto* a6 = reinterpret_cast<const sockaddr_in6*>(address.sa());
    ip = a6->sin6_addr.s6_addr;
    if (family == AF_INET) {
      // An IPv4-mapped IPv6 peer (::ffff:a.b.c.d) matches IPv4 blocks.
      static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
      if (std::memcmp(ip, kMapped, 12) != 0) return false;
      ip += 12;
    }
  } else {
    return false;
  }
  const unsigned whole = prefix / 8, rest = prefix % 8;
  if (std::memcmp(ip, bytes.data(), whole) != 0) return false;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (ip[whole] & mask) == (bytes[whole] & mask);
}

bool Account::allowed_from(const SocketAddress& address) const {
  if (allow.empty()) return true;
  for (const Cidr& c : allow)
    if (c.contains(address)) return true;
  return false;
}

Result<std::shared_ptr<const Accounts>, std::string> Accounts::parse(std::string_view text,
                                                                     std::string_view name) {
  auto out = std::make_shared<Accounts>();
  std::vector<std::string> problems;
  size_t line_no = 0;
  for (std::string_view line : split(text, '\n')) {
    ++line_no;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto w = words(line);
    if (w.empty()) continue;
    auto a = parse_line(w);
    if (!a) {
      if (problems.size() < 20)
        problems.push_back(fmt::format("{}:{}: {}", name, line_no, a.error()));
      continue;
    }
    for (const Account& other : out->accounts_) {
      if (other.system_id == a->system_id && problems.size() < 20)
        problems.push_back(
            fmt::format("{}:{}: system_id '{}' is used twice", name, line_no, a->system_id));
    }
    out->accounts_.push_back(std::move(*a));
  }
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += p + "\n";
    all.pop_back();
    return fail(std::move(all));
  }
  return std::shared_ptr<const Accounts>(std::move(out));
}

Result<std::shared_ptr<const Accounts>, std::string> Accounts::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail(path + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

const Account* Accounts::find(std::string_view system_id) const {
  for (const Account& a : accounts_)
    if (a.system_id == system_id) return &a;
  return nullptr;
}

}  // namespace cp::smpp
