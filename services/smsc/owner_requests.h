// The requests that travel between the SMSC front (reactor 0) and the shard owners (one per
// reactor) over the cross-core rings, by pointer: InReq, a client's request handed to the
// message's owner and answered back; OutReq, an owner's request of a role handler, sent through
// the front and answered back. Both come from fixed pools (the front's in_pool, each owner's
// out_pool and report_pool), so the data path does not allocate. Internal to services/smsc.
#pragma once

#include <cstdint>

#include "services/smsc/wire.h"
#include "storage/record.h"

namespace cp::smsc {

inline constexpr uint32_t kNone = UINT32_MAX;  // no slot / end of a list

struct ShardOwner;

// A client request the front hands to the message's owner core and gets back with the result.
struct InReq {
  enum class Kind : uint8_t { submit, cancel, change_srr, query, discharge, report, lookup };
  Kind kind = Kind::submit;
  uint64_t conn_id = 0;  // the client connection (0: none, e.g. a status report)
  uint64_t request_id = 0;
  storage::SmRecord record;  // submit / report: the admitted record
  uint64_t dup_key = 0;
  uint32_t group = 0;  // submit: a part's multi-part message (wire::Submit::group)
  bool store_only = false;
  wire::Target target;
  bool srr = false;
  wire::Discharge discharge;
  unsigned home = 0;                 // the core whose pool it came from (and that answers)
  unsigned report_core = 0;          // report: the owner core it is entered on (and retried on)
  uint64_t control_token = 0;        // a control command waiting for this (conn_id 0)
  char state_name[24] = {};          // lookup: where the message is
  wire::QueryResult query;           // query: its answer
  ShardOwner* owner_core = nullptr;  // set by the owner when it takes it
  // Result (owner -> front).
  wire::Status status = wire::Status::ok;
  uint64_t message_id = 0;
  InReq* next_free = nullptr;
};

// A request the core makes of a role handler: owner -> front -> RH -> front -> owner.
struct OutReq {
  wire::Type type = wire::Type::deliver_to_peer;
  unsigned owner = 0;
  uint32_t slot = kNone;   // the message (kNone: MT_FIND_IMSI, keyed by msisdn)
  uint16_t queue = 0;      // peer queue
  uint64_t index = 0;      // mt_cancel: the message's index (the slot may be reused meanwhile)
  InReq* reply = nullptr;  // mt_cancel: the client's CANCEL, answered with the outcome
  uint64_t message_id = 0;
  storage::SmRecord record;
  char msisdn[wire::kMsisdnDigitsMax + 1] = {};
  // Result.
  wire::Status status = wire::Status::ok;
  bool not_sent = false;  // the front had no room toward the handler: backpressure, not a failure
  uint32_t extra_info = 0;
  char imsi[wire::kImsiDigitsMax + 1] = {};
  OutReq* next_free = nullptr;
};

}  // namespace cp::smsc
