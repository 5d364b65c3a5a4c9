// libFuzzer target for SMPP text and SMS segments (proto/smpp/coding.h). The first octets pick
// the data_coding, the UDH flag and an optional sar_*; the rest is the short message. Whatever
// to_sms() accepts must give segments that fit the store's 140 octets, that the independent
// TP-UD decoder (proto/sms/text.h) reads without a TP-UDL complaint, and that to_smpp() turns
// back into a short message. Receipt and time parsers get the raw bytes too.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "proto/smpp/coding.h"
#include "proto/sms/text.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "smpp_coding_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cp::proto::smpp;
  if (size < 4) return 0;
  const uint8_t dc = data[0];
  const bool udhi = data[1] & 1;
  const bool ref16 = data[1] & 2;
  std::optional<Sar> sar;
  if (data[1] & 4)
    sar = Sar{static_cast<uint16_t>(data[2] * 7), data[3], static_cast<uint8_t>(data[3] / 2)};
  const auto dc0 = static_cast<DefaultAlphabet>((data[1] >> 3) % 3);
  std::span<const std::byte> payload(reinterpret_cast<const std::byte*>(data + 4), size - 4);
  static std::vector<SmsSegment> segs(255);
  ToSmsOptions opt;
  opt.dc0 = dc0;
  opt.ref16 = ref16;
  opt.concat_ref = data[2];
  auto n = to_sms(dc, udhi, payload, sar, opt, segs);
  if (n) {
    if (*n == 0 || *n > 255) fail("segment count out of range");
    for (size_t i = 0; i < *n; ++i) {
      const SmsSegment& s = segs[i];
      if (s.ud_bytes > 140) fail("a segment beyond 140 octets");
      auto d =
          cp::sms::decode_user_data(s.dcs, s.udhi, s.ud_length, std::span(s.ud.data(), s.ud_bytes));
      for (const auto& w : d.warnings)
        if (w.rfind("TP-UDL", 0) == 0) fail("TP-UDL beyond the octets written");
      auto back = to_smpp(s, dc0);
      if (!back) fail("a segment we made does not convert back");
    }
  }
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)parse_receipt(text);
  (void)parse_time(text.substr(0, 16), 1'800'000'000, status::invexpiry);
  return 0;
}
