// A blocking control-protocol client over a Unix socket: what cellctl (and tests, and scripts
// written in C++) use to talk to cellplaned. A BlockingSocket with deadlines; not for use on a
// reactor thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "base/blocking_socket.h"
#include "base/result.h"
#include "ctl/control_protocol.h"

namespace cp::ctl {

struct ClientError {
  enum class Kind : uint8_t {
    not_running,  // no socket file, or nothing listens on it
    permission,   // the socket exists but we may not connect
    timeout,      // no (complete) response before the deadline
    io,           // any other socket error
    protocol,     // the daemon's bytes do not make a valid response
  };
  Kind kind;
  std::string message;  // one line for people, without a "cellctl:" prefix
};

// One connection to the control socket. Move-only; closes the socket when destroyed.
class ControlClient {
 public:
  static Result<ControlClient, ClientError> connect(const std::string& socket_path, int timeout_ms);

  // Sends one request and waits for its response (for at most timeout_ms). A response with
  // ok == false is a successful call; the ClientError cases are about reaching the daemon.
  Result<ControlResponse, ClientError> call(
      std::string_view cmd, std::span<const std::pair<std::string, std::string>> args,
      int timeout_ms);

 private:
  explicit ControlClient(BlockingSocket socket) : socket_(std::move(socket)) {}
  Result<std::string, ClientError> receive_frame(int64_t deadline_ms);

  BlockingSocket socket_;
  uint64_t next_id_ = 1;
  std::string rx_;  // bytes received beyond the last frame
};

}  // namespace cp::ctl
