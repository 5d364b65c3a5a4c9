// What smsc-submit reads (ThemWi-SMSC design 3.1): the body of a message, as the lines
// FreeCalypso's sms-encode-text writes (hex septets / octets, UDH for concatenation), or plain
// UTF-8 text that we encode ourselves (GSM 7-bit when every character has a code, else UCS-2,
// split into concatenated segments with a UDH when it does not fit one SMS). docs/SMSC.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace cp::smsc {

// One SMS worth of user data, as the record keeps it (TP-DCS, TP-UDHI, TP-UDL, packed UD).
struct Segment {
  uint8_t dcs = 0;
  bool udhi = false;
  uint8_t ud_length = 0;           // septets (GSM 7-bit) or octets
  std::vector<uint8_t> user_data;  // at most 140 octets
};

struct EncodedInput {
  std::vector<Segment> segments;
  int pid = -1;                // "pid N" (-1: not given)
  int mr = -1;                 // "mr N"
  bool status_report = false;  // "sr"
};

// The sms-encode-text / sms-gen-tpdu body language: `dcs N septet|octet`, then `msg HEX` or
// `msg-udh HEX` lines (one SMS each; in septet mode one hex byte per unpacked septet, after the
// UDH octets of msg-udh), `msg ""` for an empty one; also `pid N`, `mr N`, `sr`; `#` comments
// and blank lines. Errors name the line.
Result<EncodedInput, std::string> parse_encoded(std::string_view text);

// Plain UTF-8 text: GSM 7-bit if possible (unless force_ucs2), else UCS-2; more than one SMS
// becomes concatenated segments with the 8-bit reference `concat_ref` (an escape pair or a
// surrogate pair is never split). At most 255 segments.
Result<std::vector<Segment>, std::string> encode_text(std::string_view utf8, uint8_t concat_ref,
                                                      bool force_ucs2 = false);

}  // namespace cp::smsc
