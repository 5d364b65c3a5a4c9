// Builds message stores on disk for the reader and smsc-dump tests, the way the writer leaves
// them (docs/STORAGE.md): sealed 256-byte records written with pwrite at slot * 256, optional
// base-index / historical-mb files, a zero-filled preallocated tail and torn (garbage) slots.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "proto/sms/text.h"
#include "storage/record.h"
#include "tests/support/temp_dir.h"

namespace cp::storage::test {

using cp::test::TempDir;

// A message as the tests describe it; to_record() makes the sealed record.
struct Msg {
  int64_t time_ns = 1'764'000'000'000'000'000;  // 2025-11-24T16:00:00Z
  std::string src = "15551230001";
  uint8_t src_ton = 1;
  std::string dst_written = "5551230002";
  uint8_t dst_written_ton = 0;
  std::string dst_routed = "15551230002";
  SmeClass src_class = SmeClass::gsm;
  SmeClass dst_class = SmeClass::gsm;
  RecordState state = RecordState::historical;
  Disposition disposition = Disposition::delivered;
  std::string imsi = "001010000000002";
  std::string text = "hello";  // GSM 7-bit when it fits, else UCS-2
  bool ucs2 = false;
  uint16_t mr = 7;
};

inline SmRecord to_record(const Msg& m) {
  SmRecord r;
  r.time_entry_ns = m.time_ns;
  r.time_expiry_ns = m.time_ns + 86'400 * int64_t{1'000'000'000};
  if (m.state == RecordState::historical) r.time_discharge_ns = m.time_ns + 1'500'000'000;
  r.message_ref = m.mr;
  r.src_class = static_cast<uint8_t>(m.src_class);
  r.dst_class = static_cast<uint8_t>(m.dst_class);
  r.state = static_cast<uint8_t>(m.state);
  r.disposition = static_cast<uint8_t>(m.disposition);
  EXPECT_TRUE(set_digits(r.src, m.src, m.src_ton, 1));
  EXPECT_TRUE(set_digits(r.dst_written, m.dst_written, m.dst_written_ton, 1));
  EXPECT_TRUE(set_digits(r.dst_routed, m.dst_routed, 1, 1));
  if (!m.imsi.empty()) {
    EXPECT_TRUE(set_imsi(r, m.imsi));
  }
  const auto septets = m.ucs2 ? std::nullopt : sms::utf8_to_gsm7(m.text);
  if (septets && septets->size() <= 160) {
    r.dcs = 0x00;
    const auto packed = sms::pack_septets(*septets);
    r.ud_length = static_cast<uint8_t>(septets->size());
    std::memcpy(r.user_data, packed.data(), packed.size());
  } else {
    r.dcs = 0x08;
    const auto be = sms::utf8_to_ucs2(m.text);
    EXPECT_LE(be.size(), kUserDataBytesMax);
    r.ud_length = static_cast<uint8_t>(std::min(be.size(), kUserDataBytesMax));
    std::memcpy(r.user_data, be.data(), r.ud_length);
  }
  seal(r);
  return r;
}

// Writes one shard directory slot by slot.
class ShardFile {
 public:
  ShardFile(const std::filesystem::path& root, unsigned shard)
      : dir_(root / ("shard-" + std::to_string(shard))) {
    std::filesystem::create_directories(dir_);
    fd_ = ::open((dir_ / "pms.bin").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd_, 0);
  }
  ~ShardFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  ShardFile(const ShardFile&) = delete;
  ShardFile& operator=(const ShardFile&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  uint64_t next_slot() const { return next_; }

  void put(uint64_t slot, const void* bytes) {
    const ssize_t n = ::pwrite(fd_, bytes, kRecordBytes, static_cast<off_t>(slot * kRecordBytes));
    EXPECT_EQ(n, static_cast<ssize_t>(kRecordBytes));
    next_ = std::max(next_, slot + 1);
  }
  void append(const SmRecord& r) { put(next_, &r); }
  void append(const Msg& m) { append(to_record(m)); }
  // A torn slot: a sealed record with one byte changed (bad checksum), or given bytes.
  void append_torn() {
    SmRecord r = to_record(Msg{});
    r.user_data[3] ^= 0x5A;
    append(r);
  }
  void append_garbage(uint8_t fill) {
    uint8_t bytes[kRecordBytes];
    std::memset(bytes, fill, sizeof bytes);
    put(next_, bytes);
  }
  // Zero-filled preallocation: `slots` blank slots after the last written one.
  void preallocate(uint64_t slots) {
    EXPECT_EQ(::ftruncate(fd_, static_cast<off_t>((next_ + slots) * kRecordBytes)), 0);
    next_ += slots;
  }
  void truncate_bytes(uint64_t bytes) { EXPECT_EQ(::ftruncate(fd_, static_cast<off_t>(bytes)), 0); }
  void write_file(const char* name, std::string_view content) {
    std::ofstream(dir_ / name, std::ios::binary) << content;
  }
  int fd() const { return fd_; }

 private:
  std::filesystem::path dir_;
  int fd_ = -1;
  uint64_t next_ = 0;
};

}  // namespace cp::storage::test
