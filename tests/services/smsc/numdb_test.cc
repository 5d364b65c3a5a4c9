// NANP validation, the number database (parsing, errors with file:line, lookups, longest peer
// block) and admission routing (design sections 1.1, 2.4.1, 2.4.2).
#include <gtest/gtest.h>

#include <fstream>

#include "services/smsc/nanp.h"
#include "services/smsc/numdb.h"
#include "services/smsc/route.h"
#include "tests/support/temp_dir.h"

namespace cp::smsc {
namespace {

using storage::SmeClass;

TEST(Nanp, Rules) {
  EXPECT_EQ(check_nanp("2125550100"), NanpCheck::ok);
  EXPECT_EQ(check_nanp("8005550100"), NanpCheck::ok);
  EXPECT_EQ(check_nanp("0125550100"), NanpCheck::npa_leading_digit);
  EXPECT_EQ(check_nanp("1125550100"), NanpCheck::npa_leading_digit);
  EXPECT_EQ(check_nanp("9115550100"), NanpCheck::npa_n11);
  EXPECT_EQ(check_nanp("4115550100"), NanpCheck::npa_n11);
  EXPECT_EQ(check_nanp("2915550100"), NanpCheck::npa_reserved);
  EXPECT_EQ(check_nanp("2120550100"), NanpCheck::nxx_leading_digit);
  EXPECT_EQ(check_nanp("2121550100"), NanpCheck::nxx_leading_digit);
  EXPECT_EQ(check_nanp("2124110100"), NanpCheck::nxx_n11);
  EXPECT_EQ(check_nanp("212555010"), NanpCheck::not_ten_digits);
  EXPECT_EQ(check_nanp("21255501a0"), NanpCheck::not_ten_digits);
  // Every NPA: the first digit 2-9, not N11, not x9x.
  int valid = 0;
  for (int npa = 0; npa < 1000; ++npa) {
    const std::string d = std::to_string(1000 + npa).substr(1) + "5550100";
    if (check_nanp(d) == NanpCheck::ok) ++valid;
  }
  EXPECT_EQ(valid, 8 * 9 * 10 - 8);  // 2-9, middle 0-8, last 0-9, minus the eight N11
}

TEST(Nanp, DialingForms) {
  EXPECT_EQ(nanp_ten_digits("2125550100"), "2125550100");
  EXPECT_EQ(nanp_ten_digits("12125550100"), "2125550100");
  EXPECT_EQ(nanp_ten_digits("+12125550100"), "2125550100");
  EXPECT_FALSE(nanp_ten_digits("+2125550100"));
  EXPECT_FALSE(nanp_ten_digits("22125550100"));
  EXPECT_FALSE(nanp_ten_digits("5550100"));
  EXPECT_TRUE(is_us_short_code("24273"));
  EXPECT_TRUE(is_us_short_code("898287"));
  EXPECT_FALSE(is_us_short_code("04273"));
  EXPECT_FALSE(is_us_short_code("1234"));
  EXPECT_NE(digits_key("0123"), digits_key("123"));
}

constexpr std::string_view kNumbers = R"(# locally owned numbers
2125550100 gsm smsprov      # a subscriber allowed outside SMS
2125550101 gsm
+12125550102 local         # mailbox: stored is delivered
12125550103 nosms          # a fax line
5000 gsm
5001 local
5002 nosms
)";
constexpr std::string_view kPeers = R"(# downstream peers
212666* acme
2126660100 beta             # one number inside acme's block: the longer match wins
646* acme
)";

std::shared_ptr<const Numdb> db() {
  auto d = Numdb::parse(kNumbers, "numbers", kPeers, "peers");
  EXPECT_TRUE(d) << (d ? "" : d.error());
  return d ? *d : nullptr;
}

TEST(Numdb, ParsesAndLooksUp) {
  auto d = db();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->nanp_count(), 4u);
  EXPECT_EQ(d->short_count(), 3u);
  EXPECT_EQ(d->peer_count(), 2u);
  EXPECT_EQ(d->block_count(), 3u);
  ASSERT_TRUE(d->local_nanp("2125550100"));
  EXPECT_EQ(d->local_nanp("2125550100")->type, NumberType::gsm);
  EXPECT_TRUE(d->local_nanp("2125550100")->flags & NumberEntry::kSmsProv);
  EXPECT_FALSE(d->local_nanp("2125550101")->flags & NumberEntry::kSmsProv);
  EXPECT_EQ(d->local_nanp("2125550102")->type, NumberType::local);
  EXPECT_EQ(d->local_nanp("2125550103")->type, NumberType::nosms);
  EXPECT_FALSE(d->local_nanp("2125550199"));
  EXPECT_EQ(d->local_short("5001")->type, NumberType::local);
  EXPECT_FALSE(d->local_short("5003"));
  EXPECT_EQ(d->peer_name(*d->peer_of("2126661234")), "acme");
  EXPECT_EQ(d->peer_name(*d->peer_of("2126660100")), "beta");
  EXPECT_EQ(d->peer_name(*d->peer_of("6465550100")), "acme");
  EXPECT_FALSE(d->peer_of("2127770100"));
}

