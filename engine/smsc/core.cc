#include "engine/smsc/core.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <unordered_map>

#include "base/log.h"
#include "engine/smsc/client.h"
#include "engine/smsc/flat_map.h"
#include "engine/smsc/route.h"
#include "engine/smsc/wire.h"

namespace cp::smsc {

using engine::Connection;
using engine::CrossCoreMessage;
using engine::Reactor;
using storage::Disposition;
using storage::SmeClass;
using storage::SmRecord;
using wire::Status;
using wire::Type;

namespace {
constexpr uint32_t kNone = UINT32_MAX;
constexpr Nanos kSnapshotInterval = 250 * kNanosPerMilli;
constexpr Nanos kRetryTick = 100 * kNanosPerMilli;
}  // namespace

struct Core;
struct Front;

// ---- requests between the front and the owners ----------------------------------------------

// A client request the front hands to the message's owner core and gets back with the result.
struct InReq {
  enum class Kind : uint8_t { submit, cancel, change_srr, discharge, report, lookup };
  Kind kind = Kind::submit;
  uint64_t conn_id = 0;  // the client connection (0: none, e.g. a status report)
  uint64_t request_id = 0;
  SmRecord record;  // submit / report: the admitted record
  uint64_t dup_key = 0;
  bool store_only = false;
  wire::Target target;
  bool srr = false;
  wire::Discharge discharge;
  unsigned home = 0;           // the core whose pool it came from (and that answers)
  uint64_t control_token = 0;  // a control command waiting for this (conn_id 0)
  char state_name[24] = {};    // lookup: where the message is
  Core* owner_core = nullptr;  // set by the owner when it takes it
  // Result (owner -> front).
  Status status = Status::ok;
  uint64_t message_id = 0;
  InReq* next_free = nullptr;
};

// A request the core makes of a role handler: owner -> front -> RH -> front -> owner.
struct OutReq {
  Type type = Type::deliver_to_peer;
  unsigned owner = 0;
  uint32_t slot = kNone;   // the message (kNone: MT_FIND_IMSI, keyed by msisdn)
  uint16_t queue = 0;      // peer queue
  uint64_t index = 0;      // mt_cancel: the message's index (the slot may be reused meanwhile)
  InReq* reply = nullptr;  // mt_cancel: the client's CANCEL, answered with the outcome
  uint64_t message_id = 0;
  SmRecord record;
  char msisdn[wire::kMsisdnDigitsMax + 1] = {};
  // Result.
  Status status = Status::ok;
  uint32_t extra_info = 0;
  char imsi[wire::kImsiDigitsMax + 1] = {};
  OutReq* next_free = nullptr;
};

// ---- the per-core message tables -------------------------------------------------------------

enum class MsgState : uint8_t {
  free,
  committing,        // appended, not yet durable: in no queue
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
  bool expire_when_answered = false;  // expired while a handler had it
  InReq* reply = nullptr;             // answered when the discharge is durable
  Disposition pending = Disposition::none;
  uint32_t pending_extra = 0;
};

std::string_view state_name(MsgState s) {
  switch (s) {
    case MsgState::free:
      return "free";
    case MsgState::committing:
      return "committing";
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

struct Queue {
  uint32_t head = kNone, tail = kNone;
  uint64_t depth = 0;
  uint32_t outstanding = 0;
  Nanos retry_after = 0;  // monotonic: not before (after a temporary failure)
};

struct SmscService::Impl {
  SmscService& svc;
  SmscStats& stats;
  const SmscOptions& opt;
  storage::Store& store;
  unsigned cores;
  std::vector<std::unique_ptr<Core>> core;  // by core number
  std::unique_ptr<Front> front;
  mutable std::mutex numdb_mutex;
  std::shared_ptr<const Numdb> numdb;
  std::atomic<uint64_t> numdb_generation{0};
  mutable std::mutex snapshot_mutex;
  std::vector<CoreSnapshot> snapshots;
  mutable std::mutex roles_mutex;
  std::vector<RoleSnapshot> role_snapshot;

  Impl(SmscService& s, storage::Store& st, std::shared_ptr<const Numdb> db, unsigned n);

  unsigned owner_of_shard(unsigned shard) const { return shard % cores; }

  // Runs fn(target, msg) on core `to`: directly when already there, else over the ring (kept
  // in an overflow list while the ring is full).
  void post(Reactor& from, unsigned to, CrossCoreMessage::Fn fn, void* ptr, uint64_t a1 = 0,
            uint64_t a2 = 0);
};

// ---- the owner side ---------------------------------------------------------------------------

void set_front_numdb(SmscService::Impl& impl, std::shared_ptr<const Numdb> db);
void front_tick(SmscService::Impl& impl);

struct Core final : engine::Poller {
  using Impl = SmscService::Impl;
  Impl& impl;
  Reactor* reactor = nullptr;
  storage::Shard* shard = nullptr;
  unsigned id = 0;
  std::shared_ptr<const Numdb> numdb;
  std::vector<Msg> msgs;
  std::vector<uint32_t> free_slots;
  FlatMap by_index;
  FlatMap by_dup;
  std::vector<uint32_t> heap;      // expiry min-heap of slots
  std::vector<Queue> peer_queues;  // [0] upstream, [1 + i] downstream peer i
  std::vector<bool> peer_up;
  Queue imsi_q, mt_q, mt_transferred_q;
  bool imsi_up = false, gsm_up = false;
  uint32_t imsi_outstanding = 0;
  std::unordered_map<std::string, bool> imsi_in_lookup;  // msisdn -> lookup sent
  struct CacheEntry {
    std::string imsi;
    Nanos until = 0;
  };
  std::unordered_map<std::string, CacheEntry> imsi_cache;
  std::vector<OutReq> out_pool;
  OutReq* out_free = nullptr;
  std::vector<uint32_t> retry_discharge;  // slots whose discharge update met a full batch
  struct Overflow {
    unsigned to;
    CrossCoreMessage msg;
  };
  std::deque<Overflow> overflow;                 // posts waiting for room in a ring
  std::vector<CrossCoreMessage> local, running;  // posts to this core itself
  std::vector<InReq> report_pool;
  std::vector<InReq*> reports_free;
  uint64_t numdb_seen = 0;
  static Core& of(Reactor& r, const CrossCoreMessage& msg);
  engine::Timer expiry_timer, tick_timer;

  Core(Impl& i, unsigned c)
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
        [](engine::Timer&, void* self) { static_cast<Core*>(self)->on_expiry(); }, this);
    tick_timer.set_callback([](engine::Timer&, void* self) { static_cast<Core*>(self)->on_tick(); },
                            this);
  }

  SmscStats& stats() { return impl.stats; }
  Nanos now() const { return reactor->clock().now(); }
  Nanos wall() const { return reactor->clock().wall_now(); }

  // -- queues
  Queue& queue_of(Msg& m) {
    switch (m.state) {
      case MsgState::imsi_wait:
        return imsi_q;
      case MsgState::mt_core:
      case MsgState::mt_sending:
        return mt_q;
      case MsgState::mt_transferred:
        return mt_transferred_q;
      default:
        return peer_queue(m.queue);
    }
  }
  Queue& peer_queue(uint16_t q) {
    if (q >= peer_queues.size()) {
      peer_queues.resize(q + 1);
      peer_up.resize(q + 1, false);
    }
    return peer_queues[q];
  }
  void link_tail(Queue& q, uint32_t s) {
    Msg& m = msgs[s];
    m.prev = q.tail;
    m.next = kNone;
    if (q.tail != kNone)
      msgs[q.tail].next = s;
    else
      q.head = s;
    q.tail = s;
    ++q.depth;
  }
  void link_head(Queue& q, uint32_t s) {
    Msg& m = msgs[s];
    m.prev = kNone;
    m.next = q.head;
    if (q.head != kNone)
      msgs[q.head].prev = s;
    else
      q.tail = s;
    q.head = s;
    ++q.depth;
  }
  void unlink(Queue& q, uint32_t s) {
    Msg& m = msgs[s];
    if (m.prev != kNone)
      msgs[m.prev].next = m.next;
    else
      q.head = m.next;
    if (m.next != kNone)
      msgs[m.next].prev = m.prev;
    else
      q.tail = m.prev;
    m.prev = m.next = kNone;
    --q.depth;
  }
  bool in_queue(const Msg& m) const {
    return m.state != MsgState::free && m.state != MsgState::committing &&
           m.state != MsgState::imsi_filling && m.state != MsgState::discharging;
  }

  // -- expiry heap
  bool heap_less(uint32_t a, uint32_t b) const { return msgs[a].expiry_ns < msgs[b].expiry_ns; }
  void heap_swap(size_t i, size_t j) {
    std::swap(heap[i], heap[j]);
    msgs[heap[i]].heap_pos = static_cast<uint32_t>(i);
    msgs[heap[j]].heap_pos = static_cast<uint32_t>(j);
  }
  void heap_up(size_t i) {
    while (i > 0 && heap_less(heap[i], heap[(i - 1) / 2])) {
      heap_swap(i, (i - 1) / 2);
      i = (i - 1) / 2;
    }
  }
  void heap_down(size_t i) {
    for (;;) {
      size_t m = i;
      const size_t l = 2 * i + 1, r = l + 1;
      if (l < heap.size() && heap_less(heap[l], heap[m])) m = l;
      if (r < heap.size() && heap_less(heap[r], heap[m])) m = r;
      if (m == i) return;
      heap_swap(i, m);
      i = m;
    }
  }
  void heap_push(uint32_t s) {
    msgs[s].heap_pos = static_cast<uint32_t>(heap.size());
    heap.push_back(s);
    heap_up(heap.size() - 1);
    if (heap.front() == s) arm_expiry();
  }
  void heap_remove(uint32_t s) {
    const uint32_t p = msgs[s].heap_pos;
    if (p == kNone) return;
    heap_swap(p, heap.size() - 1);
    heap.pop_back();
    msgs[s].heap_pos = kNone;
    if (p < heap.size()) {
      heap_up(p);
      heap_down(msgs[heap[p]].heap_pos);
    }
  }
  void arm_expiry() {
    if (heap.empty()) {
      reactor->cancel_timer(expiry_timer);
      return;
    }
    const Nanos in = std::max<Nanos>(0, msgs[heap.front()].expiry_ns - wall());
    reactor->arm_timer(expiry_timer, in);
  }

  // -- message table
  uint32_t alloc(uint64_t index) {
    if (free_slots.empty()) return kNone;
    const uint32_t s = free_slots.back();
    free_slots.pop_back();
    msgs[s] = Msg{};
    msgs[s].index = index;
    by_index.put(index, s);
    return s;
  }
  void release(uint32_t s) {
    Msg& m = msgs[s];
    heap_remove(s);
    by_index.erase(m.index);
    if (m.dup_indexed) {
      auto d = by_dup.find(m.dup_key);
      if (d && *d == s) by_dup.erase(m.dup_key);
    }
    m.state = MsgState::free;
    free_slots.push_back(s);
  }
  const SmRecord* record_of(uint32_t s) const { return shard->find_active(msgs[s].index); }

  // Puts a durable active message into the queue its destination needs.
  void enqueue(uint32_t s, const SmRecord& r) {
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

  // Adopts the shard's recovered active messages (start-up, design 2.6: they re-enter their
  // queues; a GSM message that was in the handler's custody is back in the core's).
  void recover() {
    uint64_t n = 0, dropped = 0;
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
      m.dup_indexed = by_dup.put(m.dup_key, s);
      heap_push(s);
      enqueue(s, r);
      ++n;
    });
    if (n || dropped)
      CP_LOG_INFO("smsc core {}: {} active messages back in their queues{}", id, n,
                  dropped
                      ? fmt::format(" ({} beyond max_active_per_core left in the store)", dropped)
                      : "");
  }

