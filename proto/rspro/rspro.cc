#include "proto/rspro/rspro.h"

#include <optional>

#include <cstring>

#include "proto/asn1/ber.h"

namespace cp::proto::rspro {

namespace {

using asn1::context;
using asn1::Element;
using asn1::Reader;
using asn1::Tag;
using asn1::universal;
using Err = std::string_view;

constexpr Tag kSeq = universal(asn1::kSequence, true);
constexpr Tag kInt = universal(asn1::kInteger);
constexpr Tag kEnum = universal(asn1::kEnumerated);
constexpr Tag kBool = universal(asn1::kBoolean);
constexpr Tag kOctets = universal(asn1::kOctetString);
constexpr Tag kIa5 = universal(asn1::kIa5String);

// ---- decoding helpers -------------------------------------------------------------------------

Result<Element, Err> expect(Reader& r, Tag tag, Err what) {
  auto e = r.next();
  if (!e) return fail(e.error());
  if (!(e->tag == tag)) return fail(what);
  return *e;
}

Result<int64_t, Err> integer(Reader& r, Tag tag, int64_t min, int64_t max, Err what) {
  auto e = expect(r, tag, what);
  if (!e) return fail(e.error());
  auto v = asn1::as_integer(e->contents);
  if (!v) return fail(v.error());
  if (*v < min || *v > max) return fail(what);
  return *v;
}

Result<bool, Err> boolean(Reader& r, Tag tag, Err what) {
  auto e = expect(r, tag, what);
  if (!e) return fail(e.error());
  return asn1::as_boolean(e->contents);
}

bool ia5(std::span<const std::byte> b) {
  for (std::byte c : b)
    if (static_cast<uint8_t>(c) > 0x7F) return false;
  return true;
}

Result<std::string_view, Err> name(std::span<const std::byte> b, size_t max, Err what) {
  if (b.empty() || b.size() > max || !ia5(b)) return fail(what);
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

// The contents of a SEQUENCE (or an implicitly tagged one) as a reader.
Result<Reader, Err> sequence(Reader& r, Tag tag, Err what) {
  auto e = expect(r, tag, what);
  if (!e) return fail(e.error());
  return Reader(e->contents);
}

Result<ComponentIdentity, Err> identity(Reader& outer) {
  auto r = sequence(outer, kSeq, "ComponentIdentity expected");
  if (!r) return fail(r.error());
  ComponentIdentity id;
  auto type = integer(*r, kEnum, 0, 2, "ComponentType out of range");
  if (!type) return fail(type.error());
  id.type = static_cast<ComponentType>(*type);
  auto n = expect(*r, kIa5, "ComponentIdentity.name expected");
  if (!n) return fail(n.error());
  auto nv = name(n->contents, 32, "ComponentName not 1..32 IA5 characters");
  if (!nv) return fail(nv.error());
  id.name = *nv;
  auto sw = expect(*r, context(0), "ComponentIdentity.software expected");
  if (!sw) return fail(sw.error());
  auto swv = name(sw->contents, 32, "software not 1..32 IA5 characters");
  if (!swv) return fail(swv.error());
  id.software = *swv;
  auto ver = expect(*r, context(1), "ComponentIdentity.swVersion expected");
  if (!ver) return fail(ver.error());
  auto verv = name(ver->contents, 32, "swVersion not 1..32 IA5 characters");
  if (!verv) return fail(verv.error());
  id.sw_version = *verv;
  for (uint32_t k = 2; k <= 6; ++k) {
    auto opt = r->next_if(context(k));
    if (!opt) return fail(opt.error());
    if (*opt) {
      auto v = name((*opt)->contents, 32, "hardware string not 1..32 IA5 characters");
      if (!v) return fail(v.error());
      id.hw[k - 2] = *v;
    }
  }
  return id;  // further (extension) elements are skipped
}

template <typename SlotT>
Result<SlotT, Err> slot(Reader& outer, Tag tag, Err what) {
  auto r = sequence(outer, tag, what);
  if (!r) return fail(r.error());
  auto a = integer(*r, kInt, 0, 1023, "id out of 0..1023");
  if (!a) return fail(a.error());
  auto b = integer(*r, kInt, 0, 1023, "slot number out of 0..1023");
  if (!b) return fail(b.error());
  return SlotT{static_cast<uint16_t>(*a), static_cast<uint16_t>(*b)};
}

Result<ResultCode, Err> result_code(Reader& r) {
  auto v = integer(r, kEnum, 0, 0x7FFFFFFF, "ResultCode expected");
  if (!v) return fail(v.error());
  return static_cast<ResultCode>(*v);
}

Result<TpduFlags, Err> tpdu_flags(Reader& outer) {
  auto r = sequence(outer, kSeq, "TpduFlags expected");
  if (!r) return fail(r.error());
  TpduFlags f;
  for (bool* b : {&f.header_present, &f.final_part, &f.pb_continue_tx, &f.pb_continue_rx}) {
    auto v = boolean(*r, kBool, "TpduFlags BOOLEAN expected");
    if (!v) return fail(v.error());
    *b = *v;
  }
  return f;
}

Result<SlotPhysStatus, Err> phys_status(Reader& outer) {
  auto r = sequence(outer, kSeq, "SlotPhysStatus expected");
  if (!r) return fail(r.error());
  SlotPhysStatus s;
  auto reset = boolean(*r, context(0), "resetActive expected");
  if (!reset) return fail(reset.error());
  s.reset_active = *reset;
  std::optional<bool>* opts[] = {&s.vcc_present, &s.clk_active, &s.card_present};
  for (uint32_t k = 1; k <= 3; ++k) {
    auto e = r->next_if(context(k));
    if (!e) return fail(e.error());
    if (*e) {
      auto v = asn1::as_boolean((*e)->contents);
      if (!v) return fail(v.error());
      *opts[k - 1] = *v;
    }
  }
  return s;
}

Result<std::span<const std::byte>, Err> octets(Reader& r, size_t min, size_t max, Err what) {
  auto e = expect(r, kOctets, what);
  if (!e) return fail(e.error());
  if (e->contents.size() < min || e->contents.size() > max) return fail(what);
  return e->contents;
}

// A ClientSlot and a BankSlot in either order (tpdu*, *SlotStatusInd).
Result<void, Err> slot_pair(Reader& r, bool client_first, Pdu& p) {
  if (client_first) {
    auto c = slot<ClientSlot>(r, kSeq, "ClientSlot expected");
    if (!c) return fail(c.error());
    p.client = *c;
  }
  auto b = slot<BankSlot>(r, kSeq, "BankSlot expected");
  if (!b) return fail(b.error());
  p.bank = *b;
  if (!client_first) {
    auto c = slot<ClientSlot>(r, kSeq, "ClientSlot expected");
    if (!c) return fail(c.error());
    p.client = *c;
  }
  return {};
}

Result<void, Err> body(Reader& r, Pdu& p) {
  switch (p.type) {
    case MsgType::connect_bank_req: {
      auto id = identity(r);
      if (!id) return fail(id.error());
      p.identity = *id;
      auto bank = integer(r, kInt, 0, 1023, "bankId out of 0..1023");
      if (!bank) return fail(bank.error());
      auto n = integer(r, kInt, 0, 1023, "numberOfSlots out of 0..1023");
      if (!n) return fail(n.error());
      p.bank_id = static_cast<uint16_t>(*bank);
      p.number_of_slots = static_cast<uint16_t>(*n);
      return {};
    }
    case MsgType::connect_bank_res:
    case MsgType::connect_client_res: {
      auto id = identity(r);
      if (!id) return fail(id.error());
      p.identity = *id;
      auto res = result_code(r);
      if (!res) return fail(res.error());
      p.result = *res;
      return {};
    }
    case MsgType::connect_client_req: {
      auto id = identity(r);
      if (!id) return fail(id.error());
      p.identity = *id;
      if (!r.empty()) {
        auto cs = slot<ClientSlot>(r, kSeq, "ClientSlot expected");
        if (!cs) return fail(cs.error());
        p.client_slot = *cs;
      }
      return {};
    }
    case MsgType::create_mapping_req:
    case MsgType::remove_mapping_req: {
      auto c = slot<ClientSlot>(r, kSeq, "ClientSlot expected");
      if (!c) return fail(c.error());
      auto b = slot<BankSlot>(r, kSeq, "BankSlot expected");
      if (!b) return fail(b.error());
      p.client = *c;
      p.bank = *b;
      return {};
    }
    case MsgType::config_client_id_req: {
      auto c = slot<ClientSlot>(r, kSeq, "ClientSlot expected");
      if (!c) return fail(c.error());
      p.client_slot = *c;
      return {};
    }
    case MsgType::config_client_bank_req: {
      auto b = slot<BankSlot>(r, kSeq, "BankSlot expected");
      if (!b) return fail(b.error());
      p.bank = *b;
      auto ipp = sequence(r, kSeq, "IpPort expected");
      if (!ipp) return fail(ipp.error());
      auto ip = ipp->next();
      if (!ip) return fail(ip.error());
      if (ip->tag == context(0) && ip->contents.size() == 4) {
        p.bankd.v6 = false;
      } else if (ip->tag == context(1) && ip->contents.size() == 16) {
        p.bankd.v6 = true;
      } else {
        return fail(Err("IpAddress neither a 4-octet ipv4 nor a 16-octet ipv6"));
      }
      std::memcpy(p.bankd.ip.data(), ip->contents.data(), ip->contents.size());
      auto port = integer(*ipp, kInt, 0, 65535, "PortNumber out of 0..65535");
      if (!port) return fail(port.error());
      p.bankd.port = static_cast<uint16_t>(*port);
      return {};
    }
    case MsgType::set_atr_req: {
      auto c = slot<ClientSlot>(r, kSeq, "ClientSlot expected");
      if (!c) return fail(c.error());
      p.client = *c;
      auto atr = octets(r, 1, 55, "ATR not 1..55 octets");
      if (!atr) return fail(atr.error());
      p.atr = *atr;
      return {};
    }
    case MsgType::tpdu_modem_to_card:
    case MsgType::tpdu_card_to_modem: {
      const bool m2c = p.type == MsgType::tpdu_modem_to_card;
      if (auto ok = slot_pair(r, m2c, p); !ok) return fail(ok.error());
      auto f = tpdu_flags(r);
      if (!f) return fail(f.error());
      p.flags = *f;
      // A C-TPDU is at least a 5-byte header; an R-TPDU at least SW1 SW2 (osmo-remsim checks
      // 5..260 on what it sends toward the card and accepts short answers).
      auto d = octets(r, m2c ? 5 : 2, 260, "TPDU data out of range");
      if (!d) return fail(d.error());
      p.data = *d;
      return {};
    }
    case MsgType::client_slot_status_ind:
    case MsgType::bank_slot_status_ind: {
      if (auto ok = slot_pair(r, p.type == MsgType::client_slot_status_ind, p); !ok)
        return fail(ok.error());
      auto s = phys_status(r);
      if (!s) return fail(s.error());
      p.status = *s;
      return {};
    }
    case MsgType::error_ind: {
      auto sender = integer(r, kEnum, 0, 2, "ErrorInd.sender out of range");
      if (!sender) return fail(sender.error());
      auto severity = integer(r, kEnum, 0, 0x7FFFFFFF, "ErrorSeverity expected");
      if (!severity) return fail(severity.error());
      auto code = integer(r, kEnum, 0, 0x7FFFFFFF, "ErrorCode expected");
      if (!code) return fail(code.error());
      p.error.sender = static_cast<ComponentType>(*sender);
      p.error.severity = static_cast<int32_t>(*severity);
      p.error.code = static_cast<int32_t>(*code);
      if (auto e = r.next_if(context(0, true)); !e) {
        return fail(e.error());
      } else if (*e) {
        Reader inner((*e)->contents);
        auto a = integer(inner, kInt, 0, 1023, "bankId out of 0..1023");
        auto b = a ? integer(inner, kInt, 0, 1023, "slot out of 0..1023") : a;
        if (!b) return fail(b.error());
        p.error.bank_slot = BankSlot{static_cast<uint16_t>(*a), static_cast<uint16_t>(*b)};
      }
      if (auto e = r.next_if(context(1, true)); !e) {
        return fail(e.error());
      } else if (*e) {
        Reader inner((*e)->contents);
        auto a = integer(inner, kInt, 0, 1023, "clientId out of 0..1023");
        auto b = a ? integer(inner, kInt, 0, 1023, "slot out of 0..1023") : a;
        if (!b) return fail(b.error());
        p.error.client_slot = ClientSlot{static_cast<uint16_t>(*a), static_cast<uint16_t>(*b)};
      }
      if (auto e = r.next_if(context(2)); !e) {
        return fail(e.error());
      } else if (*e) {
        auto s = name((*e)->contents, 255, "ErrorString not 1..255 IA5 characters");
        if (!s) return fail(s.error());
        p.error.error_string = *s;
      }
      return {};
    }
    case MsgType::reset_state_req:
      return {};
    case MsgType::create_mapping_res:
    case MsgType::remove_mapping_res:
    case MsgType::config_client_id_res:
    case MsgType::config_client_bank_res:
    case MsgType::set_atr_res:
    case MsgType::reset_state_res: {
      auto res = result_code(r);
      if (!res) return fail(res.error());
      p.result = *res;
      return {};
    }
  }
  return fail(Err("unknown message"));
}

// ---- encoding helpers -------------------------------------------------------------------------

void put_identity(asn1::Writer& w, const ComponentIdentity& id) {
  w.begin(kSeq);
  w.integer(kEnum, static_cast<int64_t>(id.type));
  w.string(kIa5, id.name);
  w.string(context(0), id.software);
  w.string(context(1), id.sw_version);
  for (uint32_t k = 0; k < 5; ++k)
    if (id.hw[k]) w.string(context(k + 2), *id.hw[k]);
  w.end();
}

void put_slot(asn1::Writer& w, Tag tag, uint16_t a, uint16_t b) {
  w.begin(tag);
  w.integer(kInt, a);
  w.integer(kInt, b);
  w.end();
}
void put_client(asn1::Writer& w, const ClientSlot& c, Tag tag = kSeq) {
  put_slot(w, tag, c.client_id, c.slot);
}
void put_bank(asn1::Writer& w, const BankSlot& b, Tag tag = kSeq) {
  put_slot(w, tag, b.bank_id, b.slot);
}

void put_flags(asn1::Writer& w, const TpduFlags& f) {
  w.begin(kSeq);
  for (bool b : {f.header_present, f.final_part, f.pb_continue_tx, f.pb_continue_rx})
    w.boolean(kBool, b);
  w.end();
}

void put_status(asn1::Writer& w, const SlotPhysStatus& s) {
  w.begin(kSeq);
  w.boolean(context(0), s.reset_active);
  if (s.vcc_present) w.boolean(context(1), *s.vcc_present);
  if (s.clk_active) w.boolean(context(2), *s.clk_active);
  if (s.card_present) w.boolean(context(3), *s.card_present);
  w.end();
}

void put_body(asn1::Writer& w, const Pdu& p) {
  switch (p.type) {
    case MsgType::connect_bank_req:
      put_identity(w, p.identity);
      w.integer(kInt, p.bank_id);
      w.integer(kInt, p.number_of_slots);
      return;
    case MsgType::connect_bank_res:
    case MsgType::connect_client_res:
      put_identity(w, p.identity);
      w.integer(kEnum, static_cast<int64_t>(p.result));
      return;
    case MsgType::connect_client_req:
      put_identity(w, p.identity);
      if (p.client_slot) put_client(w, *p.client_slot);
      return;
    case MsgType::create_mapping_req:
    case MsgType::remove_mapping_req:
      put_client(w, p.client);
      put_bank(w, p.bank);
      return;
    case MsgType::config_client_id_req:
      put_client(w, p.client_slot.value_or(ClientSlot{}));
      return;
    case MsgType::config_client_bank_req:
      put_bank(w, p.bank);
      w.begin(kSeq);
      w.octets(context(p.bankd.v6 ? 1 : 0),
               std::as_bytes(std::span(p.bankd.ip.data(), p.bankd.v6 ? 16 : 4)));
      w.integer(kInt, p.bankd.port);
      w.end();
      return;
    case MsgType::set_atr_req:
      put_client(w, p.client);
      w.octets(kOctets, p.atr);
      return;
    case MsgType::tpdu_modem_to_card:
      put_client(w, p.client);
      put_bank(w, p.bank);
      put_flags(w, p.flags);
      w.octets(kOctets, p.data);
      return;
    case MsgType::tpdu_card_to_modem:
      put_bank(w, p.bank);
      put_client(w, p.client);
      put_flags(w, p.flags);
      w.octets(kOctets, p.data);
      return;
    case MsgType::client_slot_status_ind:
      put_client(w, p.client);
      put_bank(w, p.bank);
      put_status(w, p.status);
      return;
    case MsgType::bank_slot_status_ind:
      put_bank(w, p.bank);
      put_client(w, p.client);
      put_status(w, p.status);
      return;
    case MsgType::error_ind:
      w.integer(kEnum, static_cast<int64_t>(p.error.sender));
      w.integer(kEnum, p.error.severity);
      w.integer(kEnum, p.error.code);
      if (p.error.bank_slot) put_bank(w, *p.error.bank_slot, context(0, true));
      if (p.error.client_slot) put_client(w, *p.error.client_slot, context(1, true));
      if (p.error.error_string) w.string(context(2), *p.error.error_string);
      return;
    case MsgType::reset_state_req:
      return;
    case MsgType::create_mapping_res:
    case MsgType::remove_mapping_res:
    case MsgType::config_client_id_res:
    case MsgType::config_client_bank_res:
    case MsgType::set_atr_res:
    case MsgType::reset_state_res:
      w.integer(kEnum, static_cast<int64_t>(p.result));
      return;
  }
}

}  // namespace

std::string_view to_string(MsgType t) {
  static constexpr std::string_view kNames[kMsgTypes] = {
      "connectBankReq",    "connectBankRes",      "connectClientReq",    "connectClientRes",
      "createMappingReq",  "createMappingRes",    "removeMappingReq",    "removeMappingRes",
      "configClientIdReq", "configClientIdRes",   "setAtrReq",           "setAtrRes",
      "tpduModemToCard",   "tpduCardToModem",     "clientSlotStatusInd", "bankSlotStatusInd",
      "errorInd",          "configClientBankReq", "configClientBankRes", "resetStateReq",
      "resetStateRes"};
  const auto i = static_cast<uint8_t>(t);
  return i < kMsgTypes ? kNames[i] : "unknown";
}

namespace {

// The data path's shortcut: the TPDU messages in exactly the DER osmo-remsim and we write
// (short or 0x81/0x82 lengths, minimal non-negative INTEGERs, BOOLEANs 00/FF, no extension
// elements). Anything else — BER forms, out-of-range values, other messages — returns nullopt
// and goes the general way, which also gives the error. rspro_fuzz checks that whatever this
// accepts, decode_general() decodes to the same message.
class DerCursor {
 public:
  explicit DerCursor(std::span<const std::byte> d)
      : b_(reinterpret_cast<const uint8_t*>(d.data())), n_(d.size()) {}
  size_t at() const { return i_; }
  size_t size() const { return n_; }
  bool byte(uint8_t want) {
    if (i_ >= n_ || b_[i_] != want) return false;
    ++i_;
    return true;
  }
  bool peek(uint8_t& v) const {
    if (i_ >= n_) return false;
    v = b_[i_];
    return true;
  }
  // A DER definite length that ends exactly at `end` when `end` is given.
  bool length(size_t& out) {
    if (i_ >= n_) return false;
    const uint8_t l = b_[i_++];
    if (l < 0x80) {
      out = l;
    } else if (l == 0x81) {
      if (i_ >= n_ || b_[i_] < 0x80) return false;
      out = b_[i_++];
    } else if (l == 0x82) {
      if (i_ + 2 > n_ || b_[i_] == 0) return false;
      out = size_t{b_[i_]} << 8 | b_[i_ + 1];
      i_ += 2;
    } else {
      return false;
    }
    return out <= n_ - i_;
  }
  bool to_end(size_t& out) { return length(out) && i_ + out == n_; }
  bool uint(uint8_t tag, uint32_t max, uint32_t& v) {
    size_t l = 0;
    if (!byte(tag) || !length(l) || l < 1 || l > 4) return false;
    if (b_[i_] & 0x80) return false;                                 // negative
    if (l > 1 && b_[i_] == 0 && !(b_[i_ + 1] & 0x80)) return false;  // not minimal
    v = 0;
    for (size_t k = 0; k < l; ++k) v = v << 8 | b_[i_ + k];
    i_ += l;
    return v <= max;
  }
  bool slot(uint16_t& id, uint16_t& nr) {
    size_t l = 0;
    uint32_t a = 0, b = 0;
    if (!byte(0x30) || !length(l)) return false;
    const size_t end = i_ + l;
    if (!uint(0x02, 1023, a) || !uint(0x02, 1023, b) || i_ != end) return false;
    id = static_cast<uint16_t>(a);
    nr = static_cast<uint16_t>(b);
    return true;
  }
  bool boolean(bool& v) {
    if (!byte(0x01) || !byte(0x01) || i_ >= n_) return false;
    if (b_[i_] != 0x00 && b_[i_] != 0xFF) return false;
    v = b_[i_++] != 0;
    return true;
  }
  std::span<const std::byte> take(size_t l) {
    const auto* p = reinterpret_cast<const std::byte*>(b_ + i_);
    i_ += l;
    return {p, l};
  }

