// cp-remsim-shell: a remsim client without SIMtrace2 (like osmo-remsim's client-shell). It
// registers with the remsim server as client <id>:<slot>, waits for the bank it is configured
// with, connects to that bank daemon, prints the card's ATR, and then sends every hex APDU read
// from stdin (typed or piped; '#' starts a comment) as a TPDU, printing each response in hex.
//
// Both links answer IPA PINGs; a bank that goes away (mapping deleted: ConfigClientBankReq
// 0.0.0.0:0, or the connection lost) is waited for again, as a real client does.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/cli.h"
#include "base/socket_address.h"
#include "proto/rspro/rspro.h"
#include "services/remsim/rspro_link.h"

namespace {

namespace rspro = cp::proto::rspro;
using cp::remsim::RsproLink;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string server = "127.0.0.1:9998";
  std::string bankd;  // set: connect there directly, without the server
  uint16_t client_id = 0;
  uint16_t slot = 0;
  uint16_t bank_id = 0, bank_slot = 0;  // with --bankd
  double wait_s = 30;                   // for a bank / the ATR
  double apdu_timeout_s = 10;
  bool verbose = false;
};

std::string hex(std::span<const std::byte> b) {
  std::string s;
  for (std::byte x : b) s += fmt::format("{:02x}", static_cast<unsigned>(x));
  return s;
}

// "00 a4 00 04 02 3f00" -> bytes; nullopt when not hex.
std::optional<std::vector<std::byte>> parse_hex(std::string_view line) {
  std::vector<std::byte> out;
  int nibble = -1;
  for (char c : line) {
    if (c == ' ' || c == '\t' || c == ':' || c == '\r') continue;
    int v;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v = c - 'A' + 10;
    else
      return std::nullopt;
    if (nibble < 0) {
      nibble = v;
    } else {
      out.push_back(static_cast<std::byte>(nibble << 4 | v));
      nibble = -1;
    }
  }
  if (nibble >= 0) return std::nullopt;
  return out;
}

std::optional<cp::SocketAddress> ip_port_address(const rspro::IpPort& a) {
  if (a.port == 0) return std::nullopt;
  if (a.v6) {
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, a.ip.data(), text, sizeof text);
    auto r = cp::SocketAddress::parse(fmt::format("[{}]:{}", text, a.port));
    return r ? std::optional(*r) : std::nullopt;
  }
  auto r = cp::SocketAddress::parse(
      fmt::format("{}.{}.{}.{}:{}", a.ip[0], a.ip[1], a.ip[2], a.ip[3], a.port));
  return r ? std::optional(*r) : std::nullopt;
}

rspro::ComponentIdentity identity() {
  return {rspro::ComponentType::client, "cp-remsim-shell", "cellplane-remsim-shell", "0.1.0", {}};
}

class Shell {
 public:
  explicit Shell(Options o) : o_(std::move(o)) {}

