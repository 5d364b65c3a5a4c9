// The SMSC core's local socket protocol (ThemWi-SMSC design section 2.5; docs/SMSC-SOCKET.md):
// request/response messages over a UNIX SOCK_SEQPACKET socket between the core and its clients
// (the submit tool, role handlers). Every message starts with a 16-byte header carrying its
// version, type, total length, status (responses) and a request id the response echoes; the
// body of each type has one fixed size. Integers are little-endian (the socket never leaves the
// machine, but the layout is pinned anyway).
//
// Pure functions over byte spans: decode() checks the header and the exact body size of the
// type, and refuses reserved bits; it never reads past the span it is given.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "storage/record.h"

namespace cp::smsc::wire {

static_assert(std::endian::native == std::endian::little, "the wire layout is little-endian");

inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderBytes = 16;
inline constexpr size_t kMessageMax = 512;  // the largest message (a SUBMIT is 280)
inline constexpr uint8_t kResponseBit = 0x80;
inline constexpr size_t kPeerNameMax = 32;
inline constexpr size_t kMsisdnDigitsMax = 20;
inline constexpr size_t kImsiDigitsMax = 15;

enum class Type : uint8_t {
  submit = 0x01,            // client -> core
  cancel = 0x02,            // client -> core
  change_srr = 0x03,        // client -> core
  query = 0x04,             // client -> core
  rh_register = 0x10,       // client -> core
  rh_service_state = 0x11,  // client -> core
  mt_find_imsi = 0x20,      // core -> IMSI lookup RH
  mt_transfer = 0x21,       // core -> GSM MT RH
  mt_cancel = 0x22,         // core -> GSM MT RH
  mt_discharge = 0x23,      // GSM MT RH -> core
  deliver_to_peer = 0x30,   // core -> peer delivery RH
};
std::string_view to_string(Type type);
bool is_known(uint8_t type);

// The status of a response (0 in requests). Every refusal has its own code (docs/SMSC-SOCKET.md).
enum class Status : uint16_t {
  ok = 0,
  duplicate = 1,  // SUBMIT: the same message is already active; its id is returned, nothing new
  // Protocol
  bad_message = 10,   // wrong length, reserved bits set, a field out of range
  bad_version = 11,   // header version this core does not speak
  unknown_type = 12,  // a type this core does not know, or one a client may not send
  // Admission (SUBMIT)
  bad_address = 20,
  invalid_nanp = 21,
  unroutable = 22,
  cannot_receive = 23,
  no_upstream_permission = 24,
  pid_refused = 25,
  dcs_refused = 26,
  bad_user_data = 27,  // ud_length beyond the 140 octets, or inconsistent with DCS / UDHI
  bad_imsi = 28,       // deliver-to-IMSI without a valid IMSI
  part_missing = 29,   // a part of a multi-part message whose earlier parts are missing
  // The store
  store_full = 30,    // try again shortly (SMPP: ESME_RTHROTTLED)
  store_failed = 31,  // the shard failed a commit: nothing more is accepted
  // Targets of CANCEL / CHANGE_SRR / MT_DISCHARGE
  not_found = 40,       // no active message with that id / {OA, DA, MR}
  not_in_custody = 41,  // MT_DISCHARGE of a message not transferred to this handler
  // Role handlers
  role_taken = 50,
  not_registered = 51,
  already_registered = 52,  // this connection already holds a role
  bad_role = 53,
  // Results of core -> RH requests
  temporary_failure = 60,   // try again later
  permanent_failure = 61,   // give up: the message fails
  unknown_subscriber = 62,  // MT_FIND_IMSI: no such MSISDN (permanent)
  // Overload of the core itself
  busy = 70,  // too many requests in flight on this connection or core; try again
};
std::string_view to_string(Status status);

struct Header {
  uint8_t version = kVersion;
  Type type = Type::submit;
  uint16_t length = 0;  // the whole message, header included
  Status status = Status::ok;
  uint16_t reserved = 0;
  uint64_t request_id = 0;
  bool response() const { return (static_cast<uint8_t>(type) & kResponseBit) != 0; }
};

// SUBMIT flags.
inline constexpr uint8_t kSubmitDeliverToImsi = 0x01;  // skip routing: GSM MT to record.dest_imsi
inline constexpr uint8_t kSubmitLocallyOriginated = 0x02;  // may use 4-digit local numbers
inline constexpr uint8_t kSubmitUntrusted = 0x04;  // apply the PID/DCS filters (design 2.4.3)
// No reference to tell a retry by (SMPP without user_message_reference; message_ref is then 0):
// no duplicate detection for this message (SmRecord::kFlagNoReference).
inline constexpr uint8_t kSubmitNoReference = 0x08;
inline constexpr uint8_t kSubmitFlagsKnown = 0x0F;
inline constexpr uint32_t kSubmitGroupMax = 0xFFFFFF;

// DELIVER_TO_PEER response, extra_info bit 31 with status ok: the message was handed to the
// next SMSC, which will report its outcome; the handler submits the status report itself (a
// SUBMIT with SmRecord::kFlagReport, allowed on a connection holding a peer role), so the core
// makes none now.
inline constexpr uint32_t kReportFollows = 0x80000000u;

struct Submit {
  uint32_t validity_s = 0;  // 0: the core's default; capped at its maximum
  uint8_t flags = 0;
  // A part of a multi-part message (record.part / record.parts set): the client's reference
  // for the message, the same in each of its parts (24 bits, not 0); 0 for a message of one
  // part. The parts come in order on one connection (docs/SMSC-SOCKET.md).
  uint32_t group = 0;
  storage::SmRecord record;  // the originator's fields; identity and times are the core's
};

// How CANCEL and CHANGE_SRR name their target.
// oa_da_all (CANCEL only): every active message from OA to DA (SMPP cancel_sm without an id).
enum class TargetBy : uint8_t { message_id = 0, oa_da_mr = 1, oa_da_all = 2 };
struct Target {
  TargetBy by = TargetBy::message_id;
  uint64_t message_id = 0;
  storage::Address oa;
  storage::Address da;  // as the originator wrote it
  uint16_t mr = 0;
  // Only a message this originator entered (its src_class and src_peer) is found: a peer may
  // touch only its own messages, whatever ids it tries (others' are not_found).
  bool check_owner = false;
  uint8_t owner_class = 0;  // storage::SmeClass
  uint16_t owner_peer = 0;
};

// What QUERY answers: where a message is (active), or how it ended (historical: kept in
// memory for the core's latest discharges, docs/SMSC-SOCKET.md).
struct QueryResult {
  uint8_t state = 0;        // storage::RecordState
  uint8_t disposition = 0;  // storage::Disposition (none while active)
  uint32_t extra_info = 0;
  int64_t discharge_ns = 0;  // wall time of the discharge (0 while active)
};

enum class Role : uint8_t { imsi_lookup = 1, gsm_mt = 2, peer = 3 };
std::string_view to_string(Role role);

struct Register {
  Role role = Role::peer;
  std::string peer;  // ROLE peer: "" = the upstream, else a downstream peer's name
};

struct Discharge {
  uint64_t message_id = 0;
  storage::Disposition disposition = storage::Disposition::delivered;
  uint32_t extra_info = 0;
};

// A decoded message; which members are meaningful follows header.type (and response()).
struct Message {
  Header header;
  Submit submit;            // submit, mt_transfer, deliver_to_peer (record only)
  Target target;            // cancel, change_srr
  bool srr = false;         // change_srr
  Register reg;             // rh_register
  bool up = false;          // rh_service_state
  std::string digits;       // mt_find_imsi (MSISDN) and its response (IMSI)
  Discharge discharge;      // mt_discharge
  uint64_t message_id = 0;  // mt_cancel; responses to submit / cancel / change_srr
  uint32_t extra_info = 0;  // response to deliver_to_peer
  QueryResult query;        // response to query
};

// The header of the message at the front of `bytes`, if 16 bytes are there.
std::optional<Header> peek_header(std::span<const std::byte> bytes);

// Decodes one whole message (`bytes` is exactly header.length long). On failure, the status a
// response should carry: bad_version, unknown_type or bad_message.
Status decode(std::span<const std::byte> bytes, Message& out);

// Encoders: write one message into `out` (at least kMessageMax bytes) and return its length.
size_t encode_submit(std::span<std::byte> out, uint64_t request_id, const Submit& s);
size_t encode_target(std::span<std::byte> out, Type type, uint64_t request_id, const Target& t,
                     bool srr = false);
size_t encode_register(std::span<std::byte> out, uint64_t request_id, const Register& r);
size_t encode_service_state(std::span<std::byte> out, uint64_t request_id, bool up);
size_t encode_find_imsi(std::span<std::byte> out, uint64_t request_id, std::string_view msisdn);
size_t encode_record(std::span<std::byte> out, Type type, uint64_t request_id,
                     const storage::SmRecord& record);  // mt_transfer, deliver_to_peer
size_t encode_mt_cancel(std::span<std::byte> out, uint64_t request_id, uint64_t message_id);
size_t encode_discharge(std::span<std::byte> out, uint64_t request_id, const Discharge& d);
// A response to a request of `type`: its body is what the type's response carries (message id
// for submit/cancel/change_srr, IMSI digits for mt_find_imsi, extra_info for deliver_to_peer,
// nothing otherwise); a non-ok status other than `duplicate` may carry an empty body.
size_t encode_response(std::span<std::byte> out, Type type, uint64_t request_id, Status status,
                       uint64_t message_id = 0, std::string_view digits = {},
                       uint32_t extra_info = 0);
// QUERY's response.
size_t encode_query_response(std::span<std::byte> out, uint64_t request_id, Status status,
                             uint64_t message_id, const QueryResult& r);
// A response to a request that could not be decoded (its type byte may be anything).
size_t encode_error(std::span<std::byte> out, uint8_t type, uint64_t request_id, Status status);

}  // namespace cp::smsc::wire
