#include "engine/timer.h"

#include <utility>

namespace cp::engine {

void TimerHeap::arm(Timer& t, Nanos deadline) {
  if (t.armed()) remove_at(t.heap_index_);
  t.deadline_ = deadline;
  t.sequence_ = next_sequence_++;
  t.heap_index_ = heap_.size();
  heap_.push_back(&t);
  if (heap_.size() > high_water_) high_water_ = heap_.size();
  sift_up(t.heap_index_);
}

void TimerHeap::cancel(Timer& t) {
  if (t.armed()) remove_at(t.heap_index_);
}

size_t TimerHeap::run_expired(Nanos now, size_t max_fired) {
  size_t fired = 0;
  while (!heap_.empty() && heap_.front()->deadline_ <= now && fired < max_fired) {
    Timer* t = heap_.front();
    remove_at(0);
    ++fired;
    if (t->callback_) t->callback_(*t, t->context_);
  }
  return fired;
}

void TimerHeap::swap_nodes(size_t a, size_t b) {
  std::swap(heap_[a], heap_[b]);
  heap_[a]->heap_index_ = a;
  heap_[b]->heap_index_ = b;
}

void TimerHeap::sift_up(size_t i) {
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (!less(i, parent)) break;
    swap_nodes(i, parent);
    i = parent;
  }
}

void TimerHeap::sift_down(size_t i) {
  for (;;) {
    const size_t l = 2 * i + 1;
    const size_t r = l + 1;
    size_t m = i;
    if (l < heap_.size() && less(l, m)) m = l;
    if (r < heap_.size() && less(r, m)) m = r;
    if (m == i) return;
    swap_nodes(i, m);
    i = m;
  }
}

void TimerHeap::remove_at(size_t i) {
  Timer* t = heap_[i];
  const size_t last = heap_.size() - 1;
  if (i != last) swap_nodes(i, last);
  heap_.pop_back();
  t->heap_index_ = Timer::kNotArmed;
  if (i < heap_.size()) {
    sift_down(i);
    sift_up(i);
  }
}

}  // namespace cp::engine
