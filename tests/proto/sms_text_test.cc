// SMS user-data text (proto/sms/text.h): the GSM 7 bit alphabet and its packing, the UDH,
// UCS-2, the DCS, and decode_user_data on whole stored TP-UD, including every truncation and
// every byte flipped through all 256 values (run under ASan in the ci preset). Packed vectors
// other than the TS 23.038 example were computed with an independent bit-level packer.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proto/sms/text.h"

namespace cp::sms {
namespace {

// "E8 32 9B" -> bytes.
std::vector<std::byte> hex(std::string_view text) {
  std::vector<std::byte> out;
  unsigned value = 0, digits = 0;
  for (char c : text) {
    if (c == ' ') continue;
    value = value * 16 + static_cast<unsigned>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    if (++digits == 2) {
      out.push_back(std::byte(value));
      value = digits = 0;
    }
  }
  return out;
}

// bytes -> "E8 32 9B".
std::string to_hex(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (std::byte b : bytes) {
    if (!out.empty()) out += ' ';
    out += kDigits[std::to_integer<unsigned>(b) >> 4];
    out += kDigits[std::to_integer<unsigned>(b) & 0xF];
  }
  return out;
}

std::vector<uint8_t> septets_of(std::string_view ascii) {
  return {ascii.begin(), ascii.end()};
}

bool has_warning(const DecodedText& d, std::string_view prefix) {
  for (const std::string& w : d.warnings) {
    if (w.starts_with(prefix)) return true;
  }
  return false;
}

std::string warnings_of(const DecodedText& d) {
  std::string all;
  for (const std::string& w : d.warnings) all += "[" + w + "]";
  return all;
}

// TS 23.038 §6.2.1, the default alphabet in code order, with the escape (0x1B) left out.
constexpr std::string_view kDefaultAlphabetUtf8 =
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ" /* 0x1B */
    "ÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà";

// §6.2.1.1, the extension table: code after 0x1B and the character.
struct ExtensionChar {
  uint8_t code;
  std::string_view utf8;
};
constexpr std::array<ExtensionChar, 10> kExtension = {{{0x0A, "\f"},
                                                       {0x14, "^"},
                                                       {0x28, "{"},
                                                       {0x29, "}"},
                                                       {0x2F, "\\"},
                                                       {0x3C, "["},
                                                       {0x3D, "~"},
                                                       {0x3E, "]"},
                                                       {0x40, "|"},
                                                       {0x65, "€"}}};

// ---- GSM 7 bit alphabet -------------------------------------------------------------------------

TEST(Gsm7Alphabet, DefaultTableMatchesTheSpec) {
  std::vector<uint8_t> all;
  for (uint8_t code = 0; code < 128; ++code) {
    if (code != 0x1B) all.push_back(code);
  }
  EXPECT_EQ(gsm7_to_utf8(all), kDefaultAlphabetUtf8);
  const auto encoded = utf8_to_gsm7(kDefaultAlphabetUtf8);
  ASSERT_TRUE(encoded);
  EXPECT_EQ(*encoded, all);
}

TEST(Gsm7Alphabet, ExtensionTableMatchesTheSpec) {
  for (const ExtensionChar& e : kExtension) {
    SCOPED_TRACE(e.utf8);
    const std::vector<uint8_t> septets = {0x1B, e.code};
    EXPECT_EQ(gsm7_to_utf8(septets), e.utf8);
    EXPECT_EQ(utf8_to_gsm7(e.utf8), septets);
  }
}

// Every character of both tables: UTF-8 -> septets -> packed (at every fill) -> septets -> UTF-8.
TEST(Gsm7Alphabet, EveryCharacterRoundTripsThroughPacking) {
  std::string text(kDefaultAlphabetUtf8);
  for (const ExtensionChar& e : kExtension) text += e.utf8;
  const auto septets = utf8_to_gsm7(text);
  ASSERT_TRUE(septets);
  ASSERT_EQ(septets->size(), 127u + 2 * kExtension.size());
  for (unsigned fill = 0; fill < 7; ++fill) {
    SCOPED_TRACE(fill);
    const std::vector<std::byte> packed = pack_septets(*septets, fill);
    EXPECT_EQ(packed.size(), (fill + 7 * septets->size() + 7) / 8);
    const std::vector<uint8_t> unpacked = unpack_septets(packed, septets->size(), fill);
    EXPECT_EQ(unpacked, *septets);
    EXPECT_EQ(gsm7_to_utf8(unpacked), text);
  }
  // And one character at a time, so a pair of wrong entries cannot hide each other.
  for (size_t pos = 0; pos < text.size();) {
    size_t len = 1;
    while (pos + len < text.size() &&
           (static_cast<unsigned char>(text[pos + len]) & 0xC0) == 0x80) {
      ++len;
    }
    const std::string one = text.substr(pos, len);
    SCOPED_TRACE(one);
    const auto s = utf8_to_gsm7(one);
    ASSERT_TRUE(s);
    EXPECT_EQ(gsm7_to_utf8(unpack_septets(pack_septets(*s), s->size())), one);
    pos += len;
  }
}

TEST(Gsm7Alphabet, UnrepresentableTextIsRefused) {
  EXPECT_FALSE(utf8_to_gsm7("`"));                    // backtick: in neither table
  EXPECT_FALSE(utf8_to_gsm7("ç"));                    // only the capital Ç is at 0x09
  EXPECT_FALSE(utf8_to_gsm7("abc\xF0\x9F\x98\x80"));  // emoji
  EXPECT_FALSE(utf8_to_gsm7("Привет"));
  EXPECT_FALSE(utf8_to_gsm7("a\xC3"));     // truncated UTF-8
  EXPECT_FALSE(utf8_to_gsm7("\xC0\x80"));  // overlong NUL
  EXPECT_FALSE(utf8_to_gsm7(std::string_view("\0", 1)));
  EXPECT_EQ(utf8_to_gsm7(""), std::vector<uint8_t>{});
  EXPECT_EQ(utf8_to_gsm7("a€"), (std::vector<uint8_t>{0x61, 0x1B, 0x65}));
}

TEST(Gsm7Alphabet, UnknownAndDanglingEscapes) {
  // §6.2.1.1: an escape to an undefined code shows the default-alphabet character.
  EXPECT_EQ(gsm7_to_utf8(std::vector<uint8_t>{0x1B, 0x41, 0x1B, 0x00}), "A@");
  EXPECT_EQ(gsm7_to_utf8(std::vector<uint8_t>{0x1B, 0x0D}), "\r");  // CR2 is reserved
  // 0x1B 0x1B is reserved for a further table: a space; so is an escape with nothing after it.
  EXPECT_EQ(gsm7_to_utf8(std::vector<uint8_t>{0x1B, 0x1B, 0x61}), " a");
  EXPECT_EQ(gsm7_to_utf8(std::vector<uint8_t>{0x61, 0x1B}), "a ");
  // Bytes above 0x7F are not septets.
  EXPECT_EQ(gsm7_to_utf8(std::vector<uint8_t>{0x80, 0x1B, 0xFF}), "\uFFFD\uFFFD");
}

// ---- Packing ------------------------------------------------------------------------------------

TEST(Gsm7Packing, HellohelloFromTs23038) {
  const std::vector<uint8_t> septets = septets_of("hellohello");
  EXPECT_EQ(to_hex(pack_septets(septets)), "E8 32 9B FD 46 97 D9 EC 37");
  EXPECT_EQ(unpack_septets(hex("E8 32 9B FD 46 97 D9 EC 37"), 10), septets);
}

TEST(Gsm7Packing, EightSeptetsFillSevenOctets) {
  const std::vector<uint8_t> septets = septets_of("12345678");
  EXPECT_EQ(to_hex(pack_septets(septets)), "31 D9 8C 56 B3 DD 70");
  EXPECT_EQ(unpack_septets(hex("31 D9 8C 56 B3 DD 70"), 8), septets);
  EXPECT_EQ(count_packed_septets(hex("31 D9 8C 56 B3 DD 70")), 8u);
}

// 7 septets leave 7 spare bits in 7 octets; a reader counting septets from octets would see an
// 8th septet. pack_septets puts CR there (TS 23.038 §6.1.2.3.1), not '@' (0x00).
TEST(Gsm7Packing, SevenSeptetsArePaddedWithCr) {
  const std::vector<uint8_t> septets = septets_of("1234567");
  const std::vector<std::byte> packed = pack_septets(septets);
  EXPECT_EQ(to_hex(packed), "31 D9 8C 56 B3 DD 1A");  // 0x1A = CR << 1
  // With the count (TP-UDL) the pad is never read ...
  EXPECT_EQ(unpack_septets(packed, 7), septets);
  // ... without it, it unpacks as CR and count_packed_septets drops it.
  EXPECT_EQ(unpack_septets(packed, 8), septets_of("1234567\r"));
  EXPECT_EQ(count_packed_septets(packed), 7u);
  // Zero-padded octets from another encoder unpack as a trailing '@' when over-counted.
  EXPECT_EQ(unpack_septets(hex("31 D9 8C 56 B3 DD 00"), 8),
            septets_of(std::string("1234567\0", 8)));
  EXPECT_EQ(count_packed_septets(hex("31 D9 8C 56 B3 DD 00")), 8u);
  // A wanted CR at an octet boundary is sent as CR CR (§6.1.2.3.1): one is dropped.
  EXPECT_EQ(count_packed_septets(pack_septets(septets_of("1234567\r"))), 7u);
  EXPECT_EQ(count_packed_septets(pack_septets(septets_of("123456\r\r"))), 7u);
  EXPECT_EQ(count_packed_septets(pack_septets(septets_of("123456\r\r\r"))), 9u);
}

TEST(Gsm7Packing, FillBitsComeFirst) {
  EXPECT_EQ(to_hex(pack_septets(septets_of("hello"), 1)), "D0 65 36 FB 0D");
  EXPECT_EQ(unpack_septets(hex("D0 65 36 FB 0D"), 5, 1), septets_of("hello"));
  EXPECT_EQ(to_hex(pack_septets(septets_of("abc"), 1)), "C2 E2 31");
  EXPECT_EQ(to_hex(pack_septets({}, 1)), "1A");  // 1 fill bit + 7 spare bits: the CR pad
  EXPECT_EQ(to_hex(pack_septets({})), "");
}

TEST(Gsm7Packing, UnpackNeverReadsBeyondTheData) {
  const std::vector<std::byte> packed = hex("E8 32 9B FD 46 97 D9 EC 37");
  for (size_t len = 0; len <= packed.size(); ++len) {
    const std::vector<std::byte> cut(packed.begin(), packed.begin() + len);  // heap: ASan-exact
    for (unsigned fill = 0; fill < 20; ++fill) {
      const std::vector<uint8_t> s = unpack_septets(cut, 1000, fill);
      EXPECT_EQ(s.size(), len * 8 > fill ? (len * 8 - fill) / 7 : 0);
      EXPECT_LE(count_packed_septets(cut, fill), s.size());
    }
  }
  EXPECT_EQ(unpack_septets(packed, 3), septets_of("hel"));
  EXPECT_TRUE(unpack_septets({}, 5).empty());
}

// ---- UCS-2 and UTF-8 ----------------------------------------------------------------------------

TEST(Ucs2, BmpText) {
  const std::vector<std::byte> be = hex("04 1F 04 40 04 38 04 32 04 35 04 42 00 20 20 AC");
  EXPECT_EQ(ucs2_to_utf8(be), "Привет €");
  EXPECT_EQ(utf8_to_ucs2("Привет €"), be);
}

TEST(Ucs2, SurrogatePairIsOneCharacter) {
  const std::vector<std::byte> be = hex("00 48 D8 3D DE 00 00 21");
  EXPECT_EQ(ucs2_to_utf8(be), "H\xF0\x9F\x98\x80!");
  EXPECT_EQ(utf8_to_ucs2("H\xF0\x9F\x98\x80!"), be);
}

TEST(Ucs2, LoneSurrogatesAndOddLengthBecomeReplacement) {
  EXPECT_EQ(ucs2_to_utf8(hex("D8 3D 00 41")),
            "\uFFFD"
            "A");  // high without low
  EXPECT_EQ(ucs2_to_utf8(hex("DE 00 00 41")),
            "\uFFFD"
            "A");                                          // low without high
  EXPECT_EQ(ucs2_to_utf8(hex("00 41 D8 3D")), "A\uFFFD");  // high at the end
  EXPECT_EQ(ucs2_to_utf8(hex("D8 3D D8 3D DE 00")), "\uFFFD\xF0\x9F\x98\x80");
  EXPECT_EQ(ucs2_to_utf8(hex("00 41 00")), "A\uFFFD");  // dangling odd octet
  EXPECT_EQ(ucs2_to_utf8({}), "");
}

TEST(Ucs2, MalformedUtf8BecomesReplacement) {
  EXPECT_EQ(to_hex(utf8_to_ucs2("a\xFF"
                                "b")),
            "00 61 FF FD 00 62");
  EXPECT_EQ(to_hex(utf8_to_ucs2("\xED\xA0\x80")), "FF FD FF FD FF FD");  // encoded surrogate
}

TEST(Utf8, Validity) {
  EXPECT_TRUE(utf8_valid(""));
  EXPECT_TRUE(utf8_valid("plain"));
  EXPECT_TRUE(utf8_valid("£€\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF"));
  EXPECT_TRUE(utf8_valid(std::string_view("\0", 1)));
  EXPECT_FALSE(utf8_valid("\x80"));              // stray continuation
  EXPECT_FALSE(utf8_valid("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(utf8_valid("\xC1\xBF"));          // overlong
  EXPECT_FALSE(utf8_valid("\xE0\x9F\xBF"));      // overlong 3-octet
  EXPECT_FALSE(utf8_valid("\xF0\x8F\xBF\xBF"));  // overlong 4-octet
  EXPECT_FALSE(utf8_valid("\xED\xA0\x80"));      // surrogate D800
  EXPECT_FALSE(utf8_valid("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(utf8_valid("\xF5\x80\x80\x80"));
  EXPECT_FALSE(utf8_valid("\xE2\x82"));  // truncated €
  EXPECT_FALSE(utf8_valid("\xE2\x82x"));
  EXPECT_FALSE(utf8_valid("\xFF"));
}

// ---- DCS ----------------------------------------------------------------------------------------

// TS 23.038 §4, one row per coding group (bits 7..4), one token per value of bits 3..0:
// alphabet (G gsm7, 8 eight_bit, U ucs2, R reserved), 'z' if compressed, then the class or '-'.
constexpr std::array<std::string_view, 16> kDcsTable = {
    // 00xx general data coding: bit 5 compressed, bit 4 class meaning, bits 3..2 alphabet
    "G- G- G- G- 8- 8- 8- 8- U- U- U- U- R- R- R- R-",                  // 0000
    "G0 G1 G2 G3 80 81 82 83 U0 U1 U2 U3 R0 R1 R2 R3",                  // 0001
    "Gz- Gz- Gz- Gz- 8z- 8z- 8z- 8z- Uz- Uz- Uz- Uz- Rz- Rz- Rz- Rz-",  // 0010
    "Gz0 Gz1 Gz2 Gz3 8z0 8z1 8z2 8z3 Uz0 Uz1 Uz2 Uz3 Rz0 Rz1 Rz2 Rz3",  // 0011
    // 01xx marked for automatic deletion, otherwise as 00xx
    "G- G- G- G- 8- 8- 8- 8- U- U- U- U- R- R- R- R-",                  // 0100
    "G0 G1 G2 G3 80 81 82 83 U0 U1 U2 U3 R0 R1 R2 R3",                  // 0101
    "Gz- Gz- Gz- Gz- 8z- 8z- 8z- 8z- Uz- Uz- Uz- Uz- Rz- Rz- Rz- Rz-",  // 0110
    "Gz0 Gz1 Gz2 Gz3 8z0 8z1 8z2 8z3 Uz0 Uz1 Uz2 Uz3 Rz0 Rz1 Rz2 Rz3",  // 0111
    // 1000..1011 reserved coding groups
    "R- R- R- R- R- R- R- R- R- R- R- R- R- R- R- R-",  // 1000
    "R- R- R- R- R- R- R- R- R- R- R- R- R- R- R- R-",  // 1001
    "R- R- R- R- R- R- R- R- R- R- R- R- R- R- R- R-",  // 1010
    "R- R- R- R- R- R- R- R- R- R- R- R- R- R- R- R-",  // 1011
    // 1100 / 1101 message waiting (discard / store), GSM 7 bit; 1110 store, UCS2
    "G- G- G- G- G- G- G- G- G- G- G- G- G- G- G- G-",  // 1100
    "G- G- G- G- G- G- G- G- G- G- G- G- G- G- G- G-",  // 1101
    "U- U- U- U- U- U- U- U- U- U- U- U- U- U- U- U-",  // 1110
    // 1111 data coding / message class: bit 3 reserved, bit 2 8-bit, bits 1..0 class
    "G0 G1 G2 G3 80 81 82 83 G0 G1 G2 G3 80 81 82 83",  // 1111
};

std::string dcs_token(const DcsInfo& info) {
  static constexpr char kLetter[] = {'G', '8', 'U', 'R'};
  std::string token(1, kLetter[static_cast<int>(info.alphabet)]);
  if (info.compressed) token += 'z';
  token += info.message_class < 0 ? '-' : static_cast<char>('0' + info.message_class);
  return token;
}

TEST(Dcs, EveryValueMatchesTheTable) {
  for (unsigned group = 0; group < 16; ++group) {
    std::string row;
    for (unsigned low = 0; low < 16; ++low) {
      if (low > 0) row += ' ';
      row += dcs_token(classify_dcs(static_cast<uint8_t>(group << 4 | low)));
    }
    EXPECT_EQ(row, kDcsTable[group]) << "coding group " << group;
  }
}

TEST(Dcs, AlphabetNames) {
  EXPECT_EQ(to_string(Alphabet::gsm7), "gsm7");
  EXPECT_EQ(to_string(Alphabet::eight_bit), "8bit");
  EXPECT_EQ(to_string(Alphabet::ucs2), "ucs2");
  EXPECT_EQ(to_string(Alphabet::reserved), "reserved");
}

// ---- UDH ----------------------------------------------------------------------------------------

TEST(Udh, EightBitConcatenation) {
  const std::vector<std::byte> ud = hex("05 00 03 CC 02 01 90 65");
  const auto udh = parse_udh(ud);
  ASSERT_TRUE(udh) << udh.error();
  EXPECT_EQ(udh->length, 6u);
  ASSERT_EQ(udh->elements.size(), 1u);
  EXPECT_EQ(udh->elements[0].iei, 0x00);
  EXPECT_EQ(to_hex(udh->elements[0].data), "CC 02 01");
  EXPECT_EQ(udh->elements[0].data.data(), ud.data() + 3);  // a view, not a copy
  EXPECT_EQ(udh->concat_ref, 0xCC);
  EXPECT_EQ(udh->concat_total, 2);
  EXPECT_EQ(udh->concat_seq, 1);
  EXPECT_FALSE(udh->dest_port);
}

TEST(Udh, SixteenBitConcatenation) {
  const auto udh = parse_udh(hex("06 08 04 12 34 03 02"));
  ASSERT_TRUE(udh) << udh.error();
  EXPECT_EQ(udh->length, 7u);
  EXPECT_EQ(udh->concat_ref, 0x1234);
  EXPECT_EQ(udh->concat_total, 3);
  EXPECT_EQ(udh->concat_seq, 2);
}

TEST(Udh, Ports) {
  // WAP push: 16-bit ports 2948 <- 9200 (TS 23.040 §9.2.3.24.4).
  auto udh = parse_udh(hex("06 05 04 0B 84 23 F0"));
  ASSERT_TRUE(udh) << udh.error();
  EXPECT_EQ(udh->dest_port, 2948);
  EXPECT_EQ(udh->src_port, 9200);
  EXPECT_FALSE(udh->concat_ref);
  udh = parse_udh(hex("04 04 02 F5 00"));  // 8-bit ports 245 <- 0
  ASSERT_TRUE(udh) << udh.error();
  EXPECT_EQ(udh->dest_port, 245);
  EXPECT_EQ(udh->src_port, 0);
}

TEST(Udh, SeveralElementsInOrder) {
  // ports, an unknown IE (0x24 national single shift), 8-bit concat, empty IE.
  const auto udh = parse_udh(hex("0E 04 02 10 20 24 01 03 00 03 07 05 05 70 00"));
  ASSERT_TRUE(udh) << udh.error();
  EXPECT_EQ(udh->length, 15u);
  ASSERT_EQ(udh->elements.size(), 4u);
  EXPECT_EQ(udh->elements[0].iei, 0x04);
  EXPECT_EQ(udh->elements[1].iei, 0x24);
  EXPECT_EQ(udh->elements[2].iei, 0x00);
  EXPECT_EQ(udh->elements[3].iei, 0x70);
  EXPECT_TRUE(udh->elements[3].data.empty());
  EXPECT_EQ(udh->dest_port, 0x10);
  EXPECT_EQ(udh->src_port, 0x20);
  EXPECT_EQ(udh->concat_ref, 7);
  EXPECT_EQ(udh->concat_seq, 5);
}

TEST(Udh, IllFormedConcatenationIsIgnoredLastGoodOneWins) {
  // total 0, seq 0, seq > total, wrong IE length: all ignored (§9.2.3.24.1).
  for (std::string_view bad : {"05 00 03 01 00 01", "05 00 03 01 02 00", "05 00 03 01 02 03",
                               "04 00 02 01 02", "06 08 04 00 01 00 01"}) {
    SCOPED_TRACE(bad);
    const auto udh = parse_udh(hex(bad));
    ASSERT_TRUE(udh) << udh.error();
    EXPECT_FALSE(udh->concat_ref);
    EXPECT_EQ(udh->concat_total, 0);
    EXPECT_EQ(udh->elements.size(), 1u);
  }
  // A later good one replaces an earlier one; a later bad one leaves it.
  auto udh = parse_udh(hex("0B 00 03 01 02 01 08 04 AB CD 03 03"));
  ASSERT_TRUE(udh) << udh.error();
  EXPECT_EQ(udh->concat_ref, 0xABCD);
  EXPECT_EQ(udh->concat_seq, 3);
  udh = parse_udh(hex("0A 00 03 01 02 01 00 03 09 00 01"));
  ASSERT_TRUE(udh) << udh.error();
  EXPECT_EQ(udh->concat_ref, 1);
  EXPECT_EQ(udh->concat_total, 2);
}

TEST(Udh, MalformedHeadersAreErrors) {
  EXPECT_EQ(parse_udh({}).error(), "no UDHL octet");
  EXPECT_EQ(parse_udh(hex("05 00 03 01")).error(), "UDHL 5 exceeds the 3 octets after it");
  EXPECT_EQ(parse_udh(hex("03 00 03 01 02 01")).error(),
            "IE 0x00 at offset 1 of length 3 overruns UDHL 3");
  EXPECT_EQ(parse_udh(hex("05 04 02 01 02 00")).error(),
            "IE 0x00 at offset 5 has no length octet within UDHL 5");
  const auto empty = parse_udh(hex("00 41"));
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->length, 1u);
  EXPECT_TRUE(empty->elements.empty());
}

// ---- decode_user_data ---------------------------------------------------------------------------

TEST(DecodeUserData, PlainGsm7) {
  // A fixed 140-octet store field: the zero tail beyond TP-UDL is ignored.
  std::vector<std::byte> ud = hex("E8 32 9B FD 46 97 D9 EC 37");
  ud.resize(140);
  const DecodedText d = decode_user_data(0x00, false, 10, ud);
  EXPECT_EQ(d.text, "hellohello");
  EXPECT_EQ(d.alphabet, Alphabet::gsm7);
  EXPECT_FALSE(d.binary);
  EXPECT_FALSE(d.udh);
  EXPECT_TRUE(d.warnings.empty()) << warnings_of(d);
}

// The classic bug: a 6-octet UDH is 48 bits, so the text starts after 1 fill bit, at septet 7.
TEST(DecodeUserData, Gsm7AfterSixOctetUdhSkipsOneFillBit) {
  const std::vector<std::byte> ud = hex("05 00 03 CC 02 01 90 65 36 FB 0D BA BF E5 6C 32");
  const DecodedText d = decode_user_data(0x00, true, 7 + 11, ud);
  EXPECT_EQ(d.text, "Hello world");
  ASSERT_TRUE(d.udh);
  EXPECT_EQ(d.udh->concat_ref, 0xCC);
  EXPECT_EQ(d.udh->concat_seq, 1);
  EXPECT_TRUE(d.warnings.empty()) << warnings_of(d);
}

// A 7-octet UDH is 56 bits, exactly 8 septets: no fill bits.
TEST(DecodeUserData, Gsm7AfterSevenOctetUdhHasNoFill) {
  const std::vector<std::byte> ud = hex("06 08 04 12 34 03 02 C8 34 88 8E 2E CB CB");
  const DecodedText d = decode_user_data(0x00, true, 8 + 8, ud);
  EXPECT_EQ(d.text, "Hi there");
  ASSERT_TRUE(d.udh);
  EXPECT_EQ(d.udh->concat_ref, 0x1234);
  EXPECT_TRUE(d.warnings.empty()) << warnings_of(d);
}

TEST(DecodeUserData, Gsm7WithEscapes) {
  const std::vector<std::byte> ud = pack_septets(*utf8_to_gsm7("€5 {x}"));
  DecodedText d = decode_user_data(0xF1, false, 9, ud);  // group 1111, class 1
  EXPECT_EQ(d.text, "€5 {x}");
  EXPECT_TRUE(d.warnings.empty()) << warnings_of(d);
  const std::vector<std::byte> odd = pack_septets(std::vector<uint8_t>{0x1B, 0x41, 0x42, 0x1B});
  d = decode_user_data(0x00, false, 4, odd);
  EXPECT_EQ(d.text, "AB ");
  EXPECT_TRUE(has_warning(d, "unknown GSM escape")) << warnings_of(d);
}

TEST(DecodeUserData, Gsm7UdlBeyondDataIsClamped) {
  const DecodedText d = decode_user_data(0x00, false, 160, hex("E8 32 9B FD 46"));
  EXPECT_EQ(d.text, "hello");  // 40 bits: 5 whole septets
  EXPECT_TRUE(has_warning(d, "TP-UDL 160 septets needs 140 octets, 5 stored")) << warnings_of(d);
}

TEST(DecodeUserData, Gsm7UdhLongerThanUdl) {
  // TP-UDL 7 covers 7 octets, which hold the whole 7-octet UDH but it needs 8 septets.
  const DecodedText d = decode_user_data(0x00, true, 7, hex("06 08 04 12 34 03 02 C8"));
  EXPECT_EQ(d.text, "");
  EXPECT_TRUE(d.udh);
  EXPECT_TRUE(has_warning(d, "UDH longer than TP-UDL")) << warnings_of(d);
}

TEST(DecodeUserData, MalformedUdhWarnsAndNeverCrashes) {
  // UDHL beyond the data: nothing can be split off, the octets are shown as hex.
  DecodedText d = decode_user_data(0x00, true, 9, hex("30 00 03 01 02 01 C8 34"));
  EXPECT_FALSE(d.udh);
  EXPECT_TRUE(d.binary);
  EXPECT_EQ(d.text, "300003010201C834");
  EXPECT_TRUE(has_warning(d, "UDH malformed: UDHL 48 exceeds")) << warnings_of(d);
  // An IE overruns the UDHL, but the UDHL fits: the text after it is still decoded.
  d = decode_user_data(0x00, true, 7 + 5, hex("05 00 07 01 02 01 D0 65 36 FB 0D"));
  EXPECT_FALSE(d.udh);
  EXPECT_FALSE(d.binary);
  EXPECT_EQ(d.text, "hello");
  EXPECT_TRUE(has_warning(d, "UDH malformed: IE 0x00 at offset 1 of length 7 overruns UDHL 5"))
      << warnings_of(d);
  // UDHI with no user data at all.
  d = decode_user_data(0x08, true, 0, {});
  EXPECT_TRUE(has_warning(d, "UDH malformed: no UDHL octet")) << warnings_of(d);
  EXPECT_EQ(d.text, "");
}

TEST(DecodeUserData, Ucs2) {
  DecodedText d = decode_user_data(0x08, false, 8, hex("00 48 D8 3D DE 00 00 21"));
  EXPECT_EQ(d.text, "H\xF0\x9F\x98\x80!");
  EXPECT_EQ(d.alphabet, Alphabet::ucs2);
  EXPECT_TRUE(d.warnings.empty()) << warnings_of(d);
  // After a UDH no fill: octets.
  d = decode_user_data(0x08, true, 10, hex("05 00 03 01 02 02 00 48 00 69"));
  EXPECT_EQ(d.text, "Hi");
  EXPECT_EQ(d.udh->concat_seq, 2);
  // Odd length.
  d = decode_user_data(0x08, false, 5, hex("04 1F 04 40 04"));
  EXPECT_EQ(d.text, "Пр\uFFFD");
  EXPECT_TRUE(has_warning(d, "odd UCS-2 length")) << warnings_of(d);
  // A segment that ends inside a surrogate pair.
  d = decode_user_data(0xE0, false, 4, hex("00 41 D8 3D"));  // message waiting, UCS2
  EXPECT_EQ(d.text, "A\uFFFD");
  EXPECT_TRUE(has_warning(d, "lone UTF-16 surrogate")) << warnings_of(d);
}

TEST(DecodeUserData, EightBitIsHex) {
  const DecodedText d =
      decode_user_data(0x04, true, 10, hex("06 05 04 0B 84 23 F0 01 06 2F 00 00"));
  EXPECT_TRUE(d.binary);
  EXPECT_EQ(d.alphabet, Alphabet::eight_bit);
  EXPECT_EQ(d.text, "01062F");
  ASSERT_TRUE(d.udh);
  EXPECT_EQ(d.udh->dest_port, 2948);
  EXPECT_TRUE(d.warnings.empty()) << warnings_of(d);
}

TEST(DecodeUserData, ReservedAndCompressedAreHexWithAWarning) {
  DecodedText d = decode_user_data(0x80, false, 2, hex("41 42"));
  EXPECT_EQ(d.alphabet, Alphabet::reserved);
  EXPECT_TRUE(d.binary);
  EXPECT_EQ(d.text, "4142");
  EXPECT_TRUE(has_warning(d, "reserved data coding scheme 0x80")) << warnings_of(d);
  // Compressed GSM 7 bit: TP-UDL counts octets (TS 23.040 §9.2.3.16).
  d = decode_user_data(0x20, false, 3, hex("01 02 03 04"));
  EXPECT_EQ(d.alphabet, Alphabet::gsm7);
  EXPECT_TRUE(d.binary);
  EXPECT_EQ(d.text, "010203");
  EXPECT_TRUE(has_warning(d, "compressed user data")) << warnings_of(d);
}

TEST(DecodeUserData, OctetUdlBeyondDataIsClamped) {
  const DecodedText d = decode_user_data(0x04, false, 200, hex("AA BB"));
  EXPECT_EQ(d.text, "AABB");
  EXPECT_TRUE(has_warning(d, "TP-UDL 200 octets needs 200 octets, 2 stored")) << warnings_of(d);
}

// ---- Robustness ---------------------------------------------------------------------------------

// What must hold for any input: text is UTF-8, or hex when binary; UDH views lie inside `ud`.
void check_invariants(const DecodedText& d, std::span<const std::byte> ud) {
  if (d.binary) {
    EXPECT_EQ(d.text.size() % 2, 0u);
    EXPECT_EQ(d.text.find_first_not_of("0123456789ABCDEF"), std::string::npos);
  } else {
    EXPECT_TRUE(utf8_valid(d.text));
  }
  if (d.udh) {
    EXPECT_LE(d.udh->length, ud.size());
    for (const UdhElement& ie : d.udh->elements) {
      EXPECT_GE(ie.data.data(), ud.data());
      EXPECT_LE(ie.data.data() + ie.data.size(), ud.data() + d.udh->length);
    }
  }
}

struct Vector {
  uint8_t dcs;
  bool udhi;
  uint8_t ud_length;
  std::string_view hex;
};
constexpr Vector kVectors[] = {
    {0x00, false, 10, "E8 32 9B FD 46 97 D9 EC 37"},
    {0x00, true, 18, "05 00 03 CC 02 01 90 65 36 FB 0D BA BF E5 6C 32"},
    {0x00, true, 16, "06 08 04 12 34 03 02 C8 34 88 8E 2E CB CB"},
    {0x08, true, 14, "05 00 03 01 02 02 00 48 D8 3D DE 00 00 21"},
    {0x04, true, 10, "06 05 04 0B 84 23 F0 01 06 2F"},
    {0x00, true, 30, "0E 04 02 10 20 24 01 03 00 03 07 05 05 70 00 9B 72 0D"},
};

TEST(DecodeUserData, EveryTruncationAndEveryUdl) {
  for (const Vector& v : kVectors) {
    SCOPED_TRACE(v.hex);
    const std::vector<std::byte> full = hex(v.hex);
    for (size_t len = 0; len <= full.size(); ++len) {
      // An exact-size heap copy, so ASan catches a read one past the end.
      const std::vector<std::byte> cut(full.begin(), full.begin() + len);
      for (unsigned udl = 0; udl < 256; ++udl) {
        for (bool udhi : {false, true}) {
          check_invariants(decode_user_data(v.dcs, udhi, static_cast<uint8_t>(udl), cut), cut);
        }
      }
      if (len < full.size() && v.udhi) {
        EXPECT_FALSE(decode_user_data(v.dcs, v.udhi, v.ud_length, cut).warnings.empty()) << len;
      }
    }
  }
}

TEST(DecodeUserData, EveryByteFlippedThroughAllValues) {
  for (const Vector& v : kVectors) {
    SCOPED_TRACE(v.hex);
    std::vector<std::byte> ud = hex(v.hex);
    for (size_t pos = 0; pos < ud.size(); ++pos) {
      const std::byte saved = ud[pos];
      for (unsigned value = 0; value < 256; ++value) {
        ud[pos] = std::byte(value);
        for (unsigned dcs : {unsigned{v.dcs}, 0x08u, 0x20u, 0x84u}) {
          check_invariants(decode_user_data(static_cast<uint8_t>(dcs), v.udhi, v.ud_length, ud),
                           ud);
        }
      }
      ud[pos] = saved;
    }
  }
}

}  // namespace
}  // namespace cp::sms
