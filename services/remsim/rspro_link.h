// A blocking RSPRO connection (IPA framing over TCP) for programs that are not reactors: the
// shell client, tests that play a bank or a client, benchmarks. IPA PINGs are answered as they
// are read; frames of other protocols are skipped.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "base/blocking_socket.h"
#include "base/result.h"
#include "base/socket_address.h"
#include "proto/rspro/rspro.h"

namespace cp::remsim {

// One received PDU; `pdu`'s strings and octets are views into `bytes` (kept with it: moving a
// Message keeps them valid, copying is not allowed).
struct RsproMessage {
  std::vector<std::byte> bytes;
  proto::rspro::Pdu pdu;
  RsproMessage() = default;
  RsproMessage(RsproMessage&&) = default;
  RsproMessage& operator=(RsproMessage&&) = default;
  RsproMessage(const RsproMessage&) = delete;
  RsproMessage& operator=(const RsproMessage&) = delete;
};

class RsproLink {
 public:
  RsproLink() = default;
  ~RsproLink() { close(); }
  RsproLink(const RsproLink&) = delete;
  RsproLink& operator=(const RsproLink&) = delete;

  Result<void, std::string> connect(const SocketAddress& address);
  // Takes over a connected socket (one a test accepted, say).
  void adopt(int fd) {
    close();
    sock_ = BlockingSocket(fd);
  }
  void close();
  int fd() const { return sock_.fd(); }
  bool up() const { return sock_.valid(); }

  bool send(const proto::rspro::Pdu& pdu);
  bool send_raw(std::span<const std::byte> bytes);

  // Waits up to timeout_ms for the next RSPRO PDU: nullopt on timeout; an error when the peer
  // closed or sent something that is not IPA / RSPRO.
  Result<std::optional<RsproMessage>, std::string> receive(int timeout_ms);
  // For poll() loops: one recv() of what is there (false: closed or failed) ...
  bool read_available();
  // ... then the PDUs it completed, one at a time (nullopt: none whole yet).
  Result<std::optional<RsproMessage>, std::string> next();

 private:
  BlockingSocket sock_;
  std::vector<std::byte> in_;
  std::vector<std::byte> scratch_;  // the frame being sent
};

}  // namespace cp::remsim
