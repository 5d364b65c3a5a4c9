// IPA CCM identity (proto/ipa/ipa.h) against osmo-hlr's exchange captured in
// vectors/gsup-osmo-hlr-transcript.txt: the HLR's ID_GET decodes to its tags, and our ID_RESP
// for unit name "MSC-TEST" is byte for byte what osmo-hlr's own test client sent.
#include "proto/ipa/ipa.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cp::proto::ipa {
namespace {

std::vector<std::byte> hex(std::string_view h) {
  std::vector<std::byte> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<std::byte>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

constexpr std::string_view kIdGet = "0011fe0401080107010201030104010501010100";
constexpr std::string_view kIdRespMsc =
    "0031fe05000208000002070000020200000203000002040000020500000a014d53432d544553540000"
    "0a004d53432d5445535400";

TEST(IpaIdentity, DecodesOsmoHlrsIdGetAndAnswersLikeItsClients) {
  const auto frame = hex(kIdGet);
  auto f = decode(frame);
  ASSERT_TRUE(f);
  ASSERT_EQ(f->proto, kProtoCcm);
  ASSERT_EQ(static_cast<uint8_t>(f->payload[0]), kCcmIdGet);
  auto req = decode_id_get(f->payload.subspan(1));
  ASSERT_TRUE(req) << req.error();
  ASSERT_EQ(req->count, 8u);
  EXPECT_EQ(req->tags[0], 0x08);
  EXPECT_EQ(req->tags[6], kIdTagUnitName);
  EXPECT_EQ(req->tags[7], kIdTagSerial);
  EXPECT_EQ(encode_id_resp(*req, "MSC-TEST"), hex(kIdRespMsc));
}

TEST(IpaIdentity, RefusesMalformedIdGet) {
  EXPECT_FALSE(decode_id_get(hex("010801")));  // odd length
  EXPECT_FALSE(decode_id_get(hex("0208")));    // no 0x01 marker
  EXPECT_TRUE(decode_id_get({}));              // asks for nothing: fine
  std::string many;
  for (int i = 0; i < 33; ++i) many += "0100";
  EXPECT_FALSE(decode_id_get(hex(many)));  // more than kIdTagsMax
}

}  // namespace
}  // namespace cp::proto::ipa
