#include "services/smsc/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cp::smsc {

SmscClient::~SmscClient() {
  if (fd_ >= 0) ::close(fd_);
}

SmscClient::SmscClient(SmscClient&& o) noexcept
    : fd_(o.fd_), in_(std::move(o.in_)), in_pos_(o.in_pos_), kept_(std::move(o.kept_)) {
  o.fd_ = -1;
}

SmscClient& SmscClient::operator=(SmscClient&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
    in_ = std::move(o.in_);
    in_pos_ = o.in_pos_;
    kept_ = std::move(o.kept_);
  }
  return *this;
}

Result<SmscClient, std::string> SmscClient::connect(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return fail(path + ": path too long for a socket");
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    const int err = errno;
    ::close(fd);
    return fail(
        path + ": " + std::strerror(err) +
        (err == ENOENT || err == ECONNREFUSED ? " (is cellplaned running with [smsc]?)" : ""));
  }
  SmscClient c;
  c.fd_ = fd;
  return c;
}

Result<void, std::string> SmscClient::send(std::span<const std::byte> message) {
  return send_packet(message);
}

Result<void, std::string> SmscClient::send_packet(std::span<const std::byte> messages) {
  for (;;) {
    const ssize_t n = ::send(fd_, messages.data(), messages.size(), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(messages.size())) return {};
    if (n < 0 && errno == EINTR) continue;
    return fail(std::string("send: ") + (n < 0 ? std::strerror(errno) : "short write"));
  }
}

Result<wire::Message, std::string> SmscClient::receive(int timeout_ms) {
  if (!kept_.empty()) {
    wire::Message m = std::move(kept_.front());
    kept_.erase(kept_.begin());
    return m;
  }
  return read_one(timeout_ms);
}

Result<wire::Message, std::string> SmscClient::read_one(int timeout_ms) {
  for (;;) {
    const size_t have = in_.size() - in_pos_;
    if (have >= wire::kHeaderBytes) {
      const auto h = wire::peek_header({in_.data() + in_pos_, have});
      if (h->length < wire::kHeaderBytes || h->length > have)
        return fail(std::string("the core sent a message cut short or of a bad length"));
      wire::Message m;
      const wire::Status st = wire::decode({in_.data() + in_pos_, h->length}, m);
      in_pos_ += h->length;
      if (st != wire::Status::ok)
        return fail("undecodable message from the core: " + std::string(wire::to_string(st)));
      return m;
    }
    if (have > 0) return fail(std::string("the core sent a packet shorter than a header"));
    in_.clear();
    in_pos_ = 0;
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return fail(std::string("timed out waiting for the core"));
    if (r < 0) return fail(std::string("poll: ") + std::strerror(errno));
    in_.resize(65536);
    const ssize_t n = ::recv(fd_, in_.data(), in_.size(), 0);
    if (n < 0 && errno == EINTR) {
      in_.clear();
      continue;
    }
    if (n <= 0) {
      in_.clear();
      return fail(n == 0 ? std::string("the core closed the connection")
                         : std::string("recv: ") + std::strerror(errno));
    }
    in_.resize(static_cast<size_t>(n));
  }
}

Result<wire::Message, std::string> SmscClient::call(std::span<const std::byte> request,
                                                    uint64_t request_id, int timeout_ms) {
  if (auto ok = send(request); !ok) return fail(ok.error());
  for (;;) {
    // Only fresh messages: kept ones were requests of the core, never our answer.
    auto m = read_one(timeout_ms);
    if (!m) return m;
    if (m->header.response() && m->header.request_id == request_id) return m;
    kept_.push_back(std::move(*m));
  }
}

}  // namespace cp::smsc
