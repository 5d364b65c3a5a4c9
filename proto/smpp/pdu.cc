#include "proto/smpp/pdu.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/byte_reader.h"

namespace cp::proto::smpp {
namespace {

// A C-octet string of at most `max_chars` characters (its NUL not counted), read up to and
// including the NUL. Refused: no NUL within max_chars + 1 octets.
Result<std::string_view, Error> cstring(ByteReader& r, size_t max_chars, uint32_t status,
                                        std::string_view what) {
  const auto rest = r.rest();
  const size_t limit = std::min(rest.size(), max_chars + 1);
  const auto* begin = reinterpret_cast<const char*>(rest.data());
  const void* nul = std::memchr(begin, 0, limit);
  if (nul == nullptr) return fail(Error{status, what});
  const size_t n = static_cast<size_t>(static_cast<const char*>(nul) - begin);
  // Put back what follows the NUL.
  r = ByteReader(rest.subspan(n + 1));
  return std::string_view(begin, n);
}

Result<uint8_t, Error> octet(ByteReader& r, std::string_view what) {
  const auto v = r.u8();
  if (!v) return fail(Error{status::invcmdlen, what});
  return *v;
}

void put_be(std::vector<std::byte>& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
}

Result<Address, Error> address(ByteReader& r, size_t max_chars, uint32_t st,
                               std::string_view what) {
  Address a;
  auto ton = octet(r, "address TON missing");
  if (!ton) return fail(ton.error());
  auto npi = octet(r, "address NPI missing");
  if (!npi) return fail(npi.error());
  auto addr = cstring(r, max_chars, st, what);
  if (!addr) return fail(addr.error());
  a.ton = *ton;
  a.npi = *npi;
  a.addr = *addr;
  return a;
}

Result<std::string_view, Error> smpp_time(ByteReader& r, uint32_t st, std::string_view what) {
  auto t = cstring(r, 16, st, what);
  if (!t) return fail(t.error());
  if (!t->empty() && t->size() != 16) return fail(Error{st, what});
  return *t;
}

Result<void, Error> tlvs_only(ByteReader& r, std::span<const std::byte>& out) {
  out = r.rest();
  return check_tlvs(out);
}

// submit_sm / deliver_sm / submit_multi from esm_class on (4.4.1): the same fields and checks.
Result<void, Error> message_tail(ByteReader& r, ShortMessage& m) {
  for (uint8_t* f : {&m.esm_class, &m.protocol_id, &m.priority_flag}) {
    auto v = octet(r, "mandatory field missing");
    if (!v) return fail(v.error());
    *f = *v;
  }
  auto sched = smpp_time(r, status::invsched, "schedule_delivery_time is not 16 characters");
  if (!sched) return fail(sched.error());
  auto validity = smpp_time(r, status::invexpiry, "validity_period is not 16 characters");
  if (!validity) return fail(validity.error());
  m.schedule_delivery_time = *sched;
  m.validity_period = *validity;
  uint8_t sm_length = 0;
  for (uint8_t* f : {&m.registered_delivery, &m.replace_if_present_flag, &m.data_coding,
                     &m.sm_default_msg_id, &sm_length}) {
    auto v = octet(r, "mandatory field missing");
    if (!v) return fail(v.error());
    *f = *v;
  }
  if (sm_length > 254) return fail(Error{status::invmsglen, "sm_length above 254"});
  const auto text = r.bytes(sm_length);
  if (!text) return fail(Error{status::invmsglen, "short_message shorter than sm_length"});
  m.short_message = *text;
  if (auto ok = tlvs_only(r, m.tlvs); !ok) return fail(ok.error());
  // message_payload and short_message together are a contradiction (5.3.2.32).
  if (sm_length > 0 && find_tlv(m.tlvs, tag::message_payload))
    return fail(Error{status::invoptparamval, "both short_message and message_payload"});
  return {};
}

}  // namespace

Result<std::optional<uint32_t>, Error> frame_length(std::span<const std::byte> bytes) {
  if (bytes.size() < 4) return std::optional<uint32_t>{};
  ByteReader r(bytes);
  const uint32_t length = *r.u32();
  if (length < kHeaderBytes || length > kPduBytesMax)
    return fail(Error{status::invcmdlen, "command_length out of range"});
  return std::optional<uint32_t>{length};
}

std::optional<Header> peek_header(std::span<const std::byte> bytes) {
  if (bytes.size() < kHeaderBytes) return std::nullopt;
  ByteReader r(bytes.first(kHeaderBytes));
  Header h;
  h.length = *r.u32();
  h.command_id = *r.u32();
  h.command_status = *r.u32();
  h.sequence = *r.u32();
  return h;
}

Result<Header, Error> decode_header(std::span<const std::byte> pdu) {
  if (pdu.size() < kHeaderBytes) return fail(Error{status::invcmdlen, "shorter than a header"});
  ByteReader r(pdu);
  Header h;
  h.length = *r.u32();
  h.command_id = *r.u32();
  h.command_status = *r.u32();
  h.sequence = *r.u32();
  if (h.length != pdu.size()) return fail(Error{status::invcmdlen, "command_length mismatch"});
  return h;
}

Result<void, Error> check_tlvs(std::span<const std::byte> section) {
  ByteReader r(section);
  while (!r.empty()) {
    const auto t = r.u16();
    const auto n = r.u16();
    if (!t || !n) return fail(Error{status::invoptparstream, "a TLV header cut short"});
    if (!r.bytes(*n)) return fail(Error{status::invparlen, "a TLV longer than the PDU"});
  }
  return {};
}

std::optional<Tlv> TlvReader::next() {
  ByteReader r(rest_);
  const auto t = r.u16();
  const auto n = r.u16();
  if (!t || !n) return std::nullopt;
  const auto value = r.bytes(*n);
  if (!value) return std::nullopt;
  rest_ = r.rest();
  return Tlv{*t, *value};
}

std::optional<Tlv> find_tlv(std::span<const std::byte> section, uint16_t t) {
  TlvReader r(section);
  while (auto x = r.next())
    if (x->tag == t) return x;
  return std::nullopt;
}

void append_tlv(std::vector<std::byte>& section, uint16_t t, std::span<const std::byte> value) {
  put_be(section, t, 2);
  put_be(section, value.size(), 2);
  section.insert(section.end(), value.begin(), value.end());
}

Result<Bind, Error> decode_bind(std::span<const std::byte> body) {
  ByteReader r(body);
  Bind b;
  auto sid = cstring(r, 15, status::invsysid, "system_id longer than 15 or unterminated");
  if (!sid) return fail(sid.error());
  b.system_id = *sid;
  auto pw = cstring(r, 8, status::invpaswd, "password longer than 8 or unterminated");
  if (!pw) return fail(pw.error());
  b.password = *pw;
  auto st = cstring(r, 12, status::invcmdlen, "system_type longer than 12 or unterminated");
  if (!st) return fail(st.error());
  b.system_type = *st;
  auto v = octet(r, "interface_version missing");
  auto ton = v ? octet(r, "addr_ton missing") : Result<uint8_t, Error>(fail(v.error()));
  auto npi = ton ? octet(r, "addr_npi missing") : Result<uint8_t, Error>(fail(ton.error()));
  if (!npi) return fail(npi.error());
  b.interface_version = *v;
  b.addr_ton = *ton;
  b.addr_npi = *npi;
  auto range = cstring(r, 40, status::invcmdlen, "address_range longer than 40 or unterminated");
  if (!range) return fail(range.error());
  b.address_range = *range;
  if (!r.empty()) return fail(Error{status::invcmdlen, "bytes after the bind body"});
  return b;
}

Result<ShortMessage, Error> decode_short_message(std::span<const std::byte> body) {
  ByteReader r(body);
  ShortMessage m;
  auto service = cstring(r, 5, status::invsertyp, "service_type longer than 5 or unterminated");
  if (!service) return fail(service.error());
  m.service_type = *service;
  auto read_octets = [&](std::initializer_list<uint8_t*> fields) -> std::optional<Error> {
    for (uint8_t* f : fields) {
      auto v = octet(r, "mandatory field missing");
      if (!v) return v.error();
      *f = *v;
    }
    return std::nullopt;
  };
  if (auto e = read_octets({&m.source_addr_ton, &m.source_addr_npi})) return fail(*e);
  auto src = cstring(r, 20, status::invsrcadr, "source_addr longer than 20 or unterminated");
  if (!src) return fail(src.error());
  m.source_addr = *src;
  if (auto e = read_octets({&m.dest_addr_ton, &m.dest_addr_npi})) return fail(*e);
  auto dst = cstring(r, 20, status::invdstadr, "destination_addr longer than 20 or unterminated");
  if (!dst) return fail(dst.error());
  m.destination_addr = *dst;
  if (auto ok = message_tail(r, m); !ok) return fail(ok.error());
  return m;
}

Result<std::string_view, Error> decode_message_id_resp(std::span<const std::byte> body) {
  if (body.empty()) return std::string_view{};
  ByteReader r(body);
  auto id = cstring(r, 64, status::invmsgid, "message_id longer than 64 or unterminated");
  if (!id) return fail(id.error());
  if (!r.empty()) return fail(Error{status::invcmdlen, "bytes after the message_id"});
  return *id;
}

std::string command_name(uint32_t id) {
  static constexpr std::pair<uint32_t, std::string_view> kNames[] = {
      {cmd::generic_nack, "generic_nack"},
      {cmd::bind_receiver, "bind_receiver"},
      {cmd::bind_transmitter, "bind_transmitter"},
      {cmd::query_sm, "query_sm"},
      {cmd::submit_sm, "submit_sm"},
      {cmd::deliver_sm, "deliver_sm"},
      {cmd::unbind, "unbind"},
      {cmd::replace_sm, "replace_sm"},
      {cmd::cancel_sm, "cancel_sm"},
      {cmd::bind_transceiver, "bind_transceiver"},
      {cmd::outbind, "outbind"},
      {cmd::enquire_link, "enquire_link"},
      {cmd::submit_multi, "submit_multi"},
      {cmd::alert_notification, "alert_notification"},
      {cmd::data_sm, "data_sm"},
  };
  const uint32_t base = id == cmd::generic_nack ? id : (id & ~cmd::response_bit);
  for (const auto& [k, v] : kNames) {
    if (k != base) continue;
    // Responses exist for every request but outbind and alert_notification.
    if (id != base && (base == cmd::outbind || base == cmd::alert_notification)) break;
    return id != base ? std::string(v) + "_resp" : std::string(v);
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", id);
  return buf;
}

bool known_command(uint32_t id) {
  return command_name(id)[0] != '0';
}

Result<BindResp, Error> decode_bind_resp(std::span<const std::byte> body) {
  BindResp b;
  if (body.empty()) return b;
  ByteReader r(body);
  auto sid = cstring(r, 15, status::invsysid, "system_id longer than 15 or unterminated");
  if (!sid) return fail(sid.error());
  b.system_id = *sid;
  if (auto ok = tlvs_only(r, b.tlvs); !ok) return fail(ok.error());
  return b;
}

Result<Outbind, Error> decode_outbind(std::span<const std::byte> body) {
  ByteReader r(body);
  Outbind o;
  auto sid = cstring(r, 15, status::invsysid, "system_id longer than 15 or unterminated");
  if (!sid) return fail(sid.error());
  auto pw = cstring(r, 8, status::invpaswd, "password longer than 8 or unterminated");
  if (!pw) return fail(pw.error());
  if (!r.empty()) return fail(Error{status::invcmdlen, "bytes after the outbind body"});
  o.system_id = *sid;
  o.password = *pw;
  return o;
}

Result<AlertNotification, Error> decode_alert_notification(std::span<const std::byte> body) {
  ByteReader r(body);
  AlertNotification a;
  auto src = address(r, 64, status::invsrcadr, "source_addr longer than 64 or unterminated");
  if (!src) return fail(src.error());
  auto esme = address(r, 64, status::invdstadr, "esme_addr longer than 64 or unterminated");
  if (!esme) return fail(esme.error());
  a.source = *src;
  a.esme = *esme;
  if (auto ok = tlvs_only(r, a.tlvs); !ok) return fail(ok.error());
  return a;
}

Result<DataSm, Error> decode_data_sm(std::span<const std::byte> body) {
  ByteReader r(body);
  DataSm d;
  auto service = cstring(r, 5, status::invsertyp, "service_type longer than 5 or unterminated");
  if (!service) return fail(service.error());
  d.service_type = *service;
  auto src = address(r, 64, status::invsrcadr, "source_addr longer than 64 or unterminated");
  if (!src) return fail(src.error());
  auto dst = address(r, 64, status::invdstadr, "destination_addr longer than 64 or unterminated");
  if (!dst) return fail(dst.error());
  d.source = *src;
  d.dest = *dst;
  for (uint8_t* f : {&d.esm_class, &d.registered_delivery, &d.data_coding}) {
    auto v = octet(r, "mandatory field missing");
    if (!v) return fail(v.error());
    *f = *v;
  }
  if (auto ok = tlvs_only(r, d.tlvs); !ok) return fail(ok.error());
  return d;
}

std::optional<Dest> DestReader::next() {
  if (left_ == 0) return std::nullopt;
  ByteReader r(rest_);
  Dest d;
  auto flag = octet(r, "dest_flag missing");
  if (!flag) return std::nullopt;
  d.flag = *flag;
  if (d.flag == 1) {
    auto a = address(r, 20, status::invdstadr, "destination_addr longer than 20");
    if (!a) return std::nullopt;
    d.sme = *a;
  } else if (d.flag == 2) {
    auto l = cstring(r, 20, status::invdstadr, "dl_name longer than 20");
    if (!l) return std::nullopt;
    d.list = *l;
  } else {
    return std::nullopt;
  }
  rest_ = r.rest();
  --left_;
  return d;
}

Result<SubmitMulti, Error> decode_submit_multi(std::span<const std::byte> body) {
  ByteReader r(body);
  SubmitMulti m;
  auto service = cstring(r, 5, status::invsertyp, "service_type longer than 5 or unterminated");
  if (!service) return fail(service.error());
  m.service_type = *service;
  auto src = address(r, 20, status::invsrcadr, "source_addr longer than 20 or unterminated");
  if (!src) return fail(src.error());
  m.source = *src;
  auto n = octet(r, "number_of_dests missing");
  if (!n) return fail(n.error());
  if (*n == 0 || *n > 254) return fail(Error{status::invnumdests, "number_of_dests not 1..254"});
  m.number_of_dests = *n;
  const auto start = ByteReader(r).rest();  // rest() consumes: read it from a copy
  for (uint8_t i = 0; i < *n; ++i) {
    auto flag = octet(r, "dest_flag missing");
    if (!flag) return fail(flag.error());
    if (*flag == 1) {
      auto a = address(r, 20, status::invdstadr, "destination_addr longer than 20");
      if (!a) return fail(a.error());
    } else if (*flag == 2) {
      auto l = cstring(r, 20, status::invdstadr, "dl_name longer than 20");
      if (!l) return fail(l.error());
    } else {
      return fail(Error{status::invdestflag, "dest_flag is neither 1 nor 2"});
    }
  }
  m.dests = start.first(start.size() - ByteReader(r).rest().size());
  // The rest is laid out as submit_sm from esm_class on.
  ShortMessage& sm = m.message;
  sm.service_type = m.service_type;
  sm.source_addr_ton = src->ton;
  sm.source_addr_npi = src->npi;
  sm.source_addr = src->addr;
  if (auto ok = message_tail(r, sm); !ok) return fail(ok.error());
  return m;
}

std::vector<std::byte> encode_submit_multi_resp(uint32_t sequence, std::string_view message_id,
                                                std::span<const Unsuccess> failed) {
  PduWriter w(cmd::submit_multi | cmd::response_bit, status::ok, sequence);
  w.cstring(message_id).u8(static_cast<uint8_t>(std::min<size_t>(failed.size(), 254)));
  for (size_t i = 0; i < failed.size() && i < 254; ++i)
    w.u8(failed[i].sme.ton)
        .u8(failed[i].sme.npi)
        .cstring(failed[i].sme.addr)
        .u32(failed[i].error_status);
  return w.finish();
}

Result<QuerySm, Error> decode_query_sm(std::span<const std::byte> body) {
  ByteReader r(body);
  QuerySm q;
  auto id = cstring(r, 64, status::invmsgid, "message_id longer than 64 or unterminated");
  if (!id) return fail(id.error());
  auto src = address(r, 20, status::invsrcadr, "source_addr longer than 20 or unterminated");
  if (!src) return fail(src.error());
  if (!r.empty()) return fail(Error{status::invcmdlen, "bytes after the query_sm body"});
  q.message_id = *id;
  q.source = *src;
  return q;
}

Result<QuerySmResp, Error> decode_query_sm_resp(std::span<const std::byte> body) {
  QuerySmResp q;
  if (body.empty()) return q;
  ByteReader r(body);
  auto id = cstring(r, 64, status::invmsgid, "message_id longer than 64 or unterminated");
  if (!id) return fail(id.error());
  auto date = smpp_time(r, status::invcmdlen, "final_date is not 16 characters");
  if (!date) return fail(date.error());
  auto st = octet(r, "message_state missing");
  if (!st) return fail(st.error());
  auto err = octet(r, "error_code missing");
  if (!err) return fail(err.error());
  if (!r.empty()) return fail(Error{status::invcmdlen, "bytes after the query_sm_resp body"});
  q.message_id = *id;
  q.final_date = *date;
  q.message_state = *st;
  q.error_code = *err;
  return q;
}

std::vector<std::byte> encode_query_sm_resp(uint32_t st, uint32_t sequence, const QuerySmResp& q) {
  PduWriter w(cmd::query_sm | cmd::response_bit, st, sequence);
  if (st == status::ok)
    w.cstring(q.message_id).cstring(q.final_date).u8(q.message_state).u8(q.error_code);
  return w.finish();
}

Result<CancelSm, Error> decode_cancel_sm(std::span<const std::byte> body) {
  ByteReader r(body);
  CancelSm c;
  auto service = cstring(r, 5, status::invsertyp, "service_type longer than 5 or unterminated");
  if (!service) return fail(service.error());
  auto id = cstring(r, 64, status::invmsgid, "message_id longer than 64 or unterminated");
  if (!id) return fail(id.error());
  auto src = address(r, 20, status::invsrcadr, "source_addr longer than 20 or unterminated");
  if (!src) return fail(src.error());
  auto dst = address(r, 20, status::invdstadr, "destination_addr longer than 20 or unterminated");
  if (!dst) return fail(dst.error());
  if (!r.empty()) return fail(Error{status::invcmdlen, "bytes after the cancel_sm body"});
  c.service_type = *service;
  c.message_id = *id;
  c.source = *src;
  c.dest = *dst;
  return c;
}

Result<ReplaceSm, Error> decode_replace_sm(std::span<const std::byte> body) {
  ByteReader r(body);
  ReplaceSm m;
  auto id = cstring(r, 64, status::invmsgid, "message_id longer than 64 or unterminated");
  if (!id) return fail(id.error());
  auto src = address(r, 20, status::invsrcadr, "source_addr longer than 20 or unterminated");
  if (!src) return fail(src.error());
  auto sched = smpp_time(r, status::invsched, "schedule_delivery_time is not 16 characters");
  if (!sched) return fail(sched.error());
  auto validity = smpp_time(r, status::invexpiry, "validity_period is not 16 characters");
  if (!validity) return fail(validity.error());
  uint8_t sm_length = 0;
  for (uint8_t* f : {&m.registered_delivery, &m.sm_default_msg_id, &sm_length}) {
    auto v = octet(r, "mandatory field missing");
    if (!v) return fail(v.error());
    *f = *v;
  }
  if (sm_length > 254) return fail(Error{status::invmsglen, "sm_length above 254"});
  const auto text = r.bytes(sm_length);
  if (!text) return fail(Error{status::invmsglen, "short_message shorter than sm_length"});
  if (!r.empty()) return fail(Error{status::invcmdlen, "bytes after the replace_sm body"});
  m.message_id = *id;
  m.source = *src;
  m.schedule_delivery_time = *sched;
  m.validity_period = *validity;
  m.short_message = *text;
  return m;
}

PduWriter::PduWriter(uint32_t command_id, uint32_t command_status, uint32_t sequence) {
  out_.reserve(64);
  put_be(out_, 0, 4);  // command_length, patched by finish()
  put_be(out_, command_id, 4);
  put_be(out_, command_status, 4);
  put_be(out_, sequence, 4);
}

PduWriter& PduWriter::u8(uint8_t v) {
  out_.push_back(std::byte{v});
  return *this;
}
PduWriter& PduWriter::u16(uint16_t v) {
  put_be(out_, v, 2);
  return *this;
}
PduWriter& PduWriter::u32(uint32_t v) {
  put_be(out_, v, 4);
  return *this;
}
PduWriter& PduWriter::cstring(std::string_view text) {
  for (char c : text) out_.push_back(static_cast<std::byte>(c));
  out_.push_back(std::byte{0});
  return *this;
}
PduWriter& PduWriter::bytes(std::span<const std::byte> b) {
  out_.insert(out_.end(), b.begin(), b.end());
  return *this;
}
PduWriter& PduWriter::tlv(uint16_t t, std::span<const std::byte> value) {
  put_be(out_, t, 2);
  put_be(out_, value.size(), 2);
  return bytes(value);
}
std::vector<std::byte> PduWriter::finish() {
  const auto n = static_cast<uint32_t>(out_.size());
  for (int i = 0; i < 4; ++i)
    out_[static_cast<size_t>(i)] = static_cast<std::byte>(n >> (24 - 8 * i));
  return std::move(out_);
}

std::vector<std::byte> encode_bind(uint32_t command_id, uint32_t sequence, const Bind& b) {
  return PduWriter(command_id, status::ok, sequence)
      .cstring(b.system_id)
      .cstring(b.password)
      .cstring(b.system_type)
      .u8(b.interface_version)
      .u8(b.addr_ton)
      .u8(b.addr_npi)
      .cstring(b.address_range)
      .finish();
}

std::vector<std::byte> encode_short_message(uint32_t command_id, uint32_t sequence,
                                            const ShortMessage& m) {
  PduWriter w(command_id, status::ok, sequence);
  w.cstring(m.service_type)
      .u8(m.source_addr_ton)
      .u8(m.source_addr_npi)
      .cstring(m.source_addr)
      .u8(m.dest_addr_ton)
      .u8(m.dest_addr_npi)
      .cstring(m.destination_addr)
      .u8(m.esm_class)
      .u8(m.protocol_id)
      .u8(m.priority_flag)
      .cstring(m.schedule_delivery_time)
      .cstring(m.validity_period)
      .u8(m.registered_delivery)
      .u8(m.replace_if_present_flag)
      .u8(m.data_coding)
      .u8(m.sm_default_msg_id)
      .u8(static_cast<uint8_t>(m.short_message.size()))
      .bytes(m.short_message);
  w.bytes(m.tlvs);
  return w.finish();
}

std::vector<std::byte> encode_message_id_resp(uint32_t command_id, uint32_t st, uint32_t sequence,
                                              std::string_view message_id) {
  PduWriter w(command_id, st, sequence);
  if (st == status::ok) w.cstring(message_id);
  return w.finish();
}

std::vector<std::byte> encode_header_only(uint32_t command_id, uint32_t st, uint32_t sequence) {
  return PduWriter(command_id, st, sequence).finish();
}

}  // namespace cp::proto::smpp
