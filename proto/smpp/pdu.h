// SMPP 3.4 PDUs (issue 5; the SMPP v3.4 specification, section 4): the framing, the header, the
// command ids and statuses, C-octet strings with their maximum sizes, TLVs, and the bodies of the
// binds, submit_sm / deliver_sm and the responses that carry a message id. Pure functions over
// byte spans; decoded strings and short messages are views into the input. Every malformed PDU
// maps to the command_status a response (or generic_nack) should carry.
//
// Decoding allocates nothing (views, TlvReader); the encoders build a std::vector per PDU.
//
// Every SMPP 3.4 operation has its body here: binds and their responses, outbind, submit_sm /
// deliver_sm, data_sm, submit_multi (and its response), query_sm (and its response), cancel_sm,
// replace_sm, alert_notification, the message-id responses and the header-only PDUs. Every
// optional parameter tag of §5.3.2 is named; unknown ones are kept as they came.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace cp::proto::smpp {

inline constexpr size_t kHeaderBytes = 16;
// The largest PDU we accept: a submit_sm with a 64 KiB message_payload and every other field at
// its maximum fits well below this.
inline constexpr uint32_t kPduBytesMax = 70000;

namespace cmd {
inline constexpr uint32_t generic_nack = 0x80000000;
inline constexpr uint32_t bind_receiver = 0x00000001;
inline constexpr uint32_t bind_transmitter = 0x00000002;
inline constexpr uint32_t query_sm = 0x00000003;
inline constexpr uint32_t submit_sm = 0x00000004;
inline constexpr uint32_t deliver_sm = 0x00000005;
inline constexpr uint32_t unbind = 0x00000006;
inline constexpr uint32_t replace_sm = 0x00000007;
inline constexpr uint32_t cancel_sm = 0x00000008;
inline constexpr uint32_t bind_transceiver = 0x00000009;
inline constexpr uint32_t outbind = 0x0000000B;
inline constexpr uint32_t enquire_link = 0x00000015;
inline constexpr uint32_t submit_multi = 0x00000021;
inline constexpr uint32_t alert_notification = 0x00000102;
inline constexpr uint32_t data_sm = 0x00000103;
inline constexpr uint32_t response_bit = 0x80000000;
}  // namespace cmd

// command_status values (SMPP 3.4, 5.1.3) this codec and the services use.
namespace status {
inline constexpr uint32_t ok = 0x00;
inline constexpr uint32_t invmsglen = 0x01;        // message length is invalid
inline constexpr uint32_t invcmdlen = 0x02;        // command length is invalid
inline constexpr uint32_t invcmdid = 0x03;         // invalid command id
inline constexpr uint32_t invbndsts = 0x04;        // incorrect bind status for the command
inline constexpr uint32_t alybnd = 0x05;           // already bound
inline constexpr uint32_t syserr = 0x08;           // system error
inline constexpr uint32_t invsrcadr = 0x0A;        // invalid source address
inline constexpr uint32_t invdstadr = 0x0B;        // invalid destination address
inline constexpr uint32_t invmsgid = 0x0C;         // message id is invalid
inline constexpr uint32_t bindfail = 0x0D;         // bind failed
inline constexpr uint32_t invpaswd = 0x0E;         // invalid password
inline constexpr uint32_t invsysid = 0x0F;         // invalid system id
inline constexpr uint32_t msgqful = 0x14;          // message queue full
inline constexpr uint32_t invsertyp = 0x15;        // invalid service type
inline constexpr uint32_t invesmclass = 0x43;      // invalid esm_class
inline constexpr uint32_t submitfail = 0x45;       // submit_sm or submit_multi failed
inline constexpr uint32_t cancelfail = 0x11;       // cancel_sm failed
inline constexpr uint32_t replacefail = 0x13;      // replace_sm failed
inline constexpr uint32_t invnumdests = 0x33;      // invalid number of destinations
inline constexpr uint32_t invdestflag = 0x40;      // submit_multi: bad dest_flag
inline constexpr uint32_t queryfail = 0x67;        // query_sm failed
inline constexpr uint32_t throttled = 0x58;        // throttling error
inline constexpr uint32_t rx_t_appn = 0x64;        // ESME receiver temporary app error
inline constexpr uint32_t invsched = 0x61;         // invalid scheduled delivery time
inline constexpr uint32_t invexpiry = 0x62;        // invalid validity period
inline constexpr uint32_t invoptparstream = 0xC0;  // error in the optional part of the PDU
inline constexpr uint32_t optparnotallwd = 0xC1;   // optional parameter not allowed
inline constexpr uint32_t invparlen = 0xC2;        // invalid parameter length
inline constexpr uint32_t missingoptparam = 0xC3;  // expected optional parameter missing
inline constexpr uint32_t invoptparamval = 0xC4;   // invalid optional parameter value
inline constexpr uint32_t deliveryfailure = 0xFE;  // delivery failure (data_sm_resp)
inline constexpr uint32_t unknownerr = 0xFF;
}  // namespace status

