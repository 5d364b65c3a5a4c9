#include "services/smsc/submit_input.h"

#include <charconv>
#include <optional>

#include "proto/sms/text.h"

namespace cp::smsc {
namespace {

std::optional<std::vector<uint8_t>> from_hex(std::string_view s) {
  if (s == "\"\"") return std::vector<uint8_t>{};
  if (s.size() % 2 != 0) return std::nullopt;
  std::vector<uint8_t> out;
  out.reserve(s.size() / 2);
  for (size_t i = 0; i < s.size(); i += 2) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data() + i, s.data() + i + 2, v, 16);
    if (ec != std::errc{} || p != s.data() + i + 2) return std::nullopt;
    out.push_back(static_cast<uint8_t>(v));
  }
  return out;
}

std::optional<unsigned> number(std::string_view s) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// A GSM 7-bit segment: `udh` octets (may be empty) then `septets`, packed behind the header on
// a septet boundary (TS 23.040 9.2.3.24: fill bits after the UDH).
Result<Segment, std::string> septet_segment(uint8_t dcs, const std::vector<uint8_t>& udh,
                                            const std::vector<uint8_t>& septets) {
  const size_t header_septets = (udh.size() * 8 + 6) / 7;
  if (header_septets + septets.size() > 160)
    return fail("more than 160 septets in one message (" +
                std::to_string(header_septets + septets.size()) + ")");
  for (uint8_t s : septets)
    if (s > 0x7F) return fail(std::string("a septet above 0x7F in septet mode"));
  Segment seg;
  seg.dcs = dcs;
  seg.udhi = !udh.empty();
  seg.user_data = udh;
  const unsigned fill = static_cast<unsigned>(header_septets * 7 - udh.size() * 8);
  const auto packed = sms::pack_septets(septets, fill);  // the fill bits come first
  for (std::byte b : packed) seg.user_data.push_back(static_cast<uint8_t>(b));
  seg.ud_length = static_cast<uint8_t>(header_septets + septets.size());
  if (seg.user_data.size() > 140) return fail(std::string("user data over 140 octets"));
  return seg;
}

}  // namespace

Result<EncodedInput, std::string> parse_encoded(std::string_view text) {
  EncodedInput out;
  int dcs = -1;
  bool septet = true;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const size_t sp = line.find_first_of(" \t");
    const std::string_view word = line.substr(0, sp);
    std::string_view rest = sp == std::string_view::npos ? std::string_view{} : line.substr(sp);
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
    auto bad = [&](const std::string& why) {
      return fail("line " + std::to_string(line_no) + ": " + why);
    };
    if (word == "dcs") {
      const size_t sp2 = rest.find_first_of(" \t");
      const auto v = number(rest.substr(0, sp2));
      std::string_view mode = sp2 == std::string_view::npos ? "" : rest.substr(sp2 + 1);
      while (!mode.empty() && (mode.front() == ' ' || mode.front() == '\t')) mode.remove_prefix(1);
      if (!v || *v > 255 || (mode != "septet" && mode != "octet"))
        return bad("dcs wants a number and septet or octet, e.g. \"dcs 0 septet\"");
      dcs = static_cast<int>(*v);
      septet = mode == "septet";
    } else if (word == "msg" || word == "msg-udh") {
      if (dcs < 0) return bad("a " + std::string(word) + " line before any dcs line");
      const auto bytes = from_hex(rest);
      if (!bytes) return bad("not a hex string");
      std::vector<uint8_t> udh;
      std::vector<uint8_t> body = *bytes;
      if (word == "msg-udh") {
        if (body.empty() || size_t{body[0]} + 1 > body.size())
          return bad("msg-udh: the UDH length octet points beyond the data");
        udh.assign(body.begin(), body.begin() + body[0] + 1);
        body.erase(body.begin(), body.begin() + body[0] + 1);
      }
      if (septet) {
        auto seg = septet_segment(static_cast<uint8_t>(dcs), udh, body);
        if (!seg) return bad(seg.error());
        out.segments.push_back(std::move(*seg));
      } else {
        Segment seg;
        seg.dcs = static_cast<uint8_t>(dcs);
        seg.udhi = !udh.empty();
        seg.user_data = udh;
        seg.user_data.insert(seg.user_data.end(), body.begin(), body.end());
        if (seg.user_data.size() > 140) return bad("more than 140 octets in one message");
        seg.ud_length = static_cast<uint8_t>(seg.user_data.size());
        out.segments.push_back(std::move(seg));
      }
    } else if (word == "pid" || word == "mr") {
      const auto v = number(rest);
      if (!v || *v > 255) return bad(std::string(word) + " wants an octet (0..255)");
      (word == "pid" ? out.pid : out.mr) = static_cast<int>(*v);
    } else if (word == "sr") {
      out.status_report = true;
    } else if (word == "user-addr" || word == "sc-addr") {
      return bad(std::string(word) + ": addresses are smsc-submit's arguments, not input lines");
    } else {
      return bad("unknown keyword '" + std::string(word) +
                 "' (smsc-submit reads dcs, msg, msg-udh, pid, mr, sr)");
    }
  }
  if (out.segments.empty()) return fail(std::string("no msg or msg-udh line in the input"));
  return out;
}

