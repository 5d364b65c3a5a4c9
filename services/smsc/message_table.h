// One reactor's table of active messages: a fixed array of slots (Msg), sized
// max_active_per_core at start, with the message's state in the core (MsgState), its place in a
// queue (prev/next) and in the expiry heap (heap_pos). The record itself stays in the store
// shard; a slot holds only what the queues, expiry and custody need. Internal to services/smsc.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/clock.h"
#include "services/smsc/owner_requests.h"
#include "storage/record.h"

namespace cp::smsc {

enum class MsgState : uint8_t {
  free,
  committing,        // appended, not yet durable: in no queue
  part_held,         // a durable part of a multi-part message still missing parts: in no queue
  peer_queued,       // waiting for DELIVER_TO_PEER
  peer_outstanding,  // DELIVER_TO_PEER sent
  imsi_wait,         // waiting for (or in) an MSISDN -> IMSI lookup
  imsi_filling,      // the IMSI found is being made durable: in no queue
  mt_core,           // GSM MT, in the core's custody
  mt_sending,        // MT_TRANSFER sent, not yet answered
  mt_transferred,    // in the GSM MT handler's custody
  discharging,       // the discharge update is being made durable
};

struct Msg {
  uint64_t index = 0;
  uint64_t dup_key = 0;
  int64_t entry_ns = 0;   // wall
  int64_t expiry_ns = 0;  // wall
  uint32_t prev = kNone, next = kNone;
  uint32_t heap_pos = kNone;
  uint16_t queue = 0;
  MsgState state = MsgState::free;
  bool dup_indexed = false;
  bool part = false;      // a part of a multi-part message (part 1's index: first_part)
  uint8_t src_class = 0;  // its originator, kept from the discharge on (the record is then
  uint16_t src_peer = 0;  // historical) for QUERY's memory of finished messages
  bool expire_when_answered = false;  // expired while a handler had it
  InReq* reply = nullptr;             // answered when the discharge is durable
  storage::Disposition pending = storage::Disposition::none;
  uint32_t pending_extra = 0;
  uint64_t first_part = 0;
};

inline std::string_view state_name(MsgState s) {
  switch (s) {
    case MsgState::free:
      return "free";
    case MsgState::committing:
      return "committing";
    case MsgState::part_held:
      return "part-held";
    case MsgState::peer_queued:
      return "peer-queued";
    case MsgState::peer_outstanding:
      return "peer-delivering";
    case MsgState::imsi_wait:
      return "imsi-lookup";
    case MsgState::imsi_filling:
      return "imsi-found";
    case MsgState::mt_core:
      return "gsm-mt-core-custody";
    case MsgState::mt_sending:
      return "gsm-mt-transferring";
    case MsgState::mt_transferred:
      return "gsm-mt-handler-custody";
    case MsgState::discharging:
      return "discharging";
  }
  return "unknown";
}

}  // namespace cp::smsc
