// Invariant checks that stay on in release builds. Never assert on what a peer or a file
// controls: that is an error to return (see docs/ARCHITECTURE.md, "Errors").
#pragma once

#include <cstdio>
#include <cstdlib>

namespace cp::detail {
[[noreturn]] inline void assert_failed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "cellplane: assertion failed: %s (%s:%d)\n", expr, file, line);
  std::abort();
}
}  // namespace cp::detail

#define CP_ASSERT(expr) \
  ((expr) ? static_cast<void>(0) : ::cp::detail::assert_failed(#expr, __FILE__, __LINE__))
