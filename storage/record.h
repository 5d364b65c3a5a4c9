// The persistent message store's on-disk record (ThemWi-SMSC design, section 2.2): exactly 256
// bytes, so a 4 KiB O_DIRECT block holds 16 and a MiB holds 4096, and binary search on an
// mmap'd shard is plain index arithmetic. The layout is ours (the original's is not public) and
// documented field by field in docs/STORAGE.md; every offset is pinned by static_asserts.
//
// Integrity: bytes 0..3 hold a magic and layout version, bytes 4..7 a CRC32C of bytes 8..255.
// A record whose magic, version or checksum does not match is torn or garbage and is never
// believed; an all-zero record is a preallocated, never-written slot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace cp::storage {

inline constexpr size_t kRecordBytes = 256;
inline constexpr size_t kUserDataBytesMax = 140;
inline constexpr size_t kAddressDigitsMax = 20;
inline constexpr uint32_t kRecordMagic = 0x534D0000;  // "SM" in the high half
// Layout 2 added `unsynced_before`; layout-1 records (its bytes were reserved, zero) are still
// read, and sealing one again writes it as layout 2.
inline constexpr uint16_t kRecordVersion = 2;
inline constexpr uint16_t kRecordVersionFirst = 1;

// Who sent or receives a message (section 1.2).
enum class SmeClass : uint8_t { local = 0, gsm = 1, upstream = 2, downstream = 3 };
enum class RecordState : uint8_t { active = 0, historical = 1 };
enum class Disposition : uint8_t {
  none = 0,  // still active
  delivered = 1,
  failed_permanently = 2,
  expired = 3,
  cancelled = 4,
  stored_only = 5,  // written to the store as its final delivery (write-to-store-only numbers)
};

// A phone number or short code with its type of number and numbering plan. Digits are packed
// two per byte (BCD, low nibble first, 0xF fills an odd count); alphanumeric originators
// (TON 5) keep their GSM 7-bit packed octets as they came.
struct Address {
  uint8_t ton = 0;
  uint8_t npi = 0;
  uint8_t length = 0;  // digits (or, for TON 5, packed octets)
  uint8_t packed[10] = {};
};
static_assert(sizeof(Address) == 13);

struct SmRecord {
  uint32_t magic_version = 0;     // kRecordMagic | kRecordVersion
  uint32_t crc32c = 0;            // CRC32C of bytes 8..255
  int64_t time_entry_ns = 0;      // UTC, when the store accepted the message
  int64_t time_discharge_ns = 0;  // UTC, when it became historical (0 while active)
  int64_t time_expiry_ns = 0;     // UTC, end of the validity period
  uint64_t message_id = 0;        // our message id (given to SMPP submitters)
  uint8_t dest_imsi[8] = {0xFF, 0xFF, 0xFF, 0xFF,
                          0xFF, 0xFF, 0xFF, 0xFF};  // BCD, 0xF filled; all 0xFF while unknown
  uint32_t extra_info = 0;   // delivery detail at discharge (network / SMPP error code)
  uint16_t message_ref = 0;  // originator's message reference (TP-MR or SMPP)
  uint16_t src_peer = 0;     // peer index when src_class is upstream/downstream
  uint16_t dst_peer = 0;     // peer index when dst_class is upstream/downstream
  uint8_t src_class = 0;     // SmeClass
  uint8_t dst_class = 0;     // SmeClass
  uint8_t pid = 0;           // TP-PID
  uint8_t dcs = 0;           // TP-DCS
  uint8_t flags = 0;         // kFlag*
  uint8_t state = 0;         // RecordState
  uint8_t disposition = 0;   // Disposition
  uint8_t ud_length = 0;     // TP-UDL: septets for GSM 7-bit, else octets
  Address src;               // originator
  Address dst_written;       // destination as the originator wrote it
  Address dst_routed;        // destination after routing (normalised)
  // A part of a multi-part (concatenated) message: the core keeps the parts together — none is
  // delivered until every part is durable, and one status report covers them all (docs/SMSC.md,
  // "Multi-part messages"). 0 / 0 for a message of one part.
  uint8_t part = 0;          // this record's part, 1..parts
  uint8_t parts = 0;         // how many parts the message has (2..255)
  uint8_t reserved[1] = {};  // zero; room for later fields
  // How many slots just before this one were not yet durable when it was sealed (saturating;
  // 0 when its own slot already was): the shard sets it. Every slot before
  // slot - unsynced_before was acknowledged by then, which lets recovery tell a torn tail from
  // damage to an acknowledged record (docs/STORAGE.md, recovery).
  uint32_t unsynced_before = 0;
  // A part: how many indices before this record part 1's record is (0 for part 1 itself), so
  // part 1's message id — the one its submitter was given — is found from any part.
  uint32_t first_part_back = 0;
  uint8_t user_data[kUserDataBytesMax] = {};

