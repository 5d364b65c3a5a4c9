// RSPRO (proto/rspro/rspro.h) and IPA framing (proto/ipa/ipa.h) against every frame of a real
// osmo-remsim 1.1.3 session (tests/proto/vectors/rspro-osmo-remsim-1.1.3.txt, captured on
// loopback): each decodes to the message its line names, our DER re-encodes it byte for byte,
// BER forms osmo-remsim's decoder accepts (long-form and indefinite lengths) decode to the same
// message, and no truncation, bit flip or stream split crashes anything.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "proto/ipa/ipa.h"
#include "proto/rspro/rspro.h"

namespace cp::proto {
namespace {

struct Line {
  std::string from, to, what;
  std::vector<std::byte> frame;
};

std::vector<Line> vectors() {
  std::ifstream in(RSPRO_VECTORS);
  EXPECT_TRUE(in) << RSPRO_VECTORS;
  std::vector<Line> out;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    Line l;
    std::string hex;
    ss >> l.from >> l.to >> l.to >> l.what >> hex;  // "<from> -> <to> <what> <hex>"
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
      l.frame.push_back(static_cast<std::byte>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    out.push_back(std::move(l));
  }
  return out;
}

TEST(Rspro, EveryFrameOfARealSessionDecodesAndReencodesByteForByte) {
  const auto all = vectors();
  ASSERT_EQ(all.size(), 32u);
  int rspro = 0;
  std::vector<std::byte> scratch;
  for (const auto& l : all) {
    auto len = ipa::frame_length(l.frame);
    ASSERT_TRUE(len);
    ASSERT_EQ(*len, l.frame.size()) << l.what;
    auto f = ipa::decode(l.frame);
    ASSERT_TRUE(f) << l.what;
    if (f->proto == ipa::kProtoCcm) {
      const uint8_t type = l.what == "ipa-ping" ? ipa::kCcmPing : ipa::kCcmPong;
      EXPECT_EQ(ipa::encode_ccm(type), l.frame) << l.what;
      continue;
    }
    ASSERT_EQ(f->proto, ipa::kProtoOsmo);
    ASSERT_EQ(f->ext, ipa::kExtRspro);
    auto p = rspro::decode(f->payload);
    ASSERT_TRUE(p) << l.what << ": " << p.error();
    EXPECT_EQ(rspro::to_string(p->type), l.what);
    EXPECT_EQ(p->version, 2);
    const auto der = rspro::encode(*p);
    EXPECT_EQ(std::vector<std::byte>(f->payload.begin(), f->payload.end()), der) << l.what;
    EXPECT_EQ(ipa::encode_osmo(ipa::kExtRspro, der), l.frame) << l.what;
    // The one-pass framing encoder (a reused buffer) gives the same frame.
    const auto framed = rspro::encode_frame(*p, scratch);
    EXPECT_EQ(std::vector<std::byte>(framed.begin(), framed.end()), l.frame) << l.what;
    ++rspro;
  }
  EXPECT_EQ(rspro, 22);
}

TEST(Rspro, FieldsOfTheCapturedMessages) {
  std::map<std::string, rspro::Pdu> by;
  const auto all = vectors();
  for (const auto& l : all) {
    auto f = ipa::decode(l.frame);
    if (f->proto != ipa::kProtoOsmo) continue;
    auto p = rspro::decode(f->payload);
    ASSERT_TRUE(p);
    if (!by.count(l.what)) by[l.what] = *p;
  }
  const auto& bank = by["connectBankReq"];
  EXPECT_EQ(bank.identity.type, rspro::ComponentType::bankd);
  EXPECT_EQ(bank.identity.name, "vm");
  EXPECT_EQ(bank.identity.software, "remsim-bankd");
  EXPECT_EQ(bank.identity.sw_version, "1.1.3.14-4b36");
  EXPECT_EQ(bank.bank_id, 1);
  EXPECT_EQ(bank.number_of_slots, 2);
  EXPECT_EQ(by["connectClientRes"].tag, 2342u);  // osmo-remsim's one non-zero tag
  EXPECT_EQ(by["connectClientReq"].client_slot, (rspro::ClientSlot{23, 0}));
  const auto& cfg = by["configClientBankReq"];
  EXPECT_EQ(cfg.bank, (rspro::BankSlot{1, 0}));
  EXPECT_EQ(cfg.bankd.port, 9999);
  EXPECT_EQ(cfg.bankd.ip[0], 127);
  const auto& atr = by["setAtrReq"];
  EXPECT_EQ(atr.atr.size(), 18u);
  EXPECT_EQ(static_cast<int>(atr.atr[0]), 0x3B);
  const auto& tpdu = by["tpduModemToCard"];
  EXPECT_EQ(tpdu.client, (rspro::ClientSlot{23, 0}));
  EXPECT_EQ(tpdu.bank, (rspro::BankSlot{1, 0}));
  EXPECT_EQ(tpdu.data.size(), 7u);  // SELECT MF: 00 a4 00 00 02 3f 00
  EXPECT_FALSE(tpdu.flags.final_part);
}

TEST(Rspro, MessagesNotInTheCaptureRoundTrip) {
  rspro::Pdu p;
  p.type = rspro::MsgType::error_ind;
  p.tag = 77;
  p.error.sender = rspro::ComponentType::bankd;
  p.error.severity = 2;
  p.error.code = 2;
  p.error.bank_slot = rspro::BankSlot{3, 4};
  p.error.client_slot = rspro::ClientSlot{5, 6};
  p.error.error_string = "client went away";
  const auto err_der = rspro::encode(p);  // decoded views point into it
  auto back = rspro::decode(err_der);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->error.bank_slot, p.error.bank_slot);
  EXPECT_EQ(back->error.client_slot, p.error.client_slot);
  EXPECT_EQ(*back->error.error_string, "client went away");
  EXPECT_EQ(back->tag, 77u);

