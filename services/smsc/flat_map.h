// A fixed-capacity open-addressing hash map from 64-bit keys to 32-bit values: linear probing,
// backward-shift deletion (no tombstones), sized once so inserting never allocates. The SMSC
// core's per-message indexes (message index -> slot, duplicate key -> slot) live in these.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/assert.h"

namespace cp::smsc {

class FlatMap {
 public:
  // Room for `max_entries` at a load factor of at most 1/2.
  explicit FlatMap(uint32_t max_entries) {
    size_t cap = 16;
    while (cap < size_t{max_entries} * 2) cap <<= 1;
    slots_.resize(cap);
    mask_ = cap - 1;
    max_ = max_entries;
  }

  uint32_t size() const { return size_; }
  bool full() const { return size_ >= max_; }

  std::optional<uint32_t> find(uint64_t key) const {
    for (size_t i = home(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.used) return std::nullopt;
      if (s.key == key) return s.value;
    }
  }
  // Inserts or replaces. False when full (the caller refuses the message).
  bool put(uint64_t key, uint32_t value) {
    for (size_t i = home(key);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (!s.used) {
        if (full()) return false;
        s = Slot{key, value, true};
        ++size_;
        return true;
      }
      if (s.key == key) {
        s.value = value;
        return true;
      }
    }
  }
  bool erase(uint64_t key) {
    size_t i = home(key);
    for (;; i = (i + 1) & mask_) {
      if (!slots_[i].used) return false;
      if (slots_[i].key == key) break;
    }
    // Backward shift: pull later members of the run into the hole when their home allows.
    for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      if (!slots_[j].used) break;
      const size_t h = home(slots_[j].key);
      const bool movable = ((j - h) & mask_) >= ((j - i) & mask_);
      if (movable) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i].used = false;
    --size_;
    return true;
  }

 private:
  struct Slot {
    uint64_t key = 0;
    uint32_t value = 0;
    bool used = false;
  };
  size_t home(uint64_t key) const {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return static_cast<size_t>(key) & mask_;
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  uint32_t size_ = 0;
  uint32_t max_ = 0;
};

}  // namespace cp::smsc
