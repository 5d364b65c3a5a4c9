// The queues of one reactor's messages: intrusive doubly linked lists threaded through the
// message table's slots (Msg::prev / Msg::next), so a message joins or leaves a queue in O(1)
// and queueing never allocates. One per downstream peer (and the upstream), the MSISDN -> IMSI
// lookup, GSM MT in the core's custody and GSM MT in the handler's custody. Internal.
#pragma once

#include <cstdint>
#include <vector>

#include "base/clock.h"
#include "services/smsc/message_table.h"

namespace cp::smsc {

struct Queue {
  uint32_t head = kNone, tail = kNone;
  uint64_t depth = 0;
  uint32_t outstanding = 0;
  Nanos retry_after = 0;  // monotonic: not before (after a temporary failure)

  void link_tail(std::vector<Msg>& msgs, uint32_t s) {
    Msg& m = msgs[s];
    m.prev = tail;
    m.next = kNone;
    if (tail != kNone)
      msgs[tail].next = s;
    else
      head = s;
    tail = s;
    ++depth;
  }
  void link_head(std::vector<Msg>& msgs, uint32_t s) {
    Msg& m = msgs[s];
    m.prev = kNone;
    m.next = head;
    if (head != kNone)
      msgs[head].prev = s;
    else
      tail = s;
    head = s;
    ++depth;
  }
  void unlink(std::vector<Msg>& msgs, uint32_t s) {
    Msg& m = msgs[s];
    if (m.prev != kNone)
      msgs[m.prev].next = m.next;
    else
      head = m.next;
    if (m.next != kNone)
      msgs[m.next].prev = m.prev;
    else
      tail = m.prev;
    m.prev = m.next = kNone;
    --depth;
  }
};

}  // namespace cp::smsc
