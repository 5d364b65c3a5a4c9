#include "storage/dump/dump.h"

#include <fmt/format.h>

#include <cstring>
#include <iterator>
#include <limits>
#include <ostream>
#include <vector>

#include "proto/sms/text.h"
#include "storage/dump/shard_reader.h"

#ifndef CP_SMSC_DUMP_STORE
#define CP_SMSC_DUMP_STORE "./state/pms"
#endif

namespace cp::storage::dump {
namespace {

constexpr int64_t kSecondsPerDay = 86'400;
constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr uint8_t kTonInternational = 1;
constexpr uint8_t kTonAlphanumeric = 5;
constexpr char kBcdDigits[] = "0123456789*#abc";  // as storage/record.cc packs them

// ---- civil time (Howard Hinnant's days_from_civil / civil_from_days) -------------------------

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
  int64_t year;
  unsigned month, day;
};
Civil civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return Civil{static_cast<int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Reads exactly `n` decimal digits at `pos`.
std::optional<unsigned> take_digits(std::string_view s, size_t& pos, size_t n) {
  if (s.size() - pos < n) return std::nullopt;
  unsigned v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  pos += n;
  return v;
}

// ".123" -> 123'000'000 (1 to 9 digits), advancing `pos`; 0 when there is no '.'.
std::optional<int64_t> take_fraction(std::string_view s, size_t& pos) {
  if (pos >= s.size() || (s[pos] != '.' && s[pos] != ',')) return int64_t{0};
  ++pos;
  int64_t ns = 0;
  size_t digits = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
    if (++digits > 9) return std::nullopt;
    ns = ns * 10 + (s[pos++] - '0');
  }
  if (digits == 0) return std::nullopt;
  for (; digits < 9; ++digits) ns *= 10;
  return ns;
}

Result<int64_t, std::string> parse_unix_time(std::string_view text) {
  const std::string bad = "bad time '" + std::string(text) + "': expected @SECONDS[.FRACTION]";
  size_t pos = 1;
  int64_t seconds = 0;
  size_t digits = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    if (seconds > (std::numeric_limits<int64_t>::max() / kNanosPerSecond - 9) / 10) {
      return fail("time '" + std::string(text) + "' out of range");
    }
    seconds = seconds * 10 + (text[pos++] - '0');
    ++digits;
  }
  const auto fraction = take_fraction(text, pos);
  if (digits == 0 || !fraction || pos != text.size()) return fail(bad);
  return seconds * kNanosPerSecond + *fraction;
}

// ---- addresses -------------------------------------------------------------------------------

// The digits of a non-alphanumeric address into `out` (at most kAddressDigitsMax).
size_t unpack_digits(const Address& a, char* out) {
  const size_t max = std::min<size_t>(a.length, kAddressDigitsMax);
  size_t n = 0;
  for (; n < max; ++n) {
    const int nibble = (n % 2 == 0) ? (a.packed[n / 2] & 0x0F) : (a.packed[n / 2] >> 4);
    if (nibble == 0xF) break;
    out[n] = kBcdDigits[nibble];
  }
  return n;
}

bool is_nanp_ten(std::string_view digits) {
  if (digits.size() != 10 || digits[0] < '2' || digits[0] > '9') return false;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// An alphanumeric originator (TON 5): its GSM 7-bit packed octets as UTF-8. When the octets
// hold one septet more than the name (7 octets = 8 septets), that last septet is padding: a
// CR (TS 23.038 §6.1.2.3.1) or zeros, and is dropped.
std::string alphanumeric_text(const Address& a) {
  const size_t octets = std::min<size_t>(a.length, sizeof a.packed);
  const auto packed = std::as_bytes(std::span(a.packed, octets));
  std::vector<uint8_t> septets = sms::unpack_septets(packed, octets * 8 / 7);
  if ((octets * 8) % 7 == 0 && !septets.empty() &&
      (septets.back() == 0x0D || septets.back() == 0)) {
    septets.pop_back();
  }
  return sms::gsm7_to_utf8(septets);
}

bool is_peer_class(uint8_t c) {
  return c == static_cast<uint8_t>(SmeClass::upstream) ||
         c == static_cast<uint8_t>(SmeClass::downstream);
}

// ---- UTF-8 and escaping ----------------------------------------------------------------------

// The code point at s[pos] (RFC 3629: no overlongs, surrogates or values beyond U+10FFFF),
// advancing pos; nullopt (advancing one octet) for a malformed sequence.
std::optional<char32_t> next_code_point(std::string_view s, size_t& pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80) {
    ++pos;
    return b0;
  }
  size_t len = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    ++pos;
    return std::nullopt;
  }
  if (s.size() - pos < len) {
    ++pos;
    return std::nullopt;
  }
  for (size_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[pos + i]);
    if ((b & 0xC0) != 0x80) {
      ++pos;
      return std::nullopt;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++pos;
    return std::nullopt;
  }
  pos += len;
  return cp;
}

