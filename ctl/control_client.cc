// The blocking control-protocol client (see control_client.h).
#include "ctl/control_client.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "base/byte_reader.h"
#include "base/clock.h"
#include "base/socket_address.h"

namespace cp::ctl {

namespace {

constexpr size_t kReadChunkBytes = 64 * 1024;

int64_t now_ms() {
  return read_clock(CLOCK_MONOTONIC) / kNanosPerMilli;
}

int remaining_ms(int64_t deadline_ms) {
  const int64_t left = deadline_ms - now_ms();
  return left <= 0 ? 0 : static_cast<int>(left);
}

ClientError connect_error(int err, const std::string& path, int timeout_ms) {
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
    case ETIMEDOUT:
      // The accept backlog stayed full: the daemon is alive but busy.
      return {ClientError::Kind::timeout,
              fmt::format("cellplaned did not accept within {} ms", timeout_ms)};
    default:
      return {ClientError::Kind::io,
              fmt::format("cannot connect to {}: {}", path, std::strerror(err))};
  }
}

ClientError io_error(int err, std::string_view doing) {
  if (err == ETIMEDOUT) return {ClientError::Kind::timeout, fmt::format("timed out {}", doing)};
  return {ClientError::Kind::io, fmt::format("{}: {}", doing, std::strerror(err))};
}

}  // namespace

Result<ControlClient, ClientError> ControlClient::connect(const std::string& socket_path,
                                                          int timeout_ms) {
  auto address = SocketAddress::parse("unix:" + socket_path);
  if (socket_path.empty() || !address) {
    return fail(ClientError{ClientError::Kind::io,
                            fmt::format("bad control socket path '{}'", socket_path)});
  }
  auto socket = BlockingSocket::connect(*address, BlockingSocket::Type::stream, timeout_ms);
  if (!socket) return fail(connect_error(socket.error(), socket_path, timeout_ms));
  return ControlClient(std::move(*socket));
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
    auto ready = socket_.wait_readable(remaining_ms(deadline_ms));
    if (!ready) return fail(io_error(ready.error(), "waiting for the response"));
    if (!*ready) return fail(ClientError{ClientError::Kind::timeout, "no response in time"});
    std::byte chunk[kReadChunkBytes];
    auto n = socket_.receive(chunk);
    if (!n) return fail(io_error(n.error(), "reading the response"));
    if (*n == 0) {
      return fail(ClientError{ClientError::Kind::protocol,
                              "cellplaned closed the connection without answering"});
    }
    rx_.append(reinterpret_cast<const char*>(chunk), *n);
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
  if (auto sent = socket_.send_all(as_bytes(frame), timeout_ms); !sent) {
    return fail(io_error(sent.error(), "sending the request"));
  }
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
