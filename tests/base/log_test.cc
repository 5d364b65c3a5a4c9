// Log levels and the wire-trace escaping (the modem seed's `SER_W ->AT+CMGF=1\r\n<-` form).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>

#include "base/byte_reader.h"
#include "base/log.h"

namespace cp {
namespace {

std::string escaped(std::string_view in) {
  fmt::memory_buffer out;
  escape_bytes(as_bytes(in), out);
  return std::string(out.data(), out.size());
}

TEST(Log, EscapesLikeTheModemTrace) {
  EXPECT_EQ(escaped("AT+CMGF=1\r\n"), "AT+CMGF=1\\r\\n");
  EXPECT_EQ(escaped("Hello World!\x1A\r\n"), "Hello World!\\x1A\\r\\n");
  EXPECT_EQ(escaped(std::string_view("\0\t\\\xff", 4)), "\\x00\\t\\\\\\xFF");
}

TEST(Log, LevelsParseAndFilter) {
  EXPECT_EQ(parse_log_level("debug"), LogLevel::debug);
  EXPECT_FALSE(parse_log_level("loud"));
  const LogLevel saved = log_level();
  set_log_level(LogLevel::warn);
  EXPECT_FALSE(log_enabled(LogLevel::info));
  EXPECT_TRUE(log_enabled(LogLevel::error));
  set_log_level(saved);
}

// stderr redirected into a pipe for the duration of a test.
class StderrPipe {
 public:
  StderrPipe() {
    EXPECT_EQ(::pipe2(fds_, O_CLOEXEC), 0);
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(fds_[1], STDERR_FILENO);
  }
  ~StderrPipe() {
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  // Everything written so far (the write end stays open: reads until empty, non-blocking).
  std::string drain() {
    ::fcntl(fds_[0], F_SETFL, O_NONBLOCK);
    std::string out;
    char buf[65536];
    for (ssize_t n; (n = ::read(fds_[0], buf, sizeof buf)) > 0;) out.append(buf, n);
    return out;
  }

 private:
  int fds_[2] = {-1, -1};
  int saved_ = -1;
};

TEST(LogWriter, WritesEveryLineInOrderAndDrainsOnStop) {
  StderrPipe err;
  start_log_writer(1024);
  for (int i = 0; i < 500; ++i) CP_LOG_NOTICE("line {}", i);
  stop_log_writer();
  const std::string out = err.drain();
  size_t at = 0;
  for (int i = 0; i < 500; ++i) {
    const std::string want = fmt::format("line {}\n", i);
    const size_t found = out.find(want, at);
    ASSERT_NE(found, std::string::npos) << "missing or out of order: " << want;
    at = found + want.size();
  }
  EXPECT_EQ(log_lines_dropped(), 0u);
}

// The point of the writer: a thread that logs never blocks on a stderr nobody reads. Without
// the writer this logging thread would hang in write(2) once the pipe (64 KiB) is full.
TEST(LogWriter, ABlockedStderrNeverBlocksTheLoggingThread) {
  StderrPipe err;
  start_log_writer(64);
  const std::string filler(200, 'x');
  auto logging = std::async(std::launch::async, [&] {
    for (int i = 0; i < 5000; ++i) CP_LOG_NOTICE("{} {}", i, filler);  // ~1 MiB
  });
  const bool finished = logging.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  EXPECT_TRUE(finished) << "logging blocked on a full stderr";
  EXPECT_GT(log_lines_dropped(), 0u);
  std::thread reader([&] {
    for (int i = 0; i < 100; ++i) {
      err.drain();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  stop_log_writer();  // the reader unblocks the writer, which drains and reports the drops
  reader.join();
  if (!finished) logging.wait();
}

}  // namespace
}  // namespace cp
