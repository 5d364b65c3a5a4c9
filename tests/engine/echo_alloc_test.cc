// Proves the echo data path allocates nothing from the heap after start-up: every operator new
// in this process is counted, and thousands of round trips after a warm-up must add none.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "engine/echo/echo_service.h"
#include "tests/support/reactor_harness.h"

namespace {
std::atomic<uint64_t> g_allocations{0};
}

// The replacement operator new is malloc-based, so its deletes call free on purpose.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) {
  return operator new(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, size_t) noexcept {
  std::free(p);
}

namespace cp::engine {
namespace {

class EchoAllocTest : public ::testing::TestWithParam<IoBackendKind> {};
INSTANTIATE_TEST_SUITE_P(Backends, EchoAllocTest, ::testing::ValuesIn(test::available_backends()),
                         test::BackendName());

TEST_P(EchoAllocTest, NoHeapAllocationPerMessage) {
  EchoService echo;
  SocketAddress addr;
  test::ReactorThread server(GetParam(), {},
                             [&](Reactor& r) { addr = *r.listen(test::loopback(), echo); });
  ASSERT_EQ(server.error(), "");
  const int fd = test::connect_to(addr);
  ASSERT_GE(fd, 0);
  char buf[64] = {};
  auto round_trips = [&](int n) {
    for (int i = 0; i < n; ++i) {
      buf[0] = static_cast<char>(i);
      if (!test::write_all(fd, buf, sizeof buf)) return false;
      if (test::read_exact(fd, buf, sizeof buf) != sizeof buf) return false;
    }
    return true;
  };
  ASSERT_TRUE(round_trips(200));  // warm-up: buffers, pools and the connection exist
  const uint64_t before = g_allocations.load();
  ASSERT_TRUE(round_trips(5000));
  EXPECT_EQ(g_allocations.load() - before, 0u);
  ::close(fd);
}

}  // namespace
}  // namespace cp::engine
