// IPA framing (ip.access; libosmocore's ipaccess.h is the reference for the values): the
// transport of RSPRO, GSUP and the Osmocom CTRL interface over TCP. A frame is a 3-byte header —
// length (16 bits, big-endian, the bytes after the header) and protocol — then the payload. For
// protocol OSMO (0xEE) the first payload byte is an extension (0x00 CTRL, 0x05 GSUP, 0x07 RSPRO)
// and the length counts it. CCM (0xFE) carries the keepalive and identity exchange.
//
// Pure functions over byte spans; decoded payloads are views into the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace cp::proto::ipa {

inline constexpr size_t kHeaderBytes = 3;
inline constexpr uint8_t kProtoOsmo = 0xEE;
inline constexpr uint8_t kProtoCcm = 0xFE;
inline constexpr uint8_t kExtCtrl = 0x00;
inline constexpr uint8_t kExtGsup = 0x05;
inline constexpr uint8_t kExtRspro = 0x07;

// CCM message types.
inline constexpr uint8_t kCcmPing = 0x00;
inline constexpr uint8_t kCcmPong = 0x01;
inline constexpr uint8_t kCcmIdGet = 0x04;
inline constexpr uint8_t kCcmIdResp = 0x05;
inline constexpr uint8_t kCcmIdAck = 0x06;

struct Frame {
  uint8_t proto = 0;
  std::optional<uint8_t> ext;          // OSMO frames only
  std::span<const std::byte> payload;  // after the extension byte, if any
};

// The length of the frame at the front of `bytes` once its header is there (nullopt before).
std::optional<size_t> frame_length(std::span<const std::byte> bytes);

// One whole frame (`bytes` exactly frame_length long). Fails for an OSMO frame without its
// extension byte.
Result<Frame, std::string_view> decode(std::span<const std::byte> bytes);

// An OSMO frame with `ext` around `payload` (at most 65534 bytes).
std::vector<std::byte> encode_osmo(uint8_t ext, std::span<const std::byte> payload);
// A CCM frame: the message type and its body (PING / PONG have none).
std::vector<std::byte> encode_ccm(uint8_t type, std::span<const std::byte> body = {});

// CCM identity tags (libosmocore ipaccess.h, IPAC_IDTAG_*).
inline constexpr uint8_t kIdTagSerial = 0x00;    // SERNR: osmo-hlr routes by it
inline constexpr uint8_t kIdTagUnitName = 0x01;  // UNITNAME
inline constexpr size_t kIdTagsMax = 32;

// The tags an ID_GET asks for: its body (after the type byte) is `0x01, tag` pairs. Fails on a
// body of odd length, a pair not starting with 0x01 or more than kIdTagsMax tags.
struct IdRequest {
  uint8_t tags[kIdTagsMax] = {};
  size_t count = 0;
};
Result<IdRequest, std::string_view> decode_id_get(std::span<const std::byte> body);

// The ID_RESP frame answering `request`: per tag asked, in order, `len16, tag, value, NUL` with
// len16 = 1 + strlen + 1. SERNR and UNITNAME carry `unit_name`; every other tag an empty string
// (what osmo-hlr's own clients send, vectors/gsup-osmo-hlr-transcript.txt).
std::vector<std::byte> encode_id_resp(const IdRequest& request, std::string_view unit_name);

}  // namespace cp::proto::ipa
