// One reactor's part of the SMSC core (the "owner" of the messages whose destination hashes to
// its store shard): the message table, its queues and expiry, submit and discharge through the
// shard, recovery at start, the MSISDN -> IMSI lookup, custody toward the role handlers and
// status reports. Lives on its reactor's thread only; the front and the other owners reach it
// with cross-core messages (SmscService::Impl::post). Internal to services/smsc.
//
// Where its parts are defined:
//   shard_owner.cc    construction, recovery, submit, discharge, the poller and the tick
//   expiry.cc         the expiry timer
//   custody.cc        draining queues toward the handlers, their answers, cancel / CHANGE_SRR /
//                     MT discharge / lookup requests, role handlers coming and going
//   imsi_lookup.cc    the MSISDN -> IMSI lookup queue and cache
//   status_report.cc  status reports for discharged messages
//   multipart.cc      multi-part messages: their parts held until all are durable, one report
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/log_throttle.h"
#include "engine/reactor.h"
#include "services/smsc/expiry_heap.h"
#include "services/smsc/flat_map.h"
#include "services/smsc/message_queue.h"
#include "services/smsc/message_table.h"
#include "services/smsc/owner_requests.h"
#include "services/smsc/service_impl.h"

namespace cp::smsc {

inline constexpr Nanos kSnapshotInterval = 250 * kNanosPerMilli;
inline constexpr Nanos kRetryTick = 100 * kNanosPerMilli;
// A queue whose request found no room toward its handler tries again after this (the tick
// kicks it; backpressure, not a failure of the handler).
inline constexpr Nanos kBackpressureRetry = 10 * kNanosPerMilli;

struct ShardOwner final : engine::Poller {
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
  ExpiryHeap heap;                 // expiry order of the slots
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
  std::vector<InReq*> reports_refused;  // refused (store full, a failed commit): retried
  Nanos reports_retry_at = 0;           // ... not before this
  LogThrottle report_log;
  uint64_t numdb_seen = 0;
  static ShardOwner& of(Reactor& r, const CrossCoreMessage& msg);
  engine::Timer expiry_timer, tick_timer;

  ShardOwner(Impl& i, unsigned c);

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
  void link_tail(Queue& q, uint32_t s) { q.link_tail(msgs, s); }
  void link_head(Queue& q, uint32_t s) { q.link_head(msgs, s); }
  void unlink(Queue& q, uint32_t s) { q.unlink(msgs, s); }
  bool in_queue(const Msg& m) const {
    return m.state != MsgState::free && m.state != MsgState::committing &&
           m.state != MsgState::part_held && m.state != MsgState::imsi_filling &&
           m.state != MsgState::discharging;
  }

  // -- expiry heap
  void heap_push(uint32_t s) {
    heap.push(msgs, s);
    if (heap.front() == s) arm_expiry();
  }
  void heap_remove(uint32_t s) { heap.remove(msgs, s); }
  void arm_expiry();

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
    if (m.part) part_released(s);
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
  void enqueue(uint32_t s, const SmRecord& r);

  // Adopts the shard's recovered active messages (start-up, design 2.6: they re-enter their
  // queues; a GSM message that was in the handler's custody is back in the core's).
  void recover();

  // -- submit (on the owner)
  static void on_submit(Reactor& r, const CrossCoreMessage& msg);
  void submit(InReq& q);
  static void on_submit_durable(void* ctx, uint64_t index, int32_t result);
  void submitted(InReq& q, uint64_t index, int32_t result);
  void reply(InReq& q);

  // -- discharge
  void discharge(uint32_t s, Disposition d, uint32_t extra, InReq* reply_to);
  void write_discharge(uint32_t s);
  static void on_discharge_durable(void* ctx, uint64_t index, int32_t result);
  void finish_discharge(uint32_t s, int32_t result);
  // Records of messages being discharged that asked for a status report, by index (only
  // those: most messages do not ask, and the report needs the original's fields).
  std::unordered_map<uint64_t, SmRecord> report_pending_;

  void make_report(const SmRecord& orig, Disposition disp, uint32_t extra);
  // A report came back refused (home core): kept and entered again after retry_delay.
  void report_refused(InReq& q);
  void retry_reports();

