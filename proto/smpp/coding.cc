#include "proto/smpp/coding.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "proto/sms/text.h"

namespace cp::proto::smpp {

namespace {

Error bad(uint32_t s, std::string_view what) {
  return Error{s, what};
}

// Concatenation: user data octets per segment after a UDH holding only the concatenation IE.
constexpr size_t kUdh8 = 6;   // UDHL, IEI 0x00, len 3, ref, total, seq
constexpr size_t kUdh16 = 7;  // UDHL, IEI 0x08, len 4, ref (2), total, seq
constexpr size_t kUdOctets = 140;
constexpr size_t kSeptetsMax = 160;

size_t udh_septets(size_t udh_octets) {
  return (udh_octets * 8 + 6) / 7;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Code points of well-formed UTF-8 (what sms::gsm7_to_utf8 returns).
std::vector<uint32_t> code_points(std::string_view s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (i + n > s.size()) n = s.size() - i;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1Fu) : n == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3Fu);
    out.push_back(cp);
    i += n;
  }
  return out;
}

struct Content {
  sms::Alphabet alphabet = sms::Alphabet::gsm7;
  uint8_t dcs = 0;
  std::vector<uint8_t> units;  // septets (gsm7) or octets
};

// Octets of a text coding (IA5 / Latin-1) as GSM 7-bit when possible, else UCS-2.
Result<Content, Error> from_text(std::span<const std::byte> b, bool ascii_only) {
  std::string utf8;
  for (std::byte x : b) {
    const auto c = static_cast<uint8_t>(x);
    if (ascii_only && c > 0x7F)
      return fail(bad(status::submitfail, "IA5 text with octets above 0x7F"));
    append_utf8(utf8, c);
  }
  Content c;
  if (auto septets = sms::utf8_to_gsm7(utf8)) {
    c.units = std::move(*septets);
    c.dcs = 0x00;
    return c;
  }
  const auto ucs2 = sms::utf8_to_ucs2(utf8);
  c.alphabet = sms::Alphabet::ucs2;
  c.dcs = 0x08;
  for (std::byte x : ucs2) c.units.push_back(static_cast<uint8_t>(x));
  return c;
}

Result<Content, Error> septets_of(std::span<const std::byte> b, uint8_t dcs) {
  Content c;
  c.dcs = dcs;
  for (std::byte x : b) {
    if (static_cast<uint8_t>(x) > 0x7F)
      return fail(bad(status::submitfail, "GSM 7-bit text with an octet above 0x7F"));
    c.units.push_back(static_cast<uint8_t>(x));
  }
  return c;
}

Content octets_of(std::span<const std::byte> b, sms::Alphabet a, uint8_t dcs) {
  Content c;
  c.alphabet = a;
  c.dcs = dcs;
  for (std::byte x : b) c.units.push_back(static_cast<uint8_t>(x));
  return c;
}

Result<Content, Error> content_of(uint8_t data_coding, std::span<const std::byte> body,
                                  DefaultAlphabet dc0) {
  switch (data_coding) {
    case 0:
      if (dc0 == DefaultAlphabet::gsm7) return septets_of(body, 0x00);
      return from_text(body, dc0 == DefaultAlphabet::ia5);
    case 1:
      // IA5 — but the npm `smpp` package labels its GSM 03.38 septets (one per octet, '@' 0x00,
      // '_' 0x11, escapes 0x1B) data_coding 1. Control octets other than LF and CR never occur
      // in IA5 text, so their presence says "GSM septets".
      for (std::byte x : body) {
        const auto c = static_cast<uint8_t>(x);
        if (c < 0x20 && c != '\n' && c != '\r') return septets_of(body, 0x00);
      }
      return from_text(body, true);
    case 3:
      return from_text(body, false);
    case 2:
    case 4:
      return octets_of(body, sms::Alphabet::eight_bit, 0x04);
    case 8:
      if (body.size() % 2) return fail(bad(status::submitfail, "UCS-2 text of odd length"));
      return octets_of(body, sms::Alphabet::ucs2, 0x08);
    default:
      break;
  }
  if (data_coding >= 0xC0) {
    const auto info = sms::classify_dcs(data_coding);
    if (info.alphabet == sms::Alphabet::gsm7) return septets_of(body, data_coding);
    if (info.alphabet == sms::Alphabet::ucs2) {
      if (body.size() % 2) return fail(bad(status::submitfail, "UCS-2 text of odd length"));
      return octets_of(body, sms::Alphabet::ucs2, data_coding);
    }
    return octets_of(body, sms::Alphabet::eight_bit, data_coding);
  }
  return fail(bad(status::submitfail, "unsupported data_coding"));
}

