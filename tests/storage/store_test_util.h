// Helpers shared by the message-store tests: temporary shard directories on a disk file system
// (O_DIRECT needs one), deterministic records, and an ack collector.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "storage/record.h"
#include "storage/shard.h"
#include "tests/support/temp_dir.h"

namespace cp::storage::test {

using cp::test::TempDir;

// A record whose content is a pure function of `seed` (what a test expects back).
inline SmRecord make_record(uint64_t seed, bool active = true) {
  SmRecord r;
  r.time_expiry_ns = static_cast<int64_t>(seed % 1000000000) * 1000 + 7;
  r.message_ref = static_cast<uint16_t>(seed);
  r.src_class = static_cast<uint8_t>(seed % 4);
  r.dst_class = static_cast<uint8_t>((seed / 4) % 4);
  r.pid = 0;
  r.dcs = 0x08;
  set_digits(r.src, std::to_string(15550000000 + seed % 10000000), 1, 1);
  set_digits(r.dst_written, std::to_string(15551000000 + seed % 1000), 1, 1);
  r.dst_routed = r.dst_written;
  r.ud_length = static_cast<uint8_t>(seed % 141);
  for (size_t i = 0; i < r.ud_length; ++i) r.user_data[i] = static_cast<uint8_t>(seed * 31 + i);
  if (!active) {
    r.state = static_cast<uint8_t>(RecordState::historical);
    r.disposition = static_cast<uint8_t>(Disposition::stored_only);
  }
  return r;
}

// The content the submitter gave (identity, seal and the shard's durability mark excluded).
inline bool same_content(const SmRecord& got_record, const SmRecord& want_record) {
  SmRecord got = got_record, want = want_record;
  got.unsynced_before = want.unsynced_before = 0;
  constexpr size_t from = offsetof(SmRecord, extra_info);
  return std::memcmp(reinterpret_cast<const char*>(&got) + from,
                     reinterpret_cast<const char*>(&want) + from, sizeof(SmRecord) - from) == 0 &&
         got.time_expiry_ns == want.time_expiry_ns &&
         std::memcmp(got.dest_imsi, want.dest_imsi, sizeof got.dest_imsi) == 0;
}

// Discharges active record `index` with `disposition` (durable at the shard's next commit).
inline void discharge(Shard& s, uint64_t index, Disposition disposition = Disposition::delivered) {
  const SmRecord* current = s.find_active(index);
  ASSERT_NE(current, nullptr) << index;
  SmRecord done = *current;
  done.state = static_cast<uint8_t>(RecordState::historical);
  done.disposition = static_cast<uint8_t>(disposition);
  ASSERT_TRUE(s.update(index, done, nullptr, nullptr)) << index;
}

// Appends make_record(i) for i in [from, to) on a synchronous shard, committing every 1000.
inline void append_seeded(Shard& s, uint64_t from, uint64_t to) {
  for (uint64_t i = from; i < to; ++i) {
    SmRecord r = make_record(i);
    ASSERT_TRUE(s.append(r, nullptr, nullptr)) << i;
    if (i % 1000 == 999) {
      ASSERT_TRUE(s.flush_sync());
    }
  }
  ASSERT_TRUE(s.flush_sync());
}

// Collects acknowledgements: index -> result.
struct Acks {
  std::map<uint64_t, int32_t> results;
  std::vector<uint64_t> order;
  static void on_ack(void* ctx, uint64_t index, int32_t result) {
    auto* self = static_cast<Acks*>(ctx);
    self->results[index] = result;
    self->order.push_back(index);
  }
};

// Reads pms.bin of a shard directory with plain (buffered) I/O, slot by slot.
inline std::vector<SmRecord> read_slots(const std::string& shard_dir) {
  std::vector<SmRecord> out;
  FILE* f = std::fopen((shard_dir + "/pms.bin").c_str(), "rb");
  if (!f) return out;
  SmRecord r;
  while (std::fread(&r, sizeof r, 1, f) == 1) out.push_back(r);
  std::fclose(f);
  return out;
}

}  // namespace cp::storage::test
