// SMPP text <-> SMS segments, delivery receipts and SMPP times (proto/smpp/coding.h). Every
// produced segment is decoded back with the independent TP-UD decoder of proto/sms/text.h
// (decode_user_data), so a packing or header mistake shows as wrong text, not as agreement
// between an encoder and its own inverse.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "proto/smpp/coding.h"
#include "proto/sms/text.h"

namespace cp::proto::smpp {
namespace {

std::vector<std::byte> bytes(std::string_view s) {
  std::vector<std::byte> out;
  for (char c : s) out.push_back(static_cast<std::byte>(c));
  return out;
}

struct Split {
  std::vector<SmsSegment> segs;
  std::string text;  // every segment decoded and joined
  std::vector<sms::DecodedText> decoded;
};

Split split(uint8_t dc, std::span<const std::byte> payload, ToSmsOptions opt = {},
            bool udhi = false, std::optional<Sar> sar = std::nullopt) {
  Split s;
  s.segs.resize(255);
  auto n = to_sms(dc, udhi, payload, sar, opt, s.segs);
  EXPECT_TRUE(n) << (n ? "" : n.error().what);
  if (!n) return s;
  s.segs.resize(*n);
  for (const auto& seg : s.segs) {
    auto d = sms::decode_user_data(seg.dcs, seg.udhi, seg.ud_length,
                                   std::span(seg.ud.data(), seg.ud_bytes));
    EXPECT_TRUE(d.warnings.empty()) << d.warnings[0];
    s.text += d.text;
    s.decoded.push_back(std::move(d));
  }
  return s;
}

TEST(SmppCoding, AsciiBecomesGsm7AndComesBack) {
  const auto in = bytes("Hello, world! @ 100%");
  auto s = split(1, in);
  ASSERT_EQ(s.segs.size(), 1u);
  EXPECT_EQ(s.segs[0].dcs, 0x00);
  EXPECT_EQ(s.segs[0].ud_length, in.size());
  EXPECT_EQ(s.text, "Hello, world! @ 100%");
  auto t = to_smpp(s.segs[0], DefaultAlphabet::ia5);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->data_coding, 0);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(t->bytes.data()), t->length),
            "Hello, world! @ 100%");
  // As GSM septets one per octet, '@' is 0x00.
  auto g = to_smpp(s.segs[0], DefaultAlphabet::gsm7);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->data_coding, 0);
  EXPECT_EQ(static_cast<int>(g->bytes[14]), 0x00);
}

TEST(SmppCoding, ExtensionCharactersTakeTwoSeptets) {
  auto s = split(1, bytes("[x]{y}~|^\\"));
  ASSERT_EQ(s.segs.size(), 1u);
  EXPECT_EQ(s.segs[0].dcs, 0x00);
  EXPECT_EQ(s.segs[0].ud_length, 18);  // eight extension characters (0x1B + code), x and y
  EXPECT_EQ(s.text, "[x]{y}~|^\\");
}

TEST(SmppCoding, Latin1AndUcs2) {
  // Latin-1 "café": é is in the GSM alphabet.
  const std::vector<std::byte> cafe = {std::byte{'c'}, std::byte{'a'}, std::byte{'f'},
                                       std::byte{0xE9}};
  auto s = split(3, cafe);
  EXPECT_EQ(s.segs[0].dcs, 0x00);
  EXPECT_EQ(s.text, "caf\xC3\xA9");
  // Latin-1 "ñ¿Ê": Ê is not in the GSM alphabet -> UCS-2.
  const std::vector<std::byte> other = {std::byte{0xF1}, std::byte{0xBF}, std::byte{0xCA}};
  auto u = split(3, other);
  EXPECT_EQ(u.segs[0].dcs, 0x08);
  EXPECT_EQ(u.text, "\xC3\xB1\xC2\xBF\xC3\x8A");
  auto back = to_smpp(u.segs[0], DefaultAlphabet::latin1);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->data_coding, 8);  // UCS-2 stays UCS-2
  // UCS-2 with an emoji (a surrogate pair).
  const std::vector<std::byte> emoji = {std::byte{0xD8}, std::byte{0x3D}, std::byte{0xDE},
                                        std::byte{0x00}, std::byte{0x00}, std::byte{'!'}};
  auto e = split(8, emoji);
  EXPECT_EQ(e.segs[0].dcs, 0x08);
  EXPECT_EQ(e.text, "\xF0\x9F\x98\x80!");
}