  int run() {
    const auto deadline = Clock::now() + std::chrono::duration<double>(o_.wait_s);
    if (o_.bankd.empty()) {
      auto a = cp::SocketAddress::parse(o_.server);
      if (!a) return fatal("--server: " + a.error());
      if (auto ok = server_.connect(*a); !ok) return fatal("remsim server: " + ok.error());
      rspro::Pdu req;
      req.type = rspro::MsgType::connect_client_req;
      req.identity = identity();
      req.client_slot = rspro::ClientSlot{o_.client_id, o_.slot};
      server_.send(req);
      note(fmt::format("registering with the remsim server {} as client {}:{}", o_.server,
                       o_.client_id, o_.slot));
    } else {
      auto a = cp::SocketAddress::parse(o_.bankd);
      if (!a) return fatal("--bankd: " + a.error());
      bank_addr_ = *a;
      bank_ = {o_.bank_id, o_.bank_slot};
      next_bank_try_ = Clock::now();
    }
    bool stdin_open = true;
    for (;;) {
      const auto now = Clock::now();
      if (!ready_ && now > deadline && !atr_seen_)
        return fatal(fmt::format("no card within {} s (is a slotmap for client {}:{} there?)",
                                 o_.wait_s, o_.client_id, o_.slot));
      if (awaiting_ && now > apdu_deadline_) return fatal("no response to the APDU in time");
      if (!stdin_open && !awaiting_ && queue_.empty()) return errors_ ? 1 : 0;
      if (bank_addr_ && !bankd_.up() && now >= next_bank_try_) connect_bank();
      if (ready_ && !awaiting_ && !queue_.empty()) send_next();

      pollfd fds[3];
      nfds_t n = 0;
      int si = -1, bi = -1, ii = -1;
      if (server_.up()) {
        si = static_cast<int>(n);
        fds[n++] = {server_.fd(), POLLIN, 0};
      }
      if (bankd_.up()) {
        bi = static_cast<int>(n);
        fds[n++] = {bankd_.fd(), POLLIN, 0};
      }
      if (stdin_open && queue_.size() < 64) {
        ii = static_cast<int>(n);
        fds[n++] = {0, POLLIN, 0};
      }
      const int rc = ::poll(fds, n, 100);
      if (rc < 0 && errno != EINTR) return fatal(std::string("poll: ") + std::strerror(errno));
      if (rc <= 0) continue;
      if (si >= 0 && fds[si].revents) {
        if (!server_.read_available()) return fatal("the remsim server closed the connection");
        if (int r = drain_server(); r != 0) return r;
      }
      if (bi >= 0 && fds[bi].revents) {
        if (!bankd_.read_available()) {
          note("the bank daemon closed the connection");
          bank_lost();
        } else if (int r = drain_bankd(); r != 0) {
          return r;
        }
      }
      if (ii >= 0 && fds[ii].revents) stdin_open = read_stdin();
    }
  }

 private:
  int fatal(const std::string& msg) {
    fmt::print(stderr, "cp-remsim-shell: {}\n", msg);
    return 1;
  }
  void note(const std::string& msg) {
    if (o_.verbose) fmt::print(stderr, "cp-remsim-shell: {}\n", msg);
  }

  int drain_server() {
    for (;;) {
      auto m = server_.next();
      if (!m) return fatal("from the server: " + m.error());
      if (!*m) return 0;
      const rspro::Pdu* pdu = &(*m)->pdu;
      if (pdu->type == rspro::MsgType::connect_client_res) {
        if (pdu->result != rspro::ResultCode::ok)
          return fatal(fmt::format("the remsim server refused client {}:{} (result {})",
                                   o_.client_id, o_.slot, static_cast<int>(pdu->result)));
        note("registered; waiting for a bank");
      } else if (pdu->type == rspro::MsgType::config_client_bank_req) {
        rspro::Pdu res;
        res.type = rspro::MsgType::config_client_bank_res;
        res.result = rspro::ResultCode::ok;
        server_.send(res);
        bank_ = pdu->bank;
        auto addr = ip_port_address(pdu->bankd);
        if (!addr) {
          note("the server took our bank away");
          bank_addr_.reset();
          bank_lost();
        } else {
          note(fmt::format("bank {}:{} at {}", pdu->bank.bank_id, pdu->bank.slot,
                           addr->to_string()));
          bank_addr_ = *addr;
          bankd_.close();
          ready_ = false;
          next_bank_try_ = Clock::now();
        }
      }
    }
  }

  void connect_bank() {
    if (auto ok = bankd_.connect(*bank_addr_); !ok) {
      note(ok.error());
      next_bank_try_ = Clock::now() + std::chrono::seconds(1);
      return;
    }
    rspro::Pdu req;
    req.type = rspro::MsgType::connect_client_req;
    req.identity = identity();
    req.client_slot = rspro::ClientSlot{o_.client_id, o_.slot};
    bankd_.send(req);
  }

  void bank_lost() {
    bankd_.close();
    ready_ = false;
    if (awaiting_) {
      // The APDU in flight is lost with its card: report it, go on with the next.
      fmt::print(stderr, "cp-remsim-shell: the card went away before answering\n");
      ++errors_;
      awaiting_ = false;
    }
    next_bank_try_ = Clock::now() + std::chrono::seconds(1);
  }

