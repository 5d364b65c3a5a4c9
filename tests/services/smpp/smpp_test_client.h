// A blocking SMPP ESME for tests: a TCP socket, our PDU encoders, and reads of whole PDUs with a
// timeout. Deliberately simple (one PDU at a time) so a test reads as the exchange it checks.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "base/socket_address.h"
#include "proto/smpp/pdu.h"

namespace cp::smpp::test {

namespace pdu = proto::smpp;

struct Pdu {
  pdu::Header header;
  std::vector<std::byte> bytes;  // the whole PDU
  std::span<const std::byte> body() const { return std::span(bytes).subspan(pdu::kHeaderBytes); }
};

class TestEsme {
 public:
  explicit TestEsme(const SocketAddress& server) {
    fd_ = ::socket(server.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    socklen_t len = server.family() == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    connected_ = ::connect(fd_, server.sa(), len) == 0;
    EXPECT_TRUE(connected_) << std::strerror(errno);
  }
  // The far end of a connection a test accepted (a fake SMSC facing our uplink).
  struct Adopt {
    int fd;
  };
  explicit TestEsme(Adopt a) : fd_(a.fd), connected_(a.fd >= 0) {}
  ~TestEsme() {
    if (fd_ >= 0) ::close(fd_);
  }
  TestEsme(const TestEsme&) = delete;
  TestEsme& operator=(const TestEsme&) = delete;

  void send(std::span<const std::byte> bytes) {
    size_t at = 0;
    while (at < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n <= 0) {
        ADD_FAILURE() << "send: " << std::strerror(errno);
        return;
      }
      at += static_cast<size_t>(n);
    }
  }

  // The next PDU, or nullopt on timeout / close (closed() tells which).
  std::optional<Pdu> read(int timeout_ms = 5000) {
    while (true) {
      if (in_.size() >= 4) {
        auto len = pdu::frame_length(in_);
        EXPECT_TRUE(len);
        if (!len) return std::nullopt;
        if (*len && in_.size() >= **len) {
          Pdu p;
          p.bytes.assign(in_.begin(), in_.begin() + **len);
          in_.erase(in_.begin(), in_.begin() + **len);
          auto h = pdu::decode_header(p.bytes);
          EXPECT_TRUE(h);
          if (!h) return std::nullopt;
          p.header = *h;
          return p;
        }
      }
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, timeout_ms) <= 0) return std::nullopt;
      std::byte buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        return std::nullopt;
      }
      in_.insert(in_.end(), buf, buf + n);
    }
  }

  // Reads until a PDU with this command id arrives (others are kept for later reads).
  std::optional<Pdu> read_command(uint32_t command_id, int timeout_ms = 5000) {
    for (auto it = kept_.begin(); it != kept_.end(); ++it) {
      if (it->header.command_id == command_id) {
        Pdu p = std::move(*it);
        kept_.erase(it);
        return p;
      }
    }
    while (auto p = read(timeout_ms)) {
      if (p->header.command_id == command_id) return p;
      kept_.push_back(std::move(*p));
    }
    return std::nullopt;
  }

  // Waits for the peer to close (true) within the timeout.
  bool wait_closed(int timeout_ms = 5000) {
    while (!closed_) {
      if (!read(timeout_ms) && !closed_) return false;
    }
    return true;
  }

  uint32_t bind(uint32_t command_id, std::string_view system_id, std::string_view password) {
    pdu::Bind b;
    b.system_id = system_id;
    b.password = password;
    b.interface_version = 0x34;
    send(pdu::encode_bind(command_id, ++seq_, b));
    auto r = read_command(command_id | pdu::cmd::response_bit);
    EXPECT_TRUE(r) << "no bind response";
    return r ? r->header.command_status : 0xFFFFFFFF;
  }

  // Sends a submit_sm and returns its sequence number.
  uint32_t submit(const pdu::ShortMessage& m) {
    send(pdu::encode_short_message(pdu::cmd::submit_sm, ++seq_, m));
    return seq_;
  }

  void respond(const Pdu& request, uint32_t status = pdu::status::ok) {
    send(pdu::encode_message_id_resp(request.header.command_id | pdu::cmd::response_bit, status,
                                     request.header.sequence, ""));
  }

  uint32_t next_sequence() { return ++seq_; }
  bool closed() const { return closed_; }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  uint32_t seq_ = 0;
  std::vector<std::byte> in_;
  std::vector<Pdu> kept_;
};

inline std::vector<std::byte> text_bytes(std::string_view s) {
  std::vector<std::byte> out;
  for (char c : s) out.push_back(static_cast<std::byte>(c));
  return out;
}

}  // namespace cp::smpp::test
