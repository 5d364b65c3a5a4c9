// The MSISDN -> IMSI lookup of one reactor (shard_owner.h, design 2.6.1.2): GSM messages wait in
// the lookup queue, one lookup per MSISDN is asked of the handler, answers are cached for
// imsi_cache_s and fill every message waiting for that MSISDN.
#include "services/smsc/shard_owner.h"

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "services/smsc/admission.h"
#include "services/smsc/front.h"
#include "services/smsc/route.h"

namespace cp::smsc {

void ShardOwner::drain_imsi(Nanos t) {
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

void ShardOwner::fill_imsi(const std::string& msisdn, const std::string& imsi) {
  for (uint32_t s = imsi_q.head; s != kNone;) {
    const uint32_t next = msgs[s].next;
    const SmRecord* r = record_of(s);
    if (r && storage::digits(r->dst_routed) == msisdn) {
      SmRecord up = *r;
      storage::set_imsi(up, imsi);
      if (shard->update(msgs[s].index, up, &ShardOwner::on_imsi_durable, this)) {
        unlink(imsi_q, s);
        msgs[s].state = MsgState::imsi_filling;
      }
    }
    s = next;
  }
}

void ShardOwner::on_imsi_durable(void* ctx, uint64_t index, int32_t result) {
  ShardOwner& c = *static_cast<ShardOwner*>(ctx);
  auto s = c.by_index.find(index);
  if (!s || c.msgs[*s].state != MsgState::imsi_filling) return;
  if (result != 0) return;  // the shard failed: it accepts nothing more
  c.msgs[*s].state = MsgState::mt_core;
  c.link_tail(c.mt_q, *s);
  c.kick();
}

void ShardOwner::fail_imsi(const std::string& msisdn, Status status) {
  for (uint32_t s = imsi_q.head; s != kNone;) {
    const uint32_t next = msgs[s].next;
    const SmRecord* r = record_of(s);
    if (r && storage::digits(r->dst_routed) == msisdn)
      discharge_now(s, Disposition::failed_permanently, static_cast<uint32_t>(status), nullptr);
    s = next;
  }
}

}  // namespace cp::smsc
