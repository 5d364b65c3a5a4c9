// The data coding scheme (TS 23.038 §4), the user data header (TS 23.040 §9.2.3.24), UTF-8 and
// UTF-16 conversion, and decode_user_data, which ties them to the GSM 7 bit code in gsm7.cc.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <utility>

#include "base/byte_reader.h"
#include "proto/sms/text.h"
#include "proto/sms/text_detail.h"

namespace cp::sms {

namespace detail {

std::optional<char32_t> next_code_point(std::string_view s, size_t& pos) {
  const auto octet = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned lead = octet(pos);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  // RFC 3629 §4: the lead octet fixes the length and the range of the second octet, which is
  // what rules out overlong forms (C0, C1, E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and
  // values beyond U+10FFFF (F4 90.., F5..FF).
  size_t length = 0;
  unsigned second_min = 0x80, second_max = 0xBF;
  char32_t cp = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, cp = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, cp = lead & 0x0F;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, cp = lead & 0x07;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    ++pos;
    return std::nullopt;
  }
  if (s.size() - pos < length) {
    ++pos;
    return std::nullopt;
  }
  for (size_t i = 1; i < length; ++i) {
    const unsigned next = octet(pos + i);
    const unsigned min = i == 1 ? second_min : 0x80, max = i == 1 ? second_max : 0xBF;
    if (next < min || next > max) {
      ++pos;
      return std::nullopt;
    }
    cp = (cp << 6) | (next & 0x3F);
  }
  pos += length;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = kReplacement;
  const auto put = [&out](unsigned v) { out.push_back(static_cast<char>(v)); };
  if (cp < 0x80) {
    put(cp);
  } else if (cp < 0x800) {
    put(0xC0 | (cp >> 6));
    put(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    put(0xE0 | (cp >> 12));
    put(0x80 | ((cp >> 6) & 0x3F));
    put(0x80 | (cp & 0x3F));
  } else {
    put(0xF0 | (cp >> 18));
    put(0x80 | ((cp >> 12) & 0x3F));
    put(0x80 | ((cp >> 6) & 0x3F));
    put(0x80 | (cp & 0x3F));
  }
}

void append_hex(std::string& out, std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  for (std::byte b : bytes) {
    out.push_back(kDigits[std::to_integer<unsigned>(b) >> 4]);
    out.push_back(kDigits[std::to_integer<unsigned>(b) & 0x0F]);
  }
}

size_t append_ucs2_as_utf8(std::span<const std::byte> be, std::string& out) {
  const auto unit = [&be](size_t i) {
    return static_cast<char32_t>(std::to_integer<unsigned>(be[i]) << 8 |
                                 std::to_integer<unsigned>(be[i + 1]));
  };
  const auto is_high = [](char32_t u) { return u >= 0xD800 && u <= 0xDBFF; };
  const auto is_low = [](char32_t u) { return u >= 0xDC00 && u <= 0xDFFF; };
  size_t lone_surrogates = 0;
  const size_t units_end = be.size() & ~size_t{1};
  for (size_t i = 0; i < units_end; i += 2) {
    const char32_t u = unit(i);
    if (is_high(u) && i + 2 < units_end && is_low(unit(i + 2))) {
      append_utf8(out, 0x10000 + ((u - 0xD800) << 10) + (unit(i + 2) - 0xDC00));
      i += 2;
    } else if (is_high(u) || is_low(u)) {
      append_utf8(out, kReplacement);
      ++lone_surrogates;
    } else {
      append_utf8(out, u);
    }
  }
  if (units_end != be.size()) append_utf8(out, kReplacement);
  return lone_surrogates;
}

}  // namespace detail

// ---- DCS ----------------------------------------------------------------------------------------

std::string_view to_string(Alphabet alphabet) {
  switch (alphabet) {
    case Alphabet::gsm7:
      return "gsm7";
    case Alphabet::eight_bit:
      return "8bit";
    case Alphabet::ucs2:
      return "ucs2";
    case Alphabet::reserved:
      return "reserved";
  }
  return "reserved";
}

DcsInfo classify_dcs(uint8_t dcs) {
  const unsigned group = dcs >> 4;
  if (group < 0x8) {
    // 00xx general data coding and 01xx automatic deletion share the meaning of bits 5..0.
    static constexpr std::array<Alphabet, 4> kCharacterSet = {Alphabet::gsm7, Alphabet::eight_bit,
                                                              Alphabet::ucs2, Alphabet::reserved};
    return {.alphabet = kCharacterSet[(dcs >> 2) & 0x3],
            .compressed = (dcs & 0x20) != 0,
            .message_class = (dcs & 0x10) != 0 ? dcs & 0x3 : -1};
  }
  switch (group) {
    case 0xC:  // message waiting indication, discard message
    case 0xD:  // message waiting indication, store message
      return {.alphabet = Alphabet::gsm7, .compressed = false, .message_class = -1};
    case 0xE:  // message waiting indication, store message, UCS2
      return {.alphabet = Alphabet::ucs2, .compressed = false, .message_class = -1};
    case 0xF:  // data coding / message class
      return {.alphabet = (dcs & 0x04) != 0 ? Alphabet::eight_bit : Alphabet::gsm7,
              .compressed = false,
              .message_class = dcs & 0x3};
    default:  // 1000..1011 reserved coding groups
      return {.alphabet = Alphabet::reserved, .compressed = false, .message_class = -1};
  }
}

// ---- UDH ----------------------------------------------------------------------------------------

namespace {

constexpr uint8_t kIeiConcat8 = 0x00;   // §9.2.3.24.1: ref, total, seq
constexpr uint8_t kIeiPorts8 = 0x04;    // §9.2.3.24.3: dest, src
constexpr uint8_t kIeiPorts16 = 0x05;   // §9.2.3.24.4: dest (2), src (2)
constexpr uint8_t kIeiConcat16 = 0x08;  // §9.2.3.24.8: ref (2), total, seq

uint16_t be16(std::span<const std::byte> d, size_t at) {
  return static_cast<uint16_t>(std::to_integer<unsigned>(d[at]) << 8 |
                               std::to_integer<unsigned>(d[at + 1]));
}
uint8_t u8(std::span<const std::byte> d, size_t at) {
  return std::to_integer<uint8_t>(d[at]);
}

// Records what a known IE says, if it is well-formed; an ill-formed one is ignored, as
// §9.2.3.24.1 asks, leaving any earlier one in force.
void apply_element(Udh& udh, const UdhElement& ie) {
  const std::span<const std::byte> d = ie.data;
  const auto set_concat = [&udh](uint16_t ref, uint8_t total, uint8_t seq) {
    if (total == 0 || seq == 0 || seq > total) return;
    udh.concat_ref = ref;
    udh.concat_total = total;
    udh.concat_seq = seq;
  };
  if (ie.iei == kIeiConcat8 && d.size() == 3) {
    set_concat(u8(d, 0), u8(d, 1), u8(d, 2));
  } else if (ie.iei == kIeiConcat16 && d.size() == 4) {
    set_concat(be16(d, 0), u8(d, 2), u8(d, 3));
  } else if (ie.iei == kIeiPorts8 && d.size() == 2) {
    udh.dest_port = u8(d, 0);
    udh.src_port = u8(d, 1);
  } else if (ie.iei == kIeiPorts16 && d.size() == 4) {
    udh.dest_port = be16(d, 0);
    udh.src_port = be16(d, 2);
  }
}

}  // namespace

cp::Result<Udh, std::string> parse_udh(std::span<const std::byte> ud) {
  ByteReader reader(ud);
  const std::optional<uint8_t> udhl = reader.u8();
  if (!udhl) return fail(std::string("no UDHL octet"));
  const auto header = reader.bytes(*udhl);
  if (!header) {
    return fail(fmt::format("UDHL {} exceeds the {} octets after it", *udhl, reader.remaining()));
  }
  Udh udh;
  udh.length = 1 + size_t{*udhl};
  udh.elements.reserve(*udhl / 2);
  ByteReader ies(*header);
  while (!ies.empty()) {
    const size_t offset = 1 + ies.position();
    const uint8_t iei = *ies.u8();
    const std::optional<uint8_t> length = ies.u8();
    if (!length) {
      return fail(fmt::format("IE {:#04x} at offset {} has no length octet within UDHL {}", iei,
                              offset, *udhl));
    }
    const auto data = ies.bytes(*length);
    if (!data) {
      return fail(fmt::format("IE {:#04x} at offset {} of length {} overruns UDHL {}", iei, offset,
                              *length, *udhl));
    }
    udh.elements.push_back({.iei = iei, .data = *data});
    apply_element(udh, udh.elements.back());
  }
  return udh;
}

// ---- UTF-16 and UTF-8 ---------------------------------------------------------------------------

std::string ucs2_to_utf8(std::span<const std::byte> be) {
  std::string out;
  out.reserve(be.size() + be.size() / 2);
  detail::append_ucs2_as_utf8(be, out);
  return out;
}

std::vector<std::byte> utf8_to_ucs2(std::string_view utf8) {
  std::vector<std::byte> out;
  out.reserve(utf8.size() * 2);
  const auto put = [&out](char32_t unit) {
    out.push_back(std::byte((unit >> 8) & 0xFF));
    out.push_back(std::byte(unit & 0xFF));
  };
  size_t pos = 0;
  while (pos < utf8.size()) {
    const char32_t cp = detail::next_code_point(utf8, pos).value_or(detail::kReplacement);
    if (cp < 0x10000) {
      put(cp);
    } else {
      put(0xD800 + ((cp - 0x10000) >> 10));
      put(0xDC00 + ((cp - 0x10000) & 0x3FF));
    }
  }
  return out;
}

bool utf8_valid(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    if (!detail::next_code_point(s, pos)) return false;
  }
  return true;
}

