// One reactor's part of the SMSC core: construction, recovery, submit, discharge, the poller and
// the tick (shard_owner.h).
#include "services/smsc/shard_owner.h"

#include <algorithm>

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "services/smsc/admission.h"
#include "services/smsc/front.h"
#include "services/smsc/route.h"

namespace cp::smsc {

ShardOwner::ShardOwner(Impl& i, unsigned c)
    : impl(i), id(c), by_index(i.opt.max_active_per_core), by_dup(i.opt.max_active_per_core) {
  msgs.resize(i.opt.max_active_per_core);
  free_slots.reserve(msgs.size());
  for (uint32_t s = static_cast<uint32_t>(msgs.size()); s-- > 0;) free_slots.push_back(s);
  heap.reserve(msgs.size());
  const uint32_t outs = std::max<uint32_t>(
      1024, i.opt.peer_window * 64 + i.opt.mt_transfer_window + i.opt.imsi_lookup_window);
  out_pool.resize(outs);
  for (auto& o : out_pool) {
    o.owner = c;
    o.next_free = out_free;
    out_free = &o;
  }
  report_pool.resize(1024);
  for (auto& q : report_pool) reports_free.push_back(&q);
  local.reserve(4096);
  running.reserve(4096);
  expiry_timer.set_callback(
      [](engine::Timer&, void* self) { static_cast<ShardOwner*>(self)->on_expiry(); }, this);
  tick_timer.set_callback(
      [](engine::Timer&, void* self) { static_cast<ShardOwner*>(self)->on_tick(); }, this);
}

void ShardOwner::enqueue(uint32_t s, const SmRecord& r) {
  Msg& m = msgs[s];
  const auto cls = static_cast<SmeClass>(r.dst_class);
  if (cls == SmeClass::gsm) {
    m.state = storage::imsi(r).empty() ? MsgState::imsi_wait : MsgState::mt_core;
    link_tail(m.state == MsgState::imsi_wait ? imsi_q : mt_q, s);
  } else {
    m.queue = cls == SmeClass::upstream ? 0 : static_cast<uint16_t>(r.dst_peer + 1);
    m.state = MsgState::peer_queued;
    link_tail(peer_queue(m.queue), s);
  }
  kick();
}

void ShardOwner::recover() {
  uint64_t n = 0, dropped = 0;
  std::vector<uint32_t> incomplete;  // parts of messages never entered whole: cancelled
  shard->for_each_active([&](uint64_t index, const SmRecord& r) {
    const uint32_t s = alloc(index);
    if (s == kNone) {
      ++dropped;
      return;
    }
    Msg& m = msgs[s];
    m.entry_ns = r.time_entry_ns;
    m.expiry_ns = r.time_expiry_ns;
    m.dup_key = duplicate_key(r);
    m.dup_indexed = !(r.flags & SmRecord::kFlagNoReference) && by_dup.put(m.dup_key, s);
    heap_push(s);
    if (shard->incomplete_message(r, index)) {
      m.state = MsgState::part_held;
      incomplete.push_back(s);
      return;
    }
    if (storage::is_part(r, index)) recover_part(s, index, r);
    enqueue(s, r);
    ++n;
  });
  if (n || dropped)
    CP_LOG_INFO(
        "smsc core {}: {} active messages back in their queues{}", id, n,
        dropped ? fmt::format(" ({} beyond max_active_per_core left in the store)", dropped) : "");
  if (!incomplete.empty())
    CP_LOG_NOTICE(
        "smsc core {}: cancelling {} parts of multi-part messages whose last part was never "
        "stored (their submitters were not told they were)",
        id, incomplete.size());
  for (uint32_t s : incomplete) discharge_now(s, Disposition::cancelled, 0, nullptr);
}

void ShardOwner::submit(InReq& q) {
  const bool has_reference = !(q.record.flags & SmRecord::kFlagNoReference);
  const bool is_part = q.record.parts != 0;
  auto refuse = [&](Status st) {
    if (is_part) part_refused(q);
    q.status = st;
    reply(q);
  };
  if (!q.store_only) {
    // Duplicate detection (design 2.4.5): an active message with the same originator,
    // routed destination, reference and content, entered within the window. Without a
    // reference nothing tells a retry from a second message: none is looked for.
    if (auto d = has_reference ? by_dup.find(q.dup_key) : std::nullopt) {
      Msg& m = msgs[*d];
      const SmRecord* existing = m.state == MsgState::committing ? nullptr : record_of(*d);
      if (existing && same_message(*existing, q.record) &&
          wall() - m.entry_ns <= impl.opt.duplicate_window) {
        stats().duplicates.fetch_add(1, std::memory_order_relaxed);
        q.message_id = existing->message_id;
        return refuse(Status::duplicate);
      }
    }
    if (free_slots.empty()) return refuse(Status::store_full);
  }
  std::optional<uint64_t> first;
  if (is_part && !(first = begin_part(q))) return;  // answered part_missing
  auto appended = shard->append(q.record, &ShardOwner::on_submit_durable, &q);
  if (!appended)
    return refuse(appended.error() == storage::StoreError::full ? Status::store_full
                                                                : Status::store_failed);
  q.message_id = q.record.message_id;
  uint32_t s = kNone;
  if (!q.store_only) {
    s = alloc(*appended);
    Msg& m = msgs[s];
    m.state = MsgState::committing;
    m.entry_ns = q.record.time_entry_ns;
    m.expiry_ns = q.record.time_expiry_ns;
    m.dup_key = q.dup_key;
    m.dup_indexed = has_reference && by_dup.put(q.dup_key, s);
  }
  if (first) part_appended(*first, *appended, s);
}

void ShardOwner::on_submit_durable(void* ctx, uint64_t index, int32_t result) {
  auto& q = *static_cast<InReq*>(ctx);
  ShardOwner& c = *q.owner_core;
  c.submitted(q, index, result);
}

void ShardOwner::submitted(InReq& q, uint64_t index, int32_t result) {
  auto s = q.store_only ? std::nullopt : by_index.find(index);
  if (result != 0) {
    if (s) release(*s);
    q.status = Status::store_failed;
    q.message_id = 0;  // nothing was stored
  } else {
    q.status = Status::ok;
    if (q.kind == InReq::Kind::report)
      stats().status_reports.fetch_add(1);
    else
      stats().submits.fetch_add(1, std::memory_order_relaxed);
    if (q.record.parts != 0) {
      if (s) heap_push(*s);
      part_durable(storage::first_part_index(q.record, index), s.value_or(kNone), q);
    } else if (s) {
      heap_push(*s);
      const SmRecord* r = record_of(*s);
      if (r) enqueue(*s, *r);
    } else if (q.kind == InReq::Kind::submit && impl.opt.status_reports &&
               (q.record.flags & SmRecord::kFlagStatusReport)) {
      // Stored is delivered for a `local` destination: its originator hears so now.
      make_report(q.record, Disposition::stored_only, 0);
    }
  }
  reply(q);
}

void ShardOwner::discharge(uint32_t s, Disposition d, uint32_t extra, InReq* reply_to) {
  Msg& m = msgs[s];
  if (in_queue(m)) unlink(queue_of(m), s);
  m.state = MsgState::discharging;
  m.pending = d;
  m.pending_extra = extra;
  m.reply = reply_to;
  heap_remove(s);
  write_discharge(s);
}

void ShardOwner::write_discharge(uint32_t s) {
  Msg& m = msgs[s];
  const SmRecord* cur = record_of(s);
  if (!cur) {  // cannot happen: the record stays active until this update
    CP_LOG_ERROR("smsc core {}: message index {} vanished from the store", id, m.index);
    finish_discharge(s, -EIO);
    return;
  }
  m.src_class = cur->src_class;
  m.src_peer = cur->src_peer;
  SmRecord next = *cur;
  next.state = static_cast<uint8_t>(storage::RecordState::historical);
  next.disposition = static_cast<uint8_t>(m.pending);
  next.extra_info = m.pending_extra;
  next.time_discharge_ns = wall();
  auto ok = shard->update(m.index, next, &ShardOwner::on_discharge_durable, this);
  if (!ok) {
    if (ok.error() == storage::StoreError::full) {
      retry_discharge.push_back(s);
      return;
    }
    finish_discharge(s, -EIO);
  }
}

void ShardOwner::on_discharge_durable(void* ctx, uint64_t index, int32_t result) {
  ShardOwner& c = *static_cast<ShardOwner*>(ctx);
  if (auto s = c.by_index.find(index)) c.finish_discharge(*s, result);
}

void ShardOwner::finish_discharge(uint32_t s, int32_t result) {
  Msg& m = msgs[s];
  InReq* q = m.reply;
  SmRecord before{};
  bool report = false;
  if (result == 0) {
    switch (m.pending) {
      case Disposition::delivered:
        stats().delivered.fetch_add(1);
        break;
      case Disposition::expired:
        stats().expired.fetch_add(1);
        break;
      case Disposition::cancelled:
        stats().cancelled.fetch_add(1);
        break;
      default:
        stats().failed.fetch_add(1);
        break;
    }
  }
  // The record is historical now (find_active no longer returns it): what the report needs
  // was copied when the discharge started (remember()).
  if (auto it = report_pending_.find(m.index); it != report_pending_.end()) {
    before = it->second;
    report_pending_.erase(it);
    report = result == 0 && m.pending != Disposition::cancelled;
    // A multi-part message has one report (part_report_due).
    if (report && m.part) report = part_report_due(s, before, m.pending);
  }
  const Disposition disp = m.pending;
  const uint32_t extra = m.pending_extra;
  if (result == 0) remember_finished(m, disp, extra);
  release(s);
  if (q) {
    q->status = result == 0 ? Status::ok : Status::store_failed;
    reply(*q);
  }
  if (report) make_report(before, disp, extra);
}

void ShardOwner::remember_finished(const Msg& m, Disposition d, uint32_t extra) {
  Finished& f = finished[finished_next];
  if (f.used) {
    if (auto at = finished_by_index.find(f.index); at && *at == finished_next)
      finished_by_index.erase(f.index);
  }
  f = Finished{m.index, wall(), extra, m.src_peer, m.src_class, static_cast<uint8_t>(d), true};
  finished_by_index.erase(m.index);
  finished_by_index.put(m.index, finished_next);
  finished_next = (finished_next + 1) % kFinishedKept;
}

void ShardOwner::discharge_now(uint32_t s, Disposition d, uint32_t extra, InReq* q) {
  remember(s);
  discharge(s, d, extra, q);
}

bool ShardOwner::poll() {
  bool did = false;
  while (!overflow.empty()) {
    if (!reactor->send_to(overflow.front().to, overflow.front().msg)) break;
    overflow.pop_front();
    did = true;
  }
  while (!local.empty()) {
    running.swap(local);
    for (const CrossCoreMessage& m : running) m.fn(*reactor, m);
    running.clear();
    did = true;
  }
  if (kicked) {
    drain();
    did = true;
  }
  return did;
}

bool ShardOwner::has_work() const {
  // Posts waiting for a full ring are work only once it has room: its core wakes this one when
  // it made some (Reactor::send_to), so the reactor sleeps meanwhile instead of spinning on it
  // (issue 15: 100 % of a core for as long as the ring stayed full).
  return kicked || !local.empty() ||
         (!overflow.empty() && reactor->can_send_to(overflow.front().to));
}

void ShardOwner::on_tick() {
  // Retry timers of queues, retried discharges, cache pruning, a new number database, the
  // snapshot for cellctl.
  if (const uint64_t g = impl.numdb_generation.load(std::memory_order_acquire); g != numdb_seen) {
    numdb_seen = g;
    std::shared_ptr<const Numdb> db;
    {
      std::lock_guard lock(impl.numdb_mutex);
      db = impl.numdb;
    }
    numdb = db;
    if (id == 0) set_front_numdb(impl, db);
  }
  if (!retry_discharge.empty()) {
    std::vector<uint32_t> again;
    again.swap(retry_discharge);
    for (uint32_t s : again) write_discharge(s);
  }
  retry_reports();
  sweep_assembling();
  kick();
  const Nanos t = now();
  for (auto it = imsi_cache.begin(); it != imsi_cache.end();)
    it = it->second.until <= t ? imsi_cache.erase(it) : std::next(it);
  if (t >= next_snapshot) {
    if (id == 0) front_tick(impl);
    publish();
    next_snapshot = t + kSnapshotInterval;
  }
  reactor->arm_timer(tick_timer, kRetryTick);
}

void ShardOwner::publish() {
  CoreSnapshot snap;
  snap.core = id;
  snap.active = by_index.size();
  auto add = [&](std::string name, const Queue& q) {
    if (q.depth == 0 && q.outstanding == 0) return;
    QueueSnapshot qs{std::move(name), q.depth, q.outstanding, 0};
    if (q.head != kNone) qs.oldest_entry_ns = msgs[q.head].entry_ns;
    snap.queues.push_back(std::move(qs));
  };
  for (size_t q = 0; q < peer_queues.size(); ++q) {
    std::string name = "upstream";
    if (q > 0) {
      const uint16_t peer = static_cast<uint16_t>(q - 1);
      name = "peer:" +
             (numdb && peer < numdb->peer_count() ? numdb->peer_name(peer) : std::to_string(peer));
    }
    add(std::move(name), peer_queues[q]);
  }
  add("imsi-lookup", imsi_q);
  add("gsm-mt", mt_q);
  add("gsm-mt-transferred", mt_transferred_q);
  std::lock_guard lock(impl.snapshot_mutex);
  impl.snapshots[id] = std::move(snap);
}

void ShardOwner::reply(InReq& q) {
  impl.post(
      *reactor, q.home,
      [](Reactor&, const CrossCoreMessage& msg) {
        auto& service = *reinterpret_cast<SmscService::Impl*>(msg.args[0]);
        auto* req = static_cast<InReq*>(msg.ptr);
        if (req->kind != InReq::Kind::report) return service.front->answered(*req);
        ShardOwner& home = *service.core[req->home];
        if (req->status == Status::store_full || req->status == Status::store_failed)
          return home.report_refused(*req);
        home.reports_free.push_back(req);  // entered (or already there: a duplicate)
      },
      &q);
}

void ShardOwner::send_out(OutReq* o) {
  impl.post(
      *reactor, 0,
      [](Reactor&, const CrossCoreMessage& msg) {
        auto& service = *reinterpret_cast<SmscService::Impl*>(msg.args[0]);
        service.front->send_out(static_cast<OutReq*>(msg.ptr));
      },
      o);
}

ShardOwner& ShardOwner::of(Reactor& r, const CrossCoreMessage& msg) {
  return *reinterpret_cast<SmscService::Impl*>(msg.args[0])->core[r.core()];
}
void ShardOwner::on_submit(Reactor& r, const CrossCoreMessage& msg) {
  ShardOwner& c = of(r, msg);
  auto* q = static_cast<InReq*>(msg.ptr);
  q->owner_core = &c;
  c.submit(*q);
}
void ShardOwner::on_request(Reactor& r, const CrossCoreMessage& msg) {
  ShardOwner& c = of(r, msg);
  auto* q = static_cast<InReq*>(msg.ptr);
  q->owner_core = &c;
  c.request(*q);
}
void ShardOwner::on_role_state(Reactor& r, const CrossCoreMessage& msg) {
  of(r, msg).role_state(static_cast<wire::Role>(msg.args[1] >> 32),
                        static_cast<uint16_t>(msg.args[1] & 0xFFFF), msg.args[2] != 0);
}
void ShardOwner::on_out_done(Reactor& r, const CrossCoreMessage& msg) {
  of(r, msg).out_done(static_cast<OutReq*>(msg.ptr));
}

}  // namespace cp::smsc
