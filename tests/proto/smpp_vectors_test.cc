// PDUs produced by independent software: npm `smpp` 0.5.1's own encoder
// (tests/peers/smpp/capture-vectors.js, run 2026-11-24 on this machine). Each decodes to the
// fields it was built with, our encoder reproduces the canonical ones byte for byte, every
// truncation is refused, no byte flip crashes a decoder, and the vectors as one TCP stream
// split at every offset reassemble to the same PDUs.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proto/smpp/coding.h"
#include "proto/smpp/pdu.h"
#include "proto/sms/text.h"

namespace cp::proto::smpp {
namespace {

std::vector<std::byte> bytes_of(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}
std::string str(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}
std::span<const std::byte> body(const std::vector<std::byte>& pdu) {
  return std::span(pdu).subspan(kHeaderBytes);
}

// Captured bytes (names: the script's labels).
const std::vector<std::byte> k_bind_transceiver = bytes_of(
    {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
     0x64, 0x65, 0x6d, 0x6f, 0x00, 0x64, 0x65, 0x6d, 0x6f, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00});
const std::vector<std::byte> k_bind_transceiver_resp = bytes_of(
    {0x00, 0x00, 0x00, 0x1d, 0x80, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x01, 0x6e, 0x70, 0x6d, 0x2d, 0x75, 0x70, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x00});
const std::vector<std::byte> k_submit_sm =
    bytes_of({0x00, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
              0x00, 0x02, 0x00, 0x01, 0x01, 0x31, 0x32, 0x31, 0x32, 0x36, 0x36, 0x36, 0x30, 0x30,
              0x30, 0x31, 0x00, 0x01, 0x01, 0x31, 0x32, 0x31, 0x32, 0x36, 0x36, 0x36, 0x30, 0x30,
              0x30, 0x32, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x13, 0x68,
              0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x66, 0x72, 0x6f, 0x6d, 0x20, 0x6e, 0x70, 0x6d, 0x20,
              0x73, 0x6d, 0x70, 0x70, 0x02, 0x04, 0x00, 0x02, 0x12, 0x34});
const std::vector<std::byte> k_submit_sm_payload = bytes_of(
    {0x00, 0x00, 0x00, 0x71, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x03, 0x00, 0x00, 0x00, 0x31, 0x32, 0x31, 0x32, 0x36, 0x36, 0x36, 0x30, 0x30, 0x30, 0x31,
     0x00, 0x00, 0x00, 0x31, 0x32, 0x31, 0x32, 0x36, 0x36, 0x36, 0x30, 0x30, 0x30, 0x32, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x04, 0x24, 0x00, 0x26, 0x61,
     0x20, 0x6c, 0x6f, 0x6e, 0x67, 0x20, 0x74, 0x65, 0x78, 0x74, 0x20, 0x63, 0x61, 0x72, 0x72,
     0x69, 0x65, 0x64, 0x20, 0x69, 0x6e, 0x20, 0x6d, 0x65, 0x73, 0x73, 0x61, 0x67, 0x65, 0x11,
     0x70, 0x61, 0x79, 0x6c, 0x6f, 0x61, 0x64, 0x02, 0x0c, 0x00, 0x02, 0x01, 0x2c, 0x02, 0x0e,
     0x00, 0x01, 0x02, 0x02, 0x0f, 0x00, 0x01, 0x01});
const std::vector<std::byte> k_submit_sm_ucs2 =
    bytes_of({0x00, 0x00, 0x00, 0x43, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
              0x00, 0x04, 0x00, 0x00, 0x00, 0x31, 0x32, 0x31, 0x32, 0x36, 0x36, 0x36, 0x30, 0x30,
              0x30, 0x31, 0x00, 0x00, 0x00, 0x31, 0x32, 0x31, 0x32, 0x36, 0x36, 0x36, 0x30, 0x30,
              0x30, 0x32, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0c, 0x04,
              0x1f, 0x04, 0x40, 0x04, 0x38, 0x04, 0x32, 0x04, 0x35, 0x04, 0x42});
const std::vector<std::byte> k_submit_sm_resp =
    bytes_of({0x00, 0x00, 0x00, 0x21, 0x80, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x00, 0x02, 0x31, 0x30, 0x30, 0x30, 0x30, 0x30,
              0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x32, 0x61, 0x00});
const std::vector<std::byte> k_deliver_sm_receipt = bytes_of(
    {0x00, 0x00, 0x00, 0xa5, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x05, 0x00, 0x00, 0x00, 0x31, 0x32, 0x31, 0x32, 0x36, 0x36, 0x36, 0x30, 0x30, 0x30, 0x32,
     0x00, 0x00, 0x00, 0x31, 0x32, 0x31, 0x32, 0x36, 0x36, 0x36, 0x30, 0x30, 0x30, 0x31, 0x00,
     0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x60, 0x69, 0x64, 0x3a, 0x37, 0x30,
     0x30, 0x30, 0x20, 0x73, 0x75, 0x62, 0x3a, 0x30, 0x30, 0x31, 0x20, 0x64, 0x6c, 0x76, 0x72,
     0x64, 0x3a, 0x30, 0x30, 0x31, 0x20, 0x73, 0x75, 0x62, 0x6d, 0x69, 0x74, 0x20, 0x64, 0x61,
     0x74, 0x65, 0x3a, 0x32, 0x36, 0x31, 0x31, 0x32, 0x33, 0x31, 0x32, 0x30, 0x30, 0x20, 0x64,
     0x6f, 0x6e, 0x65, 0x20, 0x64, 0x61, 0x74, 0x65, 0x3a, 0x32, 0x36, 0x31, 0x31, 0x32, 0x33,
     0x31, 0x32, 0x30, 0x31, 0x20, 0x73, 0x74, 0x61, 0x74, 0x3a, 0x44, 0x45, 0x4c, 0x49, 0x56,
     0x52, 0x44, 0x20, 0x65, 0x72, 0x72, 0x3a, 0x30, 0x30, 0x30, 0x20, 0x74, 0x65, 0x78, 0x74,
     0x3a, 0x00, 0x1e, 0x00, 0x05, 0x37, 0x30, 0x30, 0x30, 0x00, 0x04, 0x27, 0x00, 0x01, 0x02});
const std::vector<std::byte> k_deliver_sm_resp =
    bytes_of({0x00, 0x00, 0x00, 0x11, 0x80, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
              0x00, 0x05, 0x00});
const std::vector<std::byte> k_enquire_link =
    bytes_of({0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
              0x00, 0x06});
const std::vector<std::byte> k_unbind = bytes_of({0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x06,
                                                  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07});
const std::vector<std::byte> k_generic_nack =
    bytes_of({0x00, 0x00, 0x00, 0x10, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00,
              0x00, 0x08});

const std::vector<const std::vector<std::byte>*> kAll = {
    &k_bind_transceiver,   &k_bind_transceiver_resp,
    &k_submit_sm,          &k_submit_sm_payload,
    &k_submit_sm_ucs2,     &k_submit_sm_resp,
    &k_deliver_sm_receipt, &k_deliver_sm_resp,
    &k_enquire_link,       &k_unbind,
    &k_generic_nack};

TEST(SmppVectors, BindTransceiver) {
  // npm smpp binds with interface_version 0x50 (SMPP 5.0).
  auto h = decode_header(k_bind_transceiver);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->command_id, cmd::bind_transceiver);
  auto b = decode_bind(body(k_bind_transceiver));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->system_id, "demo");
  EXPECT_EQ(b->password, "demo");
  EXPECT_EQ(b->interface_version, 0x50);
  EXPECT_EQ(encode_bind(cmd::bind_transceiver, 1, *b), k_bind_transceiver);
}