  int drain_bankd() {
    for (;;) {
      auto m = bankd_.next();
      if (!m) return fatal("from the bank: " + m.error());
      if (!*m) return 0;
      const rspro::Pdu* pdu = &(*m)->pdu;
      switch (pdu->type) {
        case rspro::MsgType::connect_client_res:
          if (pdu->result != rspro::ResultCode::ok) {
            note(fmt::format("bank answered result {}; retrying", static_cast<int>(pdu->result)));
            bank_lost();
            return 0;
          }
          break;
        case rspro::MsgType::set_atr_req: {
          rspro::Pdu res;
          res.type = rspro::MsgType::set_atr_res;
          res.result = rspro::ResultCode::ok;
          bankd_.send(res);
          fmt::print(stderr, "ATR: {}\n", hex(pdu->atr));
          atr_seen_ = true;
          ready_ = true;
          break;
        }
        case rspro::MsgType::tpdu_card_to_modem:
          if (awaiting_) {
            fmt::print("{}\n", hex(pdu->data));
            std::fflush(stdout);
            awaiting_ = false;
          }
          break;
        case rspro::MsgType::bank_slot_status_ind:
          note("the bank reports a card status change");
          break;
        default:
          break;
      }
      if (!bankd_.up()) return 0;
    }
  }

  bool read_stdin() {
    char buf[4096];
    const ssize_t n = ::read(0, buf, sizeof buf);
    if (n <= 0) {
      if (!partial_.empty()) take_line(partial_);
      return false;
    }
    partial_.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
      take_line(partial_.substr(0, nl));
      partial_.erase(0, nl + 1);
    }
    return true;
  }

  void take_line(std::string line) {
    if (const size_t h = line.find('#'); h != std::string::npos) line.resize(h);
    auto bytes = parse_hex(line);
    if (!bytes) {
      fmt::print(stderr, "cp-remsim-shell: not hex: {}\n", line);
      ++errors_;
      return;
    }
    if (bytes->empty()) return;
    if (bytes->size() < 5 || bytes->size() > 260) {
      fmt::print(stderr, "cp-remsim-shell: an APDU is 5..260 bytes, this one {}\n", bytes->size());
      ++errors_;
      return;
    }
    queue_.push_back(std::move(*bytes));
  }

  void send_next() {
    std::vector<std::byte> apdu = std::move(queue_.front());
    queue_.pop_front();
    rspro::Pdu p;
    p.type = rspro::MsgType::tpdu_modem_to_card;
    p.client = {o_.client_id, o_.slot};
    p.bank = bank_;
    p.data = apdu;
    if (!bankd_.send(p)) {
      queue_.push_front(std::move(apdu));
      bank_lost();
      return;
    }
    awaiting_ = true;
    apdu_deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(o_.apdu_timeout_s));
  }

  Options o_;
  RsproLink server_, bankd_;
  std::optional<cp::SocketAddress> bank_addr_;
  rspro::BankSlot bank_;
  Clock::time_point next_bank_try_{};
  Clock::time_point apdu_deadline_{};
  bool ready_ = false, atr_seen_ = false, awaiting_ = false;
  std::deque<std::vector<std::byte>> queue_;
  std::string partial_;
  int errors_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  cp::cli::App app{
      "cp-remsim-shell: a remsim client that sends hex APDUs from stdin to a remote SIM card and "
      "prints the responses. Example:\n"
      "  echo '00a40004023f00' | cp-remsim-shell --client-id 23 --slot 0"};
  app.option("--server", o.server, "remsim server (RSPRO) host:port").show_default();
  app.option("-c,--client-id", o.client_id, "our client id (0..1023)")
      .range(0, 1023)
      .show_default();
  app.option("-s,--slot", o.slot, "our client slot (0..1023)").range(0, 1023).show_default();
  app.option("--bankd", o.bankd,
             "connect to this bank daemon host:port directly, without the server");
  app.option("--bank-id", o.bank_id, "with --bankd: the bank id").show_default();
  app.option("--bank-slot", o.bank_slot, "with --bankd: the bank slot").show_default();
  app.option("--wait", o.wait_s, "seconds to wait for a bank and its card's ATR").show_default();
  app.option("--apdu-timeout", o.apdu_timeout_s, "seconds to wait for each response")
      .show_default();
  app.flag("-v,--verbose", o.verbose, "say what the links do (on stderr)");
  if (const auto status = app.parse(argc, argv)) return *status;
  return Shell(o).run();
}
