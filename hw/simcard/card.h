// The simulated SIM/USIM card (issue 6): a card that answers APDUs the way a real UICC does over
// T=0, so a bank daemon, pcscd (through the vpcd reader) or an in-process backend can serve it.
//
//   - ATR: T=0 only.
//   - File system: MF 3F00 with EF.ICCID 2FE2 and EF.DIR 2F00; DF.TELECOM 7F10 with EF.MSISDN
//     6F40; DF.GSM 7F20 with EF.IMSI 6F07; ADF.USIM (its AID in EF.DIR) with EF.IMSI 6F07 and
//     EF.MSISDN 6F40; the ISD-R (its AID), answering GET DATA BF3E with the EID.
//   - SELECT by FID, by path from the MF or the current DF, by AID (full or partial); 2G class
//     A0 answers 9Fxx, 3G class 00 answers 61xx with the FCP (GET RESPONSE fetches it); a wrong Le
//     gets 6Cxx, GET RESPONSE with nothing pending 6F00 / 6985.
//   - READ / UPDATE BINARY and RECORD (absolute, current, next, previous), STATUS, VERIFY PIN
//     with its retry counter (63Cx, 6983 blocked), UNBLOCK with the PUK, AUTHENTICATE in the 3G
//     context with MILENAGE (RES/CK/IK, or AUTS on a sequence number out of range).
// Card contents come from a small text file (parse_contents), so a rack of distinct cards can
// be started. One Card is one card's state; not thread-safe (one slot's thread uses it).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "hw/simcard/milenage.h"

namespace cp::simcard {

struct Contents {
  std::string iccid;   // 19-20 digits
  std::string imsi;    // 6-15 digits
  std::string msisdn;  // up to 20 digits
  std::string eid;     // 32 digits
  Block ki{};
  Block opc{};
  std::string pin1 = "1234";
  std::string puk1 = "12345678";
};

// "key = value" lines (iccid, imsi, msisdn, eid, ki, opc or op, pin1, puk1), '#' comments.
// Every problem is reported as "name:line: problem".
Result<Contents, std::string> parse_contents(std::string_view text, std::string_view name);

// Contents for simulated card `slot` of bank `bank` (a rack started without files): ICCID
// 898821100 BBB SSSSSSS + Luhn, IMSI 00101 BBB SSSSSSS, MSISDN 1555 BBB SSSS, a distinct EID, and a
// Ki / OPc derived from the two numbers. Those keys are public: test cards only.
Contents simulated_contents(uint16_t bank, uint16_t slot);

class Card {
 public:
  explicit Card(Contents contents);

  // Cold or warm reset: the ATR; the selection goes back to the MF, the PIN must be verified
  // again, a pending response is dropped.
  std::span<const uint8_t> reset();
  // The ATR without a reset (a reader asking for it again must not disturb the card).
  static std::span<const uint8_t> atr();
  // One C-APDU (header, and Lc data or Le) to its R-APDU (data and SW1 SW2).
  std::vector<uint8_t> transmit(std::span<const uint8_t> apdu);

  const Contents& contents() const { return contents_; }
  uint64_t sqn() const { return sqn_; }

 private:
  struct File {
    enum class Kind : uint8_t { df, adf, transparent, linear } kind = Kind::df;
    uint16_t fid = 0;
    std::optional<size_t> parent;
    std::vector<uint8_t> aid;
    std::vector<uint8_t> data;                  // transparent
    std::vector<std::vector<uint8_t>> records;  // linear fixed
    bool needs_pin_to_update = true;
    bool is_df() const { return kind == Kind::df || kind == Kind::adf; }
  };
  std::vector<uint8_t> select(uint8_t cla, uint8_t p1, uint8_t p2, std::span<const uint8_t> data,
                              std::optional<uint8_t> le);
  std::vector<uint8_t> answer_with(std::vector<uint8_t> data, std::optional<uint8_t> le,
                                   bool gsm_class);
  std::vector<uint8_t> authenticate(std::span<const uint8_t> data, std::optional<uint8_t> le);
  File* current_ef();

  Contents contents_;
  std::vector<File> files_;
  size_t current_df_ = 0;             // index into files_
  std::optional<size_t> current_ef_;  // index into files_
  std::optional<size_t> current_record_;
  std::vector<uint8_t> pending_;  // for GET RESPONSE
  bool pin_verified_ = false;
  uint8_t pin_tries_ = 3;
  uint8_t puk_tries_ = 10;
  uint64_t sqn_ = 0;  // highest SQN accepted
};

}  // namespace cp::simcard