TEST(SmppVectors, SubmitSmWithUserMessageReference) {
  auto m = decode_short_message(body(k_submit_sm));
  ASSERT_TRUE(m) << m.error().what;
  EXPECT_EQ(m->source_addr_ton, 1);
  EXPECT_EQ(m->source_addr, "12126660001");
  EXPECT_EQ(m->destination_addr, "12126660002");
  EXPECT_EQ(m->registered_delivery, 1);
  EXPECT_EQ(m->data_coding, 1);  // npm's "ASCII"
  EXPECT_EQ(str(m->short_message), "hello from npm smpp");
  auto ref = find_tlv(m->tlvs, tag::user_message_reference);
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->value.size(), 2u);
  EXPECT_EQ(encode_short_message(cmd::submit_sm, 2, *m), k_submit_sm);
}

TEST(SmppVectors, MessagePayloadAndSarAreGsmSeptetsLabelledIa5) {
  auto m = decode_short_message(body(k_submit_sm_payload));
  ASSERT_TRUE(m) << m.error().what;
  EXPECT_TRUE(m->short_message.empty());
  auto payload = find_tlv(m->tlvs, tag::message_payload);
  ASSERT_TRUE(payload);
  // '_' is 0x11 on the wire: npm smpp's data_coding 1 carries GSM 03.38 septets.
  EXPECT_EQ(static_cast<int>(payload->value[30]), 0x11);
  std::vector<SmsSegment> segs(4);
  const auto ref = find_tlv(m->tlvs, tag::sar_msg_ref_num);
  ASSERT_TRUE(ref);
  EXPECT_EQ(static_cast<int>(ref->value[0]) << 8 | static_cast<int>(ref->value[1]), 300);
  auto n = to_sms(m->data_coding, false, payload->value, Sar{300, 2, 1}, {}, segs);
  ASSERT_TRUE(n);
  ASSERT_EQ(*n, 1u);
  auto d = sms::decode_user_data(segs[0].dcs, segs[0].udhi, segs[0].ud_length,
                                 std::span(segs[0].ud.data(), segs[0].ud_bytes));
  EXPECT_EQ(d.text, "a long text carried in message_payload");
  ASSERT_TRUE(d.udh);
  EXPECT_EQ(*d.udh->concat_ref, 300);
  EXPECT_EQ(encode_short_message(cmd::submit_sm, 3, *m), k_submit_sm_payload);
}