// One segment: `udh` (whole, UDHL first; may be empty) then the units.
Result<void, Error> pack(const Content& c, std::span<const uint8_t> udh,
                         std::span<const uint8_t> units, SmsSegment& seg) {
  seg = SmsSegment{};
  seg.dcs = c.dcs;
  seg.udhi = !udh.empty();
  if (c.alphabet == sms::Alphabet::gsm7) {
    const size_t hs = udh.empty() ? 0 : udh_septets(udh.size());
    if (hs + units.size() > kSeptetsMax)
      return fail(bad(status::invmsglen, "more than 160 septets in one segment"));
    const unsigned fill = udh.empty() ? 0 : static_cast<unsigned>(hs * 7 - udh.size() * 8);
    const auto packed = sms::pack_septets(units, fill);
    if (udh.size() + packed.size() > kUdOctets)
      return fail(bad(status::invmsglen, "more than 140 octets in one segment"));
    if (!udh.empty()) std::memcpy(seg.ud.data(), udh.data(), udh.size());
    if (!packed.empty()) std::memcpy(seg.ud.data() + udh.size(), packed.data(), packed.size());
    seg.ud_bytes = static_cast<uint8_t>(udh.size() + packed.size());
    seg.ud_length = static_cast<uint8_t>(hs + units.size());
  } else {
    if (udh.size() + units.size() > kUdOctets)
      return fail(bad(status::invmsglen, "more than 140 octets in one segment"));
    if (!udh.empty()) std::memcpy(seg.ud.data(), udh.data(), udh.size());
    if (!units.empty()) std::memcpy(seg.ud.data() + udh.size(), units.data(), units.size());
    seg.ud_bytes = static_cast<uint8_t>(udh.size() + units.size());
    seg.ud_length = seg.ud_bytes;
  }
  return {};
}

std::vector<uint8_t> concat_ie(uint16_t ref, bool ref16, uint8_t total, uint8_t seq) {
  if (ref16)
    return {6, 0x08, 4, static_cast<uint8_t>(ref >> 8), static_cast<uint8_t>(ref), total, seq};
  return {5, 0x00, 3, static_cast<uint8_t>(ref), total, seq};
}

// civil date <-> days since 1970-01-01 (proleptic Gregorian).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

struct Civil {
  int64_t y;
  unsigned mo, d, h, mi, s;
};
Civil civil(int64_t unix_s) {
  Civil c{};
  int64_t days = unix_s / 86400;
  int64_t rest = unix_s % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  civil_from_days(days, c.y, c.mo, c.d);
  c.h = static_cast<unsigned>(rest / 3600);
  c.mi = static_cast<unsigned>(rest / 60 % 60);
  c.s = static_cast<unsigned>(rest % 60);
  return c;
}