// Code points a terminal acts on rather than shows: C0, DEL, C1, and the bidirectional and
// line-breaking formatting characters (which can reorder or split what is displayed).
bool is_unsafe(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

// ---- filters ---------------------------------------------------------------------------------

bool matches(const SmRecord& r, const DumpOptions& o) {
  if (o.restricted && !address_matches(r.src, *o.restricted) &&
      !address_matches(r.dst_routed, *o.restricted)) {
    return false;
  }
  if (o.number && !address_matches(r.src, *o.number) &&
      !address_matches(r.dst_written, *o.number) && !address_matches(r.dst_routed, *o.number)) {
    return false;
  }
  if (o.source && !address_matches(r.src, *o.source)) return false;
  if (o.dest && !address_matches(r.dst_written, *o.dest) &&
      !address_matches(r.dst_routed, *o.dest)) {
    return false;
  }
  if (o.src_class && r.src_class != static_cast<uint8_t>(*o.src_class)) return false;
  if (o.dst_class && r.dst_class != static_cast<uint8_t>(*o.dst_class)) return false;
  if (o.state && r.state != static_cast<uint8_t>(*o.state)) return false;
  if (o.disposition && r.disposition != static_cast<uint8_t>(*o.disposition)) return false;
  return true;
}

// ---- one entry -------------------------------------------------------------------------------

using Out = std::back_insert_iterator<std::string>;

// What the record's user data is, as far as metadata goes.
struct UserDataInfo {
  sms::DcsInfo dcs;
  size_t octets = 0;  // the part of user_data that TP-UDL covers
  std::optional<sms::Udh> udh;
  std::string udh_error;
};

UserDataInfo user_data_info(const SmRecord& r) {
  UserDataInfo info{sms::classify_dcs(r.dcs)};
  const bool septets = info.dcs.alphabet == sms::Alphabet::gsm7 && !info.dcs.compressed;
  info.octets = std::min<size_t>(septets ? (size_t{r.ud_length} * 7 + 7) / 8 : r.ud_length,
                                 kUserDataBytesMax);
  if ((r.flags & SmRecord::kFlagUdhi) != 0) {
    auto udh = sms::parse_udh(std::as_bytes(std::span(r.user_data, info.octets)));
    if (udh) {
      info.udh = std::move(*udh);
    } else {
      info.udh_error = std::move(udh.error());
    }
  }
  return info;
}

std::string text_address(const Address& a) {
  if (a.ton == kTonAlphanumeric) {
    return "\"" + escape_for_terminal(alphanumeric_text(a)) + "\"";
  }
  char digits[kAddressDigitsMax];
  const size_t n = unpack_digits(a, digits);
  return n == 0 ? std::string("-") : std::string(digits, n);
}

void text_udh(const UserDataInfo& info, Out out) {
  if (!info.udh_error.empty()) {
    fmt::format_to(out, " udh=malformed");
    return;
  }
  if (!info.udh) return;
  fmt::format_to(out, " udh=");
  const char* sep = "";
  if (info.udh->concat_ref) {
    fmt::format_to(out, "concat(ref={},part={}/{})", *info.udh->concat_ref, info.udh->concat_seq,
                   info.udh->concat_total);
    sep = ",";
  }
  if (info.udh->dest_port) {
    fmt::format_to(out, "{}ports(dst={}", sep, *info.udh->dest_port);
    if (info.udh->src_port) fmt::format_to(out, ",src={}", *info.udh->src_port);
    fmt::format_to(out, ")");
    sep = ",";
  }
  fmt::format_to(out, "{}ieis(", sep);
  for (size_t i = 0; i < info.udh->elements.size(); ++i) {
    fmt::format_to(out, "{}0x{:02x}", i == 0 ? "" : ",", info.udh->elements[i].iei);
  }
  fmt::format_to(out, "),{}B", info.udh->length);
}

// Bytes of the raw record that reveal the content: the user data, and the CRC32C, which covers
// it (short content such as a one-time code could be recovered from the CRC by brute force).
bool content_byte(size_t i) {
  constexpr size_t crc = offsetof(SmRecord, crc32c);
  return i >= offsetof(SmRecord, user_data) || (i >= crc && i < crc + sizeof(uint32_t));
}

// The raw record in hex, 32 bytes a line; user data and CRC shown only with show_content.
void text_hex(const SmRecord& r, bool show_content, Out out) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(&r);
  for (size_t line = 0; line < kRecordBytes; line += 32) {
    fmt::format_to(out, "  hex {:02x}:", line);
    for (size_t i = line; i < line + 32; ++i) {
      if (content_byte(i) && !show_content) {
        fmt::format_to(out, " ..");
      } else {
        fmt::format_to(out, " {:02x}", bytes[i]);
      }
    }
    fmt::format_to(out, "\n");
  }
}

