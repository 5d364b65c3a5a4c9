// SMS user-data text: the data coding scheme (3GPP TS 23.038 §4), the user data header
// (3GPP TS 23.040 §9.2.3.24), the GSM 7 bit default alphabet and its extension table
// (TS 23.038 §6.2.1, §6.2.1.1), septet packing (TS 23.038 §6.1.2.1) and UCS-2 (read as UTF-16).
// Used by the message-store dump tool on stored TP-UD and by the SMPP codec.
//
// Pure functions, no I/O and no state. They never trust a length: every function reads only
// inside the spans it is given, and a length that points beyond them is clamped (and reported
// by decode_user_data as a warning), never obeyed. Results own their text, except Udh, whose
// element data are views into the span that was parsed: they live as long as that buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace cp::sms {

// ---- Data coding scheme (TS 23.038 §4) --------------------------------------------------------

enum class Alphabet : uint8_t { gsm7, eight_bit, ucs2, reserved };
std::string_view to_string(Alphabet alphabet);  // "gsm7", "8bit", "ucs2", "reserved"

struct DcsInfo {
  Alphabet alphabet = Alphabet::gsm7;
  bool compressed = false;  // TS 23.042 compression (groups 00xx and 01xx, bit 5)
  int message_class = -1;   // -1: no message class; 0..3: class 0..3
};

// Classifies a TP-DCS octet by its coding group (bits 7..4):
//   00xx general data coding, 01xx the same marked for automatic deletion: bit 5 compressed,
//        bit 4 "bits 1..0 are a message class", bits 3..2 the alphabet (11 is reserved);
//   1100, 1101 message waiting (discard / store): GSM 7 bit; 1110 message waiting (store): UCS2;
//   1111 data coding / message class: bit 2 selects GSM 7 bit or 8-bit data, bits 1..0 the
//        class (bit 3 is reserved and ignored);
//   1000..1011 reserved coding groups: Alphabet::reserved.
// TS 23.038 asks a receiver to assume the GSM 7 bit alphabet for reserved codings;
// decode_user_data shows them as 8-bit data (hex) instead, which loses nothing.
DcsInfo classify_dcs(uint8_t dcs);

// ---- User data header (TS 23.040 §9.2.3.24) ---------------------------------------------------

struct UdhElement {
  uint8_t iei;
  std::span<const std::byte> data;  // a view into the parsed span
};

struct Udh {
  std::vector<UdhElement> elements;  // in order
  // Concatenation (IEI 0x00 8-bit ref, 0x08 16-bit ref), if present and well-formed: the IE has
  // its exact length, total >= 1 and 1 <= seq <= total (otherwise TS 23.040 §9.2.3.24.1 says
  // to ignore it). When an IE is repeated, the last well-formed one wins (§9.2.3.24).
  std::optional<uint16_t> concat_ref;
  uint8_t concat_total = 0;
  uint8_t concat_seq = 0;
  // Application ports (IEI 0x04 8-bit, 0x05 16-bit; §9.2.3.24.3, .4): exact length, last wins.
  std::optional<uint16_t> dest_port, src_port;
  size_t length = 0;  // total header bytes including the UDHL octet
};

// Parses a UDH at the start of `ud` (first octet = UDHL). Fails, with a sentence saying what
// and where, when there is no UDHL octet, the UDHL runs beyond `ud`, or an IE (its length octet
// or its data) runs beyond the UDHL. Bytes of `ud` after the header are not looked at.
cp::Result<Udh, std::string> parse_udh(std::span<const std::byte> ud);

// ---- Whole TP-UD ------------------------------------------------------------------------------

struct DecodedText {
  std::optional<Udh> udh;  // when udhi was set and the header parsed (views into `ud`)
  std::string text;        // UTF-8 for gsm7/ucs2; otherwise upper-case hex of the octets
  Alphabet alphabet = Alphabet::gsm7;
  bool binary = false;  // true when text is hex (8-bit, reserved, compressed, or unsplittable)
  // Human-readable, at most one per kind, each starting with a stable phrase: "TP-UDL ...",
  // "UDH malformed: ...", "UDH longer than TP-UDL", "odd UCS-2 length", "lone UTF-16 surrogate",
  // "unknown GSM escape", "reserved data coding scheme", "compressed user data".
  std::vector<std::string> warnings;
};

