// SMPP text and SMS user data (SMPP 3.4 §5.2.19 data_coding, 3GPP TS 23.038 DCS, TS 23.040
// concatenation), delivery receipts (SMPP 3.4 Appendix B) and SMPP times (§7.1.1).
//
// What an SMPP peer sends (data_coding + short_message or message_payload, a UDH flagged by
// esm_class 0x40, or sar_* TLVs) becomes SMS segments of at most 140 octets as the message store
// keeps them; a stored segment becomes an SMPP short message again. Pure functions over spans;
// no allocation except where a result owns text (parse helpers return views).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "base/result.h"
#include "proto/smpp/pdu.h"

namespace cp::proto::smpp {

// One TP-UD as the SMSC core stores it.
struct SmsSegment {
  uint8_t dcs = 0;                  // TP-DCS
  bool udhi = false;                // user data starts with a header
  uint8_t ud_length = 0;            // TP-UDL: septets for GSM 7-bit, else octets
  uint8_t ud_bytes = 0;             // octets used in ud
  std::array<std::byte, 140> ud{};  // TP-UD, GSM 7-bit packed (fill bits after a UDH)
};

// How data_coding 0, the "SMSC default alphabet", is read and written (per peer account).
enum class DefaultAlphabet : uint8_t { gsm7, ia5, latin1 };

// The sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs of a segment a peer cut.
struct Sar {
  uint16_t ref = 0;
  uint8_t total = 0;
  uint8_t seq = 0;
};

struct ToSmsOptions {
  DefaultAlphabet dc0 = DefaultAlphabet::gsm7;
  uint16_t concat_ref = 0;  // the reference of the concatenation IE, when we split
  bool ref16 = false;       // 16-bit reference IE (0x08) instead of 8-bit (0x00)
};

// SMPP -> SMS. `payload`: short_message or message_payload; `esm_udhi`: esm_class 0x40 (the
// payload starts with a UDH, kept as is). Text codings (0 per dc0; 1 IA5, read as GSM septets
// when it holds control octets other than LF/CR, as the npm `smpp` package sends it; 3 Latin-1)
// become GSM 7-bit (DCS 0x00) when every character is in the default alphabet or its extension
// table, else UCS-2 (0x08); 8 is UCS-2; 2 and 4 are 8-bit data (0x04); 0xC0..0xFF are GSM DCS
// octets passed through. A message longer than one segment is split with a concatenation IE, never
// inside a GSM escape pair or a UTF-16 surrogate pair; with `sar` the message is one segment
// and the IE is made from it. Writes the segments into `out` and returns their count; an error
// (status + phrase) for an unsupported coding, text that does not decode, a malformed UDH, or
// more segments than out.size() (at most 255).
Result<size_t, Error> to_sms(uint8_t data_coding, bool esm_udhi, std::span<const std::byte> payload,
                             std::optional<Sar> sar, const ToSmsOptions& opt,
                             std::span<SmsSegment> out);

// The text of one segment for SMPP. Usually at most 254 octets (short_message); a GSM segment
// re-coded as UCS-2 for a peer whose default alphabet lacks a character can reach 320 octets
// (160 characters) plus its UDH: then it goes in message_payload.
struct SmppText {
  uint8_t data_coding = 0;
  bool esm_udhi = false;
  uint16_t length = 0;
  std::array<std::byte, 480> bytes{};
};
// SMS -> SMPP: GSM 7-bit as data_coding 0 (per dc0: septets one per octet, or IA5/Latin-1 when
// every character fits, else UCS-2 as data_coding 8); UCS-2 as 8; 8-bit as 4. A DCS of the
// message-waiting / class groups (0xC0..0xFF) is kept as data_coding; the message class of a
// 00xx-group DCS is not (SMPP data_coding has no way to say it). A UDH goes first, unchanged.
Result<SmppText, Error> to_smpp(const SmsSegment& seg, DefaultAlphabet dc0);

// ---- delivery receipts ------------------------------------------------------------------------

enum class MessageState : uint8_t {
  enroute = 1,
  delivered = 2,
  expired = 3,
  deleted = 4,
  undeliverable = 5,
  accepted = 6,
  unknown = 7,
  rejected = 8,
};
// DELIVRD EXPIRED DELETED UNDELIV ACCEPTD UNKNOWN REJECTD ENROUTE
std::string_view stat_text(MessageState s);

struct Receipt {
  std::string_view id;
  uint32_t sub = 1, dlvrd = 0;
  int64_t submit_s = 0, done_s = 0;  // UTC unix seconds (minute precision on the wire)
  MessageState state = MessageState::unknown;
  uint32_t err = 0;
  std::string_view text;
};
// "id:ID sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD err:000
// text:..." (text at most 20 characters); returns the length written (out >= 200).
size_t format_receipt(const Receipt& r, std::span<char> out);
// Tolerant: fields in any order, keys in any case, missing fields left at their defaults, dates
// of 10 or 12 digits. Views into `text`. An error without an id: field.
Result<Receipt, Error> parse_receipt(std::string_view text);

// ---- SMPP time (§7.1.1) -----------------------------------------------------------------------

// "" -> nullopt. Absolute "YYMMDDhhmmsstnnp" (p '+' or '-': nn quarter hours from UTC) or
// relative "YYMMDDhhmmss000R" (from now_s; a year is 365 days, a month 30). The UTC unix time;
// an error with status `bad` (invsched / invexpiry) for anything else.
Result<std::optional<int64_t>, Error> parse_time(std::string_view t, int64_t now_s, uint32_t bad);
// The absolute UTC form "YYMMDDhhmmss000+" (16 characters and a NUL; out >= 17).
void format_time(int64_t unix_s, std::span<char> out);

}  // namespace cp::proto::smpp
