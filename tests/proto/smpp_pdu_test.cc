// The SMPP 3.4 PDU codec (proto/smpp/pdu.h): bytes laid out by hand from the specification
// decode as expected, our encoder produces the same bytes, every truncation and every overlong
// C-octet string maps to its command_status, and no byte flip crashes the decoder.
#include <gtest/gtest.h>

#include <cstring>

#include "proto/smpp/pdu.h"
#include "tests/support/bytes.h"

namespace cp::proto::smpp {
namespace {

using test::bytes_of;
std::vector<std::byte> text(std::string_view s) {
  std::vector<std::byte> out;
  for (char c : s) out.push_back(static_cast<std::byte>(c));
  return out;
}

// bind_transceiver, sequence 1: system_id "demo", password "demo", system_type "", version 0x50
// (npm smpp's default), ton 0, npi 0, address_range "".
const std::vector<std::byte> kBind = bytes_of({0x00, 0x00, 0x00, 0x1F,  // command_length 31
                                               0x00, 0x00, 0x00, 0x09,  // bind_transceiver
                                               0x00, 0x00, 0x00, 0x00,  // command_status
                                               0x00, 0x00, 0x00, 0x01,  // sequence_number
                                               'd',  'e',  'm',  'o',  0x00, 'd',  'e', 'm',
                                               'o',  0x00, 0x00, 0x50, 0x00, 0x00, 0x00});

TEST(SmppPdu, BindLaidOutByHand) {
  auto len = frame_length(kBind);
  ASSERT_TRUE(len);
  ASSERT_EQ(len->value_or(0), kBind.size());
  auto h = decode_header(kBind);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->command_id, cmd::bind_transceiver);
  EXPECT_EQ(h->sequence, 1u);
  EXPECT_FALSE(h->response());
  auto b = decode_bind(std::span(kBind).subspan(kHeaderBytes));
  ASSERT_TRUE(b) << b.error().what;
  EXPECT_EQ(b->system_id, "demo");
  EXPECT_EQ(b->password, "demo");
  EXPECT_EQ(b->system_type, "");
  EXPECT_EQ(b->interface_version, 0x50);
  EXPECT_EQ(encode_bind(cmd::bind_transceiver, 1, *b), kBind);
}

TEST(SmppPdu, SubmitSmWithTlvsRoundTrips) {
  const auto payload = text("a long text carried in message_payload");
  const auto ref = bytes_of({0x12, 0x34});
  const auto unknown = bytes_of({0xAB});
  ShortMessage m;
  m.source_addr_ton = 1;
  m.source_addr_npi = 1;
  m.source_addr = "12125550100";
  m.destination_addr = "447700900123";
  m.dest_addr_ton = 1;
  m.registered_delivery = 1;
  m.data_coding = 0x08;
  m.validity_period = "000001000000000R";
  std::vector<std::byte> section;
  append_tlv(section, tag::message_payload, payload);
  append_tlv(section, tag::sar_msg_ref_num, ref);
  append_tlv(section, 0x1401, unknown);
  m.tlvs = section;
  const auto pdu = encode_short_message(cmd::submit_sm, 7, m);
  auto h = decode_header(pdu);
  ASSERT_TRUE(h);
  auto d = decode_short_message(std::span(pdu).subspan(kHeaderBytes));
  ASSERT_TRUE(d) << d.error().what;
  EXPECT_EQ(d->source_addr, "12125550100");
  EXPECT_EQ(d->destination_addr, "447700900123");
  EXPECT_EQ(d->validity_period, "000001000000000R");
  EXPECT_EQ(d->data_coding, 0x08);
  std::vector<uint16_t> tags;
  TlvReader reader(d->tlvs);
  while (auto x = reader.next()) tags.push_back(x->tag);
  EXPECT_EQ(tags, (std::vector<uint16_t>{tag::message_payload, tag::sar_msg_ref_num, 0x1401}));
  const auto p = find_tlv(d->tlvs, tag::message_payload);  // the unknown one is kept too
  ASSERT_TRUE(p);
  EXPECT_EQ(std::vector<std::byte>(p->value.begin(), p->value.end()), payload);
  EXPECT_EQ(encode_short_message(cmd::submit_sm, 7, *d), pdu);
}

TEST(SmppPdu, EveryTruncationAndOverlongFieldHasItsStatus) {
  ShortMessage m;
  m.source_addr = "2125550100";
  m.destination_addr = "4155550100";
  const auto sm = text("hello");
  m.short_message = sm;
  const auto pdu = encode_short_message(cmd::submit_sm, 1, m);
  const auto body = std::span(pdu).subspan(kHeaderBytes);
  for (size_t cut = 0; cut < body.size(); ++cut) {
    auto d = decode_short_message(body.first(cut));
    EXPECT_FALSE(d) << "cut at " << cut;
  }
  for (size_t cut = 0; cut < pdu.size(); ++cut) {
    std::vector<std::byte> c(pdu.begin(), pdu.begin() + static_cast<long>(cut));
    EXPECT_FALSE(decode_header(c) && cut >= kHeaderBytes && decode_header(c)->length == cut);
  }
  // Overlong C-octet strings: their own statuses.
  // The status a body is refused with (0: accepted).
  auto sm_status = [](const std::vector<std::byte>& p) {
    auto r = decode_short_message(std::span(p).subspan(kHeaderBytes));
    return r ? status::ok : r.error().status;
  };
  ShortMessage bad = m;
  bad.source_addr = "123456789012345678901";  // 21 digits
  EXPECT_EQ(sm_status(encode_short_message(cmd::submit_sm, 1, bad)), status::invsrcadr);
  bad = m;
  bad.destination_addr = "123456789012345678901";
  EXPECT_EQ(sm_status(encode_short_message(cmd::submit_sm, 1, bad)), status::invdstadr);
  bad = m;
  bad.validity_period = "123";
  EXPECT_EQ(sm_status(encode_short_message(cmd::submit_sm, 1, bad)), status::invexpiry);
  bad = m;
  bad.service_type = "toolong";
  EXPECT_EQ(sm_status(encode_short_message(cmd::submit_sm, 1, bad)), status::invsertyp);
  const Bind b{"sixteen_chars_id", "pw", "", 0x34, 0, 0, ""};
  const auto bind_pdu = encode_bind(cmd::bind_transmitter, 1, b);
  auto bd = decode_bind(std::span(bind_pdu).subspan(kHeaderBytes));
  ASSERT_FALSE(bd);
  EXPECT_EQ(bd.error().status, status::invsysid);
  // command_length bounds.
  auto tiny = bytes_of({0, 0, 0, 8});
  ASSERT_FALSE(frame_length(tiny));
  EXPECT_EQ(frame_length(tiny).error().status, status::invcmdlen);
  auto huge = bytes_of({0x7F, 0, 0, 0});
  EXPECT_FALSE(frame_length(huge));
  EXPECT_TRUE(frame_length(bytes_of({0, 0})));  // not enough yet: no error, no length
  // A TLV cut short.
  ShortMessage t = m;
  const auto v = text("xyz");
  std::vector<std::byte> one;
  append_tlv(one, tag::user_message_reference, v);
  t.tlvs = one;
  auto tp = encode_short_message(cmd::submit_sm, 1, t);
  tp.pop_back();
  EXPECT_EQ(sm_status(tp), status::invparlen);
  tp.resize(tp.size() - 3);  // half a TLV header
  EXPECT_EQ(sm_status(tp), status::invoptparstream);
  // message_payload beside a short_message.
  std::vector<std::byte> payload_tlv;
  append_tlv(payload_tlv, tag::message_payload, v);
  t.tlvs = payload_tlv;
  EXPECT_EQ(sm_status(encode_short_message(cmd::submit_sm, 1, t)), status::invoptparamval);
}

TEST(SmppPdu, ByteFlipsNeverCrash) {
  ShortMessage m;
  m.source_addr = "2125550100";
  m.destination_addr = "4155550100";
  const auto sm = text("hello");
  m.short_message = sm;
  const auto v = text("ab");
  std::vector<std::byte> sar;
  append_tlv(sar, tag::sar_total_segments, v);
  m.tlvs = sar;
  for (const auto& pdu : {encode_short_message(cmd::deliver_sm, 3, m), kBind,
                          encode_message_id_resp(cmd::submit_sm | cmd::response_bit, 0, 3, "42")}) {
    for (size_t i = 0; i < pdu.size(); ++i)
      for (int bit = 0; bit < 8; ++bit) {
        auto c = pdu;
        c[i] ^= static_cast<std::byte>(1 << bit);
        // Each decoder refuses with a status to answer, or gives back exactly what it read.
        const auto body = std::span(c).subspan(kHeaderBytes);
        auto h = decode_header(c);
        if (!h) {
          EXPECT_NE(h.error().status, status::ok);
          continue;
        }
        const auto same = [&](const std::vector<std::byte>& again) {
          return std::equal(body.begin(), body.end(), again.begin() + kHeaderBytes, again.end());
        };
        if (auto b = decode_bind(body))
          EXPECT_TRUE(same(encode_bind(h->command_id, h->sequence, *b))) << i << "/" << bit;
        else
          EXPECT_NE(b.error().status, status::ok);
        if (auto short_msg = decode_short_message(body))
          EXPECT_TRUE(same(encode_short_message(h->command_id, h->sequence, *short_msg)))
              << i << "/" << bit;
        else
          EXPECT_NE(short_msg.error().status, status::ok);
        if (auto id = decode_message_id_resp(body))
          // (re-encoded as ok: an error response goes out without its body)
          EXPECT_TRUE(same(encode_message_id_resp(h->command_id, status::ok, h->sequence, *id)))
              << i << "/" << bit;
        else
          EXPECT_NE(id.error().status, status::ok);
      }
  }
}

TEST(SmppPdu, ResponsesAndHeaderOnlyPdus) {
  const auto resp = encode_message_id_resp(cmd::submit_sm | cmd::response_bit, 0, 9, "abc");
  auto h = decode_header(resp);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->response());
  EXPECT_EQ(decode_message_id_resp(std::span(resp).subspan(kHeaderBytes)).value_or(""), "abc");
  const auto err =
      encode_message_id_resp(cmd::submit_sm | cmd::response_bit, status::throttled, 10, "ignored");
  EXPECT_EQ(err.size(), kHeaderBytes);  // an error response has no body
  EXPECT_EQ(decode_header(err)->command_status, status::throttled);
  const auto nack = encode_header_only(cmd::generic_nack, status::invcmdid, 11);
  EXPECT_EQ(nack, bytes_of({0, 0, 0, 16, 0x80, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 11}));
}

}  // namespace
}  // namespace cp::proto::smpp