Result<std::vector<Segment>, std::string> encode_text(std::string_view utf8, uint8_t concat_ref,
                                                      bool force_ucs2) {
  if (!sms::utf8_valid(utf8)) return fail(std::string("the text is not valid UTF-8"));
  std::vector<Segment> out;
  std::optional<std::vector<uint8_t>> septets;
  if (!force_ucs2) septets = sms::utf8_to_gsm7(utf8);
  if (septets) {
    if (septets->size() <= 160) {
      auto seg = septet_segment(0x00, {}, *septets);
      if (!seg) return fail(seg.error());
      out.push_back(std::move(*seg));
      return out;
    }
    // 153 septets per segment behind the 6-octet concatenation header; never split 1B xx.
    std::vector<std::vector<uint8_t>> parts;
    for (size_t i = 0; i < septets->size();) {
      size_t n = std::min<size_t>(153, septets->size() - i);
      if (i + n < septets->size() && (*septets)[i + n - 1] == 0x1B) --n;
      parts.emplace_back(septets->begin() + i, septets->begin() + i + n);
      i += n;
    }
    if (parts.size() > 255) return fail(std::string("too long: more than 255 segments"));
    for (size_t k = 0; k < parts.size(); ++k) {
      const std::vector<uint8_t> udh = {
          5, 0, 3, concat_ref, static_cast<uint8_t>(parts.size()), static_cast<uint8_t>(k + 1)};
      auto seg = septet_segment(0x00, udh, parts[k]);
      if (!seg) return fail(seg.error());
      out.push_back(std::move(*seg));
    }
    return out;
  }
  const auto ucs2 = sms::utf8_to_ucs2(utf8);
  std::vector<uint8_t> bytes;
  for (std::byte b : ucs2) bytes.push_back(static_cast<uint8_t>(b));
  auto make = [](const std::vector<uint8_t>& udh, const uint8_t* p, size_t n) {
    Segment seg;
    seg.dcs = 0x08;
    seg.udhi = !udh.empty();
    seg.user_data = udh;
    seg.user_data.insert(seg.user_data.end(), p, p + n);
    seg.ud_length = static_cast<uint8_t>(seg.user_data.size());
    return seg;
  };
  if (bytes.size() <= 140) {
    out.push_back(make({}, bytes.data(), bytes.size()));
    return out;
  }
  std::vector<std::pair<size_t, size_t>> parts;
  for (size_t i = 0; i < bytes.size();) {
    size_t n = std::min<size_t>(134, bytes.size() - i);
    // A high surrogate (D800-DBFF) must stay with its low half.
    if (i + n < bytes.size() && n >= 2 && (bytes[i + n - 2] & 0xFC) == 0xD8) n -= 2;
    parts.emplace_back(i, n);
    i += n;
  }
  if (parts.size() > 255) return fail(std::string("too long: more than 255 segments"));
  for (size_t k = 0; k < parts.size(); ++k) {
    const std::vector<uint8_t> udh = {
        5, 0, 3, concat_ref, static_cast<uint8_t>(parts.size()), static_cast<uint8_t>(k + 1)};
    out.push_back(make(udh, bytes.data() + parts[k].first, parts[k].second));
  }
  return out;
}

}  // namespace cp::smsc