  // -- multi-part messages (multipart.cc; docs/SMSC.md "Multi-part messages")
  struct Multipart {
    uint64_t key = 0;      // while assembling: the submitter's (connection, group)
    Nanos deadline = 0;    // while assembling: cancelled unless complete by then
    uint8_t parts = 0;     // how many it has
    uint8_t received = 0;  // parts appended, in order
    uint8_t durable = 0;   // parts made durable
    uint16_t live = 0;     // parts with a slot in the table
    bool assembling = true;
    bool broken = false;    // given up: every part is cancelled
    bool reported = false;  // its one status report is made (a part failed)
    bool store_only = false;
    std::vector<uint64_t> held;  // while assembling: its parts' indices
  };
  std::unordered_map<uint64_t, Multipart> multiparts;  // by part 1's index
  std::unordered_map<uint64_t, uint64_t> assembling;   // (connection, group) -> part 1's index
  LogThrottle part_log;
  // Before a part's append: finds or starts its message (part 1's index, which the append will
  // give part 1) and sets the record's first_part_back; nothing (q answered part_missing) when
  // the part does not continue a message being entered (busy: too many being entered).
  std::optional<uint64_t> begin_part(InReq& q);
  // A part refused after begin_part: its message is given up.
  void part_refused(const InReq& q);
  // After it: the append of q (a part of `first`) succeeded at `index` (`s`: its slot or kNone).
  void part_appended(uint64_t first, uint64_t index, uint32_t s);
  // A part is durable: held until every part is, then all are queued (or cancelled when the
  // message was given up).
  void part_durable(uint64_t first, uint32_t s, const InReq& q);
  void abandon(uint64_t first, std::string_view why);
  void part_released(uint32_t s);
  // The discharge of a part that asked for a status report: whether the message's one report
  // is due now (a first failure, or the last part delivered); `orig` gets part 1's message id.
  bool part_report_due(uint32_t s, SmRecord& orig, Disposition d);
  void sweep_assembling();
  // Recovery: a recovered active part of a complete message.
  void recover_part(uint32_t s, uint64_t index, const SmRecord& r);

  // -- expiry
  void on_expiry();
  void remember(uint32_t s);
  void discharge_now(uint32_t s, Disposition d, uint32_t extra, InReq* q);

  // -- role handler state (broadcast by the front)
  static void on_role_state(Reactor& r, const CrossCoreMessage& msg);
  void role_state(wire::Role role, uint16_t queue, bool up);

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
  void drain();
  void drain_imsi(Nanos t);
  // Every message waiting for `msisdn` gets its IMSI (made durable) and moves to the MT queue.
  void fill_imsi(const std::string& msisdn, const std::string& imsi);
  static void on_imsi_durable(void* ctx, uint64_t index, int32_t result);
  void fail_imsi(const std::string& msisdn, Status status);

  // -- answers from handlers (via the front)
  static void on_out_done(Reactor& r, const CrossCoreMessage& msg);
  void out_done(OutReq* o);
  // MT_CANCEL of a message in the GSM handler's custody: for a client's CANCEL `q`, or the
  // core's own (nullptr: a message long expired). False when no request is free.
  bool send_mt_cancel(uint32_t s, InReq* q);

  // -- what became of the latest messages discharged here (QUERY after the discharge): a ring of
  // the last kFinishedKept, found by index.
  struct Finished {
    uint64_t index = 0;
    int64_t discharge_ns = 0;
    uint32_t extra_info = 0;
    uint16_t src_peer = 0;
    uint8_t src_class = 0;
    uint8_t disposition = 0;
    bool used = false;
  };
  static constexpr uint32_t kFinishedKept = 65536;
  std::vector<Finished> finished = std::vector<Finished>(kFinishedKept);
  FlatMap finished_by_index{kFinishedKept};
  uint32_t finished_next = 0;
  void remember_finished(const Msg& m, Disposition d, uint32_t extra);

  // -- cancel, change SRR, query, MT discharge (on the owner)
  // Whether the target's owner check (if any) lets its sender see a message of this originator.
  static bool visible(const wire::Target& t, uint8_t src_class, uint16_t src_peer) {
    return !t.check_owner || (t.owner_class == src_class && t.owner_peer == src_peer);
  }
  static void on_request(Reactor& r, const CrossCoreMessage& msg);
  std::optional<uint32_t> find_target(const wire::Target& t);
  void request(InReq& q);
  void cancel_all(InReq& q);
  static void on_request_durable(void* ctx, uint64_t, int32_t result);

  // -- poller: overflowed posts, retried discharges, queue draining
  bool poll() override;
  bool has_work() const override;

  void on_tick();
  Nanos next_snapshot = 0;
  void publish();
};

}  // namespace cp::smsc