  rspro::Pdu s;
  s.type = rspro::MsgType::client_slot_status_ind;
  s.client = {23, 0};
  s.bank = {1, 0};
  s.status.reset_active = true;
  s.status.vcc_present = true;
  s.status.card_present = false;
  const auto s_der = rspro::encode(s);
  auto sb = rspro::decode(s_der);
  ASSERT_TRUE(sb);
  EXPECT_TRUE(sb->status.reset_active);
  EXPECT_EQ(sb->status.vcc_present, std::optional<bool>(true));
  EXPECT_FALSE(sb->status.clk_active);
  EXPECT_EQ(sb->status.card_present, std::optional<bool>(false));

  for (auto t : {rspro::MsgType::reset_state_req, rspro::MsgType::reset_state_res,
                 rspro::MsgType::config_client_id_req, rspro::MsgType::config_client_id_res,
                 rspro::MsgType::bank_slot_status_ind}) {
    rspro::Pdu x;
    x.type = t;
    x.client_slot = rspro::ClientSlot{1, 2};
    x.result = rspro::ResultCode::card_not_present;
    const auto der = rspro::encode(x);
    auto y = rspro::decode(der);
    ASSERT_TRUE(y) << rspro::to_string(t) << ": " << y.error();
    EXPECT_EQ(y->type, t);
    EXPECT_EQ(rspro::encode(*y), der);
  }
  // IPv6 bankd address.
  rspro::Pdu v6;
  v6.type = rspro::MsgType::config_client_bank_req;
  v6.bankd.v6 = true;
  v6.bankd.ip[15] = 1;
  v6.bankd.port = 9999;
  const auto v6_der = rspro::encode(v6);
  auto v6b = rspro::decode(v6_der);
  ASSERT_TRUE(v6b);
  EXPECT_TRUE(v6b->bankd.v6);
  EXPECT_EQ(v6b->bankd.ip[15], 1);
}

// Rewrites DER as BER with every definite length in long form (0x81 / 0x82 ...) or, for
// constructed values, indefinite (0x80 ... 00 00): what a BER encoder may legally send.
std::vector<std::byte> to_ber(std::span<const std::byte> der, bool indefinite) {
  std::vector<std::byte> out;
  size_t i = 0;
  while (i < der.size()) {
    const auto id = static_cast<uint8_t>(der[i]);
    out.push_back(der[i++]);
    size_t len = static_cast<uint8_t>(der[i++]);
    if (len & 0x80) {
      const size_t n = len & 0x7F;
      len = 0;
      for (size_t k = 0; k < n; ++k) len = (len << 8) | static_cast<uint8_t>(der[i++]);
    }
    const auto contents = der.subspan(i, len);
    i += len;
    if ((id & 0x20) && indefinite) {
      out.push_back(std::byte{0x80});
      const auto inner = to_ber(contents, indefinite);
      out.insert(out.end(), inner.begin(), inner.end());
      out.push_back(std::byte{0});
      out.push_back(std::byte{0});
    } else {
      const auto inner = (id & 0x20) ? to_ber(contents, indefinite)
                                     : std::vector<std::byte>(contents.begin(), contents.end());
      out.push_back(std::byte{0x82});
      out.push_back(static_cast<std::byte>(inner.size() >> 8));
      out.push_back(static_cast<std::byte>(inner.size()));
      out.insert(out.end(), inner.begin(), inner.end());
    }
  }
  return out;
}

TEST(Rspro, BerFormsDecodeToTheSameMessage) {
  for (const auto& l : vectors()) {
    auto f = ipa::decode(l.frame);
    if (f->proto != ipa::kProtoOsmo) continue;
    for (bool indefinite : {false, true}) {
      const auto ber = to_ber(f->payload, indefinite);
      auto p = rspro::decode(ber);
      ASSERT_TRUE(p) << l.what << (indefinite ? " indefinite: " : " long form: ") << p.error();
      EXPECT_EQ(rspro::encode(*p), std::vector<std::byte>(f->payload.begin(), f->payload.end()))
          << l.what;
    }
  }
}

TEST(Rspro, RangesAreChecked) {
  rspro::Pdu p;
  p.type = rspro::MsgType::set_atr_req;
  std::vector<std::byte> atr(56, std::byte{0x3B});
  p.atr = atr;
  EXPECT_FALSE(rspro::decode(rspro::encode(p)));  // ATR above 55
  atr.resize(55);
  p.atr = atr;
  EXPECT_TRUE(rspro::decode(rspro::encode(p)));
  p.atr = {};
  EXPECT_FALSE(rspro::decode(rspro::encode(p)));  // empty ATR
  rspro::Pdu t;
  t.type = rspro::MsgType::tpdu_modem_to_card;
  std::vector<std::byte> data(4, std::byte{0});
  t.data = data;
  EXPECT_FALSE(rspro::decode(rspro::encode(t)));  // shorter than a TPDU header
  data.resize(261);
  t.data = data;
  EXPECT_FALSE(rspro::decode(rspro::encode(t)));
  rspro::Pdu c;
  c.type = rspro::MsgType::create_mapping_req;
  c.client = {1024, 0};
  EXPECT_FALSE(rspro::decode(rspro::encode(c)));  // ClientId above 1023
  rspro::Pdu b;
  b.type = rspro::MsgType::connect_bank_req;
  b.identity.name = "";
  b.identity.software = "x";
  b.identity.sw_version = "1";
  EXPECT_FALSE(rspro::decode(rspro::encode(b)));  // empty ComponentName
  b.identity.name = std::string_view("a-name-that-is-longer-than-32-characters");
  EXPECT_FALSE(rspro::decode(rspro::encode(b)));
}

TEST(Rspro, TruncationsFlipsAndSplitsNeverCrash) {
  const auto all = vectors();
  std::vector<std::byte> stream;
  for (const auto& l : all) {
    stream.insert(stream.end(), l.frame.begin(), l.frame.end());
    auto f = ipa::decode(l.frame);
    if (f->proto != ipa::kProtoOsmo) continue;
    const std::vector<std::byte> der(f->payload.begin(), f->payload.end());
    for (size_t cut = 0; cut < der.size(); ++cut)
      EXPECT_FALSE(rspro::decode(std::span(der).first(cut))) << l.what << " cut " << cut;
    for (size_t i = 0; i < der.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        auto x = der;
        x[i] ^= static_cast<std::byte>(1 << bit);
        // What decodes re-encodes to DER that decodes to the same encoding again.
        if (auto p = rspro::decode(x)) {
          const auto once = rspro::encode(*p);
          auto back = rspro::decode(once);
          ASSERT_TRUE(back) << l.what << " flip " << i << "/" << bit;
          EXPECT_EQ(rspro::encode(*back), once) << l.what << " flip " << i << "/" << bit;
        }
      }
    }
  }
  for (size_t split = 1; split < stream.size(); ++split) {
    std::vector<std::byte> buf;
    size_t frames = 0;
    for (auto part : {std::span(stream).first(split), std::span(stream).subspan(split)}) {
      buf.insert(buf.end(), part.begin(), part.end());
      while (auto len = ipa::frame_length(buf)) {
        if (buf.size() < *len) break;
        ASSERT_TRUE(ipa::decode(std::span(buf).first(*len)));
        ++frames;
        buf.erase(buf.begin(), buf.begin() + static_cast<long>(*len));
      }
    }
    EXPECT_EQ(frames, all.size());
  }
}

}  // namespace
}  // namespace cp::proto
