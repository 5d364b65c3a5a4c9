// The 256-byte store record: checksum vectors, every single-bit flip detected, blank slots,
// address and IMSI packing.
#include <gtest/gtest.h>

#include <cstring>

#include "base/byte_reader.h"
#include "storage/record.h"

namespace cp::storage {
namespace {

SmRecord sample() {
  SmRecord r;
  r.time_entry_ns = 1'700'000'000'123'456'789;
  r.time_expiry_ns = r.time_entry_ns + 86'400'000'000'000;
  r.message_id = 0x0123456789abcdef;
  r.message_ref = 42;
  r.src_class = static_cast<uint8_t>(SmeClass::gsm);
  r.dst_class = static_cast<uint8_t>(SmeClass::upstream);
  r.dcs = 0x08;
  r.flags = SmRecord::kFlagStatusReport;
  EXPECT_TRUE(set_digits(r.src, "16195550100", 1, 1));
  EXPECT_TRUE(set_digits(r.dst_written, "6195550111", 0, 1));
  EXPECT_TRUE(set_digits(r.dst_routed, "16195550111", 1, 1));
  EXPECT_TRUE(set_imsi(r, "310150123456789"));
  const char text[] = "hello";
  r.ud_length = sizeof text - 1;
  std::memcpy(r.user_data, text, r.ud_length);
  seal(r);
  return r;
}

TEST(StorageRecord, Crc32cMatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32c(as_bytes("123456789")), 0xE3069283u);  // RFC 3720 / iSCSI check value
  EXPECT_EQ(crc32c({}), 0u);
}

TEST(StorageRecord, SealedRecordIsValidAndRoundTrips) {
  const SmRecord r = sample();
  EXPECT_EQ(check(r), RecordCheck::valid);
  EXPECT_EQ(digits(r.src), "16195550100");
  EXPECT_EQ(digits(r.dst_written), "6195550111");
  EXPECT_EQ(r.dst_routed.ton, 1);
  EXPECT_EQ(imsi(r), "310150123456789");
  SmRecord copy;
  std::memcpy(&copy, &r, sizeof r);
  EXPECT_EQ(check(copy), RecordCheck::valid);
}

TEST(StorageRecord, EverySingleBitFlipIsCaught) {
  const SmRecord r = sample();
  for (size_t byte = 0; byte < kRecordBytes; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      SmRecord bad;
      std::memcpy(&bad, &r, sizeof r);
      reinterpret_cast<uint8_t*>(&bad)[byte] ^= static_cast<uint8_t>(1u << bit);
      EXPECT_NE(check(bad), RecordCheck::valid) << "byte " << byte << " bit " << bit;
    }
  }
}

TEST(StorageRecord, BlankAndTornRecordsAreRecognised) {
  SmRecord blank;
  std::memset(static_cast<void*>(&blank), 0, sizeof blank);  // a preallocated, zeroed slot
  EXPECT_EQ(check(blank), RecordCheck::blank);
  EXPECT_EQ(check(SmRecord{}), RecordCheck::bad_magic);  // never sealed
  // A torn write: the first half of the record reached the disk, the rest is still zero.
  SmRecord torn = sample();
  std::memset(reinterpret_cast<uint8_t*>(&torn) + 64, 0, 192);
  EXPECT_EQ(check(torn), RecordCheck::bad_checksum);
  SmRecord wrong_version = sample();
  wrong_version.magic_version = kRecordMagic | (kRecordVersion + 1);
  EXPECT_EQ(check(wrong_version), RecordCheck::bad_version);
}

TEST(StorageRecord, AddressesRefuseWhatDoesNotFit) {
  Address a;
  EXPECT_TRUE(set_digits(a, "12345678901234567890", 1, 1));  // 20 digits: the maximum
  EXPECT_EQ(digits(a), "12345678901234567890");
  EXPECT_FALSE(set_digits(a, "123456789012345678901", 1, 1));
  EXPECT_FALSE(set_digits(a, "12x4", 1, 1));
  EXPECT_TRUE(set_digits(a, "*#1", 0, 0));
  EXPECT_EQ(digits(a), "*#1");
  SmRecord r;
  EXPECT_FALSE(set_imsi(r, "3101501234567890"));
  EXPECT_FALSE(set_imsi(r, "31015a"));
  EXPECT_EQ(imsi(r), "");  // unknown until the MSISDN-to-IMSI lookup fills it
  EXPECT_TRUE(set_imsi(r, "001010000000001"));
  EXPECT_EQ(imsi(r), "001010000000001");
}

}  // namespace
}  // namespace cp::storage
