// RSPRO, the Remote SIM Protocol of osmo-remsim (asn1/RSPRO.asn there; ../shared/PROTOCOLS.md):
// every RsproPDUchoice message with all fields and optionals. DER out, byte-identical to what
// osmo-remsim 1.1.3 sends for the same values; BER in (long-form tags and lengths, indefinite
// lengths, unknown extension elements skipped). Carried in IPA frames, OSMO extension 0x07
// (proto/ipa/ipa.h).
//
// decode() checks every range the ASN.1 gives (ids and slots 0..1023, names 1..32, ATR 1..55,
// error strings 1..255) and the TPDU size the implementations enforce (5..260); strings and
// octets are views into the input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace cp::proto::rspro {

inline constexpr int64_t kVersion = 2;

enum class MsgType : uint8_t {
  connect_bank_req = 0,
  connect_bank_res = 1,
  connect_client_req = 2,
  connect_client_res = 3,
  create_mapping_req = 4,
  create_mapping_res = 5,
  remove_mapping_req = 6,
  remove_mapping_res = 7,
  config_client_id_req = 8,
  config_client_id_res = 9,
  set_atr_req = 10,
  set_atr_res = 11,
  tpdu_modem_to_card = 12,
  tpdu_card_to_modem = 13,
  client_slot_status_ind = 14,
  bank_slot_status_ind = 15,
  error_ind = 16,
  config_client_bank_req = 17,
  config_client_bank_res = 18,
  reset_state_req = 19,
  reset_state_res = 20,
};
inline constexpr uint8_t kMsgTypes = 21;
std::string_view to_string(MsgType t);

enum class ComponentType : uint8_t { client = 0, server = 1, bankd = 2 };

enum class ResultCode : int32_t {
  ok = 0,
  illegal_client_id = 1,
  illegal_bank_id = 2,
  illegal_slot_id = 3,
  unsupported_protocol_version = 4,
  unknown_slotmap = 5,
  identity_in_use = 6,
  card_not_present = 100,
  card_unresponsive = 101,
  card_transmission_error = 102,
};

struct ComponentIdentity {
  ComponentType type = ComponentType::client;
  std::string_view name;
  std::string_view software;
  std::string_view sw_version;
  // [2]..[6]: hwManufacturer, hwModel, hwSerialNr, hwVersion, fwVersion
  std::array<std::optional<std::string_view>, 5> hw;
};

struct ClientSlot {
  uint16_t client_id = 0;
  uint16_t slot = 0;
  bool operator==(const ClientSlot&) const = default;
};
struct BankSlot {
  uint16_t bank_id = 0;
  uint16_t slot = 0;
  bool operator==(const BankSlot&) const = default;
};

struct IpPort {
  bool v6 = false;
  std::array<uint8_t, 16> ip{};  // v4: the first 4
  uint16_t port = 0;
};

struct TpduFlags {
  bool header_present = false;
  bool final_part = false;
  bool pb_continue_tx = false;
  bool pb_continue_rx = false;
};

struct SlotPhysStatus {
  bool reset_active = false;
  std::optional<bool> vcc_present, clk_active, card_present;
};

struct ErrorInd {
  ComponentType sender = ComponentType::client;
  int32_t severity = 1;  // minor 1, major 2, fatal 3
  int32_t code = 1;      // unknownClientConnected 1, unexpectedDisconnect 2, ...Version 3
  std::optional<BankSlot> bank_slot;
  std::optional<ClientSlot> client_slot;
  std::optional<std::string_view> error_string;
};

// One RsproPDU; which members count follows `type`.
struct Pdu {
  int64_t version = kVersion;
  uint32_t tag = 0;  // OperationTag
  MsgType type = MsgType::connect_bank_req;
  ComponentIdentity identity;             // connect*Req / connect*Res
  ResultCode result = ResultCode::ok;     // every *Res
  uint16_t bank_id = 0;                   // connectBankReq
  uint16_t number_of_slots = 0;           // connectBankReq
  std::optional<ClientSlot> client_slot;  // connectClientReq (optional), configClientIdReq
  ClientSlot client;                      // mappings, setAtrReq slot, tpdu / status client side
  BankSlot bank;                          // mappings, configClientBankReq, tpdu / status bank side
  IpPort bankd;                           // configClientBankReq
  std::span<const std::byte> atr;         // setAtrReq
  TpduFlags flags;                        // tpdu*
  std::span<const std::byte> data;        // tpdu*
  SlotPhysStatus status;                  // *SlotStatusInd
  ErrorInd error;                         // errorInd
};

// One RsproPDU (the payload of an IPA OSMO/0x07 frame). The TPDU messages in plain DER take a
// shortcut; every other form goes through decode_general().
Result<Pdu, std::string_view> decode(std::span<const std::byte> der);
// The general BER decoder alone (tests compare the shortcut against it).
Result<Pdu, std::string_view> decode_general(std::span<const std::byte> der);
// DER, as osmo-remsim writes it.
std::vector<std::byte> encode(const Pdu& pdu);
// The whole IPA frame (OSMO extension 0x07 around the DER), written into `buffer` (emptied; its
// capacity is reused, so a connection that keeps one allocates nothing per message). The view
// is into `buffer`.
std::span<const std::byte> encode_frame(const Pdu& pdu, std::vector<std::byte>& buffer);

}  // namespace cp::proto::rspro
