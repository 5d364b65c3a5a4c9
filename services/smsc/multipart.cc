// Multi-part (concatenated) messages on their owner (shard_owner.h; docs/SMSC.md "Multi-part
// messages"). The parts of one message are SUBMITs of their own, in order on one connection,
// named by the client's (connection, group). They all route to the same destination, so to the
// same owner and shard, where:
//   - each part is appended and answered like any message, but held out of the queues until
//     every part is durable; then all are queued, in order;
//   - a part that does not continue its message (an earlier part refused or missing), a part
//     refused, a held part cancelled or expired, or parts that stop coming for part_timeout:
//     the message is given up and every part of it cancelled — none was delivered;
//   - the message's one status report (when asked for) goes at its first failure, or when its
//     last part is delivered, with part 1's id (the id its submitter was given).
// Each record carries its part, the count and the distance to part 1 (storage/record.h); at
// start a message whose last part never reached the log is cancelled (Shard::incomplete_message).
#include <algorithm>

#include "base/log.h"
#include "services/smsc/shard_owner.h"

namespace cp::smsc {

namespace {
uint64_t assembly_key(const InReq& q) {
  return (q.conn_id << 24) | (q.group & wire::kSubmitGroupMax);
}
}  // namespace

std::optional<uint64_t> ShardOwner::begin_part(InReq& q) {
  const uint64_t key = assembly_key(q);
  const SmRecord& r = q.record;
  const uint64_t next = shard->next_index();
  auto at = assembling.find(key);
  if (r.part == 1) {
    if (at != assembling.end()) {
      abandon(at->second, "its part 1 came again");
    } else if (assembling.size() >= impl.opt.parts_assembling_max) {
      // Clients that start messages and never finish them are bounded (part_timeout_s clears
      // them): the next one is refused until some are done.
      q.status = Status::busy;
      reply(q);
      return std::nullopt;
    }
    Multipart& g = multiparts[next];
    g = Multipart{};
    g.key = key;
    g.deadline = now() + impl.opt.part_timeout;
    g.parts = r.parts;
    g.store_only = q.store_only;
    assembling[key] = next;
    q.record.first_part_back = 0;
    return next;
  }
  if (at != assembling.end()) {
    const uint64_t first = at->second;
    Multipart& g = multiparts[first];
    if (g.parts == r.parts && g.received + 1 == r.part && next - first <= UINT32_MAX) {
      q.record.first_part_back = static_cast<uint32_t>(next - first);
      return first;
    }
    abandon(first, "a part came out of order");
  }
  q.status = Status::part_missing;
  reply(q);
  return std::nullopt;
}

void ShardOwner::part_refused(const InReq& q) {
  if (auto at = assembling.find(assembly_key(q)); at != assembling.end())
    abandon(at->second, "a part was refused");
}

void ShardOwner::part_appended(uint64_t first, uint64_t index, uint32_t s) {
  auto it = multiparts.find(first);
  if (it == multiparts.end()) return;
  Multipart& g = it->second;
  ++g.received;
  if (s != kNone) {
    msgs[s].part = true;
    msgs[s].first_part = first;
    ++g.live;
    g.held.push_back(index);
  }
  if (g.received == g.parts) assembling.erase(g.key);  // every part is in: no more will come
}

void ShardOwner::part_durable(uint64_t first, uint32_t s, const InReq& q) {
  auto it = multiparts.find(first);
  if (it == multiparts.end()) return;
  Multipart& g = it->second;
  if (g.broken) {
    if (s != kNone) discharge_now(s, Disposition::cancelled, 0, nullptr);
    return;
  }
  if (s != kNone) msgs[s].state = MsgState::part_held;
  if (++g.durable < g.parts) return;
  // Every part is durable: the message is whole.
  g.assembling = false;
  for (uint64_t index : g.held) {
    auto slot = by_index.find(index);
    if (!slot || msgs[*slot].state != MsgState::part_held) continue;
    if (const SmRecord* r = record_of(*slot)) enqueue(*slot, *r);
  }
  g.held = {};
  if (g.store_only) {
    // Stored is final for a `local` destination: one report for the whole message.
    if (q.kind == InReq::Kind::submit && impl.opt.status_reports &&
        (q.record.flags & SmRecord::kFlagStatusReport)) {
      SmRecord orig = q.record;
      orig.message_id = storage::make_message_id(shard->id(), first);
      make_report(orig, Disposition::stored_only, 0);
    }
    multiparts.erase(it);
  }
}

void ShardOwner::abandon(uint64_t first, std::string_view why) {
  auto it = multiparts.find(first);
  if (it == multiparts.end() || it->second.broken) return;
  Multipart& g = it->second;
  g.broken = true;
  if (auto a = assembling.find(g.key); a != assembling.end() && a->second == first)
    assembling.erase(a);
  if (uint64_t held; part_log.pass(now(), held))
    CP_LOG_INFO(
        "smsc core {}: multi-part message {:#x} given up ({} of {} parts in): {}; its parts are "
        "cancelled ({} more not logged)",
        id, storage::make_message_id(shard->id(), first), g.received, g.parts, why, held);
  const std::vector<uint64_t> held = std::move(g.held);
  // Committing parts are cancelled when durable (part_durable); held ones now. A discharge can
  // finish at once (a failed store) and release its part, which may erase `g`: not used below.
  for (uint64_t index : held) {
    auto slot = by_index.find(index);
    if (slot && msgs[*slot].state == MsgState::part_held)
      discharge_now(*slot, Disposition::cancelled, 0, nullptr);
  }
  if (auto left = multiparts.find(first); left != multiparts.end() && left->second.live == 0)
    multiparts.erase(left);
}

void ShardOwner::part_released(uint32_t s) {
  Msg& m = msgs[s];
  m.part = false;
  auto it = multiparts.find(m.first_part);
  if (it == multiparts.end()) return;
  Multipart& g = it->second;
  if (g.live > 0) --g.live;
  // A part leaving before the message was whole (cancelled, expired, a failed commit): the
  // rest can never be delivered whole.
  if (g.assembling && !g.broken) {
    abandon(m.first_part, "a part was discharged before the message was whole");
    return;  // abandon erased it if nothing is left
  }
  if (g.live == 0 && (!g.assembling || g.broken)) multiparts.erase(it);
}

bool ShardOwner::part_report_due(uint32_t s, SmRecord& orig, Disposition d) {
  const Msg& m = msgs[s];
  orig.message_id = storage::make_message_id(shard->id(), m.first_part);
  auto it = multiparts.find(m.first_part);
  if (it == multiparts.end()) return true;
  Multipart& g = it->second;
  if (g.reported) return false;
  if (d != Disposition::delivered) {
    g.reported = true;
    return true;
  }
  return g.live <= 1;  // this is the last part left
}

void ShardOwner::sweep_assembling() {
  if (assembling.empty()) return;
  const Nanos t = now();
  std::vector<uint64_t> late;
  for (const auto& [key, first] : assembling) {
    auto it = multiparts.find(first);
    if (it == multiparts.end() || it->second.deadline <= t) late.push_back(first);
  }
  for (uint64_t first : late) {
    if (multiparts.count(first)) {
      abandon(first, "its other parts did not come within part_timeout_s");
    } else {
      std::erase_if(assembling, [&](const auto& kv) { return kv.second == first; });
    }
  }
}

void ShardOwner::recover_part(uint32_t s, uint64_t index, const SmRecord& r) {
  const uint64_t first = storage::first_part_index(r, index);
  Multipart& g = multiparts[first];
  g.parts = r.parts;
  g.assembling = false;
  ++g.live;
  msgs[s].part = true;
  msgs[s].first_part = first;
}

}  // namespace cp::smsc
