// A blocking client of the SMSC core's local socket (docs/SMSC-SOCKET.md): what smsc-submit,
// the tests and the benchmark use, and what an out-of-process role handler can build on.
// One connection; requests are written one per packet; answers are read back and split into
// messages (the core may pack several answers into one packet).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/blocking_socket.h"
#include "base/result.h"
#include "services/smsc/wire.h"

namespace cp::smsc {

class SmscClient {
 public:
  SmscClient() = default;
  SmscClient(SmscClient&& other) noexcept = default;
  SmscClient& operator=(SmscClient&& other) noexcept = default;
  SmscClient(const SmscClient&) = delete;
  SmscClient& operator=(const SmscClient&) = delete;

  static Result<SmscClient, std::string> connect(const std::string& socket_path);

  // Sends one encoded message (from the wire:: encoders). Several may be packed into one packet
  // with send_packet (at most 4096 bytes: the core's receive buffer).
  Result<void, std::string> send(std::span<const std::byte> message);
  Result<void, std::string> send_packet(std::span<const std::byte> messages);
  // The next message from the core (waits up to `timeout_ms`, -1 forever). An error for a
  // closed socket, a timeout or a message that does not decode.
  Result<wire::Message, std::string> receive(int timeout_ms = -1);
  // Sends a request and waits for the response with its request id; requests from the core
  // that arrive meanwhile are kept for receive().
  Result<wire::Message, std::string> call(std::span<const std::byte> request, uint64_t request_id,
                                          int timeout_ms = 10000);

  int fd() const { return sock_.fd(); }

 private:
  Result<wire::Message, std::string> read_one(int timeout_ms);

  BlockingSocket sock_;
  std::vector<std::byte> in_;  // received bytes not yet returned
  size_t in_pos_ = 0;
  std::vector<wire::Message> kept_;
};

}  // namespace cp::smsc