  static constexpr uint8_t kFlagStatusReport = 0x01;  // status report requested
  static constexpr uint8_t kFlagUdhi = 0x02;          // user data begins with a header
  static constexpr uint8_t kFlagReport = 0x04;  // a status report (user data: smsc::StatusReport)
  // The submitter named no reference to tell a retry by (SMPP without user_message_reference):
  // never taken for a duplicate, nor a candidate for one.
  static constexpr uint8_t kFlagNoReference = 0x08;
};
static_assert(sizeof(SmRecord) == kRecordBytes);
static_assert(offsetof(SmRecord, crc32c) == 4);
static_assert(offsetof(SmRecord, time_entry_ns) == 8);
static_assert(offsetof(SmRecord, message_id) == 32);
static_assert(offsetof(SmRecord, dest_imsi) == 40);
static_assert(offsetof(SmRecord, extra_info) == 48);
static_assert(offsetof(SmRecord, src_class) == 58);
static_assert(offsetof(SmRecord, ud_length) == 65);
static_assert(offsetof(SmRecord, src) == 66);
static_assert(offsetof(SmRecord, dst_written) == 79);
static_assert(offsetof(SmRecord, dst_routed) == 92);
static_assert(offsetof(SmRecord, part) == 105);
static_assert(offsetof(SmRecord, parts) == 106);
static_assert(offsetof(SmRecord, unsynced_before) == 108);
static_assert(offsetof(SmRecord, first_part_back) == 112);
static_assert(offsetof(SmRecord, user_data) == 116);

// A message is addressed across shards by its message id: the shard (the reactor core that owns
// it, 8 bits) and the record's index in that shard (56 bits, counted from the shard's creation,
// so it survives an offline split). Record `index` of a shard sits at slot index - base-index of
// its pms.bin (docs/STORAGE.md).
inline constexpr unsigned kShardsMax = 256;
inline constexpr uint64_t kIndexMask = (uint64_t{1} << 56) - 1;
constexpr uint64_t make_message_id(unsigned shard, uint64_t index) {
  return (uint64_t{shard} << 56) | (index & kIndexMask);
}
constexpr unsigned message_shard(uint64_t message_id) {
  return static_cast<unsigned>(message_id >> 56);
}
constexpr uint64_t message_index(uint64_t message_id) {
  return message_id & kIndexMask;
}

// Whether a record's part fields describe a part of a multi-part message (a valid record may
// hold anything in them: only these are believed), and the index of its part 1.
constexpr bool is_part(const SmRecord& r, uint64_t index) {
  return r.parts >= 2 && r.part >= 1 && r.part <= r.parts && r.first_part_back <= index &&
         (r.part == 1) == (r.first_part_back == 0);
}
constexpr uint64_t first_part_index(const SmRecord& r, uint64_t index) {
  return index - r.first_part_back;
}

// Names as smsc-dump, pms-tool and the logs print them ("unknown" for values this layout
// version does not define: a record read from disk may hold anything that passed its checksum).
std::string_view sme_class_name(uint8_t sme_class);      // local, gsm, upstream, downstream
std::string_view state_name(uint8_t state);              // active, historical
std::string_view disposition_name(uint8_t disposition);  // none, delivered, failed, expired, ...

// CRC32C (Castagnoli), hardware accelerated by ISA-L.
uint32_t crc32c(std::span<const std::byte> bytes);

// Sets magic, version and checksum; call after every change, before writing.
void seal(SmRecord& record);

enum class RecordCheck : uint8_t { valid, blank, bad_magic, bad_version, bad_checksum };
// The slot below which everything was durable when a valid record at `slot` was sealed, or
// nullopt when the record does not say (layout 1).
std::optional<uint64_t> durable_floor(const SmRecord& record, uint64_t slot);
// What a record read back from disk is. Only `valid` may be believed; `blank` is an all-zero
// (preallocated, never written) slot.
RecordCheck check(const SmRecord& record);

// Packs a digit string ("+" not included; 0-9, *, #, a, b, c) into an address. False when
// too long or not a digit.
bool set_digits(Address& address, std::string_view digits, uint8_t ton, uint8_t npi);
// The digits of a (non-alphanumeric) address.
std::string digits(const Address& address);
// IMSI: up to 15 digits into dest_imsi / back ("" while unknown).
bool set_imsi(SmRecord& record, std::string_view imsi);
std::string imsi(const SmRecord& record);

}  // namespace cp::storage