// Decodes TP-UD as stored in the message store: `ud_length` is TP-UDL (septets for
// uncompressed GSM 7-bit, octets otherwise: TS 23.040 §9.2.3.16), `ud` the stored octets (octets
// beyond what TP-UDL covers, such as the zero tail of a fixed 140-octet field, are ignored),
// `udhi` the TP-UDHI flag.
//   - GSM 7-bit text after a UDH starts at the next septet boundary: the header takes
//     ceil((UDHL + 1) * 8 / 7) septets of TP-UDL and the fill bits in between are skipped.
//   - A TP-UDL beyond `ud` is clamped to the data with a "TP-UDL" warning.
//   - A malformed UDH gives a warning; if its UDHL still fits, the text after it is decoded,
//     otherwise the whole user data is shown as hex (binary = true).
//   - 8-bit, reserved and compressed (TS 23.042, not decompressed here) data are shown as hex.
DecodedText decode_user_data(uint8_t dcs, bool udhi, uint8_t ud_length,
                             std::span<const std::byte> ud);

// ---- GSM 7 bit default alphabet (TS 23.038 §6.2.1) --------------------------------------------

// Unpacked septets (one per byte, values 0..0x7F; '@' is 0x00) to UTF-8. 0x1B escapes into the
// extension table (§6.2.1.1: ^ { } \ [ ~ ] | € and form feed). An escape to a code the table does
// not define shows the default-alphabet character of that code, as §6.2.1.1 tells a receiver to;
// 0x1B 0x1B (reserved for a further table) and a dangling 0x1B at the end show a space. A byte
// above 0x7F is not a septet and shows U+FFFD.
std::string gsm7_to_utf8(std::span<const uint8_t> septets);

// UTF-8 to unpacked septets; extension characters become 0x1B xx. nullopt when `utf8` is not
// valid UTF-8 or holds a character neither table has (no transliteration: the caller chooses
// UCS-2 instead).
std::optional<std::vector<uint8_t>> utf8_to_gsm7(std::string_view utf8);

// Septet packing (TS 23.038 §6.1.2.1.1): septets are laid down least significant bit first.
// `fill_bits` bits come first, at the bottom of the first octet: the fill after a UDH
// (TS 23.040 §9.2.3.24), 0..6 in practice; any larger offset works too.
//
// Unpacks up to `septet_count` septets, fewer if `packed` ends first (never reads beyond it).
std::vector<uint8_t> unpack_septets(std::span<const std::byte> packed, size_t septet_count,
                                    unsigned fill_bits = 0);
// Packs into ceil((fill_bits + 7 * n) / 8) octets, fill bits zero, using the low 7 bits of each
// byte of `septets`. When that leaves exactly 7 spare bits, they hold a CR rather than zeros
// (TS 23.038 §6.1.2.3.1, the USSD and cell-broadcast rule), so a receiver that counts septets
// from octets sees a CR, not a stray '@'. In an SMS, TP-UDL counts the septets and the pad is
// never read.
std::vector<std::byte> pack_septets(std::span<const uint8_t> septets, unsigned fill_bits = 0);
// Septets in `packed` when no septet count travels with it (SMPP, USSD): every whole septet,
// less a final CR that sits in what would have been 7 spare bits, the padding above. (A message
// that really ends in CR on an octet boundary gets a second CR from its sender, §6.1.2.3.1.)
size_t count_packed_septets(std::span<const std::byte> packed, unsigned fill_bits = 0);

// ---- UCS-2 / UTF-16 and UTF-8 -----------------------------------------------------------------

// Big-endian UCS-2 to UTF-8. Read as UTF-16 (phones send emoji as surrogate pairs); a lone
// surrogate and a dangling odd last octet each become U+FFFD.
std::string ucs2_to_utf8(std::span<const std::byte> be);
// UTF-8 to UTF-16BE (surrogate pairs beyond the BMP). Malformed UTF-8 becomes U+FFFD, one per
// bad octet.
std::vector<std::byte> utf8_to_ucs2(std::string_view utf8);

// Whether `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, <= U+10FFFF).
bool utf8_valid(std::string_view s);

}  // namespace cp::sms
