#include "hw/simcard/card.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

namespace cp::simcard {

namespace {

constexpr uint8_t kAtr[] = {0x3B, 0x9F, 0x96, 0x80, 0x1F, 0xC7, 0x80, 0x31, 0xA0, 0x73, 0xBE,
                            0x21, 0x13, 0x67, 0x43, 0x20, 0x07, 0x18, 0x00, 0x00, 0x01, 0xA5};
constexpr uint8_t kUsimAid[] = {0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xFF,
                                0xFF, 0xFF, 0xFF, 0x89, 0x07, 0x09, 0x00, 0x00};
constexpr uint8_t kIsdrAid[] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
                                0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00};

std::vector<uint8_t> sw(uint16_t v) {
  return {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

// Digits as swapped BCD (low nibble first), 0xF padded to `bytes`.
std::vector<uint8_t> swapped_bcd(std::string_view digits, size_t bytes) {
  std::vector<uint8_t> out(bytes, 0xFF);
  for (size_t i = 0; i < digits.size() && i / 2 < bytes; ++i) {
    const uint8_t d = static_cast<uint8_t>(digits[i] - '0');
    out[i / 2] = (i % 2) ? static_cast<uint8_t>((out[i / 2] & 0x0F) | (d << 4))
                         : static_cast<uint8_t>(0xF0 | d);
  }
  return out;
}

// EF.IMSI (TS 31.102 4.2.2): length, then the parity nibble and the digits, swapped BCD.
std::vector<uint8_t> imsi_file(std::string_view imsi) {
  std::vector<uint8_t> out(9, 0xFF);
  out[0] = static_cast<uint8_t>((imsi.size() + 2) / 2);
  std::string nibbles = std::string(1, (imsi.size() % 2) ? '\x09' : '\x01');
  for (char c : imsi) nibbles += static_cast<char>(c - '0');
  for (size_t i = 0; i < nibbles.size() && i / 2 < 8; ++i) {
    const auto d = static_cast<uint8_t>(nibbles[i]);
    uint8_t& b = out[1 + i / 2];
    b = (i % 2) ? static_cast<uint8_t>((b & 0x0F) | (d << 4)) : static_cast<uint8_t>(0xF0 | d);
  }
  return out;
}

// EF.MSISDN record (TS 31.102 4.2.26) without an alpha identifier: 14 bytes.
std::vector<uint8_t> msisdn_record(std::string_view msisdn) {
  std::vector<uint8_t> r(14, 0xFF);
  if (msisdn.empty()) return r;
  r[0] = static_cast<uint8_t>(1 + (msisdn.size() + 1) / 2);
  r[1] = 0x81;
  const auto bcd = swapped_bcd(msisdn, 10);
  std::copy(bcd.begin(), bcd.end(), r.begin() + 2);
  return r;
}

bool digits_only(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool hex_block(std::string_view s, Block& out) {
  if (s.size() != 32) return false;
  for (size_t i = 0; i < 16; ++i) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data() + 2 * i, s.data() + 2 * i + 2, v, 16);
    if (ec != std::errc() || p != s.data() + 2 * i + 2) return false;
    out[i] = static_cast<uint8_t>(v);
  }
  return true;
}

std::vector<uint8_t> pin_block(std::string_view pin) {
  std::vector<uint8_t> b(8, 0xFF);
  std::copy(pin.begin(), pin.end(), b.begin());
  return b;
}

}  // namespace

Contents simulated_contents(uint16_t bank, uint16_t slot) {
  Contents c;
  std::string iccid = fmt::format("898821100{:03}{:07}", bank % 1000, slot);
  // The Luhn check digit over these 19.
  int sum = 0;
  for (size_t i = 0; i < iccid.size(); ++i) {
    int d = iccid[iccid.size() - 1 - i] - '0';
    if (i % 2 == 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  c.iccid = iccid + static_cast<char>('0' + (10 - sum % 10) % 10);
  c.imsi = fmt::format("00101{:03}{:07}", bank % 1000, slot);
  c.msisdn = fmt::format("1555{:03}{:04}", bank % 1000, slot % 10000);
  c.eid = fmt::format("89049032{:012}{:012}", bank, slot);
  for (size_t i = 0; i < c.ki.size(); ++i) {
    c.ki[i] = static_cast<uint8_t>(0x11 * i ^ bank ^ (slot >> (i % 2 ? 8 : 0)));
    c.opc[i] = static_cast<uint8_t>(0xC0 ^ (0x07 * i) ^ slot);
  }
  return c;
}

Result<Contents, std::string> parse_contents(std::string_view text, std::string_view name) {
  Contents c;
  std::vector<std::string> problems;
  bool have_ki = false, have_opc = false, have_op = false;
  size_t line_no = 0;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? end : end - start);
    start = end == std::string_view::npos ? text.size() + 1 : end + 1;
    ++line_no;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);
    auto trim = [](std::string_view s) {
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
      return s;
    };
    line = trim(line);
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    auto problem = [&](std::string what) {
      problems.push_back(fmt::format("{}:{}: {}", name, line_no, what));
    };
    if (eq == std::string_view::npos) {
      problem("not key = value");
      continue;
    }
    const std::string_view key = trim(line.substr(0, eq));
    const std::string_view value = trim(line.substr(eq + 1));
    auto digits = [&](std::string& out, size_t min, size_t max) {
      if (!digits_only(value) || value.size() < min || value.size() > max)
        return problem(fmt::format("{} must be {}..{} digits", key, min, max));
      out = std::string(value);
    };
    if (key == "iccid")
      digits(c.iccid, 19, 20);
    else if (key == "imsi")
      digits(c.imsi, 6, 15);
    else if (key == "msisdn")
      digits(c.msisdn, 1, 20);
    else if (key == "eid")
      digits(c.eid, 32, 32);
    else if (key == "pin1")
      digits(c.pin1, 4, 8);
    else if (key == "puk1")
      digits(c.puk1, 8, 8);
    else if (key == "ki") {
      if (!hex_block(value, c.ki)) problem("ki must be 32 hex digits");
      have_ki = true;
    } else if (key == "opc" || key == "op") {
      Block b;
      if (!hex_block(value, b)) {
        problem(std::string(key) + " must be 32 hex digits");
        continue;
      }
      // OP becomes OPc once the whole file is read (ki may come later).
      c.opc = b;
      have_op = true;
      have_opc = key == "opc";
    } else {
      problem(fmt::format("unknown key '{}'", key));
    }
  }
  if (c.iccid.empty()) problems.push_back(fmt::format("{}: iccid is required", name));
  if (c.imsi.empty()) problems.push_back(fmt::format("{}: imsi is required", name));
  if (!have_ki) problems.push_back(fmt::format("{}: ki is required", name));
  if (!have_op) problems.push_back(fmt::format("{}: opc (or op) is required", name));
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += p + "\n";
    all.pop_back();
    return fail(std::move(all));
  }
  if (!have_opc) c.opc = milenage_opc(c.ki, c.opc);
  if (c.eid.empty()) c.eid = "89049032000000000000000000000000";
  return c;
}