// Optional parameter tags (SMPP 3.4, 5.3.2) the SMSC uses.
namespace tag {
inline constexpr uint16_t dest_addr_subunit = 0x0005;
inline constexpr uint16_t dest_network_type = 0x0006;
inline constexpr uint16_t dest_bearer_type = 0x0007;
inline constexpr uint16_t dest_telematics_id = 0x0008;
inline constexpr uint16_t source_addr_subunit = 0x000D;
inline constexpr uint16_t source_network_type = 0x000E;
inline constexpr uint16_t source_bearer_type = 0x000F;
inline constexpr uint16_t source_telematics_id = 0x0010;
inline constexpr uint16_t qos_time_to_live = 0x0017;
inline constexpr uint16_t payload_type = 0x0019;
inline constexpr uint16_t additional_status_info_text = 0x001D;
inline constexpr uint16_t ms_msg_wait_facilities = 0x0030;
inline constexpr uint16_t privacy_indicator = 0x0201;
inline constexpr uint16_t source_subaddress = 0x0202;
inline constexpr uint16_t dest_subaddress = 0x0203;
inline constexpr uint16_t user_response_code = 0x0205;
inline constexpr uint16_t source_port = 0x020A;
inline constexpr uint16_t destination_port = 0x020B;
inline constexpr uint16_t language_indicator = 0x020D;
inline constexpr uint16_t callback_num_pres_ind = 0x0302;
inline constexpr uint16_t callback_num_atag = 0x0303;
inline constexpr uint16_t number_of_messages = 0x0304;
inline constexpr uint16_t callback_num = 0x0381;
inline constexpr uint16_t dpf_result = 0x0420;
inline constexpr uint16_t set_dpf = 0x0421;
inline constexpr uint16_t ms_availability_status = 0x0422;
inline constexpr uint16_t network_error_code = 0x0423;
inline constexpr uint16_t delivery_failure_reason = 0x0425;
inline constexpr uint16_t more_messages_to_send = 0x0426;
inline constexpr uint16_t ussd_service_op = 0x0501;
inline constexpr uint16_t display_time = 0x1201;
inline constexpr uint16_t sms_signal = 0x1203;
inline constexpr uint16_t ms_validity = 0x1204;
inline constexpr uint16_t alert_on_message_delivery = 0x130C;
inline constexpr uint16_t its_reply_type = 0x1380;
inline constexpr uint16_t its_session_info = 0x1383;
inline constexpr uint16_t user_message_reference = 0x0204;
inline constexpr uint16_t sar_msg_ref_num = 0x020C;
inline constexpr uint16_t sar_total_segments = 0x020E;
inline constexpr uint16_t sar_segment_seqnum = 0x020F;
inline constexpr uint16_t sc_interface_version = 0x0210;
inline constexpr uint16_t message_payload = 0x0424;
inline constexpr uint16_t message_state = 0x0427;
inline constexpr uint16_t receipted_message_id = 0x001E;
}  // namespace tag

struct Header {
  uint32_t length = 0;
  uint32_t command_id = 0;
  uint32_t command_status = 0;
  uint32_t sequence = 0;
  bool response() const { return (command_id & cmd::response_bit) != 0; }
};

// Why a PDU was refused: the command_status to answer with, and a phrase for the log.
struct Error {
  uint32_t status = status::syserr;
  std::string_view what;
};

// The command_length at the front of `bytes` once 4 bytes are there: nullopt while fewer; an
// error (invcmdlen) when it is below the header or above kPduBytesMax — the stream cannot be
// resynchronised then, and the connection should be answered generic_nack and closed.
Result<std::optional<uint32_t>, Error> frame_length(std::span<const std::byte> bytes);
// The header fields at the front of `bytes` (16 bytes or more: nullopt when fewer), whatever
// follows: for a PDU that is not (yet) whole.
std::optional<Header> peek_header(std::span<const std::byte> bytes);
// The header of one whole PDU (`pdu` is exactly command_length long).
Result<Header, Error> decode_header(std::span<const std::byte> pdu);

