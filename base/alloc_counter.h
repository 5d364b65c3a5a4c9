// Counting every heap allocation of a process: link the object library cp_alloc_counter into a
// test or benchmark binary (it replaces the global operator new/delete, malloc-based) and read
// heap_allocations() before and after the part that must not allocate.
#pragma once

#include <cstdint>

namespace cp {

// Every operator new (any form) so far, in the whole process.
uint64_t heap_allocations();

}  // namespace cp