Card::Card(Contents contents) : contents_(std::move(contents)) {
  auto add = [&](File f) {
    files_.push_back(std::move(f));
    return files_.size() - 1;
  };
  const size_t mf = add(File{File::Kind::df, 0x3F00, std::nullopt, {}, {}, {}, true});
  File iccid{File::Kind::transparent, 0x2FE2, mf, {}, swapped_bcd(contents_.iccid, 10), {}, true};
  add(iccid);
  std::vector<uint8_t> dir_rec(38, 0xFF);
  const uint8_t head[] = {0x61, 0x1C, 0x4F, 0x10};
  std::copy(std::begin(head), std::end(head), dir_rec.begin());
  std::copy(std::begin(kUsimAid), std::end(kUsimAid), dir_rec.begin() + 4);
  const uint8_t label[] = {0x50, 0x08, 'U', 'S', 'I', 'M', ' ', ' ', ' ', ' '};
  std::copy(std::begin(label), std::end(label), dir_rec.begin() + 20);
  add(File{File::Kind::linear, 0x2F00, mf, {}, {}, {dir_rec}, true});
  const size_t telecom = add(File{File::Kind::df, 0x7F10, mf, {}, {}, {}, true});
  add(File{File::Kind::linear, 0x6F40, telecom, {}, {}, {msisdn_record(contents_.msisdn)}, true});
  const size_t gsm = add(File{File::Kind::df, 0x7F20, mf, {}, {}, {}, true});
  add(File{File::Kind::transparent, 0x6F07, gsm, {}, imsi_file(contents_.imsi), {}, true});
  const size_t usim = add(File{File::Kind::adf,
                               0x7FFF,
                               mf,
                               std::vector<uint8_t>(std::begin(kUsimAid), std::end(kUsimAid)),
                               {},
                               {},
                               true});
  add(File{File::Kind::transparent, 0x6F07, usim, {}, imsi_file(contents_.imsi), {}, true});
  add(File{File::Kind::linear, 0x6F40, usim, {}, {}, {msisdn_record(contents_.msisdn)}, true});
  add(File{File::Kind::adf,
           0x0000,
           mf,
           std::vector<uint8_t>(std::begin(kIsdrAid), std::end(kIsdrAid)),
           {},
           {},
           true});
}