TEST(SmppCoding, IA5RefusesHighOctetsAndOddUcs2IsRefused) {
  std::vector<SmsSegment> out(4);
  const std::vector<std::byte> high = {std::byte{'a'}, std::byte{0x80}};
  EXPECT_FALSE(to_sms(1, false, high, std::nullopt, {}, out));
  const std::vector<std::byte> odd = {std::byte{0}, std::byte{'a'}, std::byte{0}};
  EXPECT_FALSE(to_sms(8, false, odd, std::nullopt, {}, out));
  EXPECT_FALSE(to_sms(5, false, high, std::nullopt, {}, out));  // JIS: not offered
  const std::vector<std::byte> septet_high = {std::byte{0x90}};
  EXPECT_FALSE(to_sms(0, false, septet_high, std::nullopt, {}, out));
}

TEST(SmppCoding, SegmentBoundaries) {
  // 160 GSM characters: one segment; 161: two (153 + 8) with an 8-bit reference.
  std::string t160(160, 'a');
  EXPECT_EQ(split(1, bytes(t160)).segs.size(), 1u);
  ToSmsOptions opt;
  opt.concat_ref = 0x1234;
  auto two = split(1, bytes(t160 + "b"), opt);
  ASSERT_EQ(two.segs.size(), 2u);
  EXPECT_EQ(two.text, t160 + "b");
  ASSERT_TRUE(two.decoded[0].udh);
  EXPECT_EQ(*two.decoded[0].udh->concat_ref, 0x34);
  EXPECT_EQ(two.decoded[0].udh->concat_total, 2);
  EXPECT_EQ(two.decoded[1].udh->concat_seq, 2);
  EXPECT_EQ(two.segs[0].ud_length, 160);  // 7 header septets + 153
  EXPECT_EQ(two.segs[0].ud_bytes, 140);
  // 16-bit reference: 152 per segment.
  opt.ref16 = true;
  auto r16 = split(1, bytes(std::string(305, 'c')), opt);
  ASSERT_EQ(r16.segs.size(), 3u);  // 152 + 152 + 1
  EXPECT_EQ(*r16.decoded[2].udh->concat_ref, 0x1234);
  EXPECT_EQ(r16.text, std::string(305, 'c'));
  // UCS-2: 70 characters in one, 71 in two (67 + 4).
  std::vector<std::byte> u70, u71;
  for (int i = 0; i < 70; ++i) u70.insert(u70.end(), {std::byte{0x04}, std::byte{0x10}});
  u71 = u70;
  u71.insert(u71.end(), {std::byte{0x04}, std::byte{0x11}});
  EXPECT_EQ(split(8, u70).segs.size(), 1u);
  auto u = split(8, u71);
  ASSERT_EQ(u.segs.size(), 2u);
  EXPECT_EQ(u.segs[0].ud_length, 140);
}

TEST(SmppCoding, NeverSplitsAnEscapeOrASurrogatePair) {
  // 152 'a' then '€' (0x1B 0x65): the escape would straddle 153 -> it moves whole.
  std::string t(152, 'a');
  t += "\xE2\x82\xAC" + std::string(10, 'b');
  std::vector<std::byte> utf;  // feed as Latin-1 is impossible for €: use dc 0 septets instead
  for (int i = 0; i < 152; ++i) utf.push_back(std::byte{'a'});
  utf.push_back(std::byte{0x1B});
  utf.push_back(std::byte{0x65});
  for (int i = 0; i < 10; ++i) utf.push_back(std::byte{'b'});
  auto s = split(0, utf);
  ASSERT_EQ(s.segs.size(), 2u);
  EXPECT_EQ(s.segs[0].ud_length, 7 + 152);
  EXPECT_EQ(s.text, t);
  // UCS-2: 66 BMP characters then an emoji at octets 132..135: the pair goes to segment 2.
  std::vector<std::byte> u;
  for (int i = 0; i < 66; ++i) u.insert(u.end(), {std::byte{0}, std::byte{'x'}});
  u.insert(u.end(), {std::byte{0xD8}, std::byte{0x3D}, std::byte{0xDE}, std::byte{0x00}});
  for (int i = 0; i < 5; ++i) u.insert(u.end(), {std::byte{0}, std::byte{'y'}});
  auto us = split(8, u);
  ASSERT_EQ(us.segs.size(), 2u);
  EXPECT_EQ(us.segs[0].ud_length, 6 + 132);
  EXPECT_EQ(us.text, std::string(66, 'x') + "\xF0\x9F\x98\x80" + std::string(5, 'y'));
}

