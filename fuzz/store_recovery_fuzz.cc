// libFuzzer target for the message store's recovery scanner and record decoder (storage/).
// Input: a control byte, then bytes that become the shard's disk.
//   control & 1 == 0: the bytes are the raw disk image (garbage, as a broken file would be);
//   control & 1 == 1: a disk of N valid records (N = next byte * 3) is built first, and the
//                     rest of the input is a list of (offset u16, xor byte) damages applied to
//                     it — reaching deep into recovery despite the checksums.
// Bits 1..2 of the control byte choose historical-mb (0..3), bit 3 a base-index of 1000.
// Shard::open on the simulated disk must either refuse with an error or open a shard whose
// every log record is valid and in place, with blanks after it; then one more append commits
// and a reopen must find it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "storage/record.h"
#include "storage/shard.h"
#include "storage/testing/sim_disk.h"

namespace {

using namespace cp::storage;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "store_recovery_fuzz: %s\n", what);
  std::abort();
}

const std::string& work_dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/cp-store-fuzz-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    if (!made) fail("mkdtemp");
    cp::set_log_level(cp::LogLevel::error);
    return std::string(made);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t control = data[0];
  const uint64_t mark = (control >> 1) & 3;
  const uint64_t base = (control & 8) ? 1000 : 0;
  std::vector<std::byte> image;
  if (control & 1) {
    const size_t n = size_t{data[1]} * 3;
    image.resize((n + kRecordsPerBlock) / kRecordsPerBlock * kBlockBytes);
    auto* records = reinterpret_cast<SmRecord*>(image.data());
    for (size_t i = 0; i < n; ++i) {
      SmRecord& r = records[i];
      r = SmRecord{};
      r.message_id = make_message_id(0, base + i);
      r.time_entry_ns = static_cast<int64_t>(i);
      r.state = i % 3 ? 0 : 1;
      r.disposition = i % 3 ? 0 : 1;
      r.ud_length = static_cast<uint8_t>(i);
      seal(r);
    }
    for (size_t p = 2; p + 3 <= size; p += 3) {
      const size_t at = (size_t{data[p]} << 8 | data[p + 1]) % image.size();
      image[at] ^= std::byte{data[p + 2]};
    }
  } else {
    image.assign(reinterpret_cast<const std::byte*>(data + 1),
                 reinterpret_cast<const std::byte*>(data + size));
  }
  for (size_t i = 0; i + kRecordBytes <= image.size(); i += kRecordBytes) {
    SmRecord r;
    std::memcpy(&r, image.data() + i, sizeof r);
    (void)check(r);
    (void)digits(r.src);
    (void)imsi(r);
  }

  const std::string& dir = work_dir();
  if (!write_number_file(dir + "/historical-mb", mark) ||
      !write_number_file(dir + "/base-index", base))
    fail("cannot write the number files");
  SimDisk disk;
  disk.restore(image);
  ShardOptions o;
  o.dir = dir;
  o.create = false;
  o.prealloc_bytes = 16 << 10;
  o.batch_blocks_max = 4;
  cp::ManualClock clock;
  uint64_t next = 0;
  {
    auto shard = Shard::open(o, disk.open(true), clock);
    if (!shard) return 0;  // refused with a reason: fine
    next = (*shard)->next_index();
    if (next < base) fail("next index below the base");
    const auto& d = disk.durable();
    const uint64_t end = (next - base) * kRecordBytes;
    for (uint64_t off = 0; off + kRecordBytes <= d.size(); off += kRecordBytes) {
      SmRecord r;
      std::memcpy(&r, d.data() + off, sizeof r);
      const RecordCheck c = check(r);
      if (off < end && c != RecordCheck::valid && off >= mark * kRecordsPerMiB * kRecordBytes)
        fail("an invalid record inside the recovered log");
      if (off >= end && off < end + 5 * kBlockBytes && c != RecordCheck::blank)
        fail("residue left after the end of the log");
    }
    SmRecord r;
    auto index = (*shard)->append(r, nullptr, nullptr);
    if (!index || *index != next) fail("append after recovery");
    if (!(*shard)->flush_sync()) fail("commit after recovery");
  }
  auto again = Shard::open(o, disk.open(true), clock);
  if (!again) {
    std::fprintf(stderr, "store_recovery_fuzz: reopen: %s\n", again.error().c_str());
    fail("reopen after a successful recovery and one append failed");
  }
  if ((*again)->next_index() != next + 1) fail("the appended record was not recovered");
  return 0;
}
