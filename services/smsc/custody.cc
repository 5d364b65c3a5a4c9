// Custody toward the role handlers (shard_owner.h): draining the peer and GSM MT queues within
// their windows, the handlers' answers, custody retaken when a handler goes away (design
// 2.5.4.1), and the requests on one message: cancel, CHANGE_SRR, MT discharge, lookup.
#include "services/smsc/shard_owner.h"

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "services/smsc/admission.h"
#include "services/smsc/front.h"
#include "services/smsc/route.h"

namespace cp::smsc {

void ShardOwner::role_state(wire::Role role, uint16_t queue, bool up) {
  if (role == wire::Role::peer) {
    peer_queue(queue);
    peer_up[queue] = up;
  } else if (role == wire::Role::imsi_lookup) {
    imsi_up = up;
  } else {
    gsm_up = up;
    if (!up) {
      // Design 2.5.4.1 b): the core retakes custody of everything the handler held.
      uint64_t n = 0;
      while (mt_transferred_q.head != kNone) {
        const uint32_t s = mt_transferred_q.head;
        unlink(mt_transferred_q, s);
        msgs[s].state = MsgState::mt_core;
        msgs[s].expire_when_answered = false;
        link_tail(mt_q, s);
        // Its expiry is the core's again (the record's: the heap may hold a later reminder).
        if (const SmRecord* r = record_of(s)) msgs[s].expiry_ns = r->time_expiry_ns;
        heap_remove(s);
        heap_push(s);
        ++n;
      }
      if (n) CP_LOG_INFO("smsc core {}: retook custody of {} GSM MT messages", id, n);
    }
  }
  kick();
}

void ShardOwner::drain() {
  kicked = false;
  const Nanos t = now();
  for (size_t q = 0; q < peer_queues.size(); ++q) {
    Queue& pq = peer_queues[q];
    if (!peer_up[q] || t < pq.retry_after) continue;
    // The queue's head goes first; the window lets several be outstanding (default 1).
    uint32_t s = pq.head;
    while (s != kNone && pq.outstanding < impl.opt.peer_window) {
      const uint32_t next = msgs[s].next;
      if (msgs[s].state == MsgState::peer_queued) {
        OutReq* o = take_out();
        const SmRecord* r = record_of(s);
        if (!o || !r) break;
        o->type = Type::deliver_to_peer;
        o->slot = s;
        o->queue = static_cast<uint16_t>(q);
        o->message_id = r->message_id;
        o->record = *r;
        msgs[s].state = MsgState::peer_outstanding;
        ++pq.outstanding;
        send_out(o);
      }
      s = next;
    }
  }
  if (gsm_up && t >= mt_q.retry_after) {
    uint32_t s = mt_q.head;
    while (s != kNone && mt_q.outstanding < impl.opt.mt_transfer_window) {
      const uint32_t next = msgs[s].next;
      if (msgs[s].state == MsgState::mt_core) {
        OutReq* o = take_out();
        const SmRecord* r = record_of(s);
        if (!o || !r) break;
        o->type = Type::mt_transfer;
        o->slot = s;
        o->message_id = r->message_id;
        o->record = *r;
        msgs[s].state = MsgState::mt_sending;
        ++mt_q.outstanding;
        send_out(o);
      }
      s = next;
    }
  }
  drain_imsi(t);
}

void ShardOwner::out_done(OutReq* o) {
  const Status st = o->status;
  const Nanos t = now();
  // Not sent for want of room toward the handler (it reads slowly): backpressure — the queue
  // tries again shortly, not after retry_delay as after a handler's refusal (issue 15).
  const Nanos pause = o->not_sent ? kBackpressureRetry : impl.opt.retry_delay;
  switch (o->type) {
    case Type::deliver_to_peer: {
      Queue& pq = peer_queue(o->queue);
      --pq.outstanding;
      const uint32_t s = o->slot;
      Msg& m = msgs[s];
      if (m.state != MsgState::peer_outstanding) break;
      if (st == Status::ok && (o->extra_info & wire::kReportFollows)) {
        // Handed to the upstream, which reports the final outcome later: the peer handler
        // submits that status report itself (docs/SMSC-SOCKET.md, DELIVER_TO_PEER).
        discharge(s, Disposition::delivered, o->extra_info & ~wire::kReportFollows, nullptr);
      } else if (st == Status::ok) {
        discharge_now(s, Disposition::delivered, o->extra_info, nullptr);
      } else if (st == Status::permanent_failure) {
        discharge_now(s, Disposition::failed_permanently, o->extra_info, nullptr);
      } else if (m.expire_when_answered) {
        discharge_now(s, Disposition::expired, o->extra_info, nullptr);
      } else {
        // Temporary failure or the handler went away: back at the head, retry later.
        m.state = MsgState::peer_queued;
        if (st != Status::not_registered) pq.retry_after = t + pause;
      }
      break;
    }
    case Type::mt_transfer: {
      --mt_q.outstanding;
      const uint32_t s = o->slot;
      Msg& m = msgs[s];
      if (m.state != MsgState::mt_sending) break;
      if (st == Status::ok && gsm_up) {
        // In the handler's custody now, expired or not: it decides (design 2.6.1.4).
        unlink(mt_q, s);
        m.state = MsgState::mt_transferred;
        link_tail(mt_transferred_q, s);
        if (m.heap_pos == kNone) {
          // It expired while being transferred: the reminder of on_expiry, a handler_timeout on.
          m.expiry_ns = wall() + impl.opt.handler_timeout;
          heap_push(s);
        }
      } else if (m.expire_when_answered) {
        discharge_now(s, Disposition::expired, 0, nullptr);
      } else if (st == Status::permanent_failure) {
        discharge_now(s, Disposition::failed_permanently, o->extra_info, nullptr);
      } else {
        m.state = MsgState::mt_core;
        if (st != Status::not_registered) mt_q.retry_after = t + pause;
      }
      break;
    }
    case Type::mt_cancel: {
      // REQ_CANCEL of a message in the GSM handler's custody (design 2.5.4.2): cancelled
      // once the handler agrees; otherwise the client hears why (it may be being delivered).
      InReq* q = o->reply;
      const uint32_t s = o->slot;
      const bool ours = st == Status::ok && s != kNone &&
                        msgs[s].state == MsgState::mt_transferred && msgs[s].index == o->index;
      if (!q) {
        // The core's own: a message long past its expiry in the handler's custody, given up.
        if (ours) discharge_now(s, Disposition::expired, 0, nullptr);
        break;
      }
      if (ours) {
        discharge_now(s, Disposition::cancelled, 0, q);
      } else {
        q->status = st == Status::ok                                     ? Status::not_found
                    : st == Status::not_registered || st == Status::busy ? Status::temporary_failure
                                                                         : st;
        reply(*q);
      }
      break;
    }
    case Type::mt_find_imsi: {
      --imsi_outstanding;
      const std::string msisdn(o->msisdn);
      imsi_in_lookup.erase(msisdn);
      if (st == Status::ok && o->imsi[0] != 0) {
        imsi_cache[msisdn] = CacheEntry{o->imsi, t + impl.opt.imsi_cache_ttl};
        fill_imsi(msisdn, o->imsi);
      } else if (st == Status::unknown_subscriber || st == Status::permanent_failure) {
        fail_imsi(msisdn, st);
      } else if (st != Status::not_registered) {
        imsi_q.retry_after = t + pause;
      }
      break;
    }
    default:
      break;
  }
  give_back(o);
  kick();
}

bool ShardOwner::send_mt_cancel(uint32_t s, InReq* q) {
  OutReq* o = take_out();
  if (!o) return false;
  o->type = Type::mt_cancel;
  o->slot = s;
  o->index = msgs[s].index;
  o->reply = q;
  o->message_id = storage::make_message_id(shard->id(), msgs[s].index);
  send_out(o);
  return true;
}

std::optional<uint32_t> ShardOwner::find_target(const wire::Target& t) {
  if (t.by == wire::TargetBy::message_id) {
    if (storage::message_shard(t.message_id) != shard->id()) return std::nullopt;
    return by_index.find(storage::message_index(t.message_id));
  }
  // By {OA, DA, MR}: rare (SMS-COMMAND); a scan of this core's active messages.
  for (uint32_t s = 0; s < msgs.size(); ++s) {
    if (msgs[s].state == MsgState::free || msgs[s].state == MsgState::discharging ||
        msgs[s].state == MsgState::committing)
      continue;
    const SmRecord* r = record_of(s);
    if (r && r->message_ref == t.mr && r->src.ton == t.oa.ton &&
        storage::digits(r->src) == storage::digits(t.oa) &&
        storage::digits(r->dst_written) == storage::digits(t.da))
      return s;
  }
  return std::nullopt;
}

void ShardOwner::request(InReq& q) {
  switch (q.kind) {
    case InReq::Kind::query: {
      auto s = find_target(q.target);
      const SmRecord* r = s ? record_of(*s) : nullptr;
      if (r && visible(q.target, r->src_class, r->src_peer)) {
        q.message_id = r->message_id;
        q.query = wire::QueryResult{};
        q.status = Status::ok;
        return reply(q);
      }
      // Finished lately: what became of it.
      const uint64_t target = q.target.message_id;
      auto f = !r && storage::message_shard(target) == shard->id()
                   ? finished_by_index.find(storage::message_index(target))
                   : std::nullopt;
      if (f && visible(q.target, finished[*f].src_class, finished[*f].src_peer)) {
        const Finished& e = finished[*f];
        q.message_id = target;
        q.query = {static_cast<uint8_t>(storage::RecordState::historical), e.disposition,
                   e.extra_info, e.discharge_ns};
        q.status = Status::ok;
        return reply(q);
      }
      q.status = Status::not_found;
      return reply(q);
    }
    case InReq::Kind::cancel: {
      if (q.target.by == wire::TargetBy::oa_da_all) return cancel_all(q);
      auto s = find_target(q.target);
      if (const SmRecord* r = s ? record_of(*s) : nullptr;
          r && !visible(q.target, r->src_class, r->src_peer))
        s.reset();  // another's: as if there were none
      if (s && msgs[*s].state == MsgState::committing && msgs[*s].part) {
        // A part not yet durable of a message its submitter withdraws: given up, and this part
        // cancelled once durable (part_durable).
        q.message_id = storage::make_message_id(shard->id(), msgs[*s].index);
        abandon(msgs[*s].first_part, "its submitter cancelled a part");
        q.status = Status::ok;
        return reply(q);
      }
      if (!s || msgs[*s].state == MsgState::discharging || msgs[*s].state == MsgState::committing) {
        q.status = Status::not_found;
        return reply(q);
      }
      Msg& m = msgs[*s];
      q.message_id = storage::make_message_id(shard->id(), m.index);
      if (m.state == MsgState::peer_outstanding || m.state == MsgState::mt_sending) {
        q.status = Status::temporary_failure;  // a handler has it right now: try again
        return reply(q);
      }
      if (m.state == MsgState::mt_transferred) {
        if (send_mt_cancel(*s, &q)) return;  // answered when the handler is
        q.status = Status::busy;
        return reply(q);
      }
      const bool held = m.state == MsgState::part_held;
      const uint64_t first = m.first_part;
      discharge_now(*s, Disposition::cancelled, 0, &q);
      // A part of a message not yet whole: the message is withdrawn (its submitter's other
      // parts failed), every part of it.
      if (held) abandon(first, "its submitter cancelled a part");
      return;
    }
    case InReq::Kind::change_srr: {
      auto s = find_target(q.target);
      const SmRecord* r = s ? record_of(*s) : nullptr;
      if (!r || msgs[*s].state == MsgState::discharging ||
          !visible(q.target, r->src_class, r->src_peer)) {
        q.status = Status::not_found;
        return reply(q);
      }
      q.message_id = r->message_id;
      SmRecord next = *r;
      next.flags = q.srr ? (next.flags | SmRecord::kFlagStatusReport)
                         : (next.flags & ~SmRecord::kFlagStatusReport);
      auto ok = shard->update(msgs[*s].index, next, &ShardOwner::on_request_durable, &q);
      if (!ok) {
        q.status =
            ok.error() == storage::StoreError::full ? Status::store_full : Status::store_failed;
        return reply(q);
      }
      return;
    }
    case InReq::Kind::lookup: {
      auto s = find_target(q.target);
      const SmRecord* r = s ? record_of(*s) : nullptr;
      if (!r) {
        q.status = Status::not_found;
        return reply(q);
      }
      q.record = *r;
      q.message_id = r->message_id;
      const std::string_view name = state_name(msgs[*s].state);
      std::memset(q.state_name, 0, sizeof q.state_name);
      std::memcpy(q.state_name, name.data(), std::min(name.size(), sizeof q.state_name - 1));
      q.status = Status::ok;
      return reply(q);
    }
    case InReq::Kind::discharge: {
      const wire::Discharge& d = q.discharge;
      auto s = storage::message_shard(d.message_id) == shard->id()
                   ? by_index.find(storage::message_index(d.message_id))
                   : std::nullopt;
      if (!s) {
        q.status = Status::not_found;
        return reply(q);
      }
      if (msgs[*s].state != MsgState::mt_transferred) {
        q.status = Status::not_in_custody;
        return reply(q);
      }
      q.message_id = d.message_id;
      return discharge_now(*s, d.disposition, d.extra_info, &q);
    }
    default:
      break;
  }
}

// CANCEL of every message from OA to DA: those waiting in a queue (a handler holds the others,
// or they are not whole yet) are discharged as cancelled, and the answer — how many, in its
// message id — waits for the last discharge: commits are in order, so then all are durable.
void ShardOwner::cancel_all(InReq& q) {
  const std::string oa = storage::digits(q.target.oa);
  const std::string da = storage::digits(q.target.da);
  std::vector<uint32_t> found;
  for (uint32_t s = 0; s < msgs.size(); ++s) {
    const MsgState st = msgs[s].state;
    if (st != MsgState::peer_queued && st != MsgState::imsi_wait && st != MsgState::mt_core)
      continue;
    const SmRecord* r = record_of(s);
    if (r && r->src.ton == q.target.oa.ton && storage::digits(r->src) == oa &&
        storage::digits(r->dst_written) == da && visible(q.target, r->src_class, r->src_peer))
      found.push_back(s);
  }
  if (found.empty()) {
    q.status = Status::not_found;
    return reply(q);
  }
  q.message_id = found.size();
  for (size_t i = 0; i < found.size(); ++i)
    discharge_now(found[i], Disposition::cancelled, 0, i + 1 == found.size() ? &q : nullptr);
}

void ShardOwner::on_request_durable(void* ctx, uint64_t, int32_t result) {
  auto& q = *static_cast<InReq*>(ctx);
  q.status = result == 0 ? Status::ok : Status::store_failed;
  q.owner_core->reply(q);
}

}  // namespace cp::smsc
