// libFuzzer target for the SMS user-data text codec (proto/sms/text.h). Input: TP-DCS, a flags
// octet (bit 0 TP-UDHI, bits 3..1 fill bits for the packing checks), TP-UDL, then the stored
// TP-UD. Checks what must hold for any input:
//   - decode_user_data: text is valid UTF-8, or upper-case hex when binary; UDH views lie
//     inside the header, inside `ud`; parse_udh's elements add up to its UDHL;
//   - septets unpacked from the bytes pack and unpack back to themselves, and their text
//     encodes back to septets that decode to the same text;
//   - the bytes, when they are valid UTF-8, survive UTF-8 -> UTF-16 -> UTF-8 exactly, and
//     UTF-8 -> GSM 7 bit -> UTF-8 exactly whenever the first step succeeds;
//   - UCS-2 decoding always yields valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proto/sms/text.h"

namespace {

using namespace cp::sms;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "sms_text_fuzz: %s\n", what);
  std::abort();
}

void check_decoded(const DecodedText& d, std::span<const std::byte> ud) {
  if (d.binary) {
    if (d.text.size() % 2 != 0) fail("hex text of odd length");
    if (d.text.find_first_not_of("0123456789ABCDEF") != std::string::npos) fail("not hex");
  } else if (!utf8_valid(d.text)) {
    fail("decoded text is not UTF-8");
  }
  if (d.udh) {
    if (d.udh->length > ud.size()) fail("UDH longer than the user data");
    for (const UdhElement& ie : d.udh->elements) {
      if (ie.data.data() < ud.data() + 3 ||
          ie.data.data() + ie.data.size() > ud.data() + d.udh->length) {
        fail("UDH element outside the header");
      }
    }
  }
}

void check_udh(std::span<const std::byte> ud) {
  const auto udh = parse_udh(ud);
  if (!udh) {
    if (udh.error().empty()) fail("parse_udh error without text");
    return;
  }
  size_t sum = 1;
  for (const UdhElement& ie : udh->elements) sum += 2 + ie.data.size();
  if (sum != udh->length) fail("UDH elements do not add up to the UDHL");
  if (udh->concat_ref && (udh->concat_seq == 0 || udh->concat_seq > udh->concat_total)) {
    fail("ill-formed concatenation accepted");
  }
}

void check_septets(std::span<const std::byte> ud, unsigned fill_bits) {
  const std::vector<uint8_t> septets = unpack_septets(ud, ud.size() * 2, fill_bits);
  const size_t bits = ud.size() * 8;
  if (septets.size() != (bits > fill_bits ? (bits - fill_bits) / 7 : 0)) fail("septet count");
  if (count_packed_septets(ud, fill_bits) > septets.size()) fail("count_packed_septets");
  const std::vector<std::byte> packed = pack_septets(septets, fill_bits);
  if (packed.size() != (fill_bits + 7 * septets.size() + 7) / 8) fail("packed size");
  if (!septets.empty() && packed.size() > ud.size()) fail("packed longer than its source");
  if (unpack_septets(packed, septets.size(), fill_bits) != septets) fail("pack/unpack");

  const std::string text = gsm7_to_utf8(septets);
  if (!utf8_valid(text)) fail("GSM 7 bit text is not UTF-8");
  const auto again = utf8_to_gsm7(text);
  if (!again) fail("decoded GSM 7 bit text does not encode");
  if (gsm7_to_utf8(*again) != text) fail("GSM 7 bit text does not survive a round trip");
}

void check_utf8(std::span<const std::byte> ud) {
  const std::string_view raw(reinterpret_cast<const char*>(ud.data()), ud.size());
  if (!utf8_valid(ucs2_to_utf8(ud))) fail("UCS-2 text is not UTF-8");
  if (!utf8_valid(raw)) return;
  if (ucs2_to_utf8(utf8_to_ucs2(raw)) != raw) fail("UTF-8 -> UTF-16 -> UTF-8");
  if (const auto septets = utf8_to_gsm7(raw)) {
    if (gsm7_to_utf8(*septets) != raw) fail("UTF-8 -> GSM 7 bit -> UTF-8");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t dcs = data[0];
  const bool udhi = (data[1] & 1) != 0;
  const unsigned fill_bits = (data[1] >> 1) & 0x7;
  const uint8_t ud_length = data[2];
  const std::span<const std::byte> ud(reinterpret_cast<const std::byte*>(data + 3), size - 3);
  check_decoded(decode_user_data(dcs, udhi, ud_length, ud), ud);
  check_udh(ud);
  check_septets(ud, fill_bits);
  check_utf8(ud);
  return 0;
}