std::span<const uint8_t> Card::atr() {
  return kAtr;
}

std::span<const uint8_t> Card::reset() {
  current_df_ = 0;
  current_ef_.reset();
  current_record_.reset();
  pending_.clear();
  pin_verified_ = false;
  return kAtr;
}

Card::File* Card::current_ef() {
  return current_ef_ ? &files_[*current_ef_] : nullptr;
}

// Data for a case-2/4 command: 6Cxx when Le does not fit it exactly (T=0), else the data and
// 9000; with `gsm_class`, the answer to a case-4 command is 9Fxx (2G) instead of 61xx.
std::vector<uint8_t> Card::answer_with(std::vector<uint8_t> data, std::optional<uint8_t> le,
                                       bool gsm_class) {
  if (!le) {
    // Case 4 over T=0: the data waits for GET RESPONSE.
    pending_ = std::move(data);
    return sw(static_cast<uint16_t>((gsm_class ? 0x9F00 : 0x6100) | (pending_.size() & 0xFF)));
  }
  const size_t want = *le == 0 ? 256 : *le;
  if (want != data.size()) return sw(static_cast<uint16_t>(0x6C00 | (data.size() & 0xFF)));
  data.push_back(0x90);
  data.push_back(0x00);
  return data;
}

std::vector<uint8_t> Card::select(uint8_t cla, uint8_t p1, uint8_t p2,
                                  std::span<const uint8_t> data, std::optional<uint8_t> le) {
  auto children_of = [&](size_t df, uint16_t fid) -> std::optional<size_t> {
    for (size_t i = 0; i < files_.size(); ++i)
      if (files_[i].parent == df && files_[i].fid == fid && files_[i].kind != File::Kind::adf)
        return i;
    return std::nullopt;
  };
  std::optional<size_t> found;
  if (p1 == 0x00) {
    if (data.size() != 2) return sw(0x6700);
    const uint16_t fid = static_cast<uint16_t>(data[0] << 8 | data[1]);
    const File& df = files_[current_df_];
    if (fid == 0x3F00)
      found = 0;
    else if (fid == 0x7FFF && df.kind == File::Kind::adf)
      found = current_df_;
    if (!found) found = children_of(current_df_, fid);
    if (!found && df.parent && files_[*df.parent].fid == fid) found = df.parent;
    if (!found && df.parent) found = children_of(*df.parent, fid);
    if (!found) found = children_of(0, fid);
  } else if (p1 == 0x04) {
    if (data.size() < 5 || data.size() > 16) return sw(0x6700);
    for (size_t i = 0; i < files_.size() && !found; ++i)
      if (files_[i].kind == File::Kind::adf && files_[i].aid.size() >= data.size() &&
          std::equal(data.begin(), data.end(), files_[i].aid.begin()))
        found = i;
  } else if (p1 == 0x08 || p1 == 0x09) {
    if (data.empty() || data.size() % 2) return sw(0x6700);
    size_t at = p1 == 0x08 ? 0 : current_df_;
    for (size_t k = 0; k < data.size(); k += 2) {
      const uint16_t fid = static_cast<uint16_t>(data[k] << 8 | data[k + 1]);
      auto next = fid == 0x7FFF && files_[current_df_].kind == File::Kind::adf
                      ? std::optional<size_t>(current_df_)
                      : children_of(at, fid);
      if (!next || (k + 2 < data.size() && !files_[*next].is_df())) return sw(0x6A82);
      at = *next;
    }
    found = at;
  } else {
    return sw(0x6A86);
  }
  if (!found) return sw(0x6A82);
  const File& f = files_[*found];
  if (f.is_df()) {
    current_df_ = *found;
    current_ef_.reset();
  } else {
    current_ef_ = *found;
  }
  current_record_.reset();
  if ((p2 & 0x0C) == 0x0C) return sw(0x9000);  // no data asked for
  // FCP (TS 102 221 11.1.1.3): descriptor, identifier, AID or size, life cycle — built in one
  // buffer (this is on the benchmark's per-TPDU path), its length byte filled in last.
  std::vector<uint8_t> fcp;
  fcp.reserve(2 + 7 + 4 + 2 + f.aid.size() + 4 + 3);
  fcp.insert(fcp.end(), {0x62, 0x00});
  if (f.is_df()) {
    fcp.insert(fcp.end(), {0x82, 0x02, 0x78, 0x21});
  } else if (f.kind == File::Kind::transparent) {
    fcp.insert(fcp.end(), {0x82, 0x02, 0x41, 0x21});
  } else {
    const auto len = static_cast<uint8_t>(f.records.empty() ? 0 : f.records[0].size());
    fcp.insert(fcp.end(),
               {0x82, 0x05, 0x42, 0x21, 0x00, len, static_cast<uint8_t>(f.records.size())});
  }
  fcp.insert(fcp.end(),
             {0x83, 0x02, static_cast<uint8_t>(f.fid >> 8), static_cast<uint8_t>(f.fid)});
  if (f.kind == File::Kind::adf) {
    fcp.push_back(0x84);
    fcp.push_back(static_cast<uint8_t>(f.aid.size()));
    fcp.insert(fcp.end(), f.aid.begin(), f.aid.end());
  }
  if (f.kind == File::Kind::transparent)
    fcp.insert(fcp.end(), {0x80, 0x02, static_cast<uint8_t>(f.data.size() >> 8),
                           static_cast<uint8_t>(f.data.size())});
  fcp.insert(fcp.end(), {0x8A, 0x01, 0x05});
  fcp[1] = static_cast<uint8_t>(fcp.size() - 2);
  return answer_with(std::move(fcp), le, cla == 0xA0);
}

