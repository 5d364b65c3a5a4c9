// The remsim server's slot mappings (issue 6; osmo-remsim's slotmap): which bank slot serves
// which client slot, and where each mapping is in its life with the bank daemon:
//
//   NEW --(CreateMappingReq sent)--> UNACKNOWLEDGED --(CreateMappingRes)--> ACTIVE
//   ACTIVE / UNACKNOWLEDGED --(deletion asked)--> DELETE_REQ --(RemoveMappingReq sent)-->
//   DELETING --(RemoveMappingRes)--> gone;  NEW --(deletion asked)--> gone at once
//   bank daemon lost: UNACKNOWLEDGED and ACTIVE -> NEW (sent again when it is back),
//                     DELETING -> DELETE_REQ (the removal is sent again when it is back)
//
// A bank daemon keeps serving its mappings while its control link is down, so a mapping it may
// hold (sent to it once) is never dropped silently: deleting it while the bank is away leaves
// it in DELETE_REQ until the bank is back and has acknowledged the removal. Only a mapping never
// sent (NEW, `sent` false) goes at once.
//
// A bank slot and a client slot each belong to at most one mapping; a mapping's id is
// bankId * 65536 + slotNr, as osmo-remsim's REST API has it. The table is saved as text and
// loaded at start (every mapping comes back NEW, or DELETE_REQ: the bank must acknowledge it
// again, and may hold it), so
// mappings survive a server restart. Single-threaded (the server's reactor).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "proto/rspro/rspro.h"

namespace cp::remsim {

using proto::rspro::BankSlot;
using proto::rspro::ClientSlot;

enum class SlotmapState : uint8_t { fresh, unacknowledged, active, delete_req, deleting };
// "NEW", "UNACKNOWLEDGED", "ACTIVE", "DELETE_REQ", "DELETING" (osmo-remsim's names).
std::string_view to_string(SlotmapState s);

struct Slotmap {
  BankSlot bank;
  ClientSlot client;
  SlotmapState state = SlotmapState::fresh;
  bool sent = false;  // a CreateMappingReq went out: the bank may hold it
  uint32_t id() const { return uint32_t{bank.bank_id} << 16 | bank.slot; }
};

enum class SlotmapError : uint8_t { out_of_range, bank_slot_in_use, client_slot_in_use, not_found };
std::string_view to_string(SlotmapError e);

class Slotmaps {
 public:
  Result<const Slotmap*, SlotmapError> add(BankSlot bank, ClientSlot client);
  const Slotmap* by_id(uint32_t id) const;
  const Slotmap* by_bank(BankSlot bank) const;
  const Slotmap* by_client(ClientSlot client) const;
  const std::map<uint32_t, Slotmap>& all() const { return maps_; }

  // The life cycle above. Each returns false when the mapping is not in the state it expects
  // (an answer for something already gone), changing nothing.
  bool create_sent(uint32_t id);   // NEW -> UNACKNOWLEDGED
  bool create_acked(uint32_t id);  // UNACKNOWLEDGED -> ACTIVE
  // Deletion asked (REST): NEW is removed at once (returns true, and *removed = true).
  Result<void, SlotmapError> request_delete(uint32_t id, bool* removed = nullptr);
  bool remove_sent(uint32_t id);   // DELETE_REQ -> DELETING
  bool remove_acked(uint32_t id);  // DELETING -> gone
  void bank_lost(uint16_t bank_id);
  void clear() { maps_.clear(); }

  // Persistence: one mapping per line, "bankId slotNr clientId slotNr", followed by "delete"
  // for a mapping whose removal the bank has not acknowledged yet.
  std::string save() const;
  static Result<Slotmaps, std::string> load(std::string_view text, std::string_view name);

 private:
  std::map<uint32_t, Slotmap> maps_;  // by id
};

}  // namespace cp::remsim
