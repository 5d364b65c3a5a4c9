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

Result<IdRequest, std::string_view> decode_id_get(std::span<const std::byte> body) {
  if (body.size() % 2 != 0) return fail(std::string_view("ID_GET of odd length"));
  IdRequest r;
  for (size_t i = 0; i < body.size(); i += 2) {
    if (static_cast<uint8_t>(body[i]) != 0x01)
      return fail(std::string_view("ID_GET entry without its 0x01 marker"));
    if (r.count == kIdTagsMax) return fail(std::string_view("ID_GET asks for too many tags"));
    r.tags[r.count++] = static_cast<uint8_t>(body[i + 1]);
  }
  return r;
}

std::vector<std::byte> encode_id_resp(const IdRequest& request, std::string_view unit_name) {
  if (unit_name.size() > 250) unit_name = unit_name.substr(0, 250);  // a frame stays < 64 KiB
  std::vector<std::byte> body;
  for (size_t i = 0; i < request.count; ++i) {
    const uint8_t tag = request.tags[i];
    const std::string_view value =
        tag == kIdTagSerial || tag == kIdTagUnitName ? unit_name : std::string_view();
    const size_t len = 1 + value.size() + 1;
    body.push_back(static_cast<std::byte>(len >> 8));
    body.push_back(static_cast<std::byte>(len));
    body.push_back(static_cast<std::byte>(tag));
    for (char c : value) body.push_back(static_cast<std::byte>(c));
    body.push_back(std::byte{0});
  }
  return encode_ccm(kCcmIdResp, body);
}

}  // namespace cp::proto::ipa
