// The simulated SIM/USIM card (hw/simcard/card.h) as a terminal sees it over T=0: SELECT with
// 61xx / 9Fxx and GET RESPONSE, 6Cxx on a wrong Le, the files' contents, PIN retry counters,
// AUTHENTICATE with MILENAGE (checked against a network side computed here) including the
// resynchronisation answer, and the EID from the ISD-R.
#include <gtest/gtest.h>

#include <algorithm>

#include "hw/simcard/card.h"

namespace cp::simcard {
namespace {

constexpr std::string_view kCard =
    "# a test card\n"
    "iccid = 8988211000000000017\n"
    "imsi = 001010000000017\n"
    "msisdn = 12125550100\n"
    "ki = 465b5ce8b199b49faa5f0a2ee238a6bc\n"
    "opc = cd63cb71954a9f4e48a5994e37a02baf\n"
    "eid = 89049032123451234512345678901234\n";

Card make_card() {
  auto c = parse_contents(kCard, "card.txt");
  EXPECT_TRUE(c) << (c ? "" : c.error());
  Card card(*c);
  card.reset();
  return card;
}

uint16_t sw_of(const std::vector<uint8_t>& r) {
  return r.size() < 2 ? 0 : static_cast<uint16_t>(r[r.size() - 2] << 8 | r.back());
}
std::vector<uint8_t> apdu(std::initializer_list<int> b) {
  std::vector<uint8_t> out;
  for (int x : b) out.push_back(static_cast<uint8_t>(x));
  return out;
}
// SELECT (3G), then GET RESPONSE for the whole FCP; returns the FCP.
std::vector<uint8_t> select(Card& c, std::vector<uint8_t> cmd) {
  auto r = c.transmit(cmd);
  EXPECT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], 0x61);
  auto g = c.transmit(apdu({0x00, 0xC0, 0x00, 0x00, r[1]}));
  EXPECT_EQ(sw_of(g), 0x9000);
  if (g.size() >= 2) g.erase(g.end() - 2, g.end());  // drop SW1 SW2
  return g;
}

TEST(SimCard, ContentsFileErrorsNameTheLine) {
  auto bad = parse_contents("iccid = 12\nimsi = 001010000000017\nki = zz\nfoo = 1\n", "c.txt");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("c.txt:1: iccid must be 19..20 digits"), std::string::npos);
  EXPECT_NE(bad.error().find("c.txt:3: ki must be 32 hex digits"), std::string::npos);
  EXPECT_NE(bad.error().find("c.txt:4: unknown key 'foo'"), std::string::npos);
  // OP instead of OPc: converted with the card's Ki.
  auto op = parse_contents(
      "iccid = 8988211000000000017\nimsi = 001010000000017\n"
      "op = cdc202d5123e20f62b6d676ac72cb318\nki = 465b5ce8b199b49faa5f0a2ee238a6bc\n",
      "op.txt");
  ASSERT_TRUE(op) << op.error();
  EXPECT_EQ(op->opc[0], 0xCD);
  EXPECT_EQ(op->opc[15], 0xAF);
}

TEST(SimCard, AtrIsT0) {
  auto c = parse_contents(kCard, "card.txt");
  Card card(*c);
  const auto atr = card.reset();
  ASSERT_GE(atr.size(), 4u);
  EXPECT_EQ(atr[0], 0x3B);         // direct convention
  EXPECT_EQ(atr[1] & 0x90, 0x90);  // TA1 and TD1 present
  EXPECT_EQ(atr[3] & 0x0F, 0x00);  // TD1: T=0 is the protocol offered
  EXPECT_EQ(atr[3] & 0x80, 0x80);  // TD2 follows: T=15, global bytes only
  EXPECT_EQ(atr[4] & 0x0F, 0x0F);
}