 private:
  const uint8_t* b_;
  size_t n_;
  size_t i_ = 0;
};

std::optional<Pdu> decode_tpdu_der(std::span<const std::byte> der) {
  DerCursor c(der);
  size_t l = 0;
  uint32_t version = 0, tag = 0;
  uint8_t choice = 0;
  if (!c.byte(0x30) || !c.to_end(l) || !c.uint(0x80, 32, version) ||
      !c.uint(0x81, 0x7FFFFFFF, tag) || !c.byte(0xA2) || !c.to_end(l) || !c.peek(choice) ||
      (choice != 0xAC && choice != 0xAD) || !c.byte(choice) || !c.to_end(l))
    return std::nullopt;
  Pdu p;
  p.version = version;
  p.tag = tag;
  const bool m2c = choice == 0xAC;
  p.type = m2c ? MsgType::tpdu_modem_to_card : MsgType::tpdu_card_to_modem;
  const bool slots_ok =
      m2c ? c.slot(p.client.client_id, p.client.slot) && c.slot(p.bank.bank_id, p.bank.slot)
          : c.slot(p.bank.bank_id, p.bank.slot) && c.slot(p.client.client_id, p.client.slot);
  if (!slots_ok || !c.byte(0x30) || !c.byte(0x0C) || !c.boolean(p.flags.header_present) ||
      !c.boolean(p.flags.final_part) || !c.boolean(p.flags.pb_continue_tx) ||
      !c.boolean(p.flags.pb_continue_rx) || !c.byte(0x04) || !c.to_end(l) || l < (m2c ? 5u : 2u) ||
      l > 260)
    return std::nullopt;
  p.data = c.take(l);
  return p;
}

// DER writing for the same messages, straight into the frame buffer.
size_t uint_bytes(uint32_t v) {
  size_t n = 1;
  while (n < 5 && (v >> (8 * n - 1)) != 0) ++n;  // room for a clear sign bit
  return n;
}
size_t length_bytes(size_t len) {
  return len < 0x80 ? 1 : len < 0x100 ? 2 : 3;
}
void put_length(std::vector<std::byte>& out, size_t len) {
  if (len >= 0x100) {
    out.push_back(std::byte{0x82});
    out.push_back(static_cast<std::byte>(len >> 8));
  } else if (len >= 0x80) {
    out.push_back(std::byte{0x81});
  }
  out.push_back(static_cast<std::byte>(len));
}
void put_uint(std::vector<std::byte>& out, uint8_t tag, uint32_t v) {
  const size_t n = uint_bytes(v);
  out.push_back(static_cast<std::byte>(tag));
  out.push_back(static_cast<std::byte>(n));
  for (size_t k = n; k-- > 0;) out.push_back(static_cast<std::byte>(k < 4 ? v >> (8 * k) : 0));
}
size_t slot_bytes(uint16_t a, uint16_t b) {
  return 2 + 2 + uint_bytes(a) + 2 + uint_bytes(b);
}
void put_slot(std::vector<std::byte>& out, uint16_t a, uint16_t b) {
  out.push_back(std::byte{0x30});
  out.push_back(static_cast<std::byte>(slot_bytes(a, b) - 2));
  put_uint(out, 0x02, a);
  put_uint(out, 0x02, b);
}

void encode_tpdu_frame(const Pdu& p, std::vector<std::byte>& out) {
  const bool m2c = p.type == MsgType::tpdu_modem_to_card;
  const size_t data = p.data.size();
  const size_t body = slot_bytes(p.client.client_id, p.client.slot) +
                      slot_bytes(p.bank.bank_id, p.bank.slot) + 14 + 1 + length_bytes(data) + data;
  const size_t choice = 1 + length_bytes(body) + body;
  const size_t top = 2 + uint_bytes(static_cast<uint32_t>(p.version)) + 2 + uint_bytes(p.tag) + 1 +
                     length_bytes(choice) + choice;
  const size_t frame = 1 + length_bytes(top) + top;  // the DER
  out.clear();
  out.reserve(4 + frame);
  out.push_back(static_cast<std::byte>((frame + 1) >> 8));  // IPA: the extension byte counts
  out.push_back(static_cast<std::byte>(frame + 1));
  out.push_back(std::byte{0xEE});
  out.push_back(std::byte{0x07});
  out.push_back(std::byte{0x30});
  put_length(out, top);
  put_uint(out, 0x80, static_cast<uint32_t>(p.version));
  put_uint(out, 0x81, p.tag);
  out.push_back(std::byte{0xA2});
  put_length(out, choice);
  out.push_back(m2c ? std::byte{0xAC} : std::byte{0xAD});
  put_length(out, body);
  if (m2c) {
    put_slot(out, p.client.client_id, p.client.slot);
    put_slot(out, p.bank.bank_id, p.bank.slot);
  } else {
    put_slot(out, p.bank.bank_id, p.bank.slot);
    put_slot(out, p.client.client_id, p.client.slot);
  }
  out.push_back(std::byte{0x30});
  out.push_back(std::byte{0x0C});
  for (bool f : {p.flags.header_present, p.flags.final_part, p.flags.pb_continue_tx,
                 p.flags.pb_continue_rx}) {
    out.push_back(std::byte{0x01});
    out.push_back(std::byte{0x01});
    out.push_back(f ? std::byte{0xFF} : std::byte{0x00});
  }
  out.push_back(std::byte{0x04});
  put_length(out, data);
  out.insert(out.end(), p.data.begin(), p.data.end());
}

}  // namespace

Result<Pdu, std::string_view> decode(std::span<const std::byte> der) {
  if (auto fast = decode_tpdu_der(der)) return *fast;
  return decode_general(der);
}

Result<Pdu, std::string_view> decode_general(std::span<const std::byte> der) {
  Reader top(der);
  auto seq = sequence(top, kSeq, "RsproPDU is not a SEQUENCE");
  if (!seq) return fail(seq.error());
  if (!top.empty()) return fail(Err("bytes after the RsproPDU"));
  Pdu p;
  auto version = integer(*seq, context(0), 0, 32, "version [0] expected (0..32)");
  if (!version) return fail(version.error());
  p.version = *version;
  auto tag = integer(*seq, context(1), 0, 2147483647, "tag [1] expected");
  if (!tag) return fail(tag.error());
  p.tag = static_cast<uint32_t>(*tag);
  auto msg = expect(*seq, context(2, true), "msg [2] expected");
  if (!msg) return fail(msg.error());
  Reader choice(msg->contents);
  auto alt = choice.next();
  if (!alt) return fail(alt.error());
  if (alt->tag.cls != asn1::Class::context || !alt->tag.constructed || alt->tag.number >= kMsgTypes)
    return fail(Err("unknown RsproPDUchoice alternative"));
  p.type = static_cast<MsgType>(alt->tag.number);
  Reader r(alt->contents);
  if (auto ok = body(r, p); !ok) return fail(ok.error());
  // Extension elements after the known ones are skipped, but they must be well-formed.
  while (!r.empty())
    if (auto e = r.next(); !e) return fail(e.error());
  return p;
}

namespace {
void put_pdu(asn1::Writer& w, const Pdu& p) {
  w.begin(kSeq);
  w.integer(context(0), p.version);
  w.integer(context(1), p.tag);
  w.begin(context(2, true));
  w.begin(context(static_cast<uint32_t>(p.type), true));
  put_body(w, p);
  w.end();
  w.end();
  w.end();
}
}  // namespace

std::vector<std::byte> encode(const Pdu& p) {
  asn1::Writer w;
  put_pdu(w, p);
  return w.take();
}

std::span<const std::byte> encode_frame(const Pdu& p, std::vector<std::byte>& buffer) {
  const bool tpdu = p.type == MsgType::tpdu_modem_to_card || p.type == MsgType::tpdu_card_to_modem;
  if (tpdu && p.version >= 0 && p.version <= 0x7FFFFFFF && p.tag <= 0x7FFFFFFF &&
      p.data.size() <= 0xFFFF - 64) {
    encode_tpdu_frame(p, buffer);  // the data path: straight DER, no Writer
    return buffer;
  }
  asn1::Writer w(std::move(buffer));
  // IPA header: length (patched below), OSMO, extension RSPRO.
  const std::byte head[4] = {std::byte{0}, std::byte{0}, std::byte{0xEE}, std::byte{0x07}};
  w.raw(head);
  put_pdu(w, p);
  buffer = w.take();
  const size_t len = buffer.size() - 3;  // the extension byte counts, the header does not
  buffer[0] = static_cast<std::byte>(len >> 8);
  buffer[1] = static_cast<std::byte>(len);
  return buffer;
}

}  // namespace cp::proto::rspro
