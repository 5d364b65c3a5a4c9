// Proves the echo data path allocates nothing from the heap after start-up: every operator new
// in this process is counted, and thousands of round trips after a warm-up must add none.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "base/alloc_counter.h"
#include "engine/echo/echo_service.h"
#include "tests/support/reactor_harness.h"

namespace cp::engine {
namespace {

class EchoAllocTest : public test::BackendTest {};
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
  const uint64_t before = cp::heap_allocations();
  ASSERT_TRUE(round_trips(5000));
  EXPECT_EQ(cp::heap_allocations() - before, 0u);
  ::close(fd);
}

}  // namespace
}  // namespace cp::engine