TEST(SmppVectors, Ucs2Text) {
  auto m = decode_short_message(body(k_submit_sm_ucs2));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->data_coding, 8);
  std::vector<SmsSegment> segs(1);
  auto n = to_sms(m->data_coding, false, m->short_message, std::nullopt, {}, segs);
  ASSERT_TRUE(n);
  auto d = sms::decode_user_data(segs[0].dcs, false, segs[0].ud_length,
                                 std::span(segs[0].ud.data(), segs[0].ud_bytes));
  EXPECT_EQ(d.text, "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82");  // Привет
}

TEST(SmppVectors, ResponsesAndHeaderOnly) {
  auto id = decode_message_id_resp(body(k_submit_sm_resp));
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, "100000000000002a");
  EXPECT_EQ(encode_message_id_resp(cmd::submit_sm | cmd::response_bit, 0, 2, *id),
            k_submit_sm_resp);
  EXPECT_EQ(encode_message_id_resp(cmd::deliver_sm | cmd::response_bit, 0, 5, ""),
            k_deliver_sm_resp);
  EXPECT_EQ(encode_header_only(cmd::enquire_link, 0, 6), k_enquire_link);
  EXPECT_EQ(encode_header_only(cmd::unbind, 0, 7), k_unbind);
  EXPECT_EQ(encode_header_only(cmd::generic_nack, status::invcmdid, 8), k_generic_nack);
  // bind_transceiver_resp: system_id only (npm sends no sc_interface_version).
  EXPECT_EQ(str(body(k_bind_transceiver_resp)), std::string("npm-upstream") + '\0');
}

