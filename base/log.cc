#include "base/log.h"

#include <unistd.h>

#include <pthread.h>
#include <signal.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <thread>

#include <concurrentqueue/blockingconcurrentqueue.h>

#include "base/clock.h"

namespace cp {

namespace log_detail {
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::atomic<bool> g_wire_trace{false};
}  // namespace log_detail

namespace {
thread_local std::array<char, 24> t_tag{"main"};
}  // namespace

std::string_view to_string(LogLevel level) {
  return kLogLevelNames[static_cast<int>(level)];
}

std::optional<LogLevel> parse_log_level(std::string_view name) {
  for (size_t i = 0; i < kLogLevelNames.size(); ++i) {
    if (kLogLevelNames[i] == name) return static_cast<LogLevel>(i);
  }
  return std::nullopt;
}

void set_log_level(LogLevel level) {
  log_detail::g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}
LogLevel log_level() {
  return static_cast<LogLevel>(log_detail::g_level.load());
}
void set_wire_trace(bool on) {
  log_detail::g_wire_trace.store(on, std::memory_order_relaxed);
}
bool wire_trace_enabled() {
  return log_detail::g_wire_trace.load(std::memory_order_relaxed);
}

void set_thread_log_tag(std::string_view tag) {
  const size_t n = std::min(tag.size(), t_tag.size() - 1);
  std::memcpy(t_tag.data(), tag.data(), n);
  t_tag[n] = '\0';
}

void escape_bytes(std::span<const std::byte> bytes, fmt::memory_buffer& out) {
  for (std::byte b : bytes) {
    const auto c = std::to_integer<unsigned char>(b);
    switch (c) {
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      case '\\':
        out.append(std::string_view("\\\\"));
        break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out.push_back(static_cast<char>(c));
        } else {
          fmt::format_to(std::back_inserter(out), "\\x{:02X}", c);
        }
    }
  }
}

void log_wire(std::string_view tag, std::span<const std::byte> bytes) {
  if (!wire_trace_enabled()) return;
  fmt::memory_buffer escaped;
  escape_bytes(bytes, escaped);
  log(LogLevel::info, "{} ->{}<-", tag, std::string_view(escaped.data(), escaped.size()));
}

namespace {

void write_fully(const char* p, size_t left) {
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

// One formatted line in the writer's queue (trivially copyable, no allocation per line).
struct LogLine {
  uint32_t len = 0;
  char text[kLogLineMax];
};

// The writer thread and its queue. Lives from start_log_writer() to stop_log_writer().
class LogWriter {
 public:
  explicit LogWriter(size_t capacity) : queue_(capacity), capacity_(capacity) {
    thread_ = std::thread([this] { run(); });
  }
  ~LogWriter() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    stopping_.store(true, std::memory_order_release);
    queue_.enqueue(LogLine{});  // wakes the writer (an empty line is never written)
    thread_.join();
  }
  // False when the queue is full: the line is dropped (counted).
  bool push(const char* text, size_t len) {
    if (queued_.load(std::memory_order_relaxed) >= capacity_) return drop();
    LogLine& line = t_scratch;
    line.len = static_cast<uint32_t>(std::min(len, kLogLineMax));
    std::memcpy(line.text, text, line.len);
    if (line.len == kLogLineMax) line.text[kLogLineMax - 1] = '\n';  // cut, still one line
    queued_.fetch_add(1, std::memory_order_relaxed);
    if (!queue_.try_enqueue(line)) {
      queued_.fetch_sub(1, std::memory_order_relaxed);
      return drop();
    }
    return true;
  }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  bool drop() {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  void run() {
    // Signals are for the threads that wait for them (the daemon's main thread): a SIGTERM
    // delivered here would end the process without its orderly stop.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    constexpr size_t kBatch = 64;
    auto batch = std::make_unique<LogLine[]>(kBatch);
    iovec iov[kBatch];
    uint64_t reported = 0;
    for (;;) {
      const size_t n = queue_.wait_dequeue_bulk_timed(batch.get(), kBatch, 200000);
      size_t k = 0;
      for (size_t i = 0; i < n; ++i)
        if (batch[i].len > 0) iov[k++] = {batch[i].text, batch[i].len};
      queued_.fetch_sub(k, std::memory_order_relaxed);
      write_all(iov, k);
      const uint64_t d = dropped_.load(std::memory_order_relaxed);
      if (d != reported && queued_.load(std::memory_order_relaxed) == 0) {
        const std::string note =
            fmt::format("log: {} line(s) dropped: the log writer fell behind\n", d - reported);
        write_fully(note.data(), note.size());
        reported = d;
      }
      if (stopping_.load(std::memory_order_acquire) && queue_.size_approx() == 0) return;
    }
  }
  static void write_all(iovec* iov, size_t count) {
    while (count > 0) {
      const ssize_t w = ::writev(STDERR_FILENO, iov, static_cast<int>(count));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return;
      size_t left = static_cast<size_t>(w);
      while (count > 0 && left >= iov->iov_len) {
        left -= iov->iov_len;
        ++iov;
        --count;
      }
      if (count > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + left;
        iov->iov_len -= left;
      }
    }
  }

  static thread_local LogLine t_scratch;
  moodycamel::BlockingConcurrentQueue<LogLine> queue_;
  size_t capacity_;
  std::atomic<size_t> queued_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};
thread_local LogLine LogWriter::t_scratch;

std::mutex g_writer_mutex;  // start/stop only
std::atomic<LogWriter*> g_writer{nullptr};
// A stopped writer is kept until exit: a thread that loaded g_writer just before the stop may
// still push to it (that line is then lost, never a dangling pointer).
std::unique_ptr<LogWriter> g_retired;

}  // namespace

void start_log_writer(size_t capacity) {
  std::lock_guard lock(g_writer_mutex);
  if (g_writer.load()) return;
  g_writer.store(new LogWriter(capacity), std::memory_order_release);
}

void stop_log_writer() {
  std::lock_guard lock(g_writer_mutex);
  LogWriter* w = g_writer.exchange(nullptr, std::memory_order_acq_rel);
  if (!w) return;
  w->stop();  // writes what is queued and joins; lines logged from now on are written directly
  g_retired.reset(w);
}

uint64_t log_lines_dropped() {
  LogWriter* w = g_writer.load(std::memory_order_acquire);
  return w ? w->dropped() : 0;
}

namespace log_detail {
void emit(LogLevel level, fmt::string_view format, fmt::format_args args) {
  const Nanos now = read_clock(CLOCK_REALTIME);
  const time_t secs = static_cast<time_t>(now / kNanosPerSecond);
  tm utc{};
  gmtime_r(&secs, &utc);
  fmt::memory_buffer line;
  fmt::format_to(std::back_inserter(line), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z {:<6} [{}] ",
                 utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                 utc.tm_sec, (now % kNanosPerSecond) / 1000, to_string(level), t_tag.data());
  fmt::vformat_to(std::back_inserter(line), format, args);
  line.push_back('\n');
  if (LogWriter* w = g_writer.load(std::memory_order_acquire)) {
    w->push(line.data(), line.size());
    return;
  }
  write_fully(line.data(), line.size());
}
}  // namespace log_detail

}  // namespace cp
