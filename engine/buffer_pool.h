// Fixed pool of equal-size blocks, mmap'd once at start-up (MAP_NORESERVE: pages become
// resident only when first touched). LIFO reuse keeps the hot blocks resident and the cold ones
// untouched, so memory follows the number of busy connections, not the configured maximum.
// Owned and used by one reactor thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cp::engine {

class BufferPool {
 public:
  BufferPool(size_t block_count, size_t block_bytes);
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  std::byte* acquire();  // nullptr when empty
  void release(std::byte* block);
  size_t block_bytes() const { return block_bytes_; }
  size_t in_use() const { return block_count_ - free_.size(); }
  size_t block_count() const { return block_count_; }

 private:
  size_t block_count_;
  size_t block_bytes_;
  std::byte* base_ = nullptr;
  size_t mapped_bytes_ = 0;
  std::vector<uint32_t> free_;  // block indices, LIFO
};

}  // namespace cp::engine