TEST(Numdb, EveryBadLineIsReportedWithFileAndLine) {
  const std::string_view numbers =
      "2125550100 gsm\n"
      "2125550100 local\n"    // 2: twice
      "0125550100 gsm\n"      // 3: NPA
      "2125550104 phone\n"    // 4: type
      "2125550105 gsm vip\n"  // 5: flag
      "555\n"                 // 6: shape
      "\n# fine\n";
  const std::string_view peers =
      "212666* acme\n"
      "212666* beta\n"    // 2: block taken
      "2126* b@d\n"       // 3: peer name
      "0* x\n"            // 4: prefix
      "313* acme vip\n";  // 5: flag
  auto d = Numdb::parse(numbers, "numbers.txt", peers, "peers.txt");
  ASSERT_FALSE(d);
  const std::string& e = d.error();
  for (const char* want :
       {"numbers.txt:2: 2125550100 is listed twice",
        "numbers.txt:3: 0125550100: area code (NPA) cannot start with 0 or 1",
        "numbers.txt:4: unknown type 'phone'", "numbers.txt:5: unknown flag 'vip'",
        "numbers.txt:6: expected: NUMBER TYPE",
        "peers.txt:2: 212666* is already "
        "assigned to peer acme",
        "peers.txt:3: bad peer name 'b@d'", "peers.txt:4: '0*'", "peers.txt:5: unknown flag 'vip'"})
    EXPECT_NE(e.find(want), std::string::npos) << want << "\n" << e;
}

TEST(Numdb, LoadsFilesAndSaysWhichOneIsMissing) {
  test::TempDir tmp;
  std::ofstream(tmp.sub("numbers")) << kNumbers;
  std::ofstream(tmp.sub("peers")) << kPeers;
  auto d = Numdb::load(tmp.sub("numbers"), tmp.sub("peers"));
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ((*d)->nanp_count(), 4u);
  auto none = Numdb::load(tmp.sub("nope"), "");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().find("nope: cannot read"), std::string::npos);
  auto empty = Numdb::load("", "");
  ASSERT_TRUE(empty);
  EXPECT_EQ((*empty)->nanp_count(), 0u);
}

Result<Route, RouteError> r(const Numdb& d, uint8_t dton, std::string_view dst,
                            std::string_view src = "12125550100", bool local = true) {
  return route(d, RouteInput{dton, dst, kTonInternational, src, local});
}

TEST(Route, RulesOf241) {
  auto d = db();
  ASSERT_TRUE(d);
  // International, not +1: upstream, as written.
  auto x = r(*d, kTonInternational, "442071234567");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->dst_class, SmeClass::upstream);
  EXPECT_EQ(x->routed_digits, "442071234567");
  // NANP in all three forms, normalised to 1NPANXXXXXX / TON 1.
  for (auto [ton, digits] :
       {std::pair{kTonInternational, "12125550101"}, std::pair{kTonUnknown, "2125550101"},
        std::pair{kTonUnknown, "12125550101"}}) {
    auto g = r(*d, ton, digits);
    ASSERT_TRUE(g) << digits;
    EXPECT_EQ(g->dst_class, SmeClass::gsm) << digits;
    EXPECT_EQ(g->routed_digits, "12125550101");
    EXPECT_EQ(g->routed_ton, kTonInternational);
  }
  EXPECT_EQ(r(*d, kTonUnknown, "2125550102")->dst_class, SmeClass::local);
  EXPECT_EQ(r(*d, kTonUnknown, "2125550103").error(), RouteError::cannot_receive);
  EXPECT_EQ(r(*d, kTonUnknown, "9115550100").error(), RouteError::invalid_nanp);
  EXPECT_EQ(r(*d, kTonInternational, "1212555").error(), RouteError::invalid_nanp);
  auto p = r(*d, kTonUnknown, "2126661234");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->dst_class, SmeClass::downstream);
  EXPECT_EQ(d->peer_name(p->peer), "acme");
  EXPECT_EQ(r(*d, kTonUnknown, "3125550100")->dst_class, SmeClass::upstream);
  // Short codes.
  auto sc = r(*d, kTonUnknown, "24273");
  ASSERT_TRUE(sc);
  EXPECT_EQ(sc->dst_class, SmeClass::upstream);
  EXPECT_EQ(sc->routed_digits, "24273");
  // 4-digit local numbers: locally originated only.
  EXPECT_EQ(r(*d, kTonUnknown, "5000")->dst_class, SmeClass::gsm);
  EXPECT_EQ(r(*d, kTonUnknown, "5001")->dst_class, SmeClass::local);
  EXPECT_EQ(r(*d, kTonUnknown, "5002").error(), RouteError::cannot_receive);
  EXPECT_EQ(r(*d, kTonUnknown, "5000", "12125550100", false).error(), RouteError::unroutable);
  EXPECT_EQ(r(*d, kTonUnknown, "5009").error(), RouteError::unroutable);
  // Nothing else.
  EXPECT_EQ(r(*d, kTonUnknown, "5550100").error(), RouteError::unroutable);
  EXPECT_EQ(r(*d, kTonUnknown, "").error(), RouteError::bad_address);
  EXPECT_EQ(r(*d, kTonUnknown, "21255501x0").error(), RouteError::bad_address);
}

