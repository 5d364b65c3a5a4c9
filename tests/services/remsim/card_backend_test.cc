// The bank daemon's card backends without the daemon: osmo-remsim's reader CSV, and the
// in-process simulated cards (answers, removal, distinct cards per slot, contents files).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "hw/simcard/card.h"
#include "services/remsim/card_backend.h"
#include "tests/support/temp_dir.h"

namespace cp::remsim {
namespace {

using proto::rspro::ResultCode;

TEST(ReaderCsv, OsmoRemsimFormat) {
  auto r = parse_reader_csv(
      "# bankd_pcsc_slots.csv\n"
      "\"1\",\"0\",\"Virtual PCD 00 00\"\r\n"
      "\"2\",\"0\",\"another bank's reader\"\n"
      "1,1,Alcor.*0[01] 00\n"
      "\"1\",\"2\",\"a \"\"quoted\"\" name\"\n",
      "slots.csv", 1);
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0], (std::pair<uint16_t, std::string>{0, "Virtual PCD 00 00"}));
  EXPECT_EQ((*r)[1], (std::pair<uint16_t, std::string>{1, "Alcor.*0[01] 00"}));
  EXPECT_EQ((*r)[2], (std::pair<uint16_t, std::string>{2, "a \"quoted\" name"}));
}

TEST(ReaderCsv, EveryBadLineNamed) {
  auto r = parse_reader_csv(
      "\"1\",\"0\"\n"         // two fields
      "\"1\",\"x\",\"r\"\n"   // not a number
      "\"1\",\"1\",\"([\"\n"  // not a regex
      "\"1\",\"2\",\"unterminated\n"
      "\"1\",\"3\",\"\"\n"                      // empty pattern
      "\"1\",\"4\",\"a\"\n\"1\",\"4\",\"b\"\n"  // twice
      "\"1\",\"2000\",\"r\"\n",                 // out of range
      "s.csv", 1);
  ASSERT_FALSE(r);
  for (int line : {1, 2, 3, 4, 5, 7, 8})
    EXPECT_NE(r.error().find("s.csv:" + std::to_string(line) + ":"), std::string::npos)
        << line << "\n"
        << r.error();
  EXPECT_EQ(r.error().find("s.csv:6:"), std::string::npos) << r.error();
}

TEST(SimCards, AnswerPerSlotAndRemoval) {
  SimCardOptions o;
  o.bank_id = 3;
  o.slots = 3;
  auto b = make_sim_backend(o);
  ASSERT_TRUE(b);
  CardBackend& cards = **b;
  EXPECT_EQ(cards.slots(), 3);
  EXPECT_TRUE(cards.any_core());
  CardRequest open;
  open.op = CardOp::open;
  open.slot = 1;
  open.cookie = 77;
  auto atr = cards.submit(open);
  ASSERT_TRUE(atr);  // simulated cards answer at once
  EXPECT_EQ(atr->code, ResultCode::ok);
  EXPECT_EQ(atr->cookie, 77u);
  EXPECT_EQ(atr->len, simcard::Card::atr().size());
  CardRequest select;
  select.op = CardOp::transmit;
  select.slot = 1;
  const uint8_t apdu[] = {0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2};
  std::memcpy(select.data.data(), apdu, sizeof apdu);
  select.len = sizeof apdu;
  auto r = cards.submit(select);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->len, 2);
  EXPECT_EQ(static_cast<int>(r->data[0]), 0x90);
  EXPECT_NE(cards.describe()[1].find(simcard::simulated_contents(3, 1).iccid), std::string::npos);
  sim_set_present(cards, 1, false);
  EXPECT_EQ(cards.submit(select)->code, ResultCode::card_not_present);
  EXPECT_NE(cards.describe()[1].find("removed"), std::string::npos);
  sim_set_present(cards, 1, true);
  EXPECT_EQ(cards.submit(select)->code, ResultCode::ok);
  select.slot = 9;
  EXPECT_EQ(cards.submit(select)->code, ResultCode::illegal_slot_id);
}

TEST(SimCards, ContentsFromFiles) {
  cp::test::TempDir dir;
  std::ofstream(dir.path() / "slot-1.txt")
      << "iccid = 8988211000000000017\nimsi = 001010000000017\n"
      << "ki = 465b5ce8b199b49faa5f0a2ee238a6bc\n"
      << "opc = cd63cb71954a9f4e48a5994e37a02baf\n";
  SimCardOptions o;
  o.slots = 2;
  o.contents_dir = dir.str();
  auto b = make_sim_backend(o);
  ASSERT_TRUE(b) << b.error();
  EXPECT_NE((*b)->describe()[1].find("8988211000000000017"), std::string::npos);
  EXPECT_NE((*b)->describe()[0].find(simcard::simulated_contents(1, 0).iccid), std::string::npos);
  std::ofstream(dir.path() / "slot-0.txt") << "iccid = 12\n";
  auto bad = make_sim_backend(o);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("slot-0.txt:1: iccid must be 19..20 digits"), std::string::npos)
      << bad.error();
}

}  // namespace
}  // namespace cp::remsim
