#include "services/smpp/convert.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "proto/sms/text.h"
#include "services/smsc/core.h"
#include "services/smsc/nanp.h"

namespace cp::smpp {

namespace pdu = proto::smpp;
namespace wire = smsc::wire;
using storage::SmRecord;

namespace {

void put_u32(std::byte* p, uint32_t v) {
  p[0] = static_cast<std::byte>(v >> 24);
  p[1] = static_cast<std::byte>(v >> 16);
  p[2] = static_cast<std::byte>(v >> 8);
  p[3] = static_cast<std::byte>(v);
}

// Appends to a fixed buffer; `ok` turns false (and stays) when something did not fit.
struct FixedWriter {
  std::span<std::byte> out;
  size_t at = 0;
  bool ok = true;
  void u8(uint8_t v) {
    if (at + 1 > out.size()) {
      ok = false;
      return;
    }
    out[at++] = static_cast<std::byte>(v);
  }
  void u16(uint16_t v) {
    u8(static_cast<uint8_t>(v >> 8));
    u8(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void raw(std::span<const std::byte> b) {
    if (at + b.size() > out.size()) {
      ok = false;
      return;
    }
    if (!b.empty()) std::memcpy(out.data() + at, b.data(), b.size());
    at += b.size();
  }
  void cstring(std::string_view s) {
    raw(std::as_bytes(std::span(s.data(), s.size())));
    u8(0);
  }
  void tlv(uint16_t tag, std::span<const std::byte> value) {
    u16(tag);
    u16(static_cast<uint16_t>(value.size()));
    raw(value);
  }
  void header(uint32_t command, uint32_t status, uint32_t sequence) {
    u32(0);  // length, patched by finish()
    u32(command);
    u32(status);
    u32(sequence);
  }
  size_t finish() {
    put_u32(out.data(), static_cast<uint32_t>(at));
    return at;
  }
};

pdu::Error bad(uint32_t status, std::string_view what) {
  return pdu::Error{status, what};
}

// The optional parameters we interpret must have their SMPP 3.4 lengths (5.3.2): a wrong one is
// refused with ESME_RINVOPTPARAMVAL rather than ignored (a reference dropped silently would turn
// a retry into a second message).
Result<void, pdu::Error> check_tlv_lengths(std::span<const std::byte> tlvs) {
  struct Known {
    uint16_t tag;
    size_t length;
    std::string_view what;
  };
  static constexpr Known kKnown[] = {
      {pdu::tag::user_message_reference, 2, "user_message_reference is not 2 octets"},
      {pdu::tag::sar_msg_ref_num, 2, "sar_msg_ref_num is not 2 octets"},
      {pdu::tag::sar_total_segments, 1, "sar_total_segments is not 1 octet"},
      {pdu::tag::sar_segment_seqnum, 1, "sar_segment_seqnum is not 1 octet"},
  };
  for (const Known& k : kKnown) {
    if (auto t = pdu::find_tlv(tlvs, k.tag); t && t->value.size() != k.length)
      return fail(bad(pdu::status::invoptparamval, k.what));
  }
  return {};
}

std::optional<uint16_t> tlv_u16(std::span<const std::byte> tlvs, uint16_t tag) {
  auto t = pdu::find_tlv(tlvs, tag);
  if (!t || t->value.size() != 2) return std::nullopt;
  return static_cast<uint16_t>((static_cast<unsigned>(t->value[0]) << 8) |
                               static_cast<unsigned>(t->value[1]));
}

std::string address_text(const storage::Address& a) {
  if (a.ton != 5) return storage::digits(a);
  const size_t n = std::min<size_t>(a.length, sizeof a.packed);
  const auto septets =
      sms::unpack_septets(std::as_bytes(std::span(a.packed, n)),
                          sms::count_packed_septets(std::as_bytes(std::span(a.packed, n))));
  return sms::gsm7_to_utf8(septets);
}

pdu::MessageState state_of(uint8_t disposition) {
  switch (static_cast<storage::Disposition>(disposition)) {
    case storage::Disposition::delivered:
    case storage::Disposition::stored_only:
      return pdu::MessageState::delivered;
    case storage::Disposition::failed_permanently:
      return pdu::MessageState::undeliverable;
    case storage::Disposition::expired:
      return pdu::MessageState::expired;
    case storage::Disposition::cancelled:
      return pdu::MessageState::deleted;
    default:
      return pdu::MessageState::unknown;
  }
}

}  // namespace

// An SMPP address into a record's: digits (a leading '+' dropped), or for TON 5 an alphanumeric
// originator kept as packed GSM 7-bit.
bool set_address(storage::Address& a, std::string_view text, uint8_t ton, uint8_t npi) {
  if (ton == 5) {
    auto septets = sms::utf8_to_gsm7(text);
    if (!septets || septets->empty() || septets->size() > 11) return false;
    const auto packed = sms::pack_septets(*septets);
    if (packed.size() > sizeof a.packed) return false;
    a = storage::Address{};
    a.ton = ton;
    a.npi = npi;
    a.length = static_cast<uint8_t>(packed.size());
    std::memcpy(a.packed, packed.data(), packed.size());
    return true;
  }
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  return storage::set_digits(a, text, ton, npi);
}

size_t format_message_id(uint64_t id, std::span<char, 17> out) {
  static constexpr char kHex[] = "0123456789abcdef";
  char tmp[16];
  size_t n = 0;
  do {
    tmp[n++] = kHex[id & 0xF];
    id >>= 4;
  } while (id != 0);
  for (size_t i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
  out[n] = '\0';
  return n;
}

std::optional<uint64_t> parse_message_id(std::string_view text) {
  if (text.empty() || text.size() > 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    unsigned d;
    if (c >= '0' && c <= '9')
      d = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f')
      d = static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      d = static_cast<unsigned>(c - 'A' + 10);
    else
      return std::nullopt;
    v = (v << 4) | d;
  }
  return v;
}

std::string host_of(const SocketAddress& address) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (address.family() == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address.sa())->sin_addr, buf,
              sizeof buf);
  else if (address.family() == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address.sa())->sin6_addr, buf,
              sizeof buf);
  else
    return address.to_string();
  return buf;
}

std::span<const std::byte> encode_header_into(std::span<std::byte, pdu::kHeaderBytes> buf,
                                              uint32_t command, uint32_t status,
                                              uint32_t sequence) {
  FixedWriter w{buf};
  w.header(command, status, sequence);
  return buf.first(w.finish());
}

std::span<const std::byte> encode_id_resp_into(std::span<std::byte, 48> buf, uint32_t command,
                                               uint32_t status, uint32_t sequence,
                                               uint64_t message_id) {
  FixedWriter w{buf};
  w.header(command, status, sequence);
  if (status == pdu::status::ok) {
    char id[17];
    const size_t n = format_message_id(message_id, id);
    w.cstring({id, n});
  }
  return std::span<const std::byte>(buf).first(w.finish());
}

std::span<const std::byte> encode_empty_id_resp_into(std::span<std::byte, 48> buf, uint32_t command,
                                                     uint32_t status, uint32_t sequence) {
  FixedWriter w{buf};
  w.header(command, status, sequence);
  if (status == pdu::status::ok) w.u8(0);
  return std::span<const std::byte>(buf).first(w.finish());
}

std::span<const std::byte> encode_bind_resp_into(std::span<std::byte, 48> buf, uint32_t command,
                                                 uint32_t status, uint32_t sequence,
                                                 std::string_view system_id,
                                                 bool interface_version_tlv) {
  FixedWriter w{buf};
  w.header(command, status, sequence);
  if (status == pdu::status::ok) {
    w.cstring(system_id.substr(0, 15));
    const std::byte version[1] = {std::byte{0x34}};
    if (interface_version_tlv) w.tlv(pdu::tag::sc_interface_version, version);
  }
  return std::span<const std::byte>(buf).first(w.finish());
}

uint32_t smpp_status_of(wire::Status status) {
  using S = wire::Status;
  switch (status) {
    case S::ok:
    case S::duplicate:
      return pdu::status::ok;
    case S::bad_address:
    case S::invalid_nanp:
    case S::unroutable:
    case S::cannot_receive:
      return pdu::status::invdstadr;
    case S::no_upstream_permission:
      return pdu::status::invsrcadr;
    case S::bad_user_data:
      return pdu::status::invmsglen;
    case S::pid_refused:
    case S::dcs_refused:
      return pdu::status::submitfail;
    case S::store_full:
      return pdu::status::msgqful;
    case S::busy:
    case S::temporary_failure:
    case S::part_missing:
      return pdu::status::throttled;
    default:
      return pdu::status::syserr;
  }
}

uint16_t retry_stable_ref(uint16_t umr, std::string_view source, std::string_view destination) {
  // FNV-1a over the reference and both addresses, folded to 16 bits.
  uint32_t h = 2166136261u;
  auto mix = [&](uint8_t b) { h = (h ^ b) * 16777619u; };
  mix(static_cast<uint8_t>(umr >> 8));
  mix(static_cast<uint8_t>(umr));
  for (char c : source) mix(static_cast<uint8_t>(c));
  mix(0);
  for (char c : destination) mix(static_cast<uint8_t>(c));
  const auto ref = static_cast<uint16_t>(h ^ (h >> 16));
  return ref != 0 ? ref : 1;
}

Result<InboundSubmits, pdu::Error> to_submits(const pdu::ShortMessage& m,
                                              const InboundPolicy& policy, const smsc::Numdb* numdb,
                                              int64_t now_s, uint16_t concat_ref,
                                              std::span<pdu::SmsSegment> segments) {
  InboundSubmits in;
  SmRecord& r = in.base.record;
  if (auto ok = check_tlv_lengths(m.tlvs); !ok) return fail(ok.error());
  // esm_class: bits 5..2 are the message type; an ESME submits ordinary messages only.
  if ((m.esm_class & 0x3C) != 0)
    return fail(bad(pdu::status::invesmclass, "esm_class message type"));
  if (!m.schedule_delivery_time.empty())
    return fail(bad(pdu::status::invsched, "scheduled delivery is not offered"));
  if (!set_address(r.src, m.source_addr, m.source_addr_ton, m.source_addr_npi))
    return fail(bad(pdu::status::invsrcadr, "source_addr"));
  if (!set_address(r.dst_written, m.destination_addr, m.dest_addr_ton, m.dest_addr_npi) ||
      m.dest_addr_ton == 5)
    return fail(bad(pdu::status::invdstadr, "destination_addr"));
  if (policy.check_source_owner) {
    // A peer may send only from its own numbers (its blocks in the peers file).
    if (!numdb || !policy.src_peer || r.src.ton == 5)
      return fail(bad(pdu::status::invsrcadr, "not one of the peer's numbers"));
    std::string_view digits = m.source_addr;
    if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
    const auto ten = smsc::nanp_ten_digits(digits);
    if (!ten || numdb->peer_of(*ten) != policy.src_peer)
      return fail(bad(pdu::status::invsrcadr, "not one of the peer's numbers"));
  }
  r.src_class = static_cast<uint8_t>(policy.src_class);
  r.src_peer = policy.src_peer.value_or(0);
  r.pid = m.protocol_id;
  if ((m.registered_delivery & 0x03) == 1 || (m.registered_delivery & 0x03) == 2)
    r.flags |= SmRecord::kFlagStatusReport;
  if (auto ref = tlv_u16(m.tlvs, pdu::tag::user_message_reference)) r.message_ref = *ref;
  if (auto v = pdu::parse_time(m.validity_period, now_s, pdu::status::invexpiry); !v) {
    return fail(v.error());
  } else if (*v) {
    if (**v <= now_s) return fail(bad(pdu::status::invexpiry, "validity_period in the past"));
    in.base.validity_s = static_cast<uint32_t>(std::min<int64_t>(**v - now_s, UINT32_MAX));
  }
  in.base.flags = policy.untrusted ? wire::kSubmitUntrusted : 0;
  // The text: short_message, or message_payload (decode_short_message refused both at once).
  std::span<const std::byte> payload = m.short_message;
  if (auto p = pdu::find_tlv(m.tlvs, pdu::tag::message_payload)) payload = p->value;
  std::optional<pdu::Sar> sar;
  const auto ref = tlv_u16(m.tlvs, pdu::tag::sar_msg_ref_num);
  const auto total = pdu::find_tlv(m.tlvs, pdu::tag::sar_total_segments);
  const auto seq = pdu::find_tlv(m.tlvs, pdu::tag::sar_segment_seqnum);
  if (ref || total || seq) {
    if (!ref || !total || !seq || total->value.size() != 1 || seq->value.size() != 1)
      return fail(bad(pdu::status::missingoptparam, "sar_* parameters incomplete"));
    sar =
        pdu::Sar{*ref, static_cast<uint8_t>(total->value[0]), static_cast<uint8_t>(seq->value[0])};
  }
  pdu::ToSmsOptions opt;
  opt.dc0 = policy.dc0;
  opt.concat_ref = concat_ref;
  // With a user_message_reference the submitter can retry: the same message must split into
  // the same parts (the same concatenation reference) so the core knows the retry for one
  // (duplicate detection compares the user data).
  if (auto umr = tlv_u16(m.tlvs, pdu::tag::user_message_reference))
    opt.concat_ref = retry_stable_ref(*umr, m.source_addr, m.destination_addr);
  auto n = pdu::to_sms(m.data_coding, (m.esm_class & 0x40) != 0, payload, sar, opt, segments);
  if (!n) return fail(n.error());
  if (*n == 0) return fail(bad(pdu::status::invmsglen, "no segments"));
  in.count = *n;
  return in;
}

void fill_segment(SmRecord& r, const pdu::SmsSegment& s) {
  r.dcs = s.dcs;
  r.ud_length = s.ud_length;
  if (s.udhi)
    r.flags |= SmRecord::kFlagUdhi;
  else
    r.flags &= static_cast<uint8_t>(~SmRecord::kFlagUdhi);
  std::memset(r.user_data, 0, sizeof r.user_data);
  std::memcpy(r.user_data, s.ud.data(), std::min<size_t>(s.ud_bytes, sizeof r.user_data));
}

Result<bool, pdu::Error> build_deliver(const SmRecord& record, const OutboundOptions& options,
                                       uint32_t sequence, uint32_t command, OutPdu& out) {
  FixedWriter w{out.buf};
  w.header(command, 0, sequence);
  w.cstring("");  // service_type
  const std::string src = address_text(record.src);
  const std::string dst = address_text(record.dst_routed);
  w.u8(record.src.ton);
  w.u8(record.src.npi);
  w.cstring(src);
  w.u8(record.dst_routed.ton);
  w.u8(record.dst_routed.npi);
  w.cstring(dst);
  const bool receipt = (record.flags & SmRecord::kFlagReport) != 0;
  if (receipt) {
    if (record.ud_length < sizeof(smsc::StatusReport))
      return fail(bad(pdu::status::syserr, "a status report shorter than its layout"));
    smsc::StatusReport rep;
    std::memcpy(&rep, record.user_data, sizeof rep);
    char id[17];
    const size_t id_len = format_message_id(rep.message_id, id);
    pdu::Receipt rc;
    rc.id = std::string_view(id, id_len);
    rc.sub = 1;
    rc.state = state_of(rep.disposition);
    rc.dlvrd = rc.state == pdu::MessageState::delivered ? 1 : 0;
    rc.submit_s = rep.submitted_ns / kNanosPerSecond;
    rc.done_s = rep.done_ns / kNanosPerSecond;
    rc.err = rep.extra_info % 1000;
    char text[256];
    const size_t text_len = pdu::format_receipt(rc, text);
    w.u8(0x04);  // esm_class: SMSC delivery receipt
    w.u8(0);     // protocol_id
    w.u8(0);     // priority_flag
    w.cstring("");
    w.cstring("");
    w.u8(0);  // registered_delivery
    w.u8(0);  // replace_if_present_flag
    w.u8(1);  // data_coding: IA5 (the receipt text is ASCII)
    w.u8(0);  // sm_default_msg_id
    w.u8(static_cast<uint8_t>(text_len));
    w.raw(std::as_bytes(std::span(text, text_len)));
    w.tlv(pdu::tag::receipted_message_id, std::as_bytes(std::span(id, id_len + 1)));
    const std::byte state[1] = {static_cast<std::byte>(rc.state)};
    w.tlv(pdu::tag::message_state, state);
  } else {
    pdu::SmsSegment seg;
    seg.dcs = record.dcs;
    seg.udhi = (record.flags & SmRecord::kFlagUdhi) != 0;
    seg.ud_length = record.ud_length;
    const bool septets = sms::classify_dcs(record.dcs).alphabet == sms::Alphabet::gsm7 &&
                         !sms::classify_dcs(record.dcs).compressed;
    seg.ud_bytes = static_cast<uint8_t>(
        std::min<size_t>(septets ? (size_t{record.ud_length} * 7 + 7) / 8 : record.ud_length,
                         storage::kUserDataBytesMax));
    std::memcpy(seg.ud.data(), record.user_data, storage::kUserDataBytesMax);
    auto text = pdu::to_smpp(seg, options.dc0);
    if (!text) return fail(text.error());
    // sar_* instead of the UDH, for a peer that wants them and a UDH that is only the
    // concatenation element.
    std::optional<pdu::Sar> sar;
    size_t skip = 0;
    if (options.sar && text->esm_udhi) {
      if (auto udh = sms::parse_udh(std::span(text->bytes.data(), text->length));
          udh && udh->concat_ref && udh->elements.size() == 1) {
        sar = pdu::Sar{*udh->concat_ref, udh->concat_total, udh->concat_seq};
        skip = udh->length;
      }
    }
    w.u8(text->esm_udhi && !sar ? 0x40 : 0x00);
    w.u8(record.pid);
    w.u8(0);
    w.cstring("");
    w.cstring("");
    w.u8((record.flags & SmRecord::kFlagStatusReport) ? 1 : 0);
    w.u8(0);
    w.u8(text->data_coding);
    w.u8(0);
    const auto bytes = std::span<const std::byte>(text->bytes.data(), text->length).subspan(skip);
    if (bytes.size() <= 254) {
      w.u8(static_cast<uint8_t>(bytes.size()));
      w.raw(bytes);
    } else {
      w.u8(0);  // too long for short_message (UCS-2 for a GSM segment): message_payload
      w.tlv(pdu::tag::message_payload, bytes);
    }
    if (sar) {
      const std::byte ref[2] = {static_cast<std::byte>(sar->ref >> 8),
                                static_cast<std::byte>(sar->ref)};
      const std::byte total[1] = {static_cast<std::byte>(sar->total)};
      const std::byte seq[1] = {static_cast<std::byte>(sar->seq)};
      w.tlv(pdu::tag::sar_msg_ref_num, ref);
      w.tlv(pdu::tag::sar_total_segments, total);
      w.tlv(pdu::tag::sar_segment_seqnum, seq);
    }
    if (record.message_ref != 0) {
      const std::byte ref[2] = {static_cast<std::byte>(record.message_ref >> 8),
                                static_cast<std::byte>(record.message_ref)};
      w.tlv(pdu::tag::user_message_reference, ref);
    }
  }
  if (!w.ok) return fail(bad(pdu::status::syserr, "the PDU does not fit its buffer"));
  out.length = w.finish();
  return receipt;
}

}  // namespace cp::smpp
