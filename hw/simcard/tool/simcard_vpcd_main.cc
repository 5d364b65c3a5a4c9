// cp-simcard: the simulated SIM/USIM card (hw/simcard/card.h) behind a real PC/SC reader. It
// connects to the vsmartcard vpcd reader driver inside pcscd (../shared/PEERS.md) and answers
// its requests: a 2-byte big-endian length and a payload; a 1-byte payload is a control (0 power
// off, 1 power on, 2 reset, 4 get ATR: answered with the ATR), anything longer is a C-APDU,
// answered with the R-APDU. When vpcd is not there (pcscd not started yet, or restarted), it
// retries every 200 ms.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/cli.h"
#include "base/log.h"
#include "base/socket_address.h"
#include "hw/simcard/card.h"

namespace {

std::atomic<bool> stop{false};

bool read_exact(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0) return false;
    // vpcd waits for our answer after each request: without QUICKACK every exchange stalls on
    // the delayed ACK (~40 ms). The flag does not stick, so it is set again after every read.
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool send_msg(int fd, std::span<const uint8_t> payload) {
  std::vector<uint8_t> out = {static_cast<uint8_t>(payload.size() >> 8),
                              static_cast<uint8_t>(payload.size())};
  out.insert(out.end(), payload.begin(), payload.end());
  return ::send(fd, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size());
}

// Serves one vpcd connection until it closes. Returns the number of APDUs answered.
uint64_t serve(int fd, cp::simcard::Card& card, bool trace) {
  uint64_t apdus = 0;
  while (!stop.load()) {
    uint8_t len_bytes[2];
    if (!read_exact(fd, len_bytes, 2)) break;
    const size_t len = static_cast<size_t>(len_bytes[0] << 8 | len_bytes[1]);
    std::vector<uint8_t> req(len);
    if (len > 0 && !read_exact(fd, req.data(), len)) break;
    if (len == 1) {
      switch (req[0]) {
        case 0:  // power off
          break;
        case 1:  // power on
        case 2:  // reset
          card.reset();
          break;
        case 4: {  // ATR: asked again whenever pcscd checks the card; not a reset
          const auto atr = cp::simcard::Card::atr();
          if (!send_msg(fd, atr)) return apdus;
          break;
        }
        default:
          CP_LOG_WARN("cp-simcard: unknown vpcd control {}", req[0]);
      }
      continue;
    }
    const auto resp = card.transmit(req);
    ++apdus;
    if (trace) {
      std::string a, b;
      for (uint8_t x : req) a += fmt::format("{:02x}", x);
      for (uint8_t x : resp) b += fmt::format("{:02x}", x);
      CP_LOG_DEBUG("cp-simcard: {} -> {}", a, b);
    }
    if (!send_msg(fd, resp)) break;
  }
  return apdus;
}

}  // namespace

int main(int argc, char** argv) {
  std::string card_path, vpcd = "127.0.0.1:35963";
  bool trace = false;
  cp::cli::App app{"cp-simcard: a simulated SIM/USIM card behind pcscd's vpcd reader"};
  app.option("--card", card_path, "card contents file (iccid, imsi, msisdn, ki, opc, ...)")
      .required();
  app.option("--vpcd", vpcd, "host:port of the vpcd reader (its DEVICENAME port)");
  app.flag("--trace", trace, "log every APDU (debug level)");
  if (const auto status = app.parse(argc, argv)) return *status;
  if (trace) cp::set_log_level(cp::LogLevel::debug);
  std::ifstream in(card_path);
  if (!in) {
    std::fprintf(stderr, "cp-simcard: %s: %s\n", card_path.c_str(), std::strerror(errno));
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto contents = cp::simcard::parse_contents(ss.str(), card_path);
  if (!contents) {
    std::fprintf(stderr, "%s\n", contents.error().c_str());
    return 2;
  }
  auto addr = cp::SocketAddress::parse(vpcd);
  if (!addr) {
    std::fprintf(stderr, "cp-simcard: --vpcd: %s\n", addr.error().c_str());
    return 2;
  }
  // Without SA_RESTART, so a blocking recv() returns (EINTR) and the loops see `stop`.
  struct sigaction sa {};
  sa.sa_handler = [](int) { stop.store(true); };
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  cp::simcard::Card card(*contents);
  CP_LOG_INFO("cp-simcard: card ICCID {} IMSI {}, reader at {}", contents->iccid, contents->imsi,
              addr->to_string());
  bool said = false;
  while (!stop.load()) {
    const int fd = ::socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    const socklen_t len = addr->family() == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    if (::connect(fd, addr->sa(), len) != 0) {
      ::close(fd);
      if (!said) CP_LOG_INFO("cp-simcard: waiting for vpcd at {}", addr->to_string());
      said = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    CP_LOG_INFO("cp-simcard: inserted into the vpcd reader at {}", addr->to_string());
    said = false;
    const uint64_t n = serve(fd, card, trace);
    ::close(fd);
    CP_LOG_INFO("cp-simcard: removed from the reader after {} APDUs", n);
  }
  return 0;
}
