// libFuzzer target for RSPRO over IPA (proto/ipa/ipa.h, proto/rspro/rspro.h): the input is a TCP
// stream of IPA frames. Every RSPRO payload that decodes must re-encode to DER that decodes to
// the same DER again (our encoder's output is always acceptable to our decoder).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "proto/ipa/ipa.h"
#include "proto/rspro/rspro.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cp::proto;
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  while (auto len = ipa::frame_length(in)) {
    if (*len > in.size()) break;
    auto f = ipa::decode(in.first(*len));
    in = in.subspan(*len);
    if (!f || f->proto != ipa::kProtoOsmo || f->ext != ipa::kExtRspro) continue;
    auto p = rspro::decode(f->payload);
    // decode() takes a DER shortcut for TPDUs: it must agree with the general decoder.
    auto g = rspro::decode_general(f->payload);
    if (p.has_value() != g.has_value() ||
        (p && (rspro::encode(*p) != rspro::encode(*g) ||
               !std::equal(p->data.begin(), p->data.end(), g->data.begin(), g->data.end())))) {
      std::fprintf(stderr, "rspro_fuzz: the TPDU shortcut and the general decoder disagree\n");
      std::abort();
    }
    if (!p) continue;
    const auto der = rspro::encode(*p);
    auto again = rspro::decode(der);
    if (!again || rspro::encode(*again) != der) {
      std::fprintf(stderr, "rspro_fuzz: our own DER does not round-trip\n");
      std::abort();
    }
    // The one-pass framing encoder writes the same frame.
    std::vector<std::byte> scratch;
    const auto framed = rspro::encode_frame(*p, scratch);
    const auto expected = ipa::encode_osmo(ipa::kExtRspro, der);
    if (!std::equal(framed.begin(), framed.end(), expected.begin(), expected.end())) {
      std::fprintf(stderr, "rspro_fuzz: encode_frame differs from encode + IPA framing\n");
      std::abort();
    }
  }
  return 0;
}