void text_entry(const SmRecord& r, unsigned shard, uint64_t index, const DumpOptions& o,
                std::string& s) {
  Out out(s);
  fmt::format_to(out, "{}:{} id={} entry={} state={} disposition={}", shard, index,
                 make_message_id(shard, index), format_time(r.time_entry_ns), state_name(r.state),
                 disposition_name(r.disposition));
  if (r.time_discharge_ns != 0) {
    fmt::format_to(out, " discharge={}", format_time(r.time_discharge_ns));
  }
  if (r.extra_info != 0) fmt::format_to(out, " extra=0x{:x}", r.extra_info);
  fmt::format_to(out, "\n  src={} ton={} npi={} class={}", text_address(r.src), r.src.ton,
                 r.src.npi, sme_class_name(r.src_class));
  if (is_peer_class(r.src_class)) fmt::format_to(out, " peer={}", r.src_peer);
  fmt::format_to(out, "\n  dst={} ton={} npi={} routed={} ton={} npi={} class={}",
                 text_address(r.dst_written), r.dst_written.ton, r.dst_written.npi,
                 text_address(r.dst_routed), r.dst_routed.ton, r.dst_routed.npi,
                 sme_class_name(r.dst_class));
  if (is_peer_class(r.dst_class)) fmt::format_to(out, " peer={}", r.dst_peer);
  const std::string imsi_digits = imsi(r);
  if (!imsi_digits.empty()) fmt::format_to(out, " imsi={}", imsi_digits);

  const UserDataInfo info = user_data_info(r);
  fmt::format_to(out, "\n  pid=0x{:02x} dcs=0x{:02x} alphabet={}", r.pid, r.dcs,
                 sms::to_string(info.dcs.alphabet));
  if (info.dcs.compressed) fmt::format_to(out, " compressed");
  if (info.dcs.message_class >= 0) fmt::format_to(out, " class={}", info.dcs.message_class);
  fmt::format_to(out, " mr={} srr={} expiry={} udl={}", r.message_ref,
                 (r.flags & SmRecord::kFlagStatusReport) != 0 ? "yes" : "no",
                 r.time_expiry_ns != 0 ? format_time(r.time_expiry_ns) : std::string("-"),
                 r.ud_length);
  // A status report made by the SMSC core: its user data is the 32-byte StatusReport.
  if (r.flags & SmRecord::kFlagReport) fmt::format_to(out, " status-report");
  text_udh(info, out);
  fmt::format_to(out, "\n");

  if (o.show_content) {
    const auto decoded =
        sms::decode_user_data(r.dcs, (r.flags & SmRecord::kFlagUdhi) != 0, r.ud_length,
                              std::as_bytes(std::span(r.user_data, kUserDataBytesMax)));
    if (decoded.binary) {
      fmt::format_to(out, "  data={}\n", decoded.text);
    } else {
      fmt::format_to(out, "  text=\"{}\"\n", escape_for_terminal(decoded.text));
    }
    for (const auto& w : decoded.warnings) {
      fmt::format_to(out, "  warning=\"{}\"\n", escape_for_terminal(w));
    }
  }
  if (o.hex) text_hex(r, o.show_content, out);
}