std::vector<uint8_t> Card::authenticate(std::span<const uint8_t> data, std::optional<uint8_t> le) {
  // 3G context: 10 RAND(16) 10 AUTN(16).
  if (data.size() != 34 || data[0] != 16 || data[17] != 16) return sw(0x6700);
  Block rand;
  std::copy_n(data.begin() + 1, 16, rand.begin());
  const auto autn = data.subspan(18, 16);
  const uint8_t zero_sqn[6] = {};
  const uint8_t amf[2] = {autn[6], autn[7]};
  const MilenageOut ak = milenage(contents_.ki, contents_.opc, rand, zero_sqn, amf);
  uint8_t sqn[6];
  for (int i = 0; i < 6; ++i) sqn[i] = static_cast<uint8_t>(autn[i] ^ ak.ak[i]);
  const MilenageOut m = milenage(contents_.ki, contents_.opc, rand, sqn, amf);
  if (!std::equal(m.mac_a.begin(), m.mac_a.end(), autn.begin() + 8)) return sw(0x9862);
  uint64_t sqn_value = 0;
  for (uint8_t b : sqn) sqn_value = sqn_value << 8 | b;
  std::vector<uint8_t> out;
  if (sqn_value <= sqn_ || sqn_value > sqn_ + (uint64_t{1} << 28)) {
    // Synchronisation failure: AUTS = (SQN_MS xor AK*) || MAC-S with AMF 0000 (TS 33.102 6.3.3).
    uint8_t ms[6];
    for (int i = 0; i < 6; ++i) ms[i] = static_cast<uint8_t>(sqn_ >> (40 - 8 * i));
    const uint8_t amf0[2] = {0, 0};
    const MilenageOut s = milenage(contents_.ki, contents_.opc, rand, ms, amf0);
    out = {0xDC, 0x0E};
    for (int i = 0; i < 6; ++i) out.push_back(static_cast<uint8_t>(ms[i] ^ s.ak_s[i]));
    out.insert(out.end(), s.mac_s.begin(), s.mac_s.end());
  } else {
    sqn_ = sqn_value;
    out = {0xDB, 0x08};
    out.insert(out.end(), m.res.begin(), m.res.end());
    out.push_back(0x10);
    out.insert(out.end(), m.ck.begin(), m.ck.end());
    out.push_back(0x10);
    out.insert(out.end(), m.ik.begin(), m.ik.end());
    // Kc = c3(CK, IK) (TS 33.102 6.8.1.2): the four 64-bit halves xor-ed.
    out.push_back(0x08);
    for (int i = 0; i < 8; ++i)
      out.push_back(static_cast<uint8_t>(m.ck[i] ^ m.ck[i + 8] ^ m.ik[i] ^ m.ik[i + 8]));
  }
  return answer_with(std::move(out), le, false);
}

