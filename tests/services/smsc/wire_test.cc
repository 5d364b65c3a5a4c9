// The local socket codec (services/smsc/wire.h): every message round-trips, our encoder matches
// bytes laid out independently from docs/SMSC-SOCKET.md, every truncation and every reserved bit
// is refused with bad_message, and no byte flip crashes the decoder. Then smsc-submit's input:
// sms-encode-text lines and plain text, checked by decoding the result back.
#include <gtest/gtest.h>

#include <cstring>

#include "proto/sms/text.h"
#include "services/smsc/submit_input.h"
#include "services/smsc/wire.h"
#include "tests/services/smsc/smsc_harness.h"

namespace cp::smsc {
namespace {

using wire::Status;
using wire::Type;

std::vector<std::vector<std::byte>> every_request() {
  std::vector<std::vector<std::byte>> out;
  std::byte b[wire::kMessageMax];
  auto add = [&](size_t n) { out.emplace_back(b, b + n); };
  add(wire::encode_submit(b, 1, test::make_submit("2125550100", "4155550199", "hello")));
  wire::Target t;
  t.by = wire::TargetBy::oa_da_mr;
  storage::set_digits(t.oa, "2125550100", 0, 1);
  storage::set_digits(t.da, "4155550199", 1, 1);
  t.mr = 300;
  add(wire::encode_target(b, Type::cancel, 2, t));
  add(wire::encode_target(b, Type::change_srr, 3, t, true));
  add(wire::encode_register(b, 4, {wire::Role::peer, "acme-2.b_c"}));
  add(wire::encode_register(b, 5, {wire::Role::gsm_mt, ""}));
  add(wire::encode_service_state(b, 6, true));
  add(wire::encode_find_imsi(b, 7, "12125550100"));
  storage::SmRecord r = test::make_submit("2125550100", "4155550199", "x").record;
  storage::seal(r);
  add(wire::encode_record(b, Type::mt_transfer, 8, r));
  add(wire::encode_record(b, Type::deliver_to_peer, 9, r));
  add(wire::encode_mt_cancel(b, 10, 0x0100000000000005));
  add(wire::encode_discharge(b, 11, {42, storage::Disposition::expired, 0x1234}));
  add(wire::encode_response(b, Type::submit, 12, Status::duplicate, 77));
  add(wire::encode_response(b, Type::mt_find_imsi, 13, Status::ok, 0, "001010123456789"));
  add(wire::encode_response(b, Type::deliver_to_peer, 14, Status::temporary_failure, 0, {}, 9));
  add(wire::encode_error(b, 0x7E, 15, Status::unknown_type));
  wire::Target owned;
  owned.message_id = 0x0100000000000007;
  owned.check_owner = true;
  owned.owner_class = 3;
  owned.owner_peer = 513;
  add(wire::encode_target(b, Type::query, 16, owned));
  add(wire::encode_query_response(b, 17, Status::ok, 0x0100000000000007, {1, 3, 0x45, 123456789}));
  return out;
}

TEST(SmscWire, QueryAndTheOwnerCheckRoundTrip) {
  auto all = every_request();
  wire::Message d;
  ASSERT_EQ(wire::decode(all[all.size() - 2], d), Status::ok);
  EXPECT_EQ(d.header.type, Type::query);
  EXPECT_EQ(d.target.message_id, 0x0100000000000007u);
  EXPECT_TRUE(d.target.check_owner);
  EXPECT_EQ(d.target.owner_class, 3);
  EXPECT_EQ(d.target.owner_peer, 513);
  ASSERT_EQ(wire::decode(all.back(), d), Status::ok);
  EXPECT_EQ(d.message_id, 0x0100000000000007u);
  EXPECT_EQ(d.query.state, 1);
  EXPECT_EQ(d.query.disposition, 3);
  EXPECT_EQ(d.query.extra_info, 0x45u);
  EXPECT_EQ(d.query.discharge_ns, 123456789);
  // An owner without the check, an unknown flag, a class beyond downstream: bad messages.
  for (auto [at, value] : {std::pair{20, 0x02}, std::pair{21, 4}}) {
    auto c = all[all.size() - 2];
    c[static_cast<size_t>(at)] = std::byte{static_cast<uint8_t>(value)};
    EXPECT_EQ(wire::decode(c, d), Status::bad_message) << at;
  }
  auto c = all[all.size() - 2];
  c[20] = std::byte{0};  // the check off, the owner still named
  EXPECT_EQ(wire::decode(c, d), Status::bad_message);
  // "Every message from OA to DA" is for CANCEL only.
  wire::Target every;
  every.by = wire::TargetBy::oa_da_all;
  std::byte b[wire::kMessageMax];
  ASSERT_EQ(wire::decode({b, wire::encode_target(b, Type::cancel, 1, every)}, d), Status::ok);
  EXPECT_EQ(d.target.by, wire::TargetBy::oa_da_all);
  EXPECT_EQ(wire::decode({b, wire::encode_target(b, Type::change_srr, 2, every)}, d),
            Status::bad_message);
  EXPECT_EQ(wire::decode({b, wire::encode_target(b, Type::query, 3, every)}, d),
            Status::bad_message);
}

TEST(SmscWire, EveryMessageRoundTrips) {
  for (const auto& m : every_request()) {
    wire::Message d;
    ASSERT_EQ(wire::decode(m, d), Status::ok) << wire::to_string(wire::peek_header(m)->type);
    EXPECT_EQ(d.header.length, m.size());
  }
  wire::Message d;
  auto all = every_request();
  ASSERT_EQ(wire::decode(all[1], d), Status::ok);
  EXPECT_EQ(d.target.by, wire::TargetBy::oa_da_mr);
  EXPECT_EQ(d.target.mr, 300);
  EXPECT_EQ(storage::digits(d.target.da), "4155550199");
  EXPECT_EQ(d.target.da.ton, 1);
  ASSERT_EQ(wire::decode(all[3], d), Status::ok);
  EXPECT_EQ(d.reg.peer, "acme-2.b_c");
  ASSERT_EQ(wire::decode(all[10], d), Status::ok);
  EXPECT_EQ(d.discharge.disposition, storage::Disposition::expired);
  EXPECT_EQ(d.discharge.extra_info, 0x1234u);
  ASSERT_EQ(wire::decode(all[11], d), Status::ok);
  EXPECT_EQ(d.header.status, Status::duplicate);
  EXPECT_EQ(d.message_id, 77u);
  ASSERT_EQ(wire::decode(all[12], d), Status::ok);
  EXPECT_EQ(d.digits, "001010123456789");
}

TEST(SmscWire, OurSubmitMatchesTheDocumentedLayout) {
  // Laid out by hand from docs/SMSC-SOCKET.md: header, validity 3600, flags 0x04, the record.
  std::vector<uint8_t> want(16 + 8 + 256, 0);
  const uint8_t header[16] = {1, 0x01, 0x18, 0x01, 0, 0, 0, 0, 0x2A, 0, 0, 0, 0, 0, 0, 0};
  std::memcpy(want.data(), header, 16);
  want[16] = 0x10;  // 3600 = 0x0E10, little-endian
  want[17] = 0x0E;
  want[20] = 0x04;
  uint8_t* rec = want.data() + 24;
  std::memset(rec + 40, 0xFF, 8);  // dest_imsi unknown
  rec[52] = 9;                     // message_ref 9
  rec[61] = 0x04;                  // dcs
  rec[65] = 2;                     // ud_length
  const uint8_t src[13] = {0, 1, 10, 0x12, 0x52, 0x55, 0x10, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  std::memcpy(rec + 66, src, 13);
  const uint8_t dst[13] = {0, 1, 4, 0x05, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  std::memcpy(rec + 79, dst, 13);
  rec[116] = 'h';
  rec[117] = 'i';
  auto s = test::make_submit("2125550100", "5000", "hi", 9);
  s.validity_s = 3600;
  s.flags = wire::kSubmitUntrusted;
  std::byte b[wire::kMessageMax];
  const size_t n = wire::encode_submit(b, 42, s);
  ASSERT_EQ(n, want.size());
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(static_cast<uint8_t>(b[i]), want[i]) << "byte " << i;
}

TEST(SmscWire, TruncationsReservedBitsAndFlipsAreRefusedNeverACrash) {
  for (const auto& m : every_request()) {
    for (size_t cut = 0; cut < m.size(); ++cut) {
      wire::Message d;
      EXPECT_NE(wire::decode({m.data(), cut}, d), Status::ok) << "cut at " << cut;
      // A header that tells the truth about the cut length: the body is the wrong size.
      if (cut >= wire::kHeaderBytes) {
        std::vector<std::byte> c(m.begin(), m.begin() + static_cast<long>(cut));
        c[2] = std::byte{static_cast<uint8_t>(cut)};
        c[3] = std::byte{static_cast<uint8_t>(cut >> 8)};
        const auto st = wire::decode(c, d);
        EXPECT_TRUE(st == Status::bad_message || (cut == wire::kHeaderBytes && st == Status::ok))
            << wire::to_string(st) << " at " << cut;
      }
    }
    for (size_t i = 0; i < m.size(); ++i)
      for (int bit = 0; bit < 8; ++bit) {
        std::vector<std::byte> c = m;
        c[i] ^= std::byte{static_cast<uint8_t>(1 << bit)};
        wire::Message d;
        (void)wire::decode(c, d);  // must not crash or read out of bounds (ASan)
      }
  }
  // Reserved bytes of the header and unknown flags of SUBMIT.
  auto m = every_request()[0];
  for (size_t i : {6u, 7u}) {
    auto c = m;
    c[i] = std::byte{1};
    wire::Message d;
    EXPECT_EQ(wire::decode(c, d), Status::bad_message) << "byte " << i;
  }
  {
    // Bytes 5..7 of the body are a multi-part message's group (u24, little-endian), checked
    // against the record's part fields at admission.
    auto c = m;
    c[21] = std::byte{0x01};
    c[23] = std::byte{0x80};
    wire::Message d;
    ASSERT_EQ(wire::decode(c, d), Status::ok);
    EXPECT_EQ(d.submit.group, 0x800001u);
    wire::Submit s;
    s.group = 0xABCDEF;
    std::byte buf[wire::kMessageMax];
    ASSERT_EQ(wire::decode({buf, wire::encode_submit(buf, 1, s)}, d), Status::ok);
    EXPECT_EQ(d.submit.group, 0xABCDEFu);
  }
  auto c = m;
  c[20] = std::byte{0x80};
  wire::Message d;
  EXPECT_EQ(wire::decode(c, d), Status::bad_message);
  c = m;
  c[0] = std::byte{2};
  EXPECT_EQ(wire::decode(c, d), Status::bad_version);
}

std::string decode(const Segment& s) {
  const auto t = sms::decode_user_data(
      s.dcs, s.udhi, s.ud_length,
      {reinterpret_cast<const std::byte*>(s.user_data.data()), s.user_data.size()});
  EXPECT_TRUE(t.warnings.empty()) << t.warnings.front();
  return t.text;
}

TEST(SmscSubmitInput, EncodeTextLines) {
  auto in = parse_encoded("# a comment\ndcs 0 septet\nmsg 48656C6C6F\n");
  ASSERT_TRUE(in) << in.error();
  ASSERT_EQ(in->segments.size(), 1u);
  const Segment& s = in->segments[0];
  EXPECT_EQ(s.ud_length, 5);
  EXPECT_EQ(s.user_data, (std::vector<uint8_t>{0xC8, 0x32, 0x9B, 0xFD, 0x06}));  // "Hello"
  EXPECT_EQ(decode(s), "Hello");
  // '@' is septet 00, '[' the escape pair 1B 3C; UCS-2; a concatenated pair with its UDH.
  in = parse_encoded("dcs 0 septet\nmsg 001B3C78\n");
  ASSERT_TRUE(in);
  EXPECT_EQ(decode(in->segments[0]), "@[x");
  in = parse_encoded("dcs 8 octet\nmsg 00480069\nsr\nmr 0x10\npid 0\n");
  ASSERT_TRUE(in);
  EXPECT_EQ(decode(in->segments[0]), "Hi");
  EXPECT_TRUE(in->status_report);
  EXPECT_EQ(in->mr, 16);
  in = parse_encoded("dcs 0 septet\nmsg-udh 050003070201416263\nmsg-udh 0500030702024465\n");
  ASSERT_TRUE(in) << in.error();
  ASSERT_EQ(in->segments.size(), 2u);
  EXPECT_TRUE(in->segments[0].udhi);
  EXPECT_EQ(in->segments[0].ud_length, 7 + 3);  // 6 UDH octets = 7 septets, then "Abc"
  EXPECT_EQ(decode(in->segments[0]), "Abc");
  EXPECT_EQ(decode(in->segments[1]), "De");
  in = parse_encoded("dcs 0 septet\nmsg \"\"\n");
  ASSERT_TRUE(in);
  EXPECT_EQ(in->segments[0].ud_length, 0);
  // Errors name the line.
  for (const char* bad : {"msg 41\n", "dcs 0 septet\nmsg 4\n", "dcs 0 septet\nmsg 80\n",
                          "dcs 0 bits\n", "dcs 0 septet\nuser-addr 123\n", "dcs 0 septet\nfoo\n",
                          "dcs 0 septet\nmsg-udh 0900\n", "", "dcs 0 septet\n"}) {
    auto r = parse_encoded(bad);
    EXPECT_FALSE(r) << bad;
  }
  auto r = parse_encoded("dcs 0 septet\n\nmsg zz\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().rfind("line 3:", 0), 0u) << r.error();
}

TEST(SmscSubmitInput, PlainTextPicksTheAlphabetAndSplits) {
  auto one = encode_text("Hello @ world", 1);
  ASSERT_TRUE(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].dcs, 0x00);
  EXPECT_EQ(decode((*one)[0]), "Hello @ world");
  const std::string long_text(161, 'a');
  auto two = encode_text(long_text, 9);
  ASSERT_TRUE(two);
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ(decode((*two)[0]) + decode((*two)[1]), long_text);
  EXPECT_EQ((*two)[0].ud_length, 160);
  EXPECT_EQ((*two)[0].user_data[3], 9);  // the reference
  EXPECT_EQ((*two)[1].user_data[5], 2);  // part 2 of 2
  // An escape pair never straddles two segments: '[' at septets 152/153.
  const std::string edge = std::string(152, 'b') + "[" + std::string(20, 'c');
  auto split = encode_text(edge, 3);
  ASSERT_TRUE(split);
  EXPECT_EQ(decode((*split)[0]) + decode((*split)[1]), edge);
  // Characters outside GSM 7-bit: UCS-2, 67 per concatenated segment.
  auto u = encode_text("Привет", 1);
  ASSERT_TRUE(u);
  EXPECT_EQ((*u)[0].dcs, 0x08);
  EXPECT_EQ(decode((*u)[0]), "Привет");
  std::string many;
  for (int i = 0; i < 80; ++i) many += "ж";
  auto m = encode_text(many, 4);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ(decode((*m)[0]) + decode((*m)[1]), many);
  // A surrogate pair (emoji) stays whole.
  std::string emoji = std::string(66, 'x') + "\xF0\x9F\x98\x80" + "tail";
  auto e = encode_text(emoji, 5);
  ASSERT_TRUE(e);
  EXPECT_EQ(decode((*e)[0]) + decode((*e)[1]), emoji);
  EXPECT_FALSE(encode_text("\xC3", 1));  // not UTF-8
}

}  // namespace
}  // namespace cp::smsc
