#include "storage/record.h"

#include <isa-l/crc.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace cp::storage {
namespace {

constexpr char kDigitChars[] = "0123456789*#abc";  // BCD nibbles 0x0..0xE; 0xF is filler

int nibble_of(char c) {
  for (int i = 0; i < 15; ++i) {
    if (kDigitChars[i] == c) return i;
  }
  return -1;
}

bool pack_bcd(std::string_view digits, uint8_t* out, size_t out_bytes) {
  if (digits.size() > out_bytes * 2) return false;
  std::memset(out, 0xFF, out_bytes);
  for (size_t i = 0; i < digits.size(); ++i) {
    const int n = nibble_of(digits[i]);
    if (n < 0) return false;
    uint8_t& b = out[i / 2];
    b = (i % 2 == 0) ? static_cast<uint8_t>((b & 0xF0) | n)
                     : static_cast<uint8_t>((b & 0x0F) | (n << 4));
  }
  return true;
}

std::string unpack_bcd(const uint8_t* in, size_t max_digits) {
  std::string out;
  for (size_t i = 0; i < max_digits; ++i) {
    const int n = (i % 2 == 0) ? (in[i / 2] & 0x0F) : (in[i / 2] >> 4);
    if (n == 0xF) break;
    out.push_back(kDigitChars[n]);
  }
  return out;
}

}  // namespace

uint32_t crc32c(std::span<const std::byte> bytes) {
  // ISA-L's crc32_iscsi leaves out the final inversion of the standard CRC32C.
  auto* p = const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>(bytes.data()));
  return ~crc32_iscsi(p, static_cast<int>(bytes.size()), 0xFFFFFFFFu);
}

namespace {
std::span<const std::byte> covered(const SmRecord& r) {
  return std::as_bytes(std::span(&r, 1)).subspan(offsetof(SmRecord, time_entry_ns));
}
}  // namespace

void seal(SmRecord& record) {
  record.magic_version = kRecordMagic | kRecordVersion;
  record.crc32c = crc32c(covered(record));
}

RecordCheck check(const SmRecord& record) {
  static const uint8_t zeros[kRecordBytes] = {};
  if (std::memcmp(&record, zeros, sizeof record) == 0) return RecordCheck::blank;
  if ((record.magic_version & 0xFFFF0000u) != kRecordMagic) return RecordCheck::bad_magic;
  const uint32_t version = record.magic_version & 0xFFFFu;
  if (version < kRecordVersionFirst || version > kRecordVersion) return RecordCheck::bad_version;
  if (record.crc32c != crc32c(covered(record))) return RecordCheck::bad_checksum;
  return RecordCheck::valid;
}

std::optional<uint64_t> durable_floor(const SmRecord& record, uint64_t slot) {
  if ((record.magic_version & 0xFFFFu) < 2) return std::nullopt;
  if (record.unsynced_before == UINT32_MAX) return 0;  // saturated: says nothing
  return slot - std::min<uint64_t>(slot, record.unsynced_before);
}

bool set_digits(Address& address, std::string_view digits, uint8_t ton, uint8_t npi) {
  if (digits.size() > kAddressDigitsMax) return false;
  Address a;
  if (!pack_bcd(digits, a.packed, sizeof a.packed)) return false;
  a.ton = ton;
  a.npi = npi;
  a.length = static_cast<uint8_t>(digits.size());
  address = a;
  return true;
}

std::string digits(const Address& address) {
  return unpack_bcd(address.packed, std::min<size_t>(address.length, kAddressDigitsMax));
}

bool set_imsi(SmRecord& record, std::string_view imsi_digits) {
  if (imsi_digits.size() > 15) return false;
  for (char c : imsi_digits) {
    if (c < '0' || c > '9') return false;
  }
  return pack_bcd(imsi_digits, record.dest_imsi, sizeof record.dest_imsi);
}

std::string imsi(const SmRecord& record) {
  return unpack_bcd(record.dest_imsi, 15);
}

std::string_view sme_class_name(uint8_t c) {
  switch (static_cast<SmeClass>(c)) {
    case SmeClass::local:
      return "local";
    case SmeClass::gsm:
      return "gsm";
    case SmeClass::upstream:
      return "upstream";
    case SmeClass::downstream:
      return "downstream";
  }
  return "unknown";
}

std::string_view state_name(uint8_t s) {
  switch (static_cast<RecordState>(s)) {
    case RecordState::active:
      return "active";
    case RecordState::historical:
      return "historical";
  }
  return "unknown";
}

std::string_view disposition_name(uint8_t d) {
  switch (static_cast<Disposition>(d)) {
    case Disposition::none:
      return "none";
    case Disposition::delivered:
      return "delivered";
    case Disposition::failed_permanently:
      return "failed";
    case Disposition::expired:
      return "expired";
    case Disposition::cancelled:
      return "cancelled";
    case Disposition::stored_only:
      return "stored-only";
  }
  return "unknown";
}

}  // namespace cp::storage