struct Tlv {
  uint16_t tag = 0;
  std::span<const std::byte> value;
};
// Walks an optional-parameter section (checked first with check_tlvs), unknown tags included:
// nothing is copied or allocated.
class TlvReader {
 public:
  explicit TlvReader(std::span<const std::byte> section) : rest_(section) {}
  std::optional<Tlv> next();

 private:
  std::span<const std::byte> rest_;
};
// An error (invoptparstream / invparlen) when a TLV of the section is cut short.
Result<void, Error> check_tlvs(std::span<const std::byte> section);
std::optional<Tlv> find_tlv(std::span<const std::byte> section, uint16_t tag);
// Appends one TLV to a section being built.
void append_tlv(std::vector<std::byte>& section, uint16_t tag, std::span<const std::byte> value);

// bind_transmitter / bind_receiver / bind_transceiver (4.1.1).
struct Bind {
  std::string_view system_id;    // at most 15 characters
  std::string_view password;     // at most 8
  std::string_view system_type;  // at most 12
  uint8_t interface_version = 0x34;
  uint8_t addr_ton = 0;
  uint8_t addr_npi = 0;
  std::string_view address_range;  // at most 40
};
Result<Bind, Error> decode_bind(std::span<const std::byte> body);

// submit_sm (4.4.1) and deliver_sm (4.6.1): the same mandatory part.
struct ShortMessage {
  std::string_view service_type;  // at most 5
  uint8_t source_addr_ton = 0;
  uint8_t source_addr_npi = 0;
  std::string_view source_addr;  // at most 20
  uint8_t dest_addr_ton = 0;
  uint8_t dest_addr_npi = 0;
  std::string_view destination_addr;  // at most 20
  uint8_t esm_class = 0;
  uint8_t protocol_id = 0;
  uint8_t priority_flag = 0;
  std::string_view schedule_delivery_time;  // empty or 16 characters
  std::string_view validity_period;         // empty or 16 characters
  uint8_t registered_delivery = 0;
  uint8_t replace_if_present_flag = 0;
  uint8_t data_coding = 0;
  uint8_t sm_default_msg_id = 0;
  std::span<const std::byte> short_message;  // sm_length octets, at most 254
  std::span<const std::byte> tlvs;           // the optional parameters, checked, as sent
};
Result<ShortMessage, Error> decode_short_message(std::span<const std::byte> body);

// submit_sm_resp / deliver_sm_resp / data_sm_resp: a message_id (at most 64 characters); an
// error response may have no body at all.
Result<std::string_view, Error> decode_message_id_resp(std::span<const std::byte> body);

// The command's name for logs ("submit_sm", "deliver_sm_resp", "0x00000077" when unknown), and
// whether SMPP 3.4 defines it.
std::string command_name(uint32_t command_id);
bool known_command(uint32_t command_id);

// bind_*_resp (4.1.2): our system_id and the optional parameters (sc_interface_version). An
// error response may have no body.
struct BindResp {
  std::string_view system_id;  // at most 15
  std::span<const std::byte> tlvs;
};
Result<BindResp, Error> decode_bind_resp(std::span<const std::byte> body);

// outbind (4.1.7).
struct Outbind {
  std::string_view system_id;  // at most 15
  std::string_view password;   // at most 8
};
Result<Outbind, Error> decode_outbind(std::span<const std::byte> body);

// An address with its TON and NPI, as several bodies carry them.
struct Address {
  uint8_t ton = 0;
  uint8_t npi = 0;
  std::string_view addr;
};

// alert_notification (4.12.1): the MS that became available, and the ESME to tell.
struct AlertNotification {
  Address source;                   // addr at most 64
  Address esme;                     // addr at most 64
  std::span<const std::byte> tlvs;  // ms_availability_status
};
Result<AlertNotification, Error> decode_alert_notification(std::span<const std::byte> body);

// data_sm (4.7.1): the message is in message_payload.
struct DataSm {
  std::string_view service_type;  // at most 5
  Address source;                 // addr at most 64
  Address dest;                   // addr at most 64
  uint8_t esm_class = 0;
  uint8_t registered_delivery = 0;
  uint8_t data_coding = 0;
  std::span<const std::byte> tlvs;
};
Result<DataSm, Error> decode_data_sm(std::span<const std::byte> body);