void json_address(std::string_view name, const Address& a, std::string& s) {
  Out out(s);
  fmt::format_to(out, ",\"{}\":{{\"ton\":{},\"npi\":{}", name, a.ton, a.npi);
  if (a.ton == kTonAlphanumeric) {
    s += ",\"alphanumeric\":";
    append_terminal_safe_json_string(alphanumeric_text(a), s);
  } else {
    char digits[kAddressDigitsMax];
    s += ",\"digits\":";
    append_terminal_safe_json_string(std::string_view(digits, unpack_digits(a, digits)), s);
  }
  s += '}';
}

void json_time(std::string_view name, int64_t ns, std::string& s) {
  fmt::format_to(Out(s), ",\"{}\":\"{}\",\"{}_ns\":{}", name, format_time(ns), name, ns);
}

void json_udh(const UserDataInfo& info, std::string& s) {
  Out out(s);
  if (!info.udh_error.empty()) {
    s += ",\"udh\":{\"error\":";
    append_terminal_safe_json_string(info.udh_error, s);
    s += '}';
    return;
  }
  if (!info.udh) return;
  fmt::format_to(out, ",\"udh\":{{\"length\":{}", info.udh->length);
  if (info.udh->concat_ref) {
    fmt::format_to(out, ",\"concat\":{{\"ref\":{},\"total\":{},\"seq\":{}}}", *info.udh->concat_ref,
                   info.udh->concat_total, info.udh->concat_seq);
  }
  if (info.udh->dest_port) fmt::format_to(out, ",\"dest_port\":{}", *info.udh->dest_port);
  if (info.udh->src_port) fmt::format_to(out, ",\"src_port\":{}", *info.udh->src_port);
  s += ",\"ieis\":[";
  for (size_t i = 0; i < info.udh->elements.size(); ++i) {
    fmt::format_to(out, "{}{}", i == 0 ? "" : ",", info.udh->elements[i].iei);
  }
  s += "]}";
}

void json_entry(const SmRecord& r, unsigned shard, uint64_t index, const DumpOptions& o,
                std::string& s) {
  Out out(s);
  fmt::format_to(out, "{{\"id\":{},\"shard\":{},\"index\":{}", make_message_id(shard, index), shard,
                 index);
  json_time("entry", r.time_entry_ns, s);
  fmt::format_to(out, ",\"state\":\"{}\",\"disposition\":\"{}\"", state_name(r.state),
                 disposition_name(r.disposition));
  if (r.time_discharge_ns != 0) json_time("discharge", r.time_discharge_ns, s);
  fmt::format_to(out, ",\"extra_info\":{}", r.extra_info);
  json_address("src", r.src, s);
  fmt::format_to(out, ",\"src_class\":\"{}\"", sme_class_name(r.src_class));
  if (is_peer_class(r.src_class)) fmt::format_to(out, ",\"src_peer\":{}", r.src_peer);
  json_address("dst_written", r.dst_written, s);
  json_address("dst_routed", r.dst_routed, s);
  fmt::format_to(out, ",\"dst_class\":\"{}\"", sme_class_name(r.dst_class));
  if (is_peer_class(r.dst_class)) fmt::format_to(out, ",\"dst_peer\":{}", r.dst_peer);
  const std::string imsi_digits = imsi(r);
  if (!imsi_digits.empty()) fmt::format_to(out, ",\"imsi\":\"{}\"", imsi_digits);
  const UserDataInfo info = user_data_info(r);
  fmt::format_to(out,
                 ",\"pid\":{},\"dcs\":{},\"alphabet\":\"{}\",\"compressed\":{},"
                 "\"message_class\":{},\"mr\":{},\"srr\":{}",
                 r.pid, r.dcs, sms::to_string(info.dcs.alphabet), info.dcs.compressed,
                 info.dcs.message_class, r.message_ref,
                 (r.flags & SmRecord::kFlagStatusReport) != 0);
  if (r.flags & SmRecord::kFlagReport) fmt::format_to(out, ",\"status_report\":true");
  if (r.time_expiry_ns != 0) json_time("expiry", r.time_expiry_ns, s);
  fmt::format_to(out, ",\"udl\":{}", r.ud_length);
  json_udh(info, s);
  if (o.hex) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(&r);
    const size_t shown = o.show_content ? kRecordBytes : offsetof(SmRecord, user_data);
    s += ",\"hex\":\"";
    for (size_t i = 0; i < shown; ++i) {
      if (content_byte(i) && !o.show_content) {
        s += "--";  // the CRC32C, which covers the user data
      } else {
        fmt::format_to(out, "{:02x}", bytes[i]);
      }
    }
    s += '"';
  }
  if (o.show_content) {
    const auto decoded =
        sms::decode_user_data(r.dcs, (r.flags & SmRecord::kFlagUdhi) != 0, r.ud_length,
                              std::as_bytes(std::span(r.user_data, kUserDataBytesMax)));
    s += decoded.binary ? ",\"data_hex\":" : ",\"text\":";
    append_terminal_safe_json_string(decoded.text, s);
    if (!decoded.warnings.empty()) {
      s += ",\"warnings\":[";
      for (size_t i = 0; i < decoded.warnings.size(); ++i) {
        if (i > 0) s += ',';
        append_terminal_safe_json_string(decoded.warnings[i], s);
      }
      s += ']';
    }
  }
  s += "}\n";
}

