// Status reports (design 2.6; docs/SMSC.md "Status reports"): the record of a message that asked
// for one is kept when its discharge starts, and the report is entered when the discharge is
// durable, as a new message from the original destination back to the originator.
#include "services/smsc/shard_owner.h"

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "services/smsc/admission.h"
#include "services/smsc/front.h"
#include "services/smsc/route.h"

namespace cp::smsc {

void ShardOwner::remember(uint32_t s) {
  const SmRecord* r = record_of(s);
  if (r && impl.opt.status_reports && (r->flags & SmRecord::kFlagStatusReport))
    report_pending_[msgs[s].index] = *r;
}

// A status report for `orig`, discharged as `disp` (design 2.6; docs/SMSC.md "Status
// reports"): a new message from the original destination back to the originator, carrying the
// outcome in its user data, entered like any other message on the core its destination maps to.
void ShardOwner::make_report(const SmRecord& orig, Disposition disp, uint32_t extra) {
  if (orig.src.ton == 5 || orig.src.length == 0) return;  // nowhere to send it
  if (reports_free.empty()) {
    // Every report of this core is in flight or waiting for a retry: this one is lost, and
    // counted so.
    stats().status_reports_lost.fetch_add(1, std::memory_order_relaxed);
    if (uint64_t held; report_log.pass(now(), held))
      CP_LOG_WARN(
          "smsc core {}: status report for message {:#x} lost: {} in flight or waiting "
          "({} more reports not logged)",
          id, orig.message_id, report_pool.size(), held);
    return;
  }
  InReq* q = reports_free.back();
  reports_free.pop_back();
  q->kind = InReq::Kind::report;
  q->group = 0;
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
  q->report_core = shard_for(key, impl.cores);
  impl.post(*reactor, q->report_core, &ShardOwner::on_submit, q);
}

void ShardOwner::report_refused(InReq& q) {
  stats().status_report_retries.fetch_add(1, std::memory_order_relaxed);
  if (uint64_t held; report_log.pass(now(), held)) {
    StatusReport rep;  // the report names the message it is about; it has no id of its own yet
    std::memcpy(&rep, q.record.user_data, sizeof rep);
    CP_LOG_WARN(
        "smsc core {}: status report for message {:#x} refused ({}); retrying in {} ms "
        "({} more not logged)",
        id, rep.message_id, wire::to_string(q.status), impl.opt.retry_delay / kNanosPerMilli, held);
  }
  if (reports_refused.empty()) reports_retry_at = now() + impl.opt.retry_delay;
  reports_refused.push_back(&q);
}

void ShardOwner::retry_reports() {
  if (reports_refused.empty() || now() < reports_retry_at) return;
  std::vector<InReq*> again;
  again.swap(reports_refused);
  for (InReq* q : again) {
    q->status = Status::ok;
    q->message_id = 0;
    impl.post(*reactor, q->report_core, &ShardOwner::on_submit, q);
  }
}

}  // namespace cp::smsc
