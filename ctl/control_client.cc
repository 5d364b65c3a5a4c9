// The blocking control-protocol client (see control_client.h).
#include "ctl/control_client.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/byte_reader.h"
#include "base/clock.h"

namespace cp::ctl {

namespace {

constexpr int kConnectRetryMs = 10;  // while the daemon's accept backlog is full
constexpr size_t kReadChunkBytes = 64 * 1024;

int64_t now_ms() {
  return read_clock(CLOCK_MONOTONIC) / kNanosPerMilli;
}

int remaining_ms(int64_t deadline_ms) {
  const int64_t left = deadline_ms - now_ms();
  return left <= 0 ? 0 : static_cast<int>(left);
}

ClientError connect_error(int err, const std::string& path) {
  switch (err) {
    case ENOENT:
      return {ClientError::Kind::not_running,
              fmt::format("cellplaned is not running (no control socket at {})", path)};
    case ECONNREFUSED:
      return {ClientError::Kind::not_running,
              fmt::format("cellplaned is not running (nothing answers on {})", path)};
    case EACCES:
    case EPERM:
      return {ClientError::Kind::permission,
              fmt::format("permission denied on the control socket {} (run as the daemon's user?)",
                          path)};
    default:
      return {ClientError::Kind::io,
              fmt::format("cannot connect to {}: {}", path, std::strerror(err))};
  }
}

// Waits for `events` on fd until the deadline. False on timeout.
Result<bool, ClientError> wait_for(int fd, short events, int64_t deadline_ms) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline_ms));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) {
      return fail(
          ClientError{ClientError::Kind::io, fmt::format("poll: {}", std::strerror(errno))});
    }
  }
}

}  // namespace

Result<ControlClient, ClientError> ControlClient::connect(const std::string& socket_path,
                                                          int timeout_ms) {
  sockaddr_un address{};
  if (socket_path.empty() || socket_path.size() >= sizeof address.sun_path) {
    return fail(ClientError{ClientError::Kind::io,
                            fmt::format("bad control socket path '{}'", socket_path)});
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return fail(ClientError{ClientError::Kind::io,
                            fmt::format("socket(AF_UNIX): {}", std::strerror(errno))});
  }
  ControlClient client(fd);
  const int64_t deadline_ms = now_ms() + timeout_ms;
  for (;;) {
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return fail(connect_error(errno, socket_path));
    // The accept backlog is full: the daemon is alive but busy. Try again until the deadline.
    if (remaining_ms(deadline_ms) == 0) {
      return fail(ClientError{ClientError::Kind::timeout,
                              fmt::format("cellplaned did not accept within {} ms", timeout_ms)});
    }
    ::poll(nullptr, 0, kConnectRetryMs);
  }
  return client;
}

ControlClient::ControlClient(ControlClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), next_id_(other.next_id_), rx_(std::move(other.rx_)) {}

ControlClient& ControlClient::operator=(ControlClient&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    next_id_ = other.next_id_;
    rx_ = std::move(other.rx_);
  }
  return *this;
}

ControlClient::~ControlClient() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void, ClientError> ControlClient::send_all(std::string_view bytes, int64_t deadline_ms) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) {
      return fail(ClientError{ClientError::Kind::io,
                              fmt::format("sending the request: {}", std::strerror(errno))});
    }
    auto ready = wait_for(fd_, POLLOUT, deadline_ms);
    if (!ready) return fail(ready.error());
    if (!*ready) {
      return fail(ClientError{ClientError::Kind::timeout, "timed out sending the request"});
    }
  }
  return {};
}

// Reads until one whole frame is buffered; returns its body and keeps any bytes after it.
Result<std::string, ClientError> ControlClient::receive_frame(int64_t deadline_ms) {
  for (;;) {
    const auto length = frame_length(as_bytes(rx_));
    if (!length) {
      return fail(ClientError{ClientError::Kind::protocol,
                              fmt::format("bad response frame: {}", to_string(length.error()))});
    }
    if (*length > 0 && *length <= rx_.size()) {
      std::string body = rx_.substr(kFrameHeaderBytes, *length - kFrameHeaderBytes);
      rx_.erase(0, *length);
      return body;
    }
    auto ready = wait_for(fd_, POLLIN, deadline_ms);
    if (!ready) return fail(ready.error());
    if (!*ready) return fail(ClientError{ClientError::Kind::timeout, "no response in time"});
    char chunk[kReadChunkBytes];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      rx_.append(chunk, static_cast<size_t>(n));
    } else if (n == 0) {
      return fail(ClientError{ClientError::Kind::protocol,
                              "cellplaned closed the connection without answering"});
    } else if (errno != EINTR && errno != EAGAIN) {
      return fail(ClientError{ClientError::Kind::io,
                              fmt::format("reading the response: {}", std::strerror(errno))});
    }
  }
}

Result<ControlResponse, ClientError> ControlClient::call(
    std::string_view cmd, std::span<const std::pair<std::string, std::string>> args,
    int timeout_ms) {
  const int64_t deadline_ms = now_ms() + timeout_ms;
  const uint64_t id = next_id_++;
  std::string frame;
  if (!encode_request(id, cmd, args, frame)) {
    return fail(ClientError{ClientError::Kind::protocol, "the request is larger than 1 MiB"});
  }
  if (auto sent = send_all(frame, deadline_ms); !sent) return fail(sent.error());
  auto body = receive_frame(deadline_ms);
  if (!body) {
    if (body.error().kind == ClientError::Kind::timeout) {
      body.error().message = fmt::format("no response from cellplaned within {} ms", timeout_ms);
    }
    return fail(body.error());
  }
  auto response = decode_response(as_bytes(*body));
  if (!response) return fail(ClientError{ClientError::Kind::protocol, response.error().message});
  // id 0 answers a request the daemon could not read (bad frame or bad JSON).
  if (response->id != id && response->id != 0) {
    return fail(
        ClientError{ClientError::Kind::protocol,
                    fmt::format("response to request {} while waiting for {}", response->id, id)});
  }
  return std::move(*response);
}

}  // namespace cp::ctl