TEST(SmppCoding, TooManySegmentsIsAnError) {
  std::vector<SmsSegment> out(3);
  const auto long_text = bytes(std::string(153 * 3 + 1, 'z'));
  auto r = to_sms(1, false, long_text, std::nullopt, {}, out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, status::invmsglen);
  std::vector<SmsSegment> many(255);
  EXPECT_FALSE(to_sms(1, false, bytes(std::string(153 * 255 + 1, 'z')), std::nullopt, {}, many));
  EXPECT_TRUE(to_sms(1, false, bytes(std::string(153 * 255, 'z')), std::nullopt, {}, many));
}

TEST(SmppCoding, PeerUdhAndSarAreKept) {
  // A peer's own concatenation UDH (ref 7, 2 parts, part 1) before GSM text.
  std::vector<std::byte> p = {std::byte{5}, std::byte{0}, std::byte{3},
                              std::byte{7}, std::byte{2}, std::byte{1}};
  for (char c : std::string("first half")) p.push_back(static_cast<std::byte>(c));
  auto s = split(0, p, {}, true);
  ASSERT_EQ(s.segs.size(), 1u);
  EXPECT_TRUE(s.segs[0].udhi);
  EXPECT_EQ(*s.decoded[0].udh->concat_ref, 7);
  EXPECT_EQ(s.text, "first half");
  auto back = to_smpp(s.segs[0], DefaultAlphabet::gsm7);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->esm_udhi);
  EXPECT_EQ(back->length, p.size());
  EXPECT_TRUE(std::equal(p.begin(), p.end(), back->bytes.begin()));
  // sar_* TLVs become an 8-bit concatenation IE, a reference above 255 folded into 8 bits.
  auto sar = split(1, bytes("part two"), {}, false, Sar{300, 3, 2});
  ASSERT_EQ(sar.segs.size(), 1u);
  EXPECT_EQ(*sar.decoded[0].udh->concat_ref, (300 >> 8) ^ (300 & 0xFF));
  EXPECT_EQ(sar.decoded[0].udh->concat_seq, 2);
  EXPECT_EQ(sar.text, "part two");
  // Parts cut for the 8-bit header (153 GSM characters) fit with any reference, and every part
  // of a message gets the same header (issue 15: a reference above 255 made full parts too long
  // for the 16-bit header, so parts 1 and 2 were refused and part 3 delivered alone).
  const std::string full(153, 'a');
  for (uint8_t seq : {1, 2, 3}) {
    auto part =
        split(1, bytes(seq == 3 ? std::string("end") : full), {}, false, Sar{0x1234, 3, seq});
    ASSERT_EQ(part.segs.size(), 1u) << int{seq};
    EXPECT_EQ(*part.decoded[0].udh->concat_ref, 0x12 ^ 0x34) << int{seq};
    EXPECT_EQ(part.decoded[0].udh->concat_seq, seq);
  }
  std::vector<SmsSegment> out(1);
  EXPECT_EQ(to_sms(1, false, bytes("x"), Sar{1, 2, 3}, {}, out).error().status,
            status::invoptparamval);
  // A malformed UDH (UDHL beyond the payload).
  const std::vector<std::byte> bad = {std::byte{9}, std::byte{0}};
  EXPECT_FALSE(to_sms(0, true, bad, std::nullopt, {}, out));
}

TEST(SmppCoding, Gsm7ForALatin1PeerMayNeedMoreThanAShortMessage) {
  // 160 septets holding a Greek capital (0x13, Gamma) that Latin-1 lacks: UCS-2, 320 octets.
  std::vector<std::byte> septets(160, std::byte{'a'});
  septets[0] = std::byte{0x13};
  auto s = split(0, septets);
  ASSERT_EQ(s.segs.size(), 1u);
  auto t = to_smpp(s.segs[0], DefaultAlphabet::latin1);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->data_coding, 8);
  EXPECT_EQ(t->length, 320);
  auto g = to_smpp(s.segs[0], DefaultAlphabet::gsm7);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->length, 160);
}

TEST(SmppCoding, BinaryAndClassDcs) {
  const std::vector<std::byte> bin = {std::byte{0xDE}, std::byte{0xAD}, std::byte{0x00}};
  auto s = split(4, bin);
  EXPECT_EQ(s.segs[0].dcs, 0x04);
  auto back = to_smpp(s.segs[0], DefaultAlphabet::gsm7);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->data_coding, 4);
  EXPECT_EQ(back->length, 3);
  // data_coding 0xF0: GSM 7-bit, class 0 (flash): the DCS travels through.
  auto f = split(0xF0, bytes("flash"));
  EXPECT_EQ(f.segs[0].dcs, 0xF0);
  EXPECT_EQ(f.text, "flash");
  auto fb = to_smpp(f.segs[0], DefaultAlphabet::ia5);
  ASSERT_TRUE(fb);
  EXPECT_EQ(fb->data_coding, 0xF0);
}

