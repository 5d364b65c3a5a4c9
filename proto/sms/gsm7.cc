// The GSM 7 bit default alphabet and its extension table (3GPP TS 23.038 §6.2.1, §6.2.1.1),
// and septet packing (§6.1.2.1.1). The tables were written from the code charts of TS 23.038;
// every character in them is in the BMP, so they hold UTF-16 code units.
#include <algorithm>
#include <array>
#include <utility>

#include "proto/sms/text.h"
#include "proto/sms/text_detail.h"

namespace cp::sms {

namespace {

constexpr uint8_t kEscape = 0x1B;  // escape to the extension table
constexpr uint8_t kCr = 0x0D;      // the padding character of §6.1.2.3.1
constexpr unsigned kSeptetBits = 7;

// §6.2.1: septet -> Unicode. Entry 0x1B is the escape; it is never looked up (0 marks it).
// clang-format off
constexpr std::array<char16_t, 128> kDefaultAlphabet = {
    // 0x00  @       £       $       ¥       è       é       ù       ì
    0x0040, 0x00A3, 0x0024, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC,
    // 0x08  ò       Ç       LF      Ø       ø       CR      Å       å
    0x00F2, 0x00C7, 0x000A, 0x00D8, 0x00F8, 0x000D, 0x00C5, 0x00E5,
    // 0x10  Δ       _       Φ       Γ       Λ       Ω       Π       Ψ
    0x0394, 0x005F, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8,
    // 0x18  Σ       Θ       Ξ       ESC     Æ       æ       ß       É
    0x03A3, 0x0398, 0x039E, 0x0000, 0x00C6, 0x00E6, 0x00DF, 0x00C9,
    // 0x20  SP      !       "       #       ¤       %       &       '
    0x0020, 0x0021, 0x0022, 0x0023, 0x00A4, 0x0025, 0x0026, 0x0027,
    // 0x28  (       )       *       +       ,       -       .       /
    0x0028, 0x0029, 0x002A, 0x002B, 0x002C, 0x002D, 0x002E, 0x002F,
    // 0x30  0 .. 7
    0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037,
    // 0x38  8       9       :       ;       <       =       >       ?
    0x0038, 0x0039, 0x003A, 0x003B, 0x003C, 0x003D, 0x003E, 0x003F,
    // 0x40  ¡       A .. G
    0x00A1, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046, 0x0047,
    // 0x48  H .. O
    0x0048, 0x0049, 0x004A, 0x004B, 0x004C, 0x004D, 0x004E, 0x004F,
    // 0x50  P .. W
    0x0050, 0x0051, 0x0052, 0x0053, 0x0054, 0x0055, 0x0056, 0x0057,
    // 0x58  X       Y       Z       Ä       Ö       Ñ       Ü       §
    0x0058, 0x0059, 0x005A, 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7,
    // 0x60  ¿       a .. g
    0x00BF, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0067,
    // 0x68  h .. o
    0x0068, 0x0069, 0x006A, 0x006B, 0x006C, 0x006D, 0x006E, 0x006F,
    // 0x70  p .. w
    0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077,
    // 0x78  x       y       z       ä       ö       ñ       ü       à
    0x0078, 0x0079, 0x007A, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0,
};

// §6.2.1.1: the characters reached by 0x1B + code. 0x0A is the page break (form feed); 0x65 is
// the euro sign on the code of 'e', so a phone without the table shows 'e'. 0x0D (CR2) and 0x1B
// (a further table) are reserved, not characters.
struct Extension {
  uint8_t code;
  char16_t unit;
};
constexpr std::array<Extension, 10> kExtensions = {{
    {0x0A, 0x000C}, {0x14, 0x005E}, {0x28, 0x007B}, {0x29, 0x007D}, {0x2F, 0x005C},
    {0x3C, 0x005B}, {0x3D, 0x007E}, {0x3E, 0x005D}, {0x40, 0x007C}, {0x65, 0x20AC},
}};
// clang-format on

constexpr std::array<char16_t, 128> kExtensionTable = [] {
  std::array<char16_t, 128> table{};  // 0: no character at this code
  for (const Extension& e : kExtensions) table[e.code] = e.unit;
  return table;
}();

// Unicode -> septets, for the encoder: one entry per character of both tables, sorted by code
// unit for a binary search. `septets` is the septet, or 0x1Bxx for an extension character.
struct Reverse {
  char16_t unit;
  uint16_t septets;
};
constexpr size_t kReverseCount = 127 + kExtensions.size();  // every default code but the escape
constexpr std::array<Reverse, kReverseCount> kReverse = [] {
  std::array<Reverse, kReverseCount> table{};
  size_t n = 0;
  for (uint16_t code = 0; code < 128; ++code) {
    if (code != kEscape) table[n++] = {kDefaultAlphabet[code], code};
  }
  for (const Extension& e : kExtensions) {
    table[n++] = {e.unit, static_cast<uint16_t>(kEscape << 8 | e.code)};
  }
  std::sort(table.begin(), table.end(),
            [](const Reverse& a, const Reverse& b) { return a.unit < b.unit; });
  return table;
}();

// Both tables together must map characters to septets one to one, or a decode of an encode
// would not give the text back.
constexpr bool reverse_is_one_to_one() {
  for (size_t i = 1; i < kReverse.size(); ++i) {
    if (kReverse[i - 1].unit == kReverse[i].unit) return false;
  }
  return true;
}
static_assert(reverse_is_one_to_one(), "a character appears twice in the GSM 7 bit tables");

std::optional<uint16_t> septets_for(char32_t cp) {
  if (cp > 0xFFFF) return std::nullopt;
  const auto it =
      std::lower_bound(kReverse.begin(), kReverse.end(), cp,
                       [](const Reverse& entry, char32_t value) { return entry.unit < value; });
  if (it == kReverse.end() || it->unit != cp) return std::nullopt;
  return it->septets;
}

// The septet whose least significant bit is bit `bit` of `packed` (bits counted from the least
// significant bit of the first octet). The caller guarantees bit + 7 <= packed.size() * 8.
uint8_t septet_at(std::span<const std::byte> packed, size_t bit) {
  const size_t octet = bit / 8;
  const unsigned shift = bit % 8;
  unsigned value = std::to_integer<unsigned>(packed[octet]) >> shift;
  // A septet starting above bit 1 of an octet continues in the next one.
  if (shift > 1) value |= std::to_integer<unsigned>(packed[octet + 1]) << (8 - shift);
  return static_cast<uint8_t>(value & 0x7F);
}

}  // namespace

namespace detail {

Gsm7Counts append_gsm7_as_utf8(std::span<const uint8_t> septets, std::string& out) {
  Gsm7Counts counts;
  for (size_t i = 0; i < septets.size(); ++i) {
    const uint8_t code = septets[i];
    if (code >= 128) {
      append_utf8(out, kReplacement);
      ++counts.invalid_septets;
    } else if (code != kEscape) {
      append_utf8(out, kDefaultAlphabet[code]);
    } else if (i + 1 == septets.size()) {
      // A dangling escape (the sender split an extension character across segments, or cut
      // the message): shown as the space §6.2.1.1 prescribes for an escape it cannot resolve.
      append_utf8(out, U' ');
      ++counts.unknown_escapes;
    } else {
      const uint8_t next = septets[++i];
      if (next >= 128) {
        append_utf8(out, kReplacement);
        ++counts.invalid_septets;
      } else if (kExtensionTable[next] != 0) {
        append_utf8(out, kExtensionTable[next]);
      } else {
        // §6.2.1.1: 0x1B 0x1B is reserved for a further extension table, "display a space";
        // any other code not in the table shows the default-alphabet character.
        append_utf8(out, next == kEscape ? U' ' : char32_t{kDefaultAlphabet[next]});
        ++counts.unknown_escapes;
      }
    }
  }
  return counts;
}

size_t unpack_septets_into(std::span<const std::byte> packed, unsigned fill_bits,
                           std::span<uint8_t> out) {
  const size_t bits_total = packed.size() * 8;
  if (fill_bits >= bits_total) return 0;
  const size_t count = std::min(out.size(), (bits_total - fill_bits) / kSeptetBits);
  for (size_t i = 0; i < count; ++i) out[i] = septet_at(packed, fill_bits + i * kSeptetBits);
  return count;
}

}  // namespace detail

std::string gsm7_to_utf8(std::span<const uint8_t> septets) {
  std::string out;
  out.reserve(septets.size());
  detail::append_gsm7_as_utf8(septets, out);
  return out;
}

std::optional<std::vector<uint8_t>> utf8_to_gsm7(std::string_view utf8) {
  std::vector<uint8_t> septets;
  septets.reserve(utf8.size());
  size_t pos = 0;
  while (pos < utf8.size()) {
    const std::optional<char32_t> cp = detail::next_code_point(utf8, pos);
    if (!cp) return std::nullopt;
    const std::optional<uint16_t> code = septets_for(*cp);
    if (!code) return std::nullopt;
    if (*code > 0xFF) septets.push_back(kEscape);
    septets.push_back(static_cast<uint8_t>(*code & 0xFF));
  }
  return septets;
}

std::vector<uint8_t> unpack_septets(std::span<const std::byte> packed, size_t septet_count,
                                    unsigned fill_bits) {
  const size_t bits_total = packed.size() * 8;
  const size_t available = fill_bits >= bits_total ? 0 : (bits_total - fill_bits) / kSeptetBits;
  std::vector<uint8_t> septets(std::min(septet_count, available));
  detail::unpack_septets_into(packed, fill_bits, septets);
  return septets;
}

std::vector<std::byte> pack_septets(std::span<const uint8_t> septets, unsigned fill_bits) {
  const size_t bits_total = size_t{fill_bits} + septets.size() * kSeptetBits;
  std::vector<std::byte> packed((bits_total + 7) / 8);
  const auto put = [&packed](size_t bit, unsigned value) {
    const size_t octet = bit / 8;
    const unsigned shift = bit % 8;
    packed[octet] |= std::byte((value << shift) & 0xFF);
    if (shift > 1) packed[octet + 1] |= std::byte(value >> (8 - shift));
  };
  for (size_t i = 0; i < septets.size(); ++i) {
    put(fill_bits + i * kSeptetBits, septets[i] & 0x7Fu);
  }
  if (packed.size() * 8 - bits_total == kSeptetBits) put(bits_total, kCr);
  return packed;
}

size_t count_packed_septets(std::span<const std::byte> packed, unsigned fill_bits) {
  const size_t bits_total = packed.size() * 8;
  if (fill_bits >= bits_total) return 0;
  const size_t bits = bits_total - fill_bits;
  size_t count = bits / kSeptetBits;
  // When the septets end exactly with the last octet, a final CR is the padding of pack_septets
  // (or the second CR a sender adds to a wanted CR at an octet boundary, §6.1.2.3.1): drop it.
  if (count > 0 && bits % kSeptetBits == 0) {
    if (septet_at(packed, fill_bits + (count - 1) * kSeptetBits) == kCr) --count;
  }
  return count;
}

}  // namespace cp::sms
