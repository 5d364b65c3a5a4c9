#include "proto/ipa/ipa.h"

namespace cp::proto::ipa {

std::optional<size_t> frame_length(std::span<const std::byte> bytes) {
  if (bytes.size() < kHeaderBytes) return std::nullopt;
  const size_t len = (static_cast<size_t>(bytes[0]) << 8) | static_cast<size_t>(bytes[1]);
  return kHeaderBytes + len;
}

Result<Frame, std::string_view> decode(std::span<const std::byte> bytes) {
  const auto len = frame_length(bytes);
  if (!len || *len != bytes.size()) return fail(std::string_view("IPA length mismatch"));
  Frame f;
  f.proto = static_cast<uint8_t>(bytes[2]);
  f.payload = bytes.subspan(kHeaderBytes);
  if (f.proto == kProtoOsmo) {
    if (f.payload.empty()) return fail(std::string_view("OSMO frame without extension byte"));
    f.ext = static_cast<uint8_t>(f.payload[0]);
    f.payload = f.payload.subspan(1);
  }
  return f;
}

namespace {
std::vector<std::byte> frame(uint8_t proto, std::optional<uint8_t> first,
                             std::span<const std::byte> rest) {
  const size_t len = rest.size() + (first ? 1 : 0);
  std::vector<std::byte> out;
  out.reserve(kHeaderBytes + len);
  out.push_back(static_cast<std::byte>(len >> 8));
  out.push_back(static_cast<std::byte>(len));
  out.push_back(static_cast<std::byte>(proto));
  if (first) out.push_back(static_cast<std::byte>(*first));
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}
}  // namespace

std::vector<std::byte> encode_osmo(uint8_t ext, std::span<const std::byte> payload) {
  return frame(kProtoOsmo, ext, payload);
}

std::vector<std::byte> encode_ccm(uint8_t type, std::span<const std::byte> body) {
  return frame(kProtoCcm, type, body);
}

}  // namespace cp::proto::ipa