void print_shard_summary(const ShardReader& shard, std::ostream& err) {
  err << "smsc-dump: shard " << shard.shard() << ": " << shard.size() << " records";
  if (shard.size() > 0) {
    err << " (index " << shard.index_of(0) << ".." << shard.index_of(shard.size() - 1) << ", "
        << format_time(shard.record(0).time_entry_ns) << " .. "
        << format_time(shard.record(shard.size() - 1).time_entry_ns) << ")";
  }
  err << ", " << shard.historical_slots() << " historical, " << shard.file_slots()
      << " slots in the file\n";
}

}  // namespace

std::string_view default_store() {
  return CP_SMSC_DUMP_STORE;
}

// ---- numbers ---------------------------------------------------------------------------------

Result<NumberQuery, std::string> parse_number(std::string_view text) {
  std::string_view digits = text;
  const bool plus = digits.starts_with('+');
  if (plus) digits.remove_prefix(1);
  if (digits.empty() || digits.size() > kAddressDigitsMax) {
    return fail("bad number '" + std::string(text) + "': expected 1 to 20 digits");
  }
  std::string canonical;
  for (char c : digits) {
    const char lower = (c >= 'A' && c <= 'C') ? static_cast<char>(c - 'A' + 'a') : c;
    if (std::strchr(kBcdDigits, lower) == nullptr || lower == '\0') {
      return fail("bad number '" + std::string(text) + "': only digits (and * # a b c)");
    }
    canonical.push_back(lower);
  }
  if (!plus && is_nanp_ten(canonical)) canonical.insert(canonical.begin(), '1');
  return NumberQuery{std::move(canonical)};
}

bool address_matches(const Address& address, const NumberQuery& query) {
  if (address.ton == kTonAlphanumeric) return false;
  char digits[kAddressDigitsMax];
  const size_t n = unpack_digits(address, digits);
  if (n == 0) return false;
  const std::string_view d(digits, n);
  const std::string_view q = query.canonical;
  if (address.ton != kTonInternational && is_nanp_ten(d)) {
    return q.size() == 11 && q[0] == '1' && q.substr(1) == d;
  }
  return q == d;
}

// ---- time ------------------------------------------------------------------------------------

