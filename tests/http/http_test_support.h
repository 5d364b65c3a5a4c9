// Test support for the HTTP service: a Reactor serving an HttpServer on its own thread
// (127.0.0.1, port 0), and a plain blocking-socket HTTP/1.1 client that reads responses by
// Content-Length, keeping extra bytes for the next (pipelined) response.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "engine/http/http_server.h"
#include "engine/reactor.h"
#include "tests/support/reactor_harness.h"

namespace cp::test {

// Runs a Reactor with `server` listening on 127.0.0.1:0.
class ServerThread {
 public:
  ServerThread(engine::IoBackendKind kind, engine::http::HttpServer& server,
               engine::ReactorConfig config = small_reactor_config())
      : thread_(kind, config, [&](engine::Reactor& r) {
          auto bound = r.listen(loopback(), server);
          if (bound) {
            address_ = *bound;
          } else {
            listen_error_ = bound.error();
          }
        }) {}
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;

  static engine::ReactorConfig small_reactor_config() {
    engine::ReactorConfig config;
    config.max_connections = 64;
    return config;
  }

  const std::string& error() const {
    return thread_.error().empty() ? listen_error_ : thread_.error();
  }
  const SocketAddress& address() const { return address_; }
  // Valid once error() is empty. Its stats() may be read from any thread; the rest (timers)
  // only on its own thread, e.g. from a handler.
  engine::Reactor& reactor() { return thread_.reactor(); }
  void stop() { thread_.stop(); }

 private:
  SocketAddress address_;
  std::string listen_error_;
  ReactorThread thread_;
};

struct HttpReply {
  int status = 0;
  std::string head;  // status line and fields, without the blank line
  std::string body;
  // The value of field `name` (case-insensitive), or "" when absent.
  std::string header(std::string_view name) const {
    size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
      const size_t end = head.find("\r\n", pos + 2);
      const std::string line = head.substr(pos + 2, end == std::string::npos ? end : end - pos - 2);
      const size_t colon = line.find(':');
      if (colon != std::string::npos &&
          proto::http::equals_ignore_case(std::string_view(line).substr(0, colon), name)) {
        size_t v = colon + 1;
        while (v < line.size() && line[v] == ' ') ++v;
        return line.substr(v);
      }
      pos = end;
    }
    return "";
  }
};

class HttpClient {
 public:
  // `source`: an IPv4 address to connect from (another 127.x.y.z is another client).
  explicit HttpClient(const SocketAddress& addr, const char* source = nullptr) {
    fd_ = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ >= 0 && source != nullptr) {
      sockaddr_in from{};
      from.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &from.sin_addr);
      if (::bind(fd_, reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0) {
        ::close(fd_);
        fd_ = -1;
      }
    }
    if (fd_ >= 0 && ::connect(fd_, addr.sa(), addr.length) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    const int one = 1;
    if (fd_ >= 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~HttpClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  bool connected() const { return fd_ >= 0; }
  // Closes the socket; unread bytes make the kernel answer the server with a reset.
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response (head, then Content-Length bytes of body unless `head_only`).
  std::optional<HttpReply> read_reply(bool head_only = false, int timeout_ms = 10000) {
    size_t head_end;
    while ((head_end = buffered_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(timeout_ms)) return std::nullopt;
    }
    HttpReply reply;
    reply.head = buffered_.substr(0, head_end);
    buffered_.erase(0, head_end + 4);
    if (reply.head.size() < 12 || !reply.head.starts_with("HTTP/1.1 ")) return std::nullopt;
    reply.status = std::stoi(reply.head.substr(9, 3));
    const std::string length = reply.header("Content-Length");
    const size_t body_bytes = head_only || length.empty() ? 0 : std::stoul(length);
    while (buffered_.size() < body_bytes) {
      if (!fill(timeout_ms)) return std::nullopt;
    }
    reply.body = buffered_.substr(0, body_bytes);
    buffered_.erase(0, body_bytes);
    return reply;
  }

  std::optional<HttpReply> request(std::string_view text) {
    if (!send(text)) return std::nullopt;
    return read_reply();
  }

  // True when the server closed the connection within `timeout_ms` (after any buffered bytes).
  bool closed_by_peer(int timeout_ms = 3000) {
    for (;;) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, timeout_ms) <= 0) return false;
      char sink[4096];
      const ssize_t n = ::recv(fd_, sink, sizeof sink, 0);
      if (n <= 0) return true;
      buffered_.append(sink, static_cast<size_t>(n));
    }
  }

  size_t buffered_bytes() const { return buffered_.size(); }
  const std::string& buffered() const { return buffered_; }

 private:
  bool fill(int timeout_ms) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) <= 0) return false;
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffered_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffered_;
};

}  // namespace cp::test
