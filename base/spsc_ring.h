// Bounded single-producer / single-consumer ring, the only channel between threads on the data
// path (reactor <-> reactor, reactor <-> hardware thread). Power-of-two capacity, head and tail
// on their own cache lines, each side caching the other's index so the common case touches one
// shared line. A full ring is reported to the producer (backpressure); nothing is dropped and
// nothing is allocated after construction.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <type_traits>

#include "base/assert.h"

namespace cp {

inline constexpr size_t kCacheLineBytes = 64;

template <typename T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>, "ring items are copied by value");

 public:
  explicit SpscRing(size_t capacity_min)
      : capacity_(round_up_pow2(capacity_min)),
        mask_(capacity_ - 1),
        slots_(std::make_unique<T[]>(capacity_)) {}

  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  size_t capacity() const { return capacity_; }

  // Producer side. Returns false when the ring is full.
  bool try_push(const T& item) {
    const uint64_t tail = producer_.tail.load(std::memory_order_relaxed);
    if (tail - producer_.head_cached >= capacity_) {
      producer_.head_cached = consumer_.head.load(std::memory_order_acquire);
      if (tail - producer_.head_cached >= capacity_) return false;
    }
    slots_[tail & mask_] = item;
    producer_.tail.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Producer side: pushes as many of `items` as fit, returns how many.
  size_t try_push_batch(std::span<const T> items) {
    const uint64_t tail = producer_.tail.load(std::memory_order_relaxed);
    size_t room = capacity_ - (tail - producer_.head_cached);
    if (room < items.size()) {
      producer_.head_cached = consumer_.head.load(std::memory_order_acquire);
      room = capacity_ - (tail - producer_.head_cached);
    }
    const size_t n = room < items.size() ? room : items.size();
    for (size_t i = 0; i < n; ++i) slots_[(tail + i) & mask_] = items[i];
    if (n) producer_.tail.store(tail + n, std::memory_order_release);
    return n;
  }

  // Consumer side. Returns false when the ring is empty.
  bool try_pop(T& out) {
    const uint64_t head = consumer_.head.load(std::memory_order_relaxed);
    if (head == consumer_.tail_cached) {
      consumer_.tail_cached = producer_.tail.load(std::memory_order_acquire);
      if (head == consumer_.tail_cached) return false;
    }
    out = slots_[head & mask_];
    consumer_.head.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer side: pops up to out.size() items, returns how many.
  size_t try_pop_batch(std::span<T> out) {
    const uint64_t head = consumer_.head.load(std::memory_order_relaxed);
    size_t avail = consumer_.tail_cached - head;
    if (avail < out.size()) {
      consumer_.tail_cached = producer_.tail.load(std::memory_order_acquire);
      avail = consumer_.tail_cached - head;
    }
    const size_t n = avail < out.size() ? avail : out.size();
    for (size_t i = 0; i < n; ++i) out[i] = slots_[(head + i) & mask_];
    if (n) consumer_.head.store(head + n, std::memory_order_release);
    return n;
  }

  // Either side, approximate: for stats and wake-up decisions only.
  size_t size_approx() const {
    const uint64_t tail = producer_.tail.load(std::memory_order_acquire);
    const uint64_t head = consumer_.head.load(std::memory_order_acquire);
    return tail >= head ? tail - head : 0;
  }
  bool empty_approx() const { return size_approx() == 0; }

 private:
  static size_t round_up_pow2(size_t n) {
    CP_ASSERT(n >= 1 && n <= (size_t{1} << 31));
    size_t c = 1;
    while (c < n) c <<= 1;
    return c;
  }

  struct alignas(kCacheLineBytes) ProducerSide {
    std::atomic<uint64_t> tail{0};
    uint64_t head_cached = 0;
  };
  struct alignas(kCacheLineBytes) ConsumerSide {
    std::atomic<uint64_t> head{0};
    uint64_t tail_cached = 0;
  };

  const size_t capacity_;
  const size_t mask_;
  std::unique_ptr<T[]> slots_;
  ProducerSide producer_;
  ConsumerSide consumer_;
};

}  // namespace cp