TEST(SmppVectors, DeliveryReceipt) {
  auto m = decode_short_message(body(k_deliver_sm_receipt));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->esm_class, 0x04);
  auto rid = find_tlv(m->tlvs, tag::receipted_message_id);
  ASSERT_TRUE(rid);
  EXPECT_EQ(str(rid->value), std::string("7000") + '\0');
  auto state = find_tlv(m->tlvs, tag::message_state);
  ASSERT_TRUE(state);
  EXPECT_EQ(static_cast<int>(state->value[0]), 2);
  const std::string text = str(m->short_message);
  auto r = parse_receipt(text);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, "7000");
  EXPECT_EQ(r->state, MessageState::delivered);
  EXPECT_EQ(r->done_s - r->submit_s, 60);
}

// Every decoder this codec has, on one PDU; never crashes, whatever the bytes.
void decode_any(std::span<const std::byte> pdu) {
  auto h = decode_header(pdu);
  if (!h) return;
  const auto b = pdu.subspan(kHeaderBytes);
  (void)decode_bind(b);
  if (auto m = decode_short_message(b)) {
    std::vector<SmsSegment> segs(8);
    (void)to_sms(m->data_coding, m->esm_class & 0x40, m->short_message, std::nullopt, {}, segs);
    const std::string text = str(m->short_message);
    (void)parse_receipt(text);
  }
  (void)decode_message_id_resp(b);
}

TEST(SmppVectors, EveryTruncationIsRefused) {
  for (const auto* v : kAll) {
    for (size_t cut = 0; cut < v->size(); ++cut) {
      std::vector<std::byte> t(v->begin(), v->begin() + static_cast<long>(cut));
      auto len = frame_length(t);
      // Fewer than 4 bytes: not yet a length; else a length beyond what is there.
      if (len && *len) {
        EXPECT_GT(**len, t.size());
      }
      if (cut >= kHeaderBytes) {
        // The same bytes as a whole PDU of their own (length patched): body decoders refuse
        // or decode cleanly, never read beyond.
        t[0] = std::byte{0};
        t[1] = std::byte{0};
        t[2] = static_cast<std::byte>(cut >> 8);
        t[3] = static_cast<std::byte>(cut);
        decode_any(t);
      }
    }
  }
  // A body cut inside its mandatory part is refused with a status.
  const auto cut = std::span(k_submit_sm).subspan(kHeaderBytes, 20);
  auto m = decode_short_message(cut);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().status, status::ok);
}

TEST(SmppVectors, EveryByteFlipDecodesOrFailsCleanly) {
  for (const auto* v : kAll) {
    for (size_t i = 0; i < v->size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::vector<std::byte> f = *v;
        f[i] ^= static_cast<std::byte>(1 << bit);
        auto len = frame_length(f);
        if (!len || !*len || **len != f.size()) continue;  // framing refused: the length moved
        decode_any(f);
      }
    }
  }
}

TEST(SmppVectors, StreamSplitAtEveryOffsetReassembles) {
  std::vector<std::byte> stream;
  for (const auto* v : kAll) stream.insert(stream.end(), v->begin(), v->end());
  for (size_t split = 1; split < stream.size(); ++split) {
    std::vector<std::byte> buffer;
    size_t got = 0;
    auto feed = [&](std::span<const std::byte> chunk) {
      buffer.insert(buffer.end(), chunk.begin(), chunk.end());
      while (true) {
        auto len = frame_length(buffer);
        ASSERT_TRUE(len);
        if (!*len || buffer.size() < **len) return;
        const std::vector<std::byte> pdu(buffer.begin(), buffer.begin() + **len);
        EXPECT_EQ(pdu, *kAll[got]) << "split " << split << " pdu " << got;
        ++got;
        buffer.erase(buffer.begin(), buffer.begin() + **len);
      }
    };
    feed(std::span(stream).first(split));
    feed(std::span(stream).subspan(split));
    EXPECT_EQ(got, kAll.size());
    EXPECT_TRUE(buffer.empty());
  }
}

}  // namespace
}  // namespace cp::proto::smpp
