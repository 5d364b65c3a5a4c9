#include "services/remsim/rspro_link.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "proto/ipa/ipa.h"

namespace cp::remsim {

namespace ipa = proto::ipa;
namespace rspro = proto::rspro;

Result<void, std::string> RsproLink::connect(const SocketAddress& a) {
  close();
  auto sock = BlockingSocket::connect(a);
  if (!sock) return fail("connect " + a.to_string() + ": " + std::strerror(sock.error()));
  sock_ = std::move(*sock);
  return {};
}

void RsproLink::close() {
  sock_.close();
  in_.clear();
}

bool RsproLink::send_raw(std::span<const std::byte> bytes) {
  return sock_.valid() && sock_.send_all(bytes).has_value();
}

bool RsproLink::send(const rspro::Pdu& pdu) {
  if (!sock_.valid()) return false;
  return send_raw(rspro::encode_frame(pdu, scratch_));
}

bool RsproLink::read_available() {
  if (!sock_.valid()) return false;
  std::byte buf[8192];
  auto n = sock_.receive(buf);
  if (!n || *n == 0) return false;
  in_.insert(in_.end(), buf, buf + *n);
  return true;
}

Result<std::optional<RsproMessage>, std::string> RsproLink::next() {
  for (;;) {
    const auto len = ipa::frame_length(in_);
    if (!len || in_.size() < *len) return std::optional<RsproMessage>{};
    std::vector<std::byte> frame(in_.begin(), in_.begin() + static_cast<long>(*len));
    in_.erase(in_.begin(), in_.begin() + static_cast<long>(*len));
    auto f = ipa::decode(frame);
    if (!f) return fail("IPA: " + std::string(f.error()));
    if (f->proto == ipa::kProtoCcm) {
      if (!f->payload.empty() && static_cast<uint8_t>(f->payload[0]) == ipa::kCcmPing)
        send_raw(ipa::encode_ccm(ipa::kCcmPong));
      continue;
    }
    if (f->proto != ipa::kProtoOsmo || f->ext != ipa::kExtRspro) continue;
    RsproMessage m;
    m.bytes.assign(f->payload.begin(), f->payload.end());
    auto pdu = rspro::decode(m.bytes);
    if (!pdu) return fail("RSPRO: " + std::string(pdu.error()));
    m.pdu = *pdu;
    return std::optional<RsproMessage>(std::move(m));
  }
}

Result<std::optional<RsproMessage>, std::string> RsproLink::receive(int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto m = next();
    if (!m || *m) return m;
    if (!sock_.valid()) return fail(std::string("not connected"));
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::optional<RsproMessage>{};
    auto readable = sock_.wait_readable(static_cast<int>(left.count()));
    if (!readable) return fail(std::string("poll: ") + std::strerror(readable.error()));
    if (!*readable) continue;
    if (!read_available()) return fail(std::string("connection closed by the peer"));
  }
}

}  // namespace cp::remsim
