// Fuzzes the control protocol decoders on arbitrary bytes. The input is read twice: as a byte
// stream cut into frames (frame_length, then decode_request on each complete body) and as one
// body handed straight to decode_request and decode_response, so JSON mutations reach the
// decoders even when the length header is wrong. Properties checked beyond "no crash": a
// decoded request has a valid command name and at most kArgsMax arguments, and any decoded
// response's result renders (it is valid JSON by construction).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "ctl/control_protocol.h"
#include "ctl/render.h"

namespace {

void check_request(std::span<const std::byte> body, cp::ctl::DecodeScratch& scratch) {
  auto request = cp::ctl::decode_request(body, scratch);
  if (!request) return;
  if (!cp::ctl::valid_command_name(request->cmd)) std::abort();
  if (request->args.size() > cp::ctl::kArgsMax) std::abort();
  for (const auto& arg : request->args) {
    if (arg.key.empty()) std::abort();
  }
}

void check_response(std::span<const std::byte> body) {
  auto response = cp::ctl::decode_response(body);
  if (!response) return;
  for (const char* cmd : {"status", "stats", "config.show", "log-level", "other"}) {
    if (!cp::ctl::render_result(cmd, response->result_json)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static cp::ctl::DecodeScratch scratch;
  std::span<const std::byte> stream(reinterpret_cast<const std::byte*>(data), size);
  for (;;) {
    const auto length = cp::ctl::frame_length(stream);
    if (!length || *length == 0 || *length > stream.size()) break;
    check_request(cp::ctl::frame_body(stream, *length), scratch);
    stream = stream.subspan(*length);
  }
  const std::span<const std::byte> whole(reinterpret_cast<const std::byte*>(data), size);
  check_request(whole, scratch);
  check_response(whole);
  return 0;
}