Result<int64_t, std::string> parse_time(std::string_view text) {
  if (text.starts_with('@')) return parse_unix_time(text);
  const std::string bad = "bad time '" + std::string(text) +
                          "': expected 2026-11-23T18:00:00Z (fraction and +hh:mm allowed), "
                          "2026-11-23 or @UNIXSECONDS";
  size_t pos = 0;
  const auto year = take_digits(text, pos, 4);
  const bool dash1 = pos < text.size() && text[pos] == '-' && ++pos;
  const auto month = take_digits(text, pos, 2);
  const bool dash2 = pos < text.size() && text[pos] == '-' && ++pos;
  const auto day = take_digits(text, pos, 2);
  if (!year || !dash1 || !month || !dash2 || !day) return fail(bad);
  if (*year < 1900 || *year > 2261) return fail("time '" + std::string(text) + "' out of range");
  if (*month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month)) {
    return fail("bad date in '" + std::string(text) + "'");
  }
  int64_t seconds = days_from_civil(*year, *month, *day) * kSecondsPerDay;
  if (pos == text.size()) return seconds * kNanosPerSecond;  // a date alone: midnight UTC

  if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') return fail(bad);
  ++pos;
  const auto hour = take_digits(text, pos, 2);
  const bool colon1 = pos < text.size() && text[pos] == ':' && ++pos;
  const auto minute = take_digits(text, pos, 2);
  if (!hour || !colon1 || !minute) return fail(bad);
  unsigned second = 0;
  if (pos < text.size() && text[pos] == ':') {
    ++pos;
    const auto s = take_digits(text, pos, 2);
    if (!s) return fail(bad);
    second = *s;
  }
  const auto fraction = take_fraction(text, pos);
  if (!fraction) return fail(bad);
  if (*hour > 23 || *minute > 59 || second > 59) {
    return fail("bad time of day in '" + std::string(text) + "'");
  }
  seconds += *hour * 3600 + *minute * 60 + second;

  if (pos == text.size()) {
    return fail("time '" + std::string(text) + "' has no zone: add Z for UTC or +hh:mm");
  }
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    const int sign = text[pos] == '+' ? 1 : -1;
    ++pos;
    const auto oh = take_digits(text, pos, 2);
    if (pos < text.size() && text[pos] == ':') ++pos;
    const auto om = take_digits(text, pos, 2);
    if (!oh || !om || *oh > 23 || *om > 59) return fail(bad);
    seconds -= sign * static_cast<int64_t>(*oh * 3600 + *om * 60);  // local = UTC + offset
  } else {
    return fail(bad);
  }
  if (pos != text.size()) return fail(bad);
  return seconds * kNanosPerSecond + *fraction;
}

std::string format_time(int64_t ns) {
  int64_t seconds = ns / kNanosPerSecond;
  int64_t sub = ns % kNanosPerSecond;
  if (sub < 0) {
    sub += kNanosPerSecond;
    --seconds;
  }
  int64_t days = seconds / kSecondsPerDay;
  int64_t in_day = seconds % kSecondsPerDay;
  if (in_day < 0) {
    in_day += kSecondsPerDay;
    --days;
  }
  const Civil c = civil_from_days(days);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", c.year, c.month, c.day,
                     in_day / 3600, in_day / 60 % 60, in_day % 60, sub / 1'000'000);
}

Result<uint64_t, std::string> parse_message_id(std::string_view text) {
  const std::string bad =
      "bad message id '" + std::string(text) + "': expected a number or SHARD:INDEX";
  auto decimal = [](std::string_view s) -> std::optional<uint64_t> {
    if (s.empty() || s.size() > 20) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      const auto digit = static_cast<uint64_t>(c - '0');
      if (v > (std::numeric_limits<uint64_t>::max() - digit) / 10) return std::nullopt;
      v = v * 10 + digit;
    }
    return v;
  };
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    const auto id = decimal(text);
    if (!id) return fail(bad);
    return *id;
  }
  const auto shard = decimal(text.substr(0, colon));
  const auto index = decimal(text.substr(colon + 1));
  if (!shard || !index) return fail(bad);
  if (*shard >= kShardsMax || *index > kIndexMask) {
    return fail("message id '" + std::string(text) + "' out of range");
  }
  return make_message_id(static_cast<unsigned>(*shard), *index);
}

// ---- escaping --------------------------------------------------------------------------------

std::string escape_for_terminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    const auto cp = next_code_point(text, pos);
    if (!cp) {
      fmt::format_to(Out(out), "\\x{:02x}", static_cast<unsigned char>(text[start]));
    } else if (*cp == '\\' || *cp == '"') {
      out += '\\';
      out += static_cast<char>(*cp);
    } else if (*cp == '\n') {
      out += "\\n";
    } else if (*cp == '\r') {
      out += "\\r";
    } else if (*cp == '\t') {
      out += "\\t";
    } else if (*cp < 0x20 || *cp == 0x7F) {
      fmt::format_to(Out(out), "\\x{:02x}", static_cast<unsigned>(*cp));
    } else if (is_unsafe(*cp)) {
      fmt::format_to(Out(out), "\\u{{{:04x}}}", static_cast<unsigned>(*cp));
    } else {
      out.append(text.substr(start, pos - start));
    }
  }
  return out;
}

