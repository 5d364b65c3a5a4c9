// libFuzzer target for the SMPP 3.4 PDU decoder (proto/smpp/pdu.h). The input is a TCP stream
// as a peer would send it: PDUs are framed by command_length and each body is decoded as the
// PDU its command id names. A decoded bind or submit_sm/deliver_sm must re-encode to the very
// bytes it came from (nothing lost, nothing invented); a framing error ends the stream, as the
// server closes the connection then.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "proto/smpp/pdu.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "smpp_pdu_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cp::proto::smpp;
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  while (!in.empty()) {
    auto len = frame_length(in);
    if (!len || !*len || **len > in.size()) break;
    const auto pdu = in.first(**len);
    in = in.subspan(**len);
    auto h = decode_header(pdu);
    if (!h) fail("a framed PDU whose header does not decode");
    const auto body = pdu.subspan(kHeaderBytes);
    switch (h->command_id) {
      case cmd::bind_receiver:
      case cmd::bind_transmitter:
      case cmd::bind_transceiver: {
        auto b = decode_bind(body);
        if (b &&
            encode_bind(h->command_id, h->sequence, *b) !=
                std::vector<std::byte>(pdu.begin(), pdu.end()) &&
            h->command_status == 0)
          fail("a bind that does not re-encode to its bytes");
        break;
      }
      case cmd::submit_sm:
      case cmd::deliver_sm: {
        auto m = decode_short_message(body);
        if (m && h->command_status == 0 &&
            encode_short_message(h->command_id, h->sequence, *m) !=
                std::vector<std::byte>(pdu.begin(), pdu.end()))
          fail("a short message that does not re-encode to its bytes");
        break;
      }
      default:
        if (h->response()) (void)decode_message_id_resp(body);
        break;
    }
  }
  return 0;
}
