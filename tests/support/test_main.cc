// The main() of every test executable: GoogleTest's, plus a recap of each failed assertion at
// the very end of the output. A test that logs a lot (the daemon, the remote-SIM chain) buries
// its failure messages in the middle of its output, and CI keeps only the head and the tail of
// what a failing test printed: the recap puts them where they are seen.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

constexpr size_t kRecapMessageMax = 2000;  // per failure: the first lines say what went wrong

class FailureRecap : public ::testing::EmptyTestEventListener {
 public:
  // The test's name is taken here: UnitTest::current_test_info() would deadlock inside
  // OnTestPartResult (GoogleTest holds its lock while reporting).
  void OnTestStart(const ::testing::TestInfo& info) override {
    test_ = std::string(info.test_suite_name()) + "." + info.name();
  }
  void OnTestEnd(const ::testing::TestInfo&) override { test_ = "(outside a test)"; }
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::string line = test_;
    line += std::string(" at ") + (result.file_name() ? result.file_name() : "?") + ":" +
            std::to_string(result.line_number()) + "\n";
    std::string message = result.message();
    if (message.size() > kRecapMessageMax) {
      message.resize(kRecapMessageMax);
      message += " [...]";
    }
    failures_.push_back(line + message);
  }
  void OnTestProgramEnd(const ::testing::UnitTest&) override {
    if (failures_.empty()) return;
    std::fprintf(stdout, "\n==== %zu failed assertion(s), recapped:\n", failures_.size());
    for (const auto& f : failures_) std::fprintf(stdout, "---- %s\n", f.c_str());
    std::fflush(stdout);
  }

 private:
  std::string test_ = "(outside a test)";
  std::vector<std::string> failures_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new FailureRecap);
  return RUN_ALL_TESTS();
}