// ---- TP-UD --------------------------------------------------------------------------------------

namespace {

constexpr size_t kSeptetsMax = 255;  // TP-UDL is one octet

// GSM 7-bit text after `header_octets` of UDH. The header occupies ceil(header bits / 7)
// septets of TP-UDL; the fill bits that round it up sit at the bottom of the first octet after
// the header (septets are packed least significant bit first), so unpacking starts there.
void decode_gsm7(std::span<const std::byte> body, size_t header_octets, size_t septet_total,
                 DecodedText& out) {
  const size_t header_septets = (header_octets * 8 + 6) / 7;
  const auto fill_bits = static_cast<unsigned>(header_septets * 7 - header_octets * 8);
  if (header_septets > septet_total) {
    out.warnings.push_back(fmt::format("UDH longer than TP-UDL: {} header septets, TP-UDL {}",
                                       header_septets, septet_total));
    return;
  }
  std::array<uint8_t, kSeptetsMax> septets;
  const size_t count = detail::unpack_septets_into(
      body.subspan(header_octets), fill_bits,
      std::span(septets).first(std::min(septet_total - header_septets, kSeptetsMax)));
  out.text.reserve(count);
  const detail::Gsm7Counts counts =
      detail::append_gsm7_as_utf8(std::span(septets).first(count), out.text);
  if (counts.unknown_escapes > 0) {
    out.warnings.push_back(
        fmt::format("unknown GSM escape: {} shown as the default-alphabet character or a space",
                    counts.unknown_escapes));
  }
}

void decode_ucs2(std::span<const std::byte> payload, DecodedText& out) {
  if (payload.size() % 2 != 0) {
    out.warnings.push_back(
        fmt::format("odd UCS-2 length: {} octets, the last shown as U+FFFD", payload.size()));
  }
  out.text.reserve(payload.size() + payload.size() / 2);
  if (const size_t lone = detail::append_ucs2_as_utf8(payload, out.text); lone > 0) {
    out.warnings.push_back(fmt::format("lone UTF-16 surrogate: {} shown as U+FFFD", lone));
  }
}

void decode_hex(std::span<const std::byte> payload, DecodedText& out) {
  out.binary = true;
  out.text.reserve(payload.size() * 2);
  detail::append_hex(out.text, payload);
}

}  // namespace