// submit_multi (4.5.1): 1..254 destinations, each an SME address (dest_flag 1) or a
// distribution list name (dest_flag 2), walked with DestReader; the rest as submit_sm.
struct Dest {
  uint8_t flag = 1;       // 1 SME address, 2 distribution list
  Address sme;            // flag 1: addr at most 20
  std::string_view list;  // flag 2: at most 20
};
class DestReader {
 public:
  DestReader(std::span<const std::byte> section, uint8_t count) : rest_(section), left_(count) {}
  std::optional<Dest> next();  // checked by decode_submit_multi: never fails on its output

 private:
  std::span<const std::byte> rest_;
  uint8_t left_;
};
struct SubmitMulti {
  std::string_view service_type;
  Address source;  // addr at most 20
  uint8_t number_of_dests = 0;
  std::span<const std::byte> dests;  // the destination section, for DestReader
  ShortMessage message;              // esm_class onwards, and the TLVs (its addresses unused)
};
Result<SubmitMulti, Error> decode_submit_multi(std::span<const std::byte> body);
// submit_multi_resp (4.5.2): the message id and the destinations that failed.
struct Unsuccess {
  Address sme;  // addr at most 20
  uint32_t error_status = 0;
};
std::vector<std::byte> encode_submit_multi_resp(uint32_t sequence, std::string_view message_id,
                                                std::span<const Unsuccess> failed);

// query_sm (4.8.1) and its response (4.8.2).
struct QuerySm {
  std::string_view message_id;  // at most 64
  Address source;               // addr at most 20
};
Result<QuerySm, Error> decode_query_sm(std::span<const std::byte> body);
struct QuerySmResp {
  std::string_view message_id;
  std::string_view final_date;  // empty or 16
  uint8_t message_state = 0;
  uint8_t error_code = 0;
};
Result<QuerySmResp, Error> decode_query_sm_resp(std::span<const std::byte> body);
std::vector<std::byte> encode_query_sm_resp(uint32_t status, uint32_t sequence,
                                            const QuerySmResp& r);

// cancel_sm (4.9.1).
struct CancelSm {
  std::string_view service_type;
  std::string_view message_id;  // at most 64; empty: by source, dest (and service_type)
  Address source;               // addr at most 20
  Address dest;                 // addr at most 20
};
Result<CancelSm, Error> decode_cancel_sm(std::span<const std::byte> body);

// replace_sm (4.10.1).
struct ReplaceSm {
  std::string_view message_id;  // at most 64
  Address source;               // addr at most 20
  std::string_view schedule_delivery_time;
  std::string_view validity_period;
  uint8_t registered_delivery = 0;
  uint8_t sm_default_msg_id = 0;
  std::span<const std::byte> short_message;  // at most 254
};
Result<ReplaceSm, Error> decode_replace_sm(std::span<const std::byte> body);

// ---- encoding ---------------------------------------------------------------------------------

// Builds one PDU: the header first (its length patched by finish()), then the fields in order.
class PduWriter {
 public:
  PduWriter(uint32_t command_id, uint32_t command_status, uint32_t sequence);
  PduWriter& u8(uint8_t v);
  PduWriter& u16(uint16_t v);
  PduWriter& u32(uint32_t v);
  // A C-octet string: the text (which must not hold NUL) and its terminating NUL.
  PduWriter& cstring(std::string_view text);
  PduWriter& bytes(std::span<const std::byte> b);
  PduWriter& tlv(uint16_t tag, std::span<const std::byte> value);
  // The finished PDU.
  std::vector<std::byte> finish();

 private:
  std::vector<std::byte> out_;
};

std::vector<std::byte> encode_bind(uint32_t command_id, uint32_t sequence, const Bind& b);
std::vector<std::byte> encode_short_message(uint32_t command_id, uint32_t sequence,
                                            const ShortMessage& m);
// A response carrying a message id (or, for an error, an empty body).
std::vector<std::byte> encode_message_id_resp(uint32_t command_id, uint32_t status,
                                              uint32_t sequence, std::string_view message_id);
// A PDU with a header only: enquire_link(_resp), unbind(_resp), generic_nack, and error
// responses.
std::vector<std::byte> encode_header_only(uint32_t command_id, uint32_t status, uint32_t sequence);

}  // namespace cp::proto::smpp