void append_terminal_safe_json_string(std::string_view text, std::string& out) {
  out += '"';
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    const auto cp = next_code_point(text, pos);
    if (!cp) {
      out += "\\ufffd";
    } else if (*cp == '"' || *cp == '\\') {
      out += '\\';
      out += static_cast<char>(*cp);
    } else if (*cp == '\n') {
      out += "\\n";
    } else if (*cp == '\r') {
      out += "\\r";
    } else if (*cp == '\t') {
      out += "\\t";
    } else if (is_unsafe(*cp)) {
      fmt::format_to(Out(out), "\\u{:04x}", static_cast<unsigned>(*cp));
    } else {
      out.append(text.substr(start, pos - start));
    }
  }
  out += '"';
}

// ---- run -------------------------------------------------------------------------------------

std::string format_entry(const SmRecord& record, unsigned shard, uint64_t index,
                         const DumpOptions& options) {
  std::string s;
  if (options.format == OutputFormat::json) {
    json_entry(record, shard, index, options, s);
  } else {
    text_entry(record, shard, index, options, s);
  }
  return s;
}

int run(const DumpOptions& options, std::ostream& out, std::ostream& err) {
  auto store = StoreReader::open(options.store, options.shard,
                                 ShardReader::tail_window_slots(options.batch_kib));
  if (!store) {
    err << "smsc-dump: " << store.error() << "\n";
    return kExitRuntime;
  }
  for (const auto& shard : store->shards()) {
    for (const auto& w : shard.warnings()) {
      err << "smsc-dump: warning: " << (shard.dir() / "pms.bin").string() << ": " << w << "\n";
    }
    if (options.verbose) print_shard_summary(shard, err);
  }

  SmRecord copy;
  std::string entry;
  if (options.message_id) {
    const auto pos = store->find_message(*options.message_id);
    if (!pos) {
      err << "smsc-dump: no message " << message_shard(*options.message_id) << ":"
          << message_index(*options.message_id) << " (id " << *options.message_id
          << ") in the store\n";
      return kExitRuntime;
    }
    if (pos->shard->read(pos->slot, copy) != RecordCheck::valid) {
      err << "smsc-dump: message " << *options.message_id << " does not read back valid\n";
      return kExitRuntime;
    }
    out << format_entry(copy, pos->shard->shard(), pos->index(), options);
    return out ? kExitOk : kExitRuntime;
  }

  auto cursor = store->from_time(options.from_ns.value_or(std::numeric_limits<int64_t>::min()));
  uint64_t scanned = 0;
  uint64_t shown = 0;
  uint64_t unreadable = 0;
  if (options.count && *options.count == 0) return kExitOk;
  while (auto pos = cursor.next()) {
    const SmRecord& mapped = pos->record();
    if (options.until_ns && mapped.time_entry_ns >= *options.until_ns) break;
    ++scanned;
    // Filter on the mapping first (no copy, no checksum), then again on a checked copy.
    if (!matches(mapped, options)) continue;
    if (pos->shard->read(pos->slot, copy) != RecordCheck::valid) {
      ++unreadable;
      err << "smsc-dump: warning: " << pos->shard->shard() << ":" << pos->index()
          << " does not read back valid (rewritten while read?); skipped\n";
      continue;
    }
    if (!matches(copy, options)) continue;
    entry.clear();
    if (options.format == OutputFormat::json) {
      json_entry(copy, pos->shard->shard(), pos->index(), options, entry);
    } else {
      text_entry(copy, pos->shard->shard(), pos->index(), options, entry);
    }
    out.write(entry.data(), static_cast<std::streamsize>(entry.size()));
    if (!out) break;
    ++shown;
    if (options.count && shown == *options.count) break;
  }
  out.flush();
  if (!out) {
    err << "smsc-dump: cannot write the output\n";
    return kExitRuntime;
  }
  if (options.verbose) {
    err << "smsc-dump: " << scanned << " records scanned, " << shown << " shown";
    if (unreadable > 0) err << ", " << unreadable << " unreadable";
    err << "\n";
  }
  return kExitOk;
}

}  // namespace cp::storage::dump