DecodedText decode_user_data(uint8_t dcs, bool udhi, uint8_t ud_length,
                             std::span<const std::byte> ud) {
  const DcsInfo dcs_info = classify_dcs(dcs);
  DecodedText out;
  out.alphabet = dcs_info.alphabet;
  // TP-UDL counts septets only for uncompressed GSM 7-bit (TS 23.040 §9.2.3.16).
  const bool in_septets = dcs_info.alphabet == Alphabet::gsm7 && !dcs_info.compressed;
  const size_t declared_octets = in_septets ? (size_t{ud_length} * 7 + 7) / 8 : ud_length;
  if (declared_octets > ud.size()) {
    out.warnings.push_back(fmt::format("TP-UDL {} {} needs {} octets, {} stored: clamped",
                                       ud_length, in_septets ? "septets" : "octets",
                                       declared_octets, ud.size()));
  }
  const std::span<const std::byte> body = ud.first(std::min(declared_octets, ud.size()));
  const size_t septet_total = std::min<size_t>(ud_length, body.size() * 8 / 7);

  size_t header_octets = 0;
  if (udhi) {
    auto udh = parse_udh(body);
    if (udh) {
      header_octets = udh->length;
      out.udh = std::move(*udh);
    } else if (!body.empty() && 1 + std::to_integer<size_t>(body[0]) <= body.size()) {
      // The IEs are broken but the UDHL still says where the text starts.
      header_octets = 1 + std::to_integer<size_t>(body[0]);
      out.warnings.push_back(fmt::format("UDH malformed: {}; header skipped", udh.error()));
    } else {
      // No way to tell header from text: show every octet rather than guess.
      out.warnings.push_back(fmt::format("UDH malformed: {}; user data shown as hex", udh.error()));
      decode_hex(body, out);
      return out;
    }
  }

  const std::span<const std::byte> payload = body.subspan(header_octets);
  if (dcs_info.compressed) {
    out.warnings.push_back("compressed user data (TS 23.042): shown as hex");
    decode_hex(payload, out);
  } else if (dcs_info.alphabet == Alphabet::gsm7) {
    decode_gsm7(body, header_octets, septet_total, out);
  } else if (dcs_info.alphabet == Alphabet::ucs2) {
    decode_ucs2(payload, out);
  } else {
    if (dcs_info.alphabet == Alphabet::reserved) {
      out.warnings.push_back(fmt::format("reserved data coding scheme {:#04x}: shown as hex", dcs));
    }
    decode_hex(payload, out);
  }
  return out;
}

}  // namespace cp::sms
