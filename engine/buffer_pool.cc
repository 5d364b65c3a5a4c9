#include "engine/buffer_pool.h"

#include <sys/mman.h>

#include "base/assert.h"

namespace cp::engine {

BufferPool::BufferPool(size_t block_count, size_t block_bytes)
    : block_count_(block_count), block_bytes_(block_bytes) {
  CP_ASSERT(block_count > 0 && block_count < UINT32_MAX && block_bytes > 0);
  mapped_bytes_ = block_count * block_bytes;
  void* p = mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  CP_ASSERT(p != MAP_FAILED);
  base_ = static_cast<std::byte*>(p);
  free_.reserve(block_count);
  for (size_t i = block_count; i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
}

BufferPool::~BufferPool() {
  munmap(base_, mapped_bytes_);
}

std::byte* BufferPool::acquire() {
  if (free_.empty()) return nullptr;
  const uint32_t index = free_.back();
  free_.pop_back();
  return base_ + static_cast<size_t>(index) * block_bytes_;
}

void BufferPool::release(std::byte* block) {
  const auto offset = static_cast<size_t>(block - base_);
  CP_ASSERT(block >= base_ && offset < mapped_bytes_ && offset % block_bytes_ == 0);
  free_.push_back(static_cast<uint32_t>(offset / block_bytes_));
}

}  // namespace cp::engine