TEST(Route, UplinkOnlyForProvisionedLocalSenders) {
  auto d = db();
  ASSERT_TRUE(d);
  EXPECT_TRUE(r(*d, kTonInternational, "442071234567", "12125550100"));  // smsprov
  EXPECT_EQ(r(*d, kTonInternational, "442071234567", "12125550101").error(),
            RouteError::no_upstream_permission);  // local, not provisioned
  EXPECT_EQ(r(*d, kTonUnknown, "24273", "13125550100").error(),
            RouteError::no_upstream_permission);  // not local at all
  // Local and downstream destinations need no permission.
  EXPECT_TRUE(r(*d, kTonUnknown, "2125550102", "13125550100"));
  EXPECT_TRUE(r(*d, kTonUnknown, "2126661234", "12125550101"));
  // The sender in 10-digit TON 0 form counts too.
  EXPECT_TRUE(route(*d, RouteInput{kTonUnknown, "24273", kTonUnknown, "2125550100", true}));
}

// Design 1.2 lets a downstream peer's messages reach the Outside World, 2.4.2 only provisioned
// senders: a peer may, from the numbers of its blocks marked `upstream` in the peers file, and
// only when the message came from that peer. Without the mark: refused, as 2.4.2.
TEST(Route, UplinkForADownstreamPeerOnlyFromItsBlocksMarkedUpstream) {
  auto d = Numdb::parse(kNumbers, "numbers",
                        "212666* acme\n"
                        "646* acme upstream\n"
                        "718* beta upstream\n",
                        "peers");
  ASSERT_TRUE(d) << d.error();
  const uint16_t acme = *(*d)->peer_index("acme");
  const uint16_t beta = *(*d)->peer_index("beta");
  auto from = [&](std::string_view src, std::optional<uint16_t> peer, std::string_view dst) {
    RouteInput in{kTonInternational, dst, kTonInternational, src, false};
    in.src_peer = peer;
    return route(**d, in);
  };
  // acme's 646 block is marked: to a foreign number, a US short code, a non-local NANP number.
  for (std::string_view dst : {"442071234567", "13125550100"}) {
    auto ok = from("16465550100", acme, dst);
    ASSERT_TRUE(ok) << dst;
    EXPECT_EQ(ok->dst_class, SmeClass::upstream);
  }
  // Its 212666 block is not: refused.
  EXPECT_EQ(from("12126661234", acme, "442071234567").error(), RouteError::no_upstream_permission);
  // A marked block of another peer does not help: beta's number sent by acme, and the reverse.
  EXPECT_EQ(from("17185550100", acme, "442071234567").error(), RouteError::no_upstream_permission);
  EXPECT_EQ(from("16465550100", beta, "442071234567").error(), RouteError::no_upstream_permission);
  // The same number not coming from a peer (the uplink, the submit tool): refused.
  EXPECT_EQ(from("16465550100", std::nullopt, "442071234567").error(),
            RouteError::no_upstream_permission);
  // Destinations inside the fiefdom need no mark.
  EXPECT_TRUE(from("12126661234", acme, "12125550101"));
}

}  // namespace
}  // namespace cp::smsc

namespace cp::smsc {
namespace {

TEST(Numdb, KnownPeersKeepTheirIndicesWhateverTheFileOrder) {
  const std::vector<std::string> known = {"beta", "acme", "gone"};
  auto db =
      Numdb::parse("", "numbers", "212666* acme\n312777* gamma\n2125550199 beta\n", "peers", known);
  ASSERT_TRUE(db) << db.error();
  EXPECT_EQ((*db)->peer_index("beta"), 0);
  EXPECT_EQ((*db)->peer_index("acme"), 1);
  EXPECT_EQ((*db)->peer_index("gone"), 2);   // no longer in the file: its index stays taken
  EXPECT_EQ((*db)->peer_index("gamma"), 3);  // new: the next index
  EXPECT_EQ((*db)->peer_of("2126660100"), 1);
  EXPECT_EQ((*db)->peer_of("3127770100"), 3);
  EXPECT_EQ((*db)->peer_of("2125550199"), 0);
  EXPECT_EQ((*db)->peer_names(), (std::vector<std::string>{"beta", "acme", "gone", "gamma"}));
  // Without history: first appearance.
  auto fresh = Numdb::parse("", "numbers", "212666* acme\n2125550199 beta\n", "peers");
  ASSERT_TRUE(fresh);
  EXPECT_EQ((*fresh)->peer_index("acme"), 0);
}

}  // namespace
}  // namespace cp::smsc
