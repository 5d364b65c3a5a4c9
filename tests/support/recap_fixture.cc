// Fails on purpose: the ctest `test_main_recaps_failures` checks that the failure is recapped
// at the end of the output (tests/support/test_main.cc).
#include <gtest/gtest.h>

TEST(RecapFixture, FailsOnPurpose) {
  EXPECT_EQ(1 + 1, 3) << "planted failure";
}
