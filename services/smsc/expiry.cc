// Expiry of one reactor's messages (shard_owner.h): the timer armed for the first to expire,
// and what expiring means in each state (design 2.5.4.1, 2.6.1.4).
#include "services/smsc/shard_owner.h"

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "services/smsc/admission.h"
#include "services/smsc/front.h"
#include "services/smsc/route.h"

namespace cp::smsc {

void ShardOwner::arm_expiry() {
  if (heap.empty()) {
    reactor->cancel_timer(expiry_timer);
    return;
  }
  const Nanos in = std::max<Nanos>(0, msgs[heap.front()].expiry_ns - wall());
  reactor->arm_timer(expiry_timer, in);
}

void ShardOwner::on_expiry() {
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
      // core expires it if custody comes back (see role_state). But not never: from a
      // handler_timeout past its expiry the core asks the handler to give it up (MT_CANCEL),
      // again every handler_timeout until it does (issue 15: a handler that forgot a message
      // held it, and its slot, for ever). A handler that does not answer is closed by the
      // front, which returns custody.
      heap_remove(s);
      if (m.expire_when_answered) (void)send_mt_cancel(s, nullptr);  // none free: next round
      m.expire_when_answered = true;
      m.expiry_ns = now_wall + impl.opt.handler_timeout;
      heap_push(s);
      continue;
    }
    remember(s);
    discharge(s, Disposition::expired, 0, nullptr);
  }
  arm_expiry();
}

}  // namespace cp::smsc
