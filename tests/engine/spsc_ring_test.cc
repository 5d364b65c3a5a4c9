// SpscRing: capacity rounding, full/empty, batches, and ordering across two threads.
#include <gtest/gtest.h>

#include <array>
#include <thread>

#include "base/spsc_ring.h"

namespace cp {
namespace {

TEST(SpscRing, RoundsCapacityUpAndReportsFull) {
  SpscRing<int> ring(5);
  EXPECT_EQ(ring.capacity(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(ring.try_push(i));
  EXPECT_FALSE(ring.try_push(99));  // full is backpressure, never an overwrite
  int v = -1;
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(ring.try_pop(v));
    EXPECT_EQ(v, i);
  }
  EXPECT_FALSE(ring.try_pop(v));
}

TEST(SpscRing, BatchesWrapAround) {
  SpscRing<int> ring(4);
  std::array<int, 3> in{1, 2, 3};
  std::array<int, 4> out{};
  for (int round = 0; round < 10; ++round) {
    EXPECT_EQ(ring.try_push_batch(in), 3u);
    EXPECT_EQ(ring.try_push_batch(in), 1u);  // only one slot left
    EXPECT_EQ(ring.try_pop_batch(out), 4u);
    EXPECT_EQ(out[0], 1);
    EXPECT_EQ(out[3], 1);
  }
}

TEST(SpscRing, TwoThreadsSeeEveryItemInOrder) {
  SpscRing<uint64_t> ring(64);
  constexpr uint64_t kItems = 2'000'000;
  std::thread producer([&] {
    for (uint64_t i = 0; i < kItems;) {
      if (ring.try_push(i)) ++i;
    }
  });
  uint64_t expected = 0;
  uint64_t v = 0;
  while (expected < kItems) {
    if (ring.try_pop(v)) {
      ASSERT_EQ(v, expected);
      ++expected;
    }
  }
  producer.join();
}

}  // namespace
}  // namespace cp