TEST(SimCard, SelectAndReadFiles) {
  Card c = make_card();
  // MF with a 3G class: 61xx, then GET RESPONSE; a wrong Le is answered 6Cxx.
  auto r = c.transmit(apdu({0x00, 0xA4, 0x00, 0x04, 0x02, 0x3F, 0x00}));
  ASSERT_EQ(r[0], 0x61);
  auto wrong = c.transmit(apdu({0x00, 0xC0, 0x00, 0x00, static_cast<int>(r[1]) + 5}));
  EXPECT_EQ(sw_of(wrong), 0x6C00 | r[1]);
  auto fcp = c.transmit(apdu({0x00, 0xC0, 0x00, 0x00, r[1]}));
  EXPECT_EQ(sw_of(fcp), 0x9000);
  EXPECT_EQ(fcp[0], 0x62);
  // EF.ICCID: swapped BCD.
  select(c, apdu({0x00, 0xA4, 0x00, 0x04, 0x02, 0x2F, 0xE2}));
  auto iccid = c.transmit(apdu({0x00, 0xB0, 0x00, 0x00, 0x0A}));
  ASSERT_EQ(sw_of(iccid), 0x9000);
  EXPECT_EQ(iccid[0], 0x98);
  EXPECT_EQ(iccid[1], 0x88);
  EXPECT_EQ(iccid[9], 0xF7);  // 19 digits: the last nibble is the filler
  EXPECT_EQ(sw_of(c.transmit(apdu({0x00, 0xB0, 0x00, 0x00, 0x08}))), 0x6C0A);
  // ADF.USIM by a partial AID, then EF.IMSI.
  auto adf =
      select(c, apdu({0x00, 0xA4, 0x04, 0x04, 0x07, 0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02}));
  EXPECT_NE(std::find(adf.begin(), adf.end(), 0x84), adf.end());  // the AID tag
  select(c, apdu({0x00, 0xA4, 0x00, 0x04, 0x02, 0x6F, 0x07}));
  auto imsi = c.transmit(apdu({0x00, 0xB0, 0x00, 0x00, 0x09}));
  ASSERT_EQ(sw_of(imsi), 0x9000);
  const std::vector<uint8_t> want = {0x08, 0x09, 0x10, 0x10, 0x00, 0x00, 0x00, 0x00, 0x71};
  EXPECT_EQ(std::vector<uint8_t>(imsi.begin(), imsi.begin() + 9), want);
  // EF.MSISDN: one record of 14 bytes.
  select(c, apdu({0x00, 0xA4, 0x00, 0x04, 0x02, 0x6F, 0x40}));
  auto rec = c.transmit(apdu({0x00, 0xB2, 0x01, 0x04, 0x0E}));
  ASSERT_EQ(sw_of(rec), 0x9000);
  EXPECT_EQ(rec[0], 7);  // TON/NPI + 6 BCD octets
  EXPECT_EQ(rec[1], 0x81);
  EXPECT_EQ(rec[2], 0x21);  // "12..." swapped
  EXPECT_EQ(sw_of(c.transmit(apdu({0x00, 0xB2, 0x02, 0x04, 0x0E}))), 0x6A83);
  // By path from the MF: 7F20/6F07 (DF.GSM's EF.IMSI), with a 2G class: 9Fxx.
  auto gsm = c.transmit(apdu({0xA0, 0xA4, 0x08, 0x04, 0x04, 0x7F, 0x20, 0x6F, 0x07}));
  EXPECT_EQ(gsm[0], 0x9F);
  EXPECT_EQ(sw_of(c.transmit(apdu({0x00, 0xA4, 0x00, 0x04, 0x02, 0x12, 0x34}))), 0x6A82);
  // Nothing pending: GET RESPONSE is refused.
  EXPECT_EQ(sw_of(c.transmit(apdu({0x00, 0xC0, 0x00, 0x00, 0x10}))), 0x6F00);
  EXPECT_EQ(sw_of(c.transmit(apdu({0x00, 0x12, 0x00, 0x00, 0x00}))), 0x6D00);
  EXPECT_EQ(sw_of(c.transmit(apdu({0x42, 0xA4, 0x00, 0x00, 0x00}))), 0x6E00);
}

TEST(SimCard, PinRetryCounterAndUnblock) {
  Card c = make_card();
  select(c, apdu({0x00, 0xA4, 0x00, 0x04, 0x02, 0x2F, 0xE2}));
  // Updates need the PIN.
  EXPECT_EQ(sw_of(c.transmit(apdu({0x00, 0xD6, 0x00, 0x00, 0x01, 0x00}))), 0x6982);
  EXPECT_EQ(sw_of(c.transmit(apdu({0x00, 0x20, 0x00, 0x01}))), 0x63C3);
  const auto wrong =
      apdu({0x00, 0x20, 0x00, 0x01, 0x08, '0', '0', '0', '0', 0xFF, 0xFF, 0xFF, 0xFF});
  EXPECT_EQ(sw_of(c.transmit(wrong)), 0x63C2);
  EXPECT_EQ(sw_of(c.transmit(wrong)), 0x63C1);
  EXPECT_EQ(sw_of(c.transmit(wrong)), 0x6983);
  const auto right =
      apdu({0x00, 0x20, 0x00, 0x01, 0x08, '1', '2', '3', '4', 0xFF, 0xFF, 0xFF, 0xFF});
  EXPECT_EQ(sw_of(c.transmit(right)), 0x6983);  // blocked
  auto unblock = apdu({0x00, 0x2C, 0x00, 0x01, 0x10, '1', '2',  '3',  '4',  '5', '6',
                       '7',  '8',  '4',  '3',  '2',  '1', 0xFF, 0xFF, 0xFF, 0xFF});
  EXPECT_EQ(sw_of(c.transmit(unblock)), 0x9000);
  EXPECT_EQ(sw_of(c.transmit(
                apdu({0x00, 0x20, 0x00, 0x01, 0x08, '4', '3', '2', '1', 0xFF, 0xFF, 0xFF, 0xFF}))),
            0x9000);
  EXPECT_EQ(sw_of(c.transmit(apdu({0x00, 0xD6, 0x00, 0x00, 0x01, 0x98}))), 0x9000);
}