  // -- submit (on the owner)
  static void on_submit(Reactor& r, const CrossCoreMessage& msg);
  void submit(InReq& q) {
    if (!q.store_only) {
      // Duplicate detection (design 2.4.5): an active message with the same originator,
      // routed destination, reference and content, entered within the window.
      if (auto d = by_dup.find(q.dup_key)) {
        Msg& m = msgs[*d];
        const SmRecord* existing = m.state == MsgState::committing ? nullptr : record_of(*d);
        if (existing && same_message(*existing, q.record) &&
            wall() - m.entry_ns <= impl.opt.duplicate_window) {
          stats().duplicates.fetch_add(1, std::memory_order_relaxed);
          q.status = Status::duplicate;
          q.message_id = existing->message_id;
          return reply(q);
        }
      }
      if (free_slots.empty()) {
        q.status = Status::store_full;
        return reply(q);
      }
    }
    auto appended = shard->append(q.record, &Core::on_submit_durable, &q);
    if (!appended) {
      q.status =
          appended.error() == storage::StoreError::full ? Status::store_full : Status::store_failed;
      return reply(q);
    }
    q.message_id = q.record.message_id;
    if (q.store_only) return;
    const uint32_t s = alloc(*appended);
    Msg& m = msgs[s];
    m.state = MsgState::committing;
    m.entry_ns = q.record.time_entry_ns;
    m.expiry_ns = q.record.time_expiry_ns;
    m.dup_key = q.dup_key;
    m.dup_indexed = by_dup.put(q.dup_key, s);
  }
  static void on_submit_durable(void* ctx, uint64_t index, int32_t result) {
    auto& q = *static_cast<InReq*>(ctx);
    Core& c = *q.owner_core;
    c.submitted(q, index, result);
  }
  void submitted(InReq& q, uint64_t index, int32_t result) {
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
      if (s) {
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
  void reply(InReq& q);

  // -- discharge
  void discharge(uint32_t s, Disposition d, uint32_t extra, InReq* reply_to) {
    Msg& m = msgs[s];
    if (in_queue(m)) unlink(queue_of(m), s);
    m.state = MsgState::discharging;
    m.pending = d;
    m.pending_extra = extra;
    m.reply = reply_to;
    heap_remove(s);
    write_discharge(s);
  }
  void write_discharge(uint32_t s) {
    Msg& m = msgs[s];
    const SmRecord* cur = record_of(s);
    if (!cur) {  // cannot happen: the record stays active until this update
      CP_LOG_ERROR("smsc core {}: message index {} vanished from the store", id, m.index);
      finish_discharge(s, -EIO);
      return;
    }
    SmRecord next = *cur;
    next.state = static_cast<uint8_t>(storage::RecordState::historical);
    next.disposition = static_cast<uint8_t>(m.pending);
    next.extra_info = m.pending_extra;
    next.time_discharge_ns = wall();
    auto ok = shard->update(m.index, next, &Core::on_discharge_durable, this);
    if (!ok) {
      if (ok.error() == storage::StoreError::full) {
        retry_discharge.push_back(s);
        return;
      }
      finish_discharge(s, -EIO);
    }
  }
  static void on_discharge_durable(void* ctx, uint64_t index, int32_t result) {
    Core& c = *static_cast<Core*>(ctx);
    if (auto s = c.by_index.find(index)) c.finish_discharge(*s, result);
  }
  void finish_discharge(uint32_t s, int32_t result) {
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
    }
    const Disposition disp = m.pending;
    const uint32_t extra = m.pending_extra;
    release(s);
    if (q) {
      q->status = result == 0 ? Status::ok : Status::store_failed;
      reply(*q);
    }
    if (report) make_report(before, disp, extra);
  }
  // Records of messages being discharged that asked for a status report, by index (only
  // those: most messages do not ask, and the report needs the original's fields).
  std::unordered_map<uint64_t, SmRecord> report_pending_;

  void make_report(const SmRecord& orig, Disposition disp, uint32_t extra);

  // -- expiry
  void on_expiry() {
    const int64_t now_wall = wall();
    while (!heap.empty() && msgs[heap.front()].expiry_ns <= now_wall) {
      const uint32_t s = heap.front();
      Msg& m = msgs[s];
      if (m.state == MsgState::peer_outstanding || m.state == MsgState::mt_sending) {
        heap_remove(s);  // decided when the handler answers
        m.expire_when_answered = true;
        continue;
      }
      if (m.state == MsgState::mt_transferred) {
        // In the GSM handler's custody, which decides its expiry (design 2.5.4.1, 2.6.1.4); the
        // core expires it only if custody comes back (see role_state).
        heap_remove(s);
        m.expire_when_answered = true;
        continue;
      }
      remember(s);
      discharge(s, Disposition::expired, 0, nullptr);
    }
    arm_expiry();
  }
  void remember(uint32_t s) {
    const SmRecord* r = record_of(s);
    if (r && impl.opt.status_reports && (r->flags & SmRecord::kFlagStatusReport))
      report_pending_[msgs[s].index] = *r;
  }
  void discharge_now(uint32_t s, Disposition d, uint32_t extra, InReq* q) {
    remember(s);
    discharge(s, d, extra, q);
  }

  // -- role handler state (broadcast by the front)
  static void on_role_state(Reactor& r, const CrossCoreMessage& msg);
  void role_state(wire::Role role, uint16_t queue, bool up) {
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
          if (msgs[s].heap_pos == kNone) heap_push(s);  // its expiry is the core's again
          ++n;
        }
        if (n) CP_LOG_INFO("smsc core {}: retook custody of {} GSM MT messages", id, n);
      }
    }
    kick();
  }

  // -- draining queues toward the handlers
  bool kicked = false;
  void kick() { kicked = true; }
  OutReq* take_out() {
    OutReq* o = out_free;
    if (o) out_free = o->next_free;
    return o;
  }
  void give_back(OutReq* o) {
    o->next_free = out_free;
    out_free = o;
  }
  void send_out(OutReq* o);
  void drain() {
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
  void drain_imsi(Nanos t) {
    for (uint32_t s = imsi_q.head; s != kNone;) {
      const uint32_t next = msgs[s].next;
      const SmRecord* r = record_of(s);
      if (!r) {
        s = next;
        continue;
      }
      const std::string msisdn = storage::digits(r->dst_routed);
      auto c = imsi_cache.find(msisdn);
      if (c != imsi_cache.end() && c->second.until > t) {
        fill_imsi(msisdn, c->second.imsi);  // may move s and others
      } else if (imsi_up && t >= imsi_q.retry_after && !imsi_in_lookup.count(msisdn) &&
                 imsi_outstanding < impl.opt.imsi_lookup_window) {
        OutReq* o = take_out();
        if (!o) break;
        o->type = Type::mt_find_imsi;
        o->slot = kNone;
        std::memset(o->msisdn, 0, sizeof o->msisdn);
        std::memcpy(o->msisdn, msisdn.data(), std::min(msisdn.size(), wire::kMsisdnDigitsMax));
        imsi_in_lookup[msisdn] = true;
        ++imsi_outstanding;
        send_out(o);
      }
      s = next;
    }
  }
  // Every message waiting for `msisdn` gets its IMSI (made durable) and moves to the MT queue.
  void fill_imsi(const std::string& msisdn, const std::string& imsi) {
    for (uint32_t s = imsi_q.head; s != kNone;) {
      const uint32_t next = msgs[s].next;
      const SmRecord* r = record_of(s);
      if (r && storage::digits(r->dst_routed) == msisdn) {
        SmRecord up = *r;
        storage::set_imsi(up, imsi);
        if (shard->update(msgs[s].index, up, &Core::on_imsi_durable, this)) {
          unlink(imsi_q, s);
          msgs[s].state = MsgState::imsi_filling;
        }
      }
      s = next;
    }
  }
  static void on_imsi_durable(void* ctx, uint64_t index, int32_t result) {
    Core& c = *static_cast<Core*>(ctx);
    auto s = c.by_index.find(index);
    if (!s || c.msgs[*s].state != MsgState::imsi_filling) return;
    if (result != 0) return;  // the shard failed: it accepts nothing more
    c.msgs[*s].state = MsgState::mt_core;
    c.link_tail(c.mt_q, *s);
    c.kick();
  }
  void fail_imsi(const std::string& msisdn, Status status) {
    for (uint32_t s = imsi_q.head; s != kNone;) {
      const uint32_t next = msgs[s].next;
      const SmRecord* r = record_of(s);
      if (r && storage::digits(r->dst_routed) == msisdn)
        discharge_now(s, Disposition::failed_permanently, static_cast<uint32_t>(status), nullptr);
      s = next;
    }
  }

  // -- answers from handlers (via the front)
  static void on_out_done(Reactor& r, const CrossCoreMessage& msg);
  void out_done(OutReq* o) {
    const Status st = o->status;
    const Nanos t = now();
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
          if (st != Status::not_registered) pq.retry_after = t + impl.opt.retry_delay;
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
        } else if (m.expire_when_answered) {
          discharge_now(s, Disposition::expired, 0, nullptr);
        } else if (st == Status::permanent_failure) {
          discharge_now(s, Disposition::failed_permanently, o->extra_info, nullptr);
        } else {
          m.state = MsgState::mt_core;
          if (st != Status::not_registered) mt_q.retry_after = t + impl.opt.retry_delay;
        }
        break;
      }
      case Type::mt_cancel: {
        // REQ_CANCEL of a message in the GSM handler's custody (design 2.5.4.2): cancelled
        // once the handler agrees; otherwise the client hears why (it may be being delivered).
        InReq* q = o->reply;
        const uint32_t s = o->slot;
        if (!q) break;
        if (st == Status::ok && s != kNone && msgs[s].state == MsgState::mt_transferred &&
            msgs[s].index == o->index) {
          discharge_now(s, Disposition::cancelled, 0, q);
        } else {
          q->status = st == Status::ok ? Status::not_found
                      : st == Status::not_registered || st == Status::busy
                          ? Status::temporary_failure
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
          imsi_q.retry_after = t + impl.opt.retry_delay;
        }
        break;
      }
      default:
        break;
    }
    give_back(o);
    kick();
  }
  bool send_mt_cancel(uint32_t s, InReq& q) {
    OutReq* o = take_out();
    if (!o) return false;
    o->type = Type::mt_cancel;
    o->slot = s;
    o->index = msgs[s].index;
    o->reply = &q;
    o->message_id = storage::make_message_id(shard->id(), msgs[s].index);
    send_out(o);
    return true;
  }

  // -- cancel, change SRR, MT discharge (on the owner)
  static void on_request(Reactor& r, const CrossCoreMessage& msg);
  std::optional<uint32_t> find_target(const wire::Target& t) {
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
  void request(InReq& q) {
    switch (q.kind) {
      case InReq::Kind::cancel: {
        auto s = find_target(q.target);
        if (!s || msgs[*s].state == MsgState::discharging ||
            msgs[*s].state == MsgState::committing) {
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
          if (send_mt_cancel(*s, q)) return;  // answered when the handler is
          q.status = Status::busy;
          return reply(q);
        }
        return discharge_now(*s, Disposition::cancelled, 0, &q);
      }
      case InReq::Kind::change_srr: {
        auto s = find_target(q.target);
        const SmRecord* r = s ? record_of(*s) : nullptr;
        if (!r || msgs[*s].state == MsgState::discharging) {
          q.status = Status::not_found;
          return reply(q);
        }
        q.message_id = r->message_id;
        SmRecord next = *r;
        next.flags = q.srr ? (next.flags | SmRecord::kFlagStatusReport)
                           : (next.flags & ~SmRecord::kFlagStatusReport);
        auto ok = shard->update(msgs[*s].index, next, &Core::on_request_durable, &q);
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
  static void on_request_durable(void* ctx, uint64_t, int32_t result) {
    auto& q = *static_cast<InReq*>(ctx);
    q.status = result == 0 ? Status::ok : Status::store_failed;
    q.owner_core->reply(q);
  }

  // -- poller: overflowed posts, retried discharges, queue draining
  bool poll() override {
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
  bool has_work() const override { return kicked || !overflow.empty() || !local.empty(); }

  void on_tick() {
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
  Nanos next_snapshot = 0;
  void publish() {
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
        name = "peer:" + (numdb && peer < numdb->peer_count() ? numdb->peer_name(peer)
                                                              : std::to_string(peer));
      }
      add(std::move(name), peer_queues[q]);
    }
    add("imsi-lookup", imsi_q);
    add("gsm-mt", mt_q);
    add("gsm-mt-transferred", mt_transferred_q);
    std::lock_guard lock(impl.snapshot_mutex);
    impl.snapshots[id] = std::move(snap);
  }
};

// ---- the front: the local socket on reactor 0 -------------------------------------------------

struct Front final : engine::Acceptor, engine::ConnectionHandler {
  using Impl = SmscService::Impl;
  Impl& impl;
  Reactor* reactor = nullptr;
  std::shared_ptr<const Numdb> numdb;

  struct Client {
    Connection* conn = nullptr;
    bool has_role = false;
    wire::Role role = wire::Role::peer;
    std::string peer;
    uint16_t queue = 0;
    bool up = false;
    uint32_t in_flight = 0;  // requests handed to owners, not yet answered
    // Messages waiting for room in a packet: a packet the core sends holds at most kPacketMax
    // bytes (docs/SMSC-SOCKET.md), so any client's receive buffer of that size takes it whole.
    std::vector<std::byte> pending;
  };
  static constexpr size_t kPacketMax = 4096;
  // Sends one message to a client, at most kPacketMax bytes per packet (the reactor sends what
  // is queued in one packet: keeping the queue within the limit keeps every packet within it).
  void send_msg(Connection& conn, std::span<const std::byte> msg) {
    Client& c = clients[conn.id()];
    if (c.pending.empty() && conn.send_queued() + msg.size() <= kPacketMax && conn.send(msg))
      return;
    c.pending.insert(c.pending.end(), msg.begin(), msg.end());
    conn.wait_writable();
  }
  void flush_pending(Connection& conn, Client& c) {
    size_t at = 0;
    while (at < c.pending.size()) {
      const auto h = wire::peek_header({c.pending.data() + at, c.pending.size() - at});
      const size_t len = h->length;
      if (conn.send_queued() + len > kPacketMax || !conn.send({c.pending.data() + at, len})) break;
      at += len;
    }
    c.pending.erase(c.pending.begin(), c.pending.begin() + static_cast<long>(at));
    if (!c.pending.empty()) conn.wait_writable();
  }
  std::unordered_map<uint64_t, Client> clients;  // by connection id
  uint64_t imsi_rh = 0, gsm_rh = 0;
  std::unordered_map<std::string, uint64_t> peer_rh;  // "" = upstream

  struct Pending {
    OutReq* out = nullptr;
    uint64_t conn_id = 0;
    uint64_t request_id = 0;
    Nanos deadline = 0;  // monotonic: no answer by then = a temporary failure
    uint32_t next_free = kNone;
  };
  std::vector<Pending> pending;
  uint32_t pending_free = kNone;
  FlatMap pending_by_id;
  uint64_t next_request_id = 1;

  std::vector<InReq> in_pool;
  InReq* in_free = nullptr;
  std::byte buf[wire::kMessageMax];

  explicit Front(Impl& i) : impl(i), pending_by_id(i.opt.requests_in_flight_max) {
    pending.resize(i.opt.requests_in_flight_max);
    for (uint32_t k = static_cast<uint32_t>(pending.size()); k-- > 0;) {
      pending[k].next_free = pending_free;
      pending_free = k;
    }
  }

  // -- connections
  ConnectionHandler* on_accept(Connection& conn) override {
    clients[conn.id()].conn = &conn;
    impl.stats.clients.fetch_add(1, std::memory_order_relaxed);
    return this;
  }
  void on_close(Connection& conn, engine::CloseReason, int) override {
    auto it = clients.find(conn.id());
    if (it == clients.end()) return;
    impl.stats.clients.fetch_sub(1, std::memory_order_relaxed);
    drop_role(conn.id(), it->second);
    // Every request outstanding toward this handler fails back to its owner (custody returns).
    for (uint32_t k = 0; k < pending.size(); ++k) {
      Pending& p = pending[k];
      if (p.out && p.conn_id == conn.id()) {
        p.out->status = Status::not_registered;
        finish_pending(k);
      }
    }
    clients.erase(it);
  }
  void drop_role(uint64_t id, Client& c) {
    if (!c.has_role) return;
    if (c.up) broadcast_role(c.role, c.queue, false);
    switch (c.role) {
      case wire::Role::imsi_lookup:
        imsi_rh = 0;
        break;
      case wire::Role::gsm_mt:
        gsm_rh = 0;
        break;
      case wire::Role::peer:
        peer_rh.erase(c.peer);
        break;
    }
    CP_LOG_INFO("smsc: role handler {}{} gone (connection {})", wire::to_string(c.role),
                c.role == wire::Role::peer ? " '" + c.peer + "'" : std::string(), id);
    c.has_role = false;
    c.up = false;
    publish_roles();
  }

  size_t on_data(Connection& conn, std::span<const std::byte> data) override {
    Client& c = clients[conn.id()];
    size_t used = 0;
    while (data.size() - used >= wire::kHeaderBytes) {
      const auto h = wire::peek_header(data.subspan(used));
      if (h->length < wire::kHeaderBytes || h->length > wire::kMessageMax) {
        // No way to find the next message: say why and close.
        CP_LOG_WARN("smsc: connection {}: message length {} out of range; closing", conn.id(),
                    h->length);
        impl.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
        const size_t n = wire::encode_error(buf, static_cast<uint8_t>(h->type), h->request_id,
                                            Status::bad_message);
        send_msg(conn, {buf, n});
        conn.close();
        return data.size();
      }
      if (data.size() - used < h->length) break;
      // Room for this answer and everything already in flight on this connection.
      if (conn.send_room() < (size_t{c.in_flight} + 2) * wire::kMessageMax ||
          c.pending.size() >= kPendingMax) {
        conn.pause_reading();
        conn.wait_writable();
        break;
      }
      handle(conn, c, data.subspan(used, h->length));
      used += h->length;
      if (!conn.can_send(0)) break;  // closed meanwhile
    }
    return used;
  }
  void on_writable(Connection& conn) override {
    Client& c = clients[conn.id()];
    flush_pending(conn, c);
    if (c.pending.size() < kPendingMax) conn.resume_reading();
  }
  static constexpr size_t kPendingMax = 64 * 1024;

  void respond_error(Connection& conn, uint8_t type, uint64_t request_id, Status status) {
    const size_t n = wire::encode_error(buf, type, request_id, status);
    send_msg(conn, {buf, n});
  }

  void handle(Connection& conn, Client& c, std::span<const std::byte> bytes) {
    wire::Message m;
    const Status st = wire::decode(bytes, m);
    const auto h = wire::peek_header(bytes);
    if (st != Status::ok) {
      impl.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      CP_LOG_DEBUG("smsc: connection {}: {} ({})", conn.id(), wire::to_string(st),
                   static_cast<unsigned>(h->type));
      if (!h->response()) respond_error(conn, static_cast<uint8_t>(h->type), h->request_id, st);
      return;
    }
    if (m.header.response()) return on_rh_response(conn, m);
    switch (m.header.type) {
      case Type::submit:
        return submit(conn, c, m);
      case Type::cancel:
      case Type::change_srr:
        return target_request(conn, c, m);
      case Type::rh_register:
        return rh_register(conn, c, m);
      case Type::rh_service_state:
        return rh_service_state(conn, c, m);
      case Type::mt_discharge:
        return mt_discharge(conn, c, m);
      default:
        // A request only the core sends.
        impl.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
        respond_error(conn, static_cast<uint8_t>(m.header.type), m.header.request_id,
                      Status::unknown_type);
    }
  }

  InReq* take_in(Connection& conn, const wire::Message& m) {
    InReq* q = in_free;
    if (!q) {
      respond_error(conn, static_cast<uint8_t>(m.header.type), m.header.request_id, Status::busy);
      return nullptr;
    }
    in_free = q->next_free;
    q->conn_id = conn.id();
    q->control_token = 0;
    q->request_id = m.header.request_id;
    q->status = Status::ok;
    q->message_id = 0;
    q->home = 0;
    return q;
  }
  void give_in(InReq* q) {
    q->next_free = in_free;
    in_free = q;
  }

  void submit(Connection& conn, Client& c, const wire::Message& m) {
    InReq* q = take_in(conn, m);
    if (!q) return;
    q->kind = InReq::Kind::submit;
    // A status report for an earlier message (the upstream's delivery receipt, turned into our
    // report by the uplink): only a peer delivery handler may enter one, in the core's layout.
    const bool report = (m.submit.record.flags & SmRecord::kFlagReport) != 0;
    Result<Admitted, Status> a = fail(Status::bad_message);
    if (!report) {
      a = admit(*numdb, impl.opt.admission, m.submit, reactor->clock().wall_now(), q->record);
    } else if (c.has_role && c.role == wire::Role::peer &&
               m.submit.record.ud_length == sizeof(StatusReport) &&
               (m.submit.record.flags & SmRecord::kFlagStatusReport) == 0) {
      wire::Submit plain = m.submit;
      plain.record.flags &= static_cast<uint8_t>(~SmRecord::kFlagReport);
      plain.flags &= static_cast<uint8_t>(~wire::kSubmitUntrusted);
      a = admit(*numdb, impl.opt.admission, plain, reactor->clock().wall_now(), q->record);
      if (a) q->record.flags |= SmRecord::kFlagReport;
    }
    if (!a) {
      impl.stats.submit_refusals.fetch_add(1, std::memory_order_relaxed);
      const size_t n = wire::encode_response(buf, Type::submit, m.header.request_id, a.error());
      send_msg(conn, {buf, n});
      return give_in(q);
    }
    q->store_only = a->store_only;
    q->dup_key = duplicate_key(q->record);
    ++c.in_flight;
    impl.post(*reactor, shard_for(a->routed_digits, impl.cores), &Core::on_submit, q);
  }

  void target_request(Connection& conn, Client& c, const wire::Message& m) {
    InReq* q = take_in(conn, m);
    if (!q) return;
    q->kind = m.header.type == Type::cancel ? InReq::Kind::cancel : InReq::Kind::change_srr;
    q->target = m.target;
    q->srr = m.srr;
    unsigned owner = 0;
    if (m.target.by == wire::TargetBy::message_id) {
      owner = impl.owner_of_shard(storage::message_shard(m.target.message_id));
    } else {
      // The message lives where its routed destination sends it.
      RouteInput ri;
      const std::string da = storage::digits(m.target.da);
      const std::string oa = storage::digits(m.target.oa);
      ri.dst_ton = m.target.da.ton;
      ri.dst_digits = da;
      ri.src_ton = m.target.oa.ton;
      ri.src_digits = oa;
      ri.locally_originated = true;
      auto r = route(*numdb, ri);
      if (!r) {
        const size_t n =
            wire::encode_response(buf, m.header.type, m.header.request_id, Status::not_found);
        send_msg(conn, {buf, n});
        return give_in(q);
      }
      owner = shard_for(r->routed_digits, impl.cores);
    }
    ++c.in_flight;
    impl.post(*reactor, owner, &Core::on_request, q);
  }

  void mt_discharge(Connection& conn, Client& c, const wire::Message& m) {
    if (!c.has_role || c.role != wire::Role::gsm_mt) {
      respond_error(conn, static_cast<uint8_t>(Type::mt_discharge), m.header.request_id,
                    Status::not_registered);
      return;
    }
    InReq* q = take_in(conn, m);
    if (!q) return;
    q->kind = InReq::Kind::discharge;
    q->discharge = m.discharge;
    ++c.in_flight;
    impl.post(*reactor, impl.owner_of_shard(storage::message_shard(m.discharge.message_id)),
              &Core::on_request, q);
  }

  void rh_register(Connection& conn, Client& c, const wire::Message& m) {
    auto answer = [&](Status st) {
      const size_t n = wire::encode_response(buf, Type::rh_register, m.header.request_id, st);
      send_msg(conn, {buf, n});
    };
    if (c.has_role) return answer(Status::already_registered);
    uint16_t queue = 0;
    switch (m.reg.role) {
      case wire::Role::imsi_lookup:
        if (imsi_rh) return answer(Status::role_taken);
        imsi_rh = conn.id();
        break;
      case wire::Role::gsm_mt:
        if (gsm_rh) return answer(Status::role_taken);
        gsm_rh = conn.id();
        break;
      case wire::Role::peer: {
        if (!m.reg.peer.empty()) {
          const auto idx = numdb->peer_index(m.reg.peer);
          if (!idx) return answer(Status::bad_role);  // no such peer in the number database
          queue = static_cast<uint16_t>(*idx + 1);
        }
        if (peer_rh.count(m.reg.peer)) return answer(Status::role_taken);
        peer_rh[m.reg.peer] = conn.id();
        break;
      }
    }
    c.has_role = true;
    c.role = m.reg.role;
    c.peer = m.reg.peer;
    c.queue = queue;
    c.up = false;
    CP_LOG_INFO("smsc: connection {} registered as {}{}", conn.id(), wire::to_string(c.role),
                c.role == wire::Role::peer
                    ? (c.peer.empty() ? std::string(" (upstream)") : " '" + c.peer + "'")
                    : std::string());
    publish_roles();
    answer(Status::ok);
  }

  void rh_service_state(Connection& conn, Client& c, const wire::Message& m) {
    Status st = Status::ok;
    if (!c.has_role) {
      st = Status::not_registered;
    } else if (c.up != m.up) {
      c.up = m.up;
      CP_LOG_INFO("smsc: {}{} service {}", wire::to_string(c.role),
                  c.role == wire::Role::peer ? " '" + c.peer + "'" : std::string(),
                  c.up ? "up" : "down");
      broadcast_role(c.role, c.queue, c.up);
      publish_roles();
    }
    const size_t n = wire::encode_response(buf, Type::rh_service_state, m.header.request_id, st);
    send_msg(conn, {buf, n});
  }

  void broadcast_role(wire::Role role, uint16_t queue, bool up) {
    for (unsigned k = 0; k < impl.cores; ++k)
      impl.post(*reactor, k, &Core::on_role_state, nullptr,
                (uint64_t{static_cast<uint8_t>(role)} << 32) | queue, up ? 1 : 0);
  }

  // -- requests toward role handlers
  uint64_t handler_for(const OutReq& o, uint16_t queue) const {
    const auto up = [&](uint64_t id) -> uint64_t {
      auto it = clients.find(id);
      return id && it != clients.end() && it->second.up ? id : 0;
    };
    switch (o.type) {
      case Type::mt_find_imsi:
        return up(imsi_rh);
      case Type::mt_transfer:
      case Type::mt_cancel:
        return up(gsm_rh);
      case Type::deliver_to_peer:
        for (const auto& [name, id] : peer_rh) {
          auto it = clients.find(id);
          if (it != clients.end() && it->second.queue == queue) return up(id);
        }
        return 0;
      default:
        return 0;
    }
  }
  void send_out(OutReq* o) {
    const uint64_t id = handler_for(*o, o->queue);
    auto it = clients.find(id);
    if (!id || it == clients.end() || pending_free == kNone) {
      o->status = id ? Status::busy : Status::not_registered;
      return back_to_owner(o);
    }
    Connection& conn = *it->second.conn;
    const uint64_t rid = next_request_id++;
    size_t n = 0;
    switch (o->type) {
      case Type::mt_find_imsi:
        n = wire::encode_find_imsi(buf, rid, o->msisdn);
        break;
      case Type::mt_cancel:
        n = wire::encode_mt_cancel(buf, rid, o->message_id);
        break;
      default:
        n = wire::encode_record(buf, o->type, rid, o->record);
        break;
    }
    if (!conn.can_send(n) || clients[conn.id()].pending.size() >= kPendingMax) {
      conn.wait_writable();
      o->status = Status::busy;
      return back_to_owner(o);
    }
    send_msg(conn, {buf, n});
    const uint32_t k = pending_free;
    pending_free = pending[k].next_free;
    pending[k] = Pending{o, id, rid, reactor->clock().now() + impl.opt.handler_timeout, kNone};
    pending_by_id.put(rid, k);
  }
  void back_to_owner(OutReq* o) { impl.post(*reactor, o->owner, &Core::on_out_done, o); }
  void finish_pending(uint32_t k) {
    Pending& p = pending[k];
    OutReq* o = p.out;
    pending_by_id.erase(p.request_id);
    p.out = nullptr;
    p.next_free = pending_free;
    pending_free = k;
    back_to_owner(o);
  }
  void on_rh_response(Connection& conn, const wire::Message& m) {
    auto k = pending_by_id.find(m.header.request_id);
    const Type type = static_cast<Type>(static_cast<uint8_t>(m.header.type) & ~wire::kResponseBit);
    if (!k || pending[*k].conn_id != conn.id() || pending[*k].out->type != type) {
      impl.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      CP_LOG_WARN("smsc: connection {}: a {} response to no request of ours (id {})", conn.id(),
                  wire::to_string(type), m.header.request_id);
      return;
    }
    OutReq* o = pending[*k].out;
    o->status = m.header.status;
    o->extra_info = m.extra_info;
    std::memset(o->imsi, 0, sizeof o->imsi);
    std::memcpy(o->imsi, m.digits.data(), std::min(m.digits.size(), wire::kImsiDigitsMax));
    if (type == Type::mt_find_imsi && o->status == Status::ok && m.digits.size() < 6)
      o->status = Status::temporary_failure;  // an IMSI has 6..15 digits
    finish_pending(*k);
  }

  // -- answers from the owners
  std::unordered_map<uint64_t, std::function<void(InReq&)>> control_waiters;
  uint64_t next_control_token = 1;
  // A control command's request (no connection): answered through its callback.
  void control_request(InReq::Kind kind, uint64_t message_id, std::function<void(InReq&)> cb) {
    InReq* q = in_free;
    if (!q) {
      InReq busy;
      busy.status = Status::busy;
      return cb(busy);
    }
    in_free = q->next_free;
    q->kind = kind;
    q->conn_id = 0;
    q->request_id = 0;
    q->status = Status::ok;
    q->message_id = 0;
    q->home = 0;
    q->target = wire::Target{};
    q->target.message_id = message_id;
    q->control_token = next_control_token++;
    control_waiters.emplace(q->control_token, std::move(cb));
    impl.post(*reactor, impl.owner_of_shard(storage::message_shard(message_id)), &Core::on_request,
              q);
  }

  void answered(InReq& q) {
    if (q.conn_id == 0 && q.control_token != 0) {
      auto it = control_waiters.find(q.control_token);
      q.control_token = 0;
      if (it != control_waiters.end()) {
        auto cb = std::move(it->second);
        control_waiters.erase(it);
        cb(q);
      }
    } else if (q.conn_id != 0) {
      auto it = clients.find(q.conn_id);
      if (it != clients.end()) {
        Client& c = it->second;
        --c.in_flight;
        const Type type = q.kind == InReq::Kind::submit       ? Type::submit
                          : q.kind == InReq::Kind::cancel     ? Type::cancel
                          : q.kind == InReq::Kind::change_srr ? Type::change_srr
                                                              : Type::mt_discharge;
        const size_t n = wire::encode_response(buf, type, q.request_id, q.status, q.message_id);
        send_msg(*c.conn, {buf, n});
        if (c.conn->reading_paused() && c.pending.size() < kPendingMax) c.conn->resume_reading();
      }
    }
    give_in(&q);
  }

  // A handler that does not answer in time loses the request: it fails back to its owner as a
  // temporary failure (the message is retried), and a late answer is ignored with a warning.
  void sweep_timeouts() {
    const Nanos t = reactor->clock().now();
    for (uint32_t k = 0; k < pending.size(); ++k) {
      Pending& p = pending[k];
      if (!p.out || p.deadline > t) continue;
      CP_LOG_WARN("smsc: connection {}: no answer to {} (request {}) in time", p.conn_id,
                  wire::to_string(p.out->type), p.request_id);
      p.out->status = Status::temporary_failure;
      finish_pending(k);
    }
  }

  void publish_roles() {
    std::vector<RoleSnapshot> out;
    for (const auto& [id, c] : clients) {
      if (!c.has_role) continue;
      uint64_t outstanding = 0;
      for (const Pending& p : pending)
        if (p.out && p.conn_id == id) ++outstanding;
      out.push_back({std::string(wire::to_string(c.role)), c.peer, c.up, outstanding});
    }
    std::lock_guard lock(impl.roles_mutex);
    impl.role_snapshot = std::move(out);
  }
};

void set_front_numdb(SmscService::Impl& impl, std::shared_ptr<const Numdb> db) {
  impl.front->numdb = std::move(db);
}

void front_tick(SmscService::Impl& impl) {
  if (!impl.front->reactor) return;
  impl.front->sweep_timeouts();
  impl.front->publish_roles();  // outstanding counts move without registrations
}

// ---- the owner's hooks that need the front ----------------------------------------------------

void Core::reply(InReq& q) {
  impl.post(
      *reactor, q.home,
      [](Reactor&, const CrossCoreMessage& msg) {
        auto& service = *reinterpret_cast<SmscService::Impl*>(msg.args[0]);
        auto* req = static_cast<InReq*>(msg.ptr);
        if (req->kind != InReq::Kind::report) return service.front->answered(*req);
        service.core[req->home]->reports_free.push_back(req);
      },
      &q);
}

void Core::send_out(OutReq* o) {
  impl.post(
      *reactor, 0,
      [](Reactor&, const CrossCoreMessage& msg) {
        auto& service = *reinterpret_cast<SmscService::Impl*>(msg.args[0]);
        service.front->send_out(static_cast<OutReq*>(msg.ptr));
      },
      o);
}

Core& Core::of(Reactor& r, const CrossCoreMessage& msg) {
  return *reinterpret_cast<SmscService::Impl*>(msg.args[0])->core[r.core()];
}
void Core::on_submit(Reactor& r, const CrossCoreMessage& msg) {
  Core& c = of(r, msg);
  auto* q = static_cast<InReq*>(msg.ptr);
  q->owner_core = &c;
  c.submit(*q);
}
void Core::on_request(Reactor& r, const CrossCoreMessage& msg) {
  Core& c = of(r, msg);
  auto* q = static_cast<InReq*>(msg.ptr);
  q->owner_core = &c;
  c.request(*q);
}
void Core::on_role_state(Reactor& r, const CrossCoreMessage& msg) {
  of(r, msg).role_state(static_cast<wire::Role>(msg.args[1] >> 32),
                        static_cast<uint16_t>(msg.args[1] & 0xFFFF), msg.args[2] != 0);
}
void Core::on_out_done(Reactor& r, const CrossCoreMessage& msg) {
  of(r, msg).out_done(static_cast<OutReq*>(msg.ptr));
}

// A status report for `orig`, discharged as `disp` (design 2.6; docs/SMSC.md "Status
// reports"): a new message from the original destination back to the originator, carrying the
// outcome in its user data, entered like any other message on the core its destination maps to.
void Core::make_report(const SmRecord& orig, Disposition disp, uint32_t extra) {
  if (orig.src.ton == 5 || orig.src.length == 0) return;  // nowhere to send it
  if (reports_free.empty()) {
    CP_LOG_WARN("smsc core {}: status report for message {:#x} dropped: too many in flight", id,
                orig.message_id);
    return;
  }
  InReq* q = reports_free.back();
  reports_free.pop_back();
  q->kind = InReq::Kind::report;
  q->home = id;
  q->conn_id = 0;
  q->status = Status::ok;
  SmRecord& r = q->record;
  r = SmRecord{};
  r.src = orig.dst_routed;
  r.dst_written = orig.src;
  r.dst_routed = orig.src;
  r.src_class = static_cast<uint8_t>(SmeClass::local);
  r.dst_class = orig.src_class;
  r.dst_peer = orig.src_peer;
  r.message_ref = orig.message_ref;
  r.flags = SmRecord::kFlagReport;
  r.dcs = 0x04;  // 8-bit data: the report below
  StatusReport rep;
  rep.message_id = orig.message_id;
  rep.submitted_ns = orig.time_entry_ns;
  rep.done_ns = wall();
  rep.disposition = static_cast<uint8_t>(disp);
  rep.extra_info = extra;
  static_assert(sizeof rep <= storage::kUserDataBytesMax);
  std::memcpy(r.user_data, &rep, sizeof rep);
  r.ud_length = sizeof rep;
  const bool store_only = static_cast<SmeClass>(orig.src_class) == SmeClass::local;
  r.time_expiry_ns =
      wall() + static_cast<Nanos>(impl.opt.admission.default_validity_s) * kNanosPerSecond;
  r.state = static_cast<uint8_t>(store_only ? storage::RecordState::historical
                                            : storage::RecordState::active);
  r.disposition = static_cast<uint8_t>(store_only ? Disposition::stored_only : Disposition::none);
  q->store_only = store_only;
  // Routed like a message to the originator would be, so it lands in the same queues and on
  // the same core (its IMSI lookup then asks for the normalised MSISDN).
  std::string key = storage::digits(orig.src);
  RouteInput ri;
  ri.dst_ton = orig.src.ton;
  ri.dst_digits = key;
  ri.locally_originated = true;
  if (auto routed = route(*numdb, ri);
      routed || (routed.error() == RouteError::no_upstream_permission)) {
    if (routed &&
        storage::set_digits(r.dst_routed, routed->routed_digits, routed->routed_ton, orig.src.npi))
      key = routed->routed_digits;
  }
  q->dup_key = duplicate_key(r);
  impl.post(*reactor, shard_for(key, impl.cores), &Core::on_submit, q);
}

// ---- cross-core posting -------------------------------------------------------------------------

void SmscService::Impl::post(Reactor& from, unsigned to, CrossCoreMessage::Fn fn, void* ptr,
                             uint64_t a1, uint64_t a2) {
  CrossCoreMessage msg;
  msg.fn = fn;
  msg.from_core = from.core();
  msg.ptr = ptr;
  msg.args[0] = reinterpret_cast<uint64_t>(this);
  msg.args[1] = a1;
  msg.args[2] = a2;
  Core& here = *core[from.core()];
  if (to == from.core()) {
    // Never re-entered: handled by this core's poller in the same loop turn.
    here.local.push_back(msg);
    from.notify();
    return;
  }
  if (here.overflow.empty() && from.send_to(to, msg)) return;
  here.overflow.push_back({to, msg});
}

// ---- the service ------------------------------------------------------------------------------

SmscService::Impl::Impl(SmscService& s, storage::Store& st, std::shared_ptr<const Numdb> db,
                        unsigned n)
    : svc(s), stats(s.stats_), opt(s.options_), store(st), cores(n), numdb(std::move(db)) {
  snapshots.resize(n);
  for (unsigned c = 0; c < n; ++c) snapshots[c].core = c;  // before each core's first publish
  for (unsigned c = 0; c < n; ++c) core.push_back(std::make_unique<Core>(*this, c));
  front = std::make_unique<Front>(*this);
  front->in_pool.resize(opt.requests_in_flight_max);
  for (auto& q : front->in_pool) front->give_in(&q);
}

SmscService::SmscService(SmscOptions options, storage::Store& store,
                         std::shared_ptr<const Numdb> numdb, unsigned cores)
    : options_(std::move(options)) {
  impl_ = std::make_unique<Impl>(*this, store, std::move(numdb), cores);
}

SmscService::~SmscService() = default;

Result<void, std::string> SmscService::start_on_core(Reactor& reactor) {
  const unsigned k = reactor.core();
  if (k >= impl_->cores) return fail(std::string("smsc: more reactors than configured cores"));
  Core& c = *impl_->core[k];
  c.reactor = &reactor;
  c.shard = impl_->store.primary(k);
  if (!c.shard) return fail(fmt::format("smsc: core {} has no store shard", k));
  c.numdb = numdb();
  c.recover();
  // Shards this core adopted from a run with more cores: their active messages stay in the store
  // (smsc-dump shows them) but are not queued — their ids would clash in this core's tables.
  for (unsigned id = k + impl_->cores; id < storage::kShardsMax; id += impl_->cores) {
    if (const storage::Shard* extra = impl_->store.shard(id); extra && extra->active_count() > 0)
      CP_LOG_WARN(
          "smsc core {}: shard {} (left by a run with more cores) holds {} active messages the "
          "SMSC does not queue; run with more cores to deliver them",
          k, id, extra->active_count());
  }
  reactor.add_poller(c);
  reactor.arm_timer(c.tick_timer, kRetryTick);
  if (k != 0) return {};
  Front& f = *impl_->front;
  f.reactor = &reactor;
  f.numdb = c.numdb;
  if (options_.stream_listen) {
    // The simulation transport (tests): the same protocol over a stream, framed by its headers.
    auto bound = reactor.listen(*options_.stream_listen, f);
    if (!bound)
      return fail("smsc listen " + options_.stream_listen->to_string() + ": " + bound.error());
    return {};
  }
  const std::string& path = options_.socket_path;
  auto addr = SocketAddress::parse("unix:" + path);
  if (!addr) return fail("smsc socket " + path + ": " + addr.error());
  // A socket file left by a previous run is replaced; a live one (another daemon answers on
  // it) or anything else at that path is not.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return fail("smsc socket " + path + ": exists and is not a socket; not replacing it");
    if (SmscClient::connect(path))
      return fail("smsc socket " + path + ": another process serves it (a second cellplaned?)");
    ::unlink(path.c_str());
  }
  engine::ListenOptions lo;
  lo.seqpacket = true;
  lo.reuse_port = false;
  auto bound = reactor.listen(*addr, f, lo);
  if (!bound) return fail("smsc socket " + path + ": " + bound.error());
  ::chmod(path.c_str(), options_.socket_mode);
  CP_LOG_INFO("smsc core: local socket {} (SOCK_SEQPACKET, mode {:o})", path, options_.socket_mode);
  return {};
}

void SmscService::set_numdb(std::shared_ptr<const Numdb> numdb) {
  std::lock_guard lock(impl_->numdb_mutex);
  impl_->numdb = std::move(numdb);
  impl_->numdb_generation.fetch_add(1, std::memory_order_release);
}

std::shared_ptr<const Numdb> SmscService::numdb() const {
  std::lock_guard lock(impl_->numdb_mutex);
  return impl_->numdb;
}

void SmscService::control_cancel(uint64_t message_id, CancelDone done) {
  impl_->front->control_request(InReq::Kind::cancel, message_id,
                                [done = std::move(done)](InReq& q) { done(q.status); });
}

void SmscService::control_lookup(uint64_t message_id, LookupDone done) {
  impl_->front->control_request(
      InReq::Kind::lookup, message_id,
      [done = std::move(done)](InReq& q) { done(q.status, q.record, q.state_name); });
}

std::vector<CoreSnapshot> SmscService::queues() const {
  std::lock_guard lock(impl_->snapshot_mutex);
  return impl_->snapshots;
}

std::vector<RoleSnapshot> SmscService::roles() const {
  std::lock_guard lock(impl_->roles_mutex);
  return impl_->role_snapshot;
}

}  // namespace cp::smsc