std::vector<uint8_t> Card::transmit(std::span<const uint8_t> apdu) {
  if (apdu.size() < 4) return sw(0x6700);
  const uint8_t cla = apdu[0], ins = apdu[1], p1 = apdu[2], p2 = apdu[3];
  std::span<const uint8_t> data;
  std::optional<uint8_t> le;
  if (apdu.size() == 5) {
    le = apdu[4];
  } else if (apdu.size() > 5) {
    const size_t lc = apdu[4];
    if (apdu.size() == 5 + lc) {
      data = apdu.subspan(5, lc);
    } else if (apdu.size() == 6 + lc) {
      data = apdu.subspan(5, lc);
      le = apdu[5 + lc];
    } else {
      return sw(0x6700);
    }
  }
  if (cla != 0x00 && cla != 0xA0 && cla != 0x80 && cla != 0x81) return sw(0x6E00);
  if (ins != 0xC0) pending_.clear();
  switch (ins) {
    case 0xA4:  // SELECT
      return select(cla, p1, p2, data, le);
    case 0xC0: {  // GET RESPONSE
      if (pending_.empty()) return sw(0x6F00);
      const size_t want = (!le || *le == 0) ? 256 : *le;
      if (want > pending_.size()) return sw(static_cast<uint16_t>(0x6C00 | pending_.size()));
      std::vector<uint8_t> out(pending_.begin(), pending_.begin() + static_cast<long>(want));
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(want));
      if (pending_.empty()) {
        out.insert(out.end(), {0x90, 0x00});
      } else {
        out.push_back(0x61);
        out.push_back(static_cast<uint8_t>(pending_.size() & 0xFF));
      }
      return out;
    }
    case 0xB0: {  // READ BINARY
      File* f = current_ef();
      if (!f) return sw(0x6986);
      if (f->kind != File::Kind::transparent) return sw(0x6981);
      const size_t off = static_cast<size_t>((p1 & 0x7F) << 8 | p2);
      if (off > f->data.size()) return sw(0x6B00);
      std::vector<uint8_t> out(f->data.begin() + static_cast<long>(off), f->data.end());
      if (!le) return sw(0x6700);
      return answer_with(std::move(out), le, false);
    }
    case 0xD6: {  // UPDATE BINARY
      File* f = current_ef();
      if (!f) return sw(0x6986);
      if (f->kind != File::Kind::transparent) return sw(0x6981);
      if (f->needs_pin_to_update && !pin_verified_) return sw(0x6982);
      const size_t off = static_cast<size_t>((p1 & 0x7F) << 8 | p2);
      if (off + data.size() > f->data.size()) return sw(0x6B00);
      std::copy(data.begin(), data.end(), f->data.begin() + static_cast<long>(off));
      return sw(0x9000);
    }
    case 0xB2:    // READ RECORD
    case 0xDC: {  // UPDATE RECORD
      File* f = current_ef();
      if (!f) return sw(0x6986);
      if (f->kind != File::Kind::linear) return sw(0x6981);
      size_t rec;
      const uint8_t mode = p2 & 0x07;
      if (mode == 0x04) {
        if (p1 == 0 && !current_record_) return sw(0x6A83);
        rec = p1 ? static_cast<size_t>(p1 - 1) : *current_record_;
      } else if (mode == 0x02) {
        rec = current_record_ ? *current_record_ + 1 : 0;
      } else if (mode == 0x03) {
        if (!current_record_ || *current_record_ == 0) return sw(0x6A83);
        rec = *current_record_ - 1;
      } else {
        return sw(0x6A86);
      }
      if (rec >= f->records.size()) return sw(0x6A83);
      current_record_ = rec;
      if (ins == 0xDC) {
        if (f->needs_pin_to_update && !pin_verified_) return sw(0x6982);
        if (data.size() != f->records[rec].size()) return sw(0x6700);
        f->records[rec].assign(data.begin(), data.end());
        return sw(0x9000);
      }
      if (!le) return sw(0x6700);
      return answer_with(f->records[rec], le, false);
    }
    case 0xF2: {  // STATUS: the FCP of the current DF
      if (p2 == 0x0C) return sw(0x9000);
      const size_t keep_df = current_df_;
      const auto keep_ef = current_ef_;
      const File& df = files_[current_df_];
      std::vector<uint8_t> path;
      std::vector<uint8_t> r;
      if (df.kind == File::Kind::adf) {
        r = select(0x00, 0x04, 0x04, df.aid, le ? le : std::optional<uint8_t>(0));
      } else {
        const uint8_t fid[2] = {static_cast<uint8_t>(df.fid >> 8), static_cast<uint8_t>(df.fid)};
        r = select(0x00, 0x00, 0x04, fid, le ? le : std::optional<uint8_t>(0));
      }
      current_df_ = keep_df;
      current_ef_ = keep_ef;
      return r;
    }
    case 0x20: {  // VERIFY PIN1
      if (p2 != 0x01) return sw(0x6A88);
      if (pin_tries_ == 0) return sw(0x6983);
      if (data.empty()) return sw(static_cast<uint16_t>(0x63C0 | pin_tries_));
      if (data.size() != 8) return sw(0x6700);
      if (std::equal(data.begin(), data.end(), pin_block(contents_.pin1).begin())) {
        pin_tries_ = 3;
        pin_verified_ = true;
        return sw(0x9000);
      }
      --pin_tries_;
      return sw(pin_tries_ == 0 ? 0x6983 : static_cast<uint16_t>(0x63C0 | pin_tries_));
    }
    case 0x2C: {  // UNBLOCK PIN1 with PUK1
      if (p2 != 0x01) return sw(0x6A88);
      if (puk_tries_ == 0) return sw(0x6983);
      if (data.size() != 16) return sw(0x6700);
      if (!std::equal(data.begin(), data.begin() + 8, pin_block(contents_.puk1).begin())) {
        --puk_tries_;
        return sw(puk_tries_ == 0 ? 0x6983 : static_cast<uint16_t>(0x63C0 | puk_tries_));
      }
      std::string pin;
      for (size_t i = 8; i < 16 && data[i] != 0xFF; ++i) pin += static_cast<char>(data[i]);
      if (pin.size() < 4 || !digits_only(pin)) return sw(0x6A80);
      contents_.pin1 = pin;
      pin_tries_ = 3;
      puk_tries_ = 10;
      pin_verified_ = true;
      return sw(0x9000);
    }
    case 0x88: {  // AUTHENTICATE
      if (files_[current_df_].kind != File::Kind::adf || files_[current_df_].aid[0] != 0xA0 ||
          files_[current_df_].aid[5] != 0x10)  // ADF.USIM
        return sw(0x6985);
      if (p2 != 0x81) return sw(0x6A86);
      if (!pin_verified_) return sw(0x6982);
      return authenticate(data, le);
    }
    case 0xCA: {  // GET DATA (ISD-R): the EID
      if (files_[current_df_].aid.size() != 16 ||
          !std::equal(std::begin(kIsdrAid), std::end(kIsdrAid), files_[current_df_].aid.begin()))
        return sw(0x6985);
      if (p1 != 0x00 || p2 != 0x5A) return sw(0x6A88);
      std::vector<uint8_t> out = {0x5A, 0x10};
      for (size_t i = 0; i + 1 < contents_.eid.size(); i += 2)
        out.push_back(
            static_cast<uint8_t>((contents_.eid[i] - '0') << 4 | (contents_.eid[i + 1] - '0')));
      return answer_with(std::move(out), le, false);
    }
    default:
      return sw(0x6D00);
  }
}

}  // namespace cp::simcard
