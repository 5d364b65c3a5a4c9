#include "services/smsc/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cp::smsc {

Result<SmscClient, std::string> SmscClient::connect(const std::string& path) {
  auto address = SocketAddress::parse("unix:" + path);
  if (!address) return fail(path + ": " + address.error());
  auto sock = BlockingSocket::connect(*address, BlockingSocket::Type::seqpacket);
  if (!sock) {
    const int err = sock.error();
    return fail(
        path + ": " + std::strerror(err) +
        (err == ENOENT || err == ECONNREFUSED ? " (is cellplaned running with [smsc]?)" : ""));
  }
  SmscClient c;
  c.sock_ = std::move(*sock);
  return c;
}

Result<void, std::string> SmscClient::send(std::span<const std::byte> message) {
  return send_packet(message);
}

Result<void, std::string> SmscClient::send_packet(std::span<const std::byte> messages) {
  if (auto ok = sock_.send_all(messages); !ok)
    return fail(std::string("send: ") +
                (ok.error() == EMSGSIZE ? "short write" : std::strerror(ok.error())));
  return {};
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
    auto readable = sock_.wait_readable(timeout_ms);
    if (!readable) return fail(std::string("poll: ") + std::strerror(readable.error()));
    if (!*readable) return fail(std::string("timed out waiting for the core"));
    in_.resize(65536);
    auto n = sock_.receive(in_);
    if (!n || *n == 0) {
      in_.clear();
      return fail(n ? std::string("the core closed the connection")
                    : std::string("recv: ") + std::strerror(n.error()));
    }
    in_.resize(*n);
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