TEST(SimCard, AuthenticateWithMilenageAndResync) {
  Card c = make_card();
  const Contents& k = c.contents();
  EXPECT_EQ(sw_of(c.transmit(
                apdu({0x00, 0x20, 0x00, 0x01, 0x08, '1', '2', '3', '4', 0xFF, 0xFF, 0xFF, 0xFF}))),
            0x9000);
  select(c, apdu({0x00, 0xA4, 0x04, 0x04, 0x07, 0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02}));
  // The network side: AUTN = (SQN xor AK) || AMF || MAC-A for SQN 32, AMF 8000.
  Block rand{};
  for (size_t i = 0; i < rand.size(); ++i) rand[i] = static_cast<uint8_t>(i * 7 + 1);
  const uint8_t sqn[6] = {0, 0, 0, 0, 0, 32};
  const uint8_t amf[2] = {0x80, 0x00};
  const MilenageOut net = milenage(k.ki, k.opc, rand, sqn, amf);
  std::vector<uint8_t> cmd = {0x00, 0x88, 0x00, 0x81, 0x22, 0x10};
  cmd.insert(cmd.end(), rand.begin(), rand.end());
  cmd.push_back(0x10);
  for (int i = 0; i < 6; ++i) cmd.push_back(static_cast<uint8_t>(sqn[i] ^ net.ak[i]));
  cmd.insert(cmd.end(), amf, amf + 2);
  cmd.insert(cmd.end(), net.mac_a.begin(), net.mac_a.end());
  auto r = c.transmit(cmd);
  ASSERT_EQ(r[0], 0x61);
  auto resp = c.transmit(apdu({0x00, 0xC0, 0x00, 0x00, r[1]}));
  ASSERT_EQ(sw_of(resp), 0x9000);
  ASSERT_EQ(resp[0], 0xDB);
  EXPECT_TRUE(std::equal(net.res.begin(), net.res.end(), resp.begin() + 2));
  EXPECT_TRUE(std::equal(net.ck.begin(), net.ck.end(), resp.begin() + 11));
  EXPECT_EQ(c.sqn(), 32u);
  // The same AUTN again: SQN not fresh -> AUTS, which the network side can check.
  r = c.transmit(cmd);
  resp = c.transmit(apdu({0x00, 0xC0, 0x00, 0x00, r[1]}));
  ASSERT_EQ(resp[0], 0xDC);
  const uint8_t zero_amf[2] = {0, 0};
  uint8_t ms[6];
  const MilenageOut ak_s = milenage(k.ki, k.opc, rand, sqn, zero_amf);  // f5* needs no SQN
  for (int i = 0; i < 6; ++i) ms[i] = static_cast<uint8_t>(resp[2 + i] ^ ak_s.ak_s[i]);
  EXPECT_EQ(ms[5], 32);
  const MilenageOut check = milenage(k.ki, k.opc, rand, ms, zero_amf);
  EXPECT_TRUE(std::equal(check.mac_s.begin(), check.mac_s.end(), resp.begin() + 8));
  // A bad MAC.
  cmd.back() ^= 1;
  EXPECT_EQ(sw_of(c.transmit(cmd)), 0x9862);
}

TEST(SimCard, EidFromTheIsdR) {
  Card c = make_card();
  EXPECT_EQ(sw_of(c.transmit(apdu({0x80, 0xCA, 0x00, 0x5A, 0x00}))), 0x6985);
  select(c, apdu({0x00, 0xA4, 0x04, 0x04, 0x10, 0xA0, 0x00, 0x00, 0x05, 0x59, 0x10,
                  0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00}));
  auto eid = c.transmit(apdu({0x80, 0xCA, 0x00, 0x5A, 0x12}));
  ASSERT_EQ(sw_of(eid), 0x9000);
  EXPECT_EQ(eid[0], 0x5A);
  EXPECT_EQ(eid[2], 0x89);
  EXPECT_EQ(eid[17], 0x34);
}

}  // namespace
}  // namespace cp::simcard
