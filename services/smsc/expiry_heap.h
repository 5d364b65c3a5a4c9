// The expiry order of one reactor's messages: a binary min-heap of message slots by
// Msg::expiry_ns, each slot's position kept in Msg::heap_pos so any message leaves it in
// O(log n) (discharged, or handed to a handler that decides its expiry). Capacity reserved once
// for the whole table: no allocation after start-up. Internal to services/smsc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "services/smsc/message_table.h"

namespace cp::smsc {

class ExpiryHeap {
 public:
  void reserve(size_t n) { heap_.reserve(n); }
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  // The slot that expires first (not empty()).
  uint32_t front() const { return heap_.front(); }

  void push(std::vector<Msg>& msgs, uint32_t s) {
    msgs[s].heap_pos = static_cast<uint32_t>(heap_.size());
    heap_.push_back(s);
    up(msgs, heap_.size() - 1);
  }
  // Takes `s` out if it is in (heap_pos != kNone).
  void remove(std::vector<Msg>& msgs, uint32_t s) {
    const uint32_t p = msgs[s].heap_pos;
    if (p == kNone) return;
    swap(msgs, p, heap_.size() - 1);
    heap_.pop_back();
    msgs[s].heap_pos = kNone;
    if (p < heap_.size()) {
      up(msgs, p);
      down(msgs, msgs[heap_[p]].heap_pos);
    }
  }

 private:
  bool less(const std::vector<Msg>& msgs, uint32_t a, uint32_t b) const {
    return msgs[a].expiry_ns < msgs[b].expiry_ns;
  }
  void swap(std::vector<Msg>& msgs, size_t i, size_t j) {
    std::swap(heap_[i], heap_[j]);
    msgs[heap_[i]].heap_pos = static_cast<uint32_t>(i);
    msgs[heap_[j]].heap_pos = static_cast<uint32_t>(j);
  }
  void up(std::vector<Msg>& msgs, size_t i) {
    while (i > 0 && less(msgs, heap_[i], heap_[(i - 1) / 2])) {
      swap(msgs, i, (i - 1) / 2);
      i = (i - 1) / 2;
    }
  }
  void down(std::vector<Msg>& msgs, size_t i) {
    for (;;) {
      size_t m = i;
      const size_t l = 2 * i + 1, r = l + 1;
      if (l < heap_.size() && less(msgs, heap_[l], heap_[m])) m = l;
      if (r < heap_.size() && less(msgs, heap_[r], heap_[m])) m = r;
      if (m == i) return;
      swap(msgs, i, m);
      i = m;
    }
  }

  std::vector<uint32_t> heap_;
};

}  // namespace cp::smsc