TEST(SmppCoding, ReceiptFormatAndParse) {
  Receipt r;
  r.id = "1a2b";
  r.dlvrd = 1;
  r.submit_s = 1795000000;  // 2026-11-18 ...
  r.done_s = 1795000060;
  r.state = MessageState::delivered;
  r.err = 0;
  r.text = "hello there, this text is longer than twenty";
  char buf[256];
  const size_t n = format_receipt(r, buf);
  const std::string text(buf, n);
  EXPECT_EQ(text.rfind("id:1a2b sub:001 dlvrd:001 submit date:", 0), 0u) << text;
  EXPECT_NE(text.find("stat:DELIVRD err:000 text:hello there, this te"), std::string::npos) << text;
  auto p = parse_receipt(text);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->id, "1a2b");
  EXPECT_EQ(p->state, MessageState::delivered);
  EXPECT_EQ(p->submit_s, 1795000000 / 60 * 60);  // minute precision
  EXPECT_EQ(p->done_s, 1795000060 / 60 * 60);
  // Kannel-style, keys in another case and order, 12-digit dates.
  auto k = parse_receipt(
      "id:1234 sub:001 dlvrd:000 Submit date:261123120000 done date:261123120130 "
      "STAT:UNDELIV err:034 text:");
  ASSERT_TRUE(k);
  EXPECT_EQ(k->id, "1234");
  EXPECT_EQ(k->state, MessageState::undeliverable);
  EXPECT_EQ(k->err, 34u);
  EXPECT_EQ(k->done_s - k->submit_s, 90);
  EXPECT_FALSE(parse_receipt("stat:DELIVRD no id here"));
  // "id:" inside the free text is not the id.
  auto t = parse_receipt("sub:001 stat:EXPIRED text:my id:99");
  EXPECT_FALSE(t);
}

TEST(SmppCoding, Times) {
  const int64_t now = 1795000000;
  EXPECT_FALSE(*parse_time("", now, status::invexpiry));
  // 2026-11-23 12:00:00 at UTC+1 (04 quarter hours) is 11:00 UTC.
  auto a = parse_time("261123120000004+", now, status::invexpiry);
  ASSERT_TRUE(a && *a);
  auto utc = parse_time("261123110000000+", now, status::invexpiry);
  EXPECT_EQ(**a, **utc);
  auto minus = parse_time("261123100000008-", now, status::invexpiry);  // UTC-2
  EXPECT_EQ(**minus, **utc + 3600);
  auto rel = parse_time("000001020304000R", now, status::invexpiry);  // 1 d 2 h 3 m 4 s
  ASSERT_TRUE(rel && *rel);
  EXPECT_EQ(**rel, now + 86400 + 7200 + 180 + 4);
  for (auto bad : {"26112312000000+", "261323120000000+", "2611231200000x0+", "261123120000000X",
                   "261123250000000+"}) {
    auto r = parse_time(bad, now, status::invsched);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().status, status::invsched);
  }
  char out[17];
  format_time(**utc, out);
  EXPECT_EQ(std::string(out), "261123110000000+");
}

TEST(SmppCoding, RandomInputNeverCrashes) {
  std::mt19937 rng(5);
  std::vector<SmsSegment> out(255);
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::byte> b(rng() % 300);
    for (auto& x : b) x = static_cast<std::byte>(rng());
    const auto dc = static_cast<uint8_t>(rng());
    auto r = to_sms(dc, rng() & 1, b, std::nullopt, {}, out);
    if (r)
      for (size_t k = 0; k < *r; ++k) (void)to_smpp(out[k], DefaultAlphabet::latin1);
    SmsSegment seg;
    seg.dcs = static_cast<uint8_t>(rng());
    seg.udhi = rng() & 1;
    seg.ud_length = static_cast<uint8_t>(rng());
    seg.ud_bytes = static_cast<uint8_t>(rng() % 141);
    for (auto& x : seg.ud) x = static_cast<std::byte>(rng());
    (void)to_smpp(seg, DefaultAlphabet::ia5);
    const std::string s(reinterpret_cast<const char*>(b.data()), b.size());
    (void)parse_receipt(s);
    (void)parse_time(s.substr(0, 16), 0, status::invexpiry);
  }
}

}  // namespace
}  // namespace cp::proto::smpp