bool two_digits(std::string_view s, size_t at, unsigned& v) {
  if (at + 2 > s.size() || s[at] < '0' || s[at] > '9' || s[at + 1] < '0' || s[at + 1] > '9')
    return false;
  v = static_cast<unsigned>((s[at] - '0') * 10 + (s[at + 1] - '0'));
  return true;
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Where `key` starts in `s` (case-insensitive, at the start or after a space), before `limit`.
size_t find_key(std::string_view s, std::string_view key, size_t limit) {
  for (size_t i = 0; i + key.size() <= std::min(limit, s.size()); ++i) {
    if (i > 0 && s[i - 1] != ' ') continue;
    bool same = true;
    for (size_t k = 0; k < key.size() && same; ++k) same = lower(s[i + k]) == key[k];
    if (same) return i;
  }
  return std::string_view::npos;
}

std::string_view value_at(std::string_view s, size_t at, size_t key_len) {
  const size_t start = at + key_len;
  const size_t end = s.find(' ', start);
  return s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

uint32_t number(std::string_view v) {
  uint32_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') break;
    n = n * 10 + static_cast<uint32_t>(c - '0');
    if (n > 100000000) break;
  }
  return n;
}

int64_t receipt_date(std::string_view v) {
  unsigned yy, mo, d, h, mi, s = 0;
  if (v.size() < 10 || !two_digits(v, 0, yy) || !two_digits(v, 2, mo) || !two_digits(v, 4, d) ||
      !two_digits(v, 6, h) || !two_digits(v, 8, mi))
    return 0;
  if (v.size() >= 12) two_digits(v, 10, s);
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return 0;
  return days_from_civil(2000 + yy, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

}  // namespace

Result<size_t, Error> to_sms(uint8_t data_coding, bool esm_udhi, std::span<const std::byte> payload,
                             std::optional<Sar> sar, const ToSmsOptions& opt,
                             std::span<SmsSegment> out) {
  std::vector<uint8_t> udh;
  std::span<const std::byte> body = payload;
  if (esm_udhi) {
    auto parsed = sms::parse_udh(payload);
    if (!parsed) return fail(bad(status::invmsglen, "malformed user data header"));
    for (size_t i = 0; i < parsed->length; ++i) udh.push_back(static_cast<uint8_t>(payload[i]));
    body = payload.subspan(parsed->length);
  }
  auto content = content_of(data_coding, body, opt.dc0);
  if (!content) return fail(content.error());
  const Content& c = *content;
  if (out.empty()) return fail(bad(status::invmsglen, "no room for a segment"));
  if (sar) {
    if (sar->total == 0 || sar->seq == 0 || sar->seq > sar->total)
      return fail(bad(status::invoptparamval, "sar_* values out of range"));
    if (esm_udhi) return fail(bad(status::invoptparamval, "sar_* parameters beside a UDH"));
    // Always the 8-bit IE, a reference above 255 folded into 8 bits: ESMEs cut sar parts for it
    // (153 GSM / 67 UCS-2 characters), which a 16-bit header no longer fits, and every part of
    // one message must carry the same header whatever its length (issue 15: parts 1 and 2 of
    // such a message were refused while the short last part went through alone).
    const auto ref8 = static_cast<uint16_t>((sar->ref >> 8) ^ (sar->ref & 0xFF));
    udh = concat_ie(ref8, false, sar->total, sar->seq);
    if (auto ok = pack(c, udh, c.units, out[0]); !ok) return fail(ok.error());
    return size_t{1};
  }
  const bool gsm = c.alphabet == sms::Alphabet::gsm7;
  const size_t single = gsm ? kSeptetsMax : kUdOctets;
  if (!udh.empty() || c.units.size() <= single) {
    if (auto ok = pack(c, udh, c.units, out[0]); !ok) return fail(ok.error());
    return size_t{1};
  }
  const size_t header = opt.ref16 ? kUdh16 : kUdh8;
  size_t per = gsm ? kSeptetsMax - udh_septets(header) : kUdOctets - header;
  if (c.alphabet == sms::Alphabet::ucs2) per &= ~size_t{1};
  // Cut points first (never inside an escape pair or a surrogate pair), then the segments.
  std::vector<std::pair<size_t, size_t>> cuts;
  for (size_t at = 0; at < c.units.size();) {
    size_t n = std::min(per, c.units.size() - at);
    if (at + n < c.units.size()) {
      if (gsm && c.units[at + n - 1] == 0x1B) --n;
      if (c.alphabet == sms::Alphabet::ucs2 && n >= 2) {
        const unsigned hi = c.units[at + n - 2];
        if (hi >= 0xD8 && hi <= 0xDB) n -= 2;  // a high surrogate: keep the pair together
      }
    }
    cuts.emplace_back(at, n);
    at += n;
  }
  if (cuts.size() > std::min<size_t>(255, out.size()))
    return fail(bad(status::invmsglen, "the message needs more segments than allowed"));
  for (size_t i = 0; i < cuts.size(); ++i) {
    const auto ie = concat_ie(opt.ref16 ? opt.concat_ref : (opt.concat_ref & 0xFF), opt.ref16,
                              static_cast<uint8_t>(cuts.size()), static_cast<uint8_t>(i + 1));
    const auto part = std::span(c.units).subspan(cuts[i].first, cuts[i].second);
    if (auto ok = pack(c, ie, part, out[i]); !ok) return fail(ok.error());
  }
  return cuts.size();
}

Result<SmppText, Error> to_smpp(const SmsSegment& seg, DefaultAlphabet dc0) {
  SmppText t;
  const size_t ud_bytes = std::min<size_t>(seg.ud_bytes, seg.ud.size());
  const auto ud = std::span<const std::byte>(seg.ud.data(), ud_bytes);
  size_t udh_octets = 0;
  if (seg.udhi) {
    if (ud.empty()) return fail(bad(status::syserr, "UDHI without a header"));
    udh_octets = static_cast<size_t>(ud[0]) + 1;
    if (udh_octets > ud.size()) return fail(bad(status::syserr, "UDH longer than the user data"));
    t.esm_udhi = true;
  }
  auto put = [&](std::span<const std::byte> b) -> bool {
    if (t.length + b.size() > t.bytes.size()) return false;
    if (!b.empty()) std::memcpy(t.bytes.data() + t.length, b.data(), b.size());
    t.length = static_cast<uint16_t>(t.length + b.size());
    return true;
  };
  put(ud.first(udh_octets));
  const auto info = sms::classify_dcs(seg.dcs);
  const bool keep_dcs = seg.dcs >= 0xC0;
  if (info.alphabet == sms::Alphabet::gsm7 && !info.compressed) {
    const size_t hs = seg.udhi ? udh_septets(udh_octets) : 0;
    if (seg.ud_length < hs) return fail(bad(status::syserr, "TP-UDL shorter than the UDH"));
    const unsigned fill = seg.udhi ? static_cast<unsigned>(hs * 7 - udh_octets * 8) : 0;
    const auto septets = sms::unpack_septets(ud.subspan(udh_octets), seg.ud_length - hs, fill);
    if (dc0 == DefaultAlphabet::gsm7 || keep_dcs) {
      t.data_coding = keep_dcs ? seg.dcs : 0;
      for (uint8_t s : septets)
        if (!put(std::span<const std::byte>(reinterpret_cast<const std::byte*>(&s), 1)))
          return fail(bad(status::syserr, "text too long"));
      return t;
    }
    const auto cps = code_points(sms::gsm7_to_utf8(septets));
    const uint32_t limit = dc0 == DefaultAlphabet::ia5 ? 0x7F : 0xFF;
    if (std::all_of(cps.begin(), cps.end(), [&](uint32_t cp) { return cp <= limit; })) {
      t.data_coding = 0;
      for (uint32_t cp : cps) {
        const auto b = static_cast<std::byte>(cp);
        if (!put({&b, 1})) return fail(bad(status::syserr, "text too long"));
      }
      return t;
    }
    const auto ucs2 = sms::utf8_to_ucs2(sms::gsm7_to_utf8(septets));
    t.data_coding = 8;
    if (!put(ucs2)) return fail(bad(status::syserr, "text too long"));
    return t;
  }
  const size_t octets = std::min<size_t>(seg.ud_length, ud.size());
  if (octets < udh_octets) return fail(bad(status::syserr, "TP-UDL shorter than the UDH"));
  if (info.alphabet == sms::Alphabet::ucs2 && !info.compressed)
    t.data_coding = keep_dcs ? seg.dcs : 8;
  else
    t.data_coding = keep_dcs ? seg.dcs : 4;
  if (!put(ud.subspan(udh_octets, octets - udh_octets)))
    return fail(bad(status::syserr, "text too long"));
  return t;
}

std::string_view stat_text(MessageState s) {
  switch (s) {
    case MessageState::enroute:
      return "ENROUTE";
    case MessageState::delivered:
      return "DELIVRD";
    case MessageState::expired:
      return "EXPIRED";
    case MessageState::deleted:
      return "DELETED";
    case MessageState::undeliverable:
      return "UNDELIV";
    case MessageState::accepted:
      return "ACCEPTD";
    case MessageState::rejected:
      return "REJECTD";
    default:
      return "UNKNOWN";
  }
}

size_t format_receipt(const Receipt& r, std::span<char> out) {
  const Civil a = civil(r.submit_s), b = civil(r.done_s);
  const std::string_view text = r.text.substr(0, 20);
  const int n = std::snprintf(
      out.data(), out.size(),
      "id:%.*s sub:%03u dlvrd:%03u submit date:%02u%02u%02u%02u%02u done date:%02u%02u%02u%02u%02u "
      "stat:%.*s err:%03u text:%.*s",
      static_cast<int>(std::min<size_t>(r.id.size(), 65)), r.id.data(), r.sub % 1000,
      r.dlvrd % 1000, static_cast<unsigned>(a.y % 100), a.mo, a.d, a.h, a.mi,
      static_cast<unsigned>(b.y % 100), b.mo, b.d, b.h, b.mi,
      static_cast<int>(stat_text(r.state).size()), stat_text(r.state).data(), r.err % 1000,
      static_cast<int>(text.size()), text.data());
  return n < 0 ? 0 : std::min(static_cast<size_t>(n), out.size() - 1);
}

Result<Receipt, Error> parse_receipt(std::string_view s) {
  Receipt r;
  const size_t text_at = find_key(s, "text:", s.size());
  const size_t limit = text_at == std::string_view::npos ? s.size() : text_at;
  const size_t id_at = find_key(s, "id:", limit);
  if (id_at == std::string_view::npos)
    return fail(bad(status::invoptparamval, "a receipt without id:"));
  r.id = value_at(s, id_at, 3);
  if (size_t at = find_key(s, "sub:", limit); at != std::string_view::npos)
    r.sub = number(value_at(s, at, 4));
  if (size_t at = find_key(s, "dlvrd:", limit); at != std::string_view::npos)
    r.dlvrd = number(value_at(s, at, 6));
  if (size_t at = find_key(s, "submit date:", limit); at != std::string_view::npos)
    r.submit_s = receipt_date(value_at(s, at, 12));
  if (size_t at = find_key(s, "done date:", limit); at != std::string_view::npos)
    r.done_s = receipt_date(value_at(s, at, 10));
  if (size_t at = find_key(s, "err:", limit); at != std::string_view::npos)
    r.err = number(value_at(s, at, 4));
  if (size_t at = find_key(s, "stat:", limit); at != std::string_view::npos) {
    std::string v(value_at(s, at, 5));
    for (char& c : v) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    for (uint8_t k = 1; k <= 8; ++k)
      if (v == stat_text(static_cast<MessageState>(k))) r.state = static_cast<MessageState>(k);
  }
  if (text_at != std::string_view::npos) r.text = s.substr(text_at + 5);
  return r;
}

Result<std::optional<int64_t>, Error> parse_time(std::string_view t, int64_t now_s, uint32_t b) {
  if (t.empty()) return std::optional<int64_t>{};
  unsigned yy, mo, d, h, mi, s, nn;
  if (t.size() != 16 || !two_digits(t, 0, yy) || !two_digits(t, 2, mo) || !two_digits(t, 4, d) ||
      !two_digits(t, 6, h) || !two_digits(t, 8, mi) || !two_digits(t, 10, s) || t[12] < '0' ||
      t[12] > '9' || !two_digits(t, 13, nn))
    return fail(bad(b, "not an SMPP time (YYMMDDhhmmsstnnp)"));
  const char p = t[15];
  if (p == 'R') {
    const int64_t secs = int64_t{yy} * 365 * 86400 + int64_t{mo} * 30 * 86400 + int64_t{d} * 86400 +
                         int64_t{h} * 3600 + int64_t{mi} * 60 + s;
    return std::optional<int64_t>(now_s + secs);
  }
  if (p != '+' && p != '-') return fail(bad(b, "SMPP time without '+', '-' or 'R'"));
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59 || nn > 48)
    return fail(bad(b, "SMPP time field out of range"));
  int64_t unix_s = days_from_civil(2000 + yy, mo, d) * 86400 + h * 3600 + mi * 60 + s;
  const int64_t offset = int64_t{nn} * 900;
  unix_s += p == '+' ? -offset : offset;  // local = UTC + offset
  return std::optional<int64_t>(unix_s);
}

void format_time(int64_t unix_s, std::span<char> out) {
  const Civil c = civil(unix_s);
  std::snprintf(out.data(), out.size(), "%02u%02u%02u%02u%02u%02u000+",
                static_cast<unsigned>(c.y % 100), c.mo, c.d, c.h, c.mi, c.s);
}

}  // namespace cp::proto::smpp
