// MILENAGE (hw/simcard/milenage.h) against the conformance test data of 3GPP TS 35.207
// (test sets 1 and 2): OPc, f1, f1*, f2, f3, f4, f5 and f5*.
#include <gtest/gtest.h>

#include <string>

#include "hw/simcard/milenage.h"

namespace cp::simcard {
namespace {

template <size_t N>
std::array<uint8_t, N> hex(std::string_view s) {
  std::array<uint8_t, N> out{};
  for (size_t i = 0; i < N; ++i)
    out[i] = static_cast<uint8_t>(std::stoi(std::string(s.substr(2 * i, 2)), nullptr, 16));
  return out;
}

struct TestSet {
  const char *k, *rand, *sqn, *amf, *op, *opc, *f1, *f1s, *f2, *f5, *f3, *f4, *f5s;
};

constexpr TestSet kSets[] = {
    {"465b5ce8b199b49faa5f0a2ee238a6bc", "23553cbe9637a89d218ae64dae47bf35", "ff9bb4d0b607", "b9b9",
     "cdc202d5123e20f62b6d676ac72cb318", "cd63cb71954a9f4e48a5994e37a02baf", "4a9ffac354dfafb3",
     "01cfaf9ec4e871e9", "a54211d5e3ba50bf", "aa689c648370", "b40ba9a3c58b2a05bbf0d987b21bf8cb",
     "f769bcd751044604127672711c6d3441", "451e8beca43b"},
    {"0396eb317b6d1c36f19c1c84cd6ffd16", "c00d603103dcee52c4478119494202e8", "fd8eef40df7d", "af17",
     "ff53bade17df5d4e793073ce9d7579fa", "53c15671c60a4b731c55b4a441c0bde2", "5df5b31807e258b0",
     "a8c016e51ef4a343", "d3a628ed988620f0", "c47783995f72", "58c433ff7a7082acd424220f2b67c556",
     "21a8c1f929702adb3e738488b9f5c5da", "30f1197061c1"},
};

TEST(Milenage, Ts35207TestSets) {
  for (const auto& t : kSets) {
    const Block k = hex<16>(t.k);
    const Block opc = milenage_opc(k, hex<16>(t.op));
    EXPECT_EQ(opc, hex<16>(t.opc)) << t.k;
    const auto sqn = hex<6>(t.sqn);
    const auto amf = hex<2>(t.amf);
    const MilenageOut m = milenage(k, opc, hex<16>(t.rand), sqn, amf);
    EXPECT_EQ(m.mac_a, hex<8>(t.f1)) << t.k;
    EXPECT_EQ(m.mac_s, hex<8>(t.f1s)) << t.k;
    EXPECT_EQ(m.res, hex<8>(t.f2)) << t.k;
    EXPECT_EQ(m.ak, hex<6>(t.f5)) << t.k;
    EXPECT_EQ(m.ck, hex<16>(t.f3)) << t.k;
    EXPECT_EQ(m.ik, hex<16>(t.f4)) << t.k;
    EXPECT_EQ(m.ak_s, hex<6>(t.f5s)) << t.k;
  }
}

}  // namespace
}  // namespace cp::simcard
