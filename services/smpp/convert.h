// Translation between SMPP PDUs and the SMSC core's records (docs/SMPP.md, "Mapping"): what the
// server (and the uplink) need on both paths, kept apart from the session logic.
//   in:  submit_sm / deliver_sm -> one wire::Submit per SMS segment (coding, concatenation,
//        addresses, validity, registered delivery, source ownership);
//   out: a stored record -> deliver_sm / submit_sm (text, UDH, or a delivery receipt with its
//        receipted_message_id and message_state TLVs);
//   and the small fixed PDUs the hot path writes into stack buffers (no allocation).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/socket_address.h"
#include "proto/smpp/coding.h"
#include "proto/smpp/pdu.h"
#include "services/smsc/numdb.h"
#include "services/smsc/wire.h"
#include "storage/record.h"

namespace cp::smpp {

// Our message ids as SMPP carries them: lower-case hex, no leading zeros.
size_t format_message_id(uint64_t id, std::span<char, 17> out);
std::optional<uint64_t> parse_message_id(std::string_view text);

// The IP address of a peer, without the port (for logs and the bind-failure limit).
std::string host_of(const SocketAddress& address);

// Fixed PDUs written into `buf`; the returned span is the whole PDU.
std::span<const std::byte> encode_header_into(std::span<std::byte, proto::smpp::kHeaderBytes> buf,
                                              uint32_t command, uint32_t status, uint32_t sequence);
// A response with a message id (ok) or with no body (an error).
std::span<const std::byte> encode_id_resp_into(std::span<std::byte, 48> buf, uint32_t command,
                                               uint32_t status, uint32_t sequence,
                                               uint64_t message_id);
// deliver_sm_resp: an empty message id (ok) or no body (an error).
std::span<const std::byte> encode_empty_id_resp_into(std::span<std::byte, 48> buf, uint32_t command,
                                                     uint32_t status, uint32_t sequence);
// bind_*_resp: our system_id (at most 15 characters) and, for a peer of SMPP 3.4 or later,
// sc_interface_version 0x34 (SMPP 3.4, 5.3.2.25: not sent to a 3.3 ESME, which knows no TLVs).
std::span<const std::byte> encode_bind_resp_into(std::span<std::byte, 48> buf, uint32_t command,
                                                 uint32_t status, uint32_t sequence,
                                                 std::string_view system_id,
                                                 bool interface_version_tlv = true);

// An SMPP address into a record's: digits (a leading '+' dropped), or for TON 5 an alphanumeric
// originator kept as packed GSM 7-bit. False when it does not fit.
bool set_address(storage::Address& a, std::string_view text, uint8_t ton, uint8_t npi);

// The SMPP command_status for a refusal of the core.
uint32_t smpp_status_of(smsc::wire::Status status);

// Who an incoming message is from, and how it is read.
struct InboundPolicy {
  proto::smpp::DefaultAlphabet dc0 = proto::smpp::DefaultAlphabet::gsm7;
  storage::SmeClass src_class = storage::SmeClass::downstream;
  std::optional<uint16_t> src_peer;  // downstream: the account's peer (nullopt: unknown)
  bool check_source_owner = true;    // the source must be one of src_peer's numbers
  bool untrusted = true;             // the core applies the PID/DCS filters (design 2.4.3)
};

// The segments of one SMPP message as SUBMITs: `base` carries everything but the user data,
// segments[0..count) each segment's (fill_segment puts one into a record).
struct InboundSubmits {
  smsc::wire::Submit base;
  size_t count = 0;
};
Result<InboundSubmits, proto::smpp::Error> to_submits(const proto::smpp::ShortMessage& m,
                                                      const InboundPolicy& policy,
                                                      const smsc::Numdb* numdb, int64_t now_s,
                                                      uint16_t concat_ref,
                                                      std::span<proto::smpp::SmsSegment> segments);
void fill_segment(storage::SmRecord& record, const proto::smpp::SmsSegment& segment);
// The concatenation reference of a long message submitted with a user_message_reference: the
// same for a retry of the same message (to_submits uses it instead of the caller's counter).
uint16_t retry_stable_ref(uint16_t umr, std::string_view source, std::string_view destination);

// A PDU being built for a peer, in a fixed buffer.
struct OutPdu {
  std::array<std::byte, 1024> buf{};
  size_t length = 0;
  std::span<const std::byte> bytes() const { return {buf.data(), length}; }
};
// How a peer wants what we send it.
struct OutboundOptions {
  proto::smpp::DefaultAlphabet dc0 = proto::smpp::DefaultAlphabet::gsm7;
  // A segment of a long message: a concatenation UDH in short_message (esm_class 0x40), or,
  // with `sar`, the sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs and the bare
  // text (when the UDH holds nothing but the concatenation element).
  bool sar = false;
};
// deliver_sm (or submit_sm, `command`) for a stored record: its text, or for a status report
// (SmRecord::kFlagReport) the delivery receipt. Returns whether it is a receipt; an error when
// the record cannot be expressed (a damaged report, an unsupported coding).
Result<bool, proto::smpp::Error> build_deliver(const storage::SmRecord& record,
                                               const OutboundOptions& options, uint32_t sequence,
                                               uint32_t command, OutPdu& out);

}  // namespace cp::smpp
