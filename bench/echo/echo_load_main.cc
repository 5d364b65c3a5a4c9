// cp_echo_load: the echo benchmark's load generator, our own. N connections split over T client
// threads; each thread runs one epoll loop over non-blocking TCP_NODELAY sockets, and each
// connection plays ping-pong: send a --message-bytes payload, wait for the whole echo, send
// again. Every round trip's latency goes into a fixed per-thread histogram (no allocation while
// measuring); after --warmup-s, round trips are counted for --duration-s. The result is one JSON
// line on stdout (round trips/s, p50/p90/p99/p99.9 in µs, CPU use of this process, of the
// machine (softirq apart) and, with --server-pid, of the server over the same window).
//
// --idle opens N connections, sends one ping on each to be sure it was accepted and is served,
// prints `holding N idle connections` and keeps them open for --duration-s (the benchmark script
// reads the server's memory meanwhile), then reports whether any was closed during the hold.
//
//   cp_echo_load --connect 127.0.0.1:PORT [--connections N] [--threads T] [--message-bytes B]
//                [--duration-s S] [--warmup-s S] [--server-pid PID] [--idle]
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/cli.h"
#include "base/clock.h"
#include "base/socket_address.h"
#include "bench/common/latency_histogram.h"
#include "bench/common/process_util.h"

namespace cp::bench {
namespace {

constexpr int kEpollEventsMax = 256;
constexpr int kEpollTimeoutMs = 10;  // how soon an idle thread notices a phase change
constexpr size_t kSeqBytes = sizeof(uint64_t);
constexpr int kIdleEchoTimeoutMs = 10000;

struct Options {
  SocketAddress server;
  uint32_t connections = 1;
  uint32_t threads = 1;
  uint32_t message_bytes = 64;
  double duration_s = 5;
  double warmup_s = 1;
  int server_pid = 0;
  bool idle = false;
};

// Command line (base/cli.h). Returns the options, or the exit code when there is nothing to run
// (--help, or a bad argument, which CLI11 explains).
std::optional<Options> parse_options(int argc, char** argv, int& exit_code) {
  cli::App app{"cp_echo_load: ping-pong echo load generator (round trips/s, latency)"};
  Options opts;
  std::string server;
  app.option("--connect", server, "server address, e.g. 127.0.0.1:7000").required();
  app.option("--connections", opts.connections, "connections").range(1u, 1u << 24);
  app.option("--threads", opts.threads, "load threads (one epoll loop each)").range(1u, 1024u);
  app.option("--message-bytes", opts.message_bytes, "payload per ping").range(1u, 1u << 20);
  app.option("--duration-s", opts.duration_s, "measured seconds").positive();
  app.option("--warmup-s", opts.warmup_s, "warm-up seconds").non_negative();
  app.option("--server-pid", opts.server_pid, "report this process's CPU use too").positive();
  app.flag("--idle", opts.idle, "hold the connections idle (memory check) instead");
  if (const auto status = app.parse(argc, argv)) {
    exit_code = *status;
    return std::nullopt;
  }
  auto addr = SocketAddress::parse(server);
  if (!addr || addr->family() == AF_UNIX) {
    std::fprintf(stderr, "--connect: %s\n",
                 addr ? "a TCP address is needed" : addr.error().c_str());
    exit_code = 2;
    return std::nullopt;
  }
  opts.server = *addr;
  opts.threads = std::min(opts.threads, opts.connections);
  return opts;
}

Nanos now_ns() {
  return read_clock(CLOCK_MONOTONIC);
}

void sleep_seconds(double s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

// A blocking connect (the handshake completes in the kernel even before the server accepts),
// then TCP_NODELAY. Returns the fd or -errno.
int connect_one(const SocketAddress& addr) {
  const int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (::connect(fd, addr.sa(), addr.length) != 0) {
    const int err = errno;
    ::close(fd);
    return -err;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Opens every connection; on failure prints why and returns an empty vector.
std::vector<int> connect_all(const Options& opts) {
  std::vector<int> fds;
  fds.reserve(opts.connections);
  for (uint32_t i = 0; i < opts.connections; ++i) {
    const int fd = connect_one(opts.server);
    if (fd < 0) {
      std::fprintf(stderr, "cp_echo_load: connection %u of %u to %s failed: %s\n", i + 1,
                   opts.connections, opts.server.to_string().c_str(), std::strerror(-fd));
      for (int open_fd : fds) ::close(open_fd);
      return {};
    }
    fds.push_back(fd);
  }
  return fds;
}

// ---- ping-pong ----------------------------------------------------------------------------------

enum Phase : int { kWarmup = 0, kMeasure = 1, kStop = 2 };

// One client thread: its connections, its epoll loop, its histogram. Owned by main; touched by
// its own thread only until joined.
class LoadThread {
 public:
  LoadThread(const Options& opts, const std::atomic<int>& phase)
      : phase_(phase), tx_(opts.message_bytes), rx_(opts.message_bytes) {
    for (size_t i = 0; i < tx_.size(); ++i) tx_[i] = static_cast<std::byte>('a' + i % 26);
  }
  ~LoadThread() {
    for (const Conn& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
    }
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
  }

  void add(int fd) { conns_.push_back(Conn{fd}); }
  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void join() { thread_.join(); }

  const LatencyHistogram& histogram() const { return histogram_; }
  uint64_t round_trips() const { return round_trips_; }
  double measured_s() const { return static_cast<double>(measure_end_ - measure_start_) / 1e9; }
  uint64_t epoll_waits() const { return epoll_waits_; }
  uint64_t lost() const { return lost_; }
  uint64_t corrupt() const { return corrupt_; }

 private:
  struct Conn {
    int fd = -1;
    uint32_t sent_bytes = 0;
    uint32_t received_bytes = 0;
    bool want_out = false;
    uint64_t seq = 0;
    Nanos sent_at_ns = 0;
    std::byte echoed_seq[kSeqBytes] = {};
  };

  void run() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    for (size_t i = 0; i < conns_.size(); ++i) {
      fcntl(conns_[i].fd, F_SETFL, fcntl(conns_[i].fd, F_GETFL) | O_NONBLOCK);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, conns_[i].fd, &ev);
    }
    const Nanos t0 = now_ns();
    for (Conn& c : conns_) start_ping(c, t0);
    epoll_event events[kEpollEventsMax];
    int phase_seen = kWarmup;
    for (;;) {
      const int n = epoll_wait(epoll_fd_, events, kEpollEventsMax, kEpollTimeoutMs);
      ++epoll_waits_;
      const int phase = phase_.load(std::memory_order_relaxed);
      if (phase != phase_seen) {
        const Nanos t = now_ns();
        if (phase_seen == kWarmup) {
          measure_start_ = t;
          epoll_waits_ = 0;
        }
        phase_seen = phase;
        if (phase == kStop) {
          measure_end_ = t;
          return;
        }
      }
      for (int i = 0; i < n; ++i) {
        Conn& c = conns_[events[i].data.u64];
        if (c.fd < 0) continue;
        if (events[i].events & EPOLLOUT) send_rest(c);
        if (c.fd >= 0 && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
          on_readable(c, phase_seen == kMeasure);
        }
      }
    }
  }

  void start_ping(Conn& c, Nanos now) {
    ++c.seq;
    c.sent_bytes = 0;
    c.received_bytes = 0;
    c.sent_at_ns = now;
    send_rest(c);
  }

  // Sends what is left of the current ping (normally all of it in one call).
  void send_rest(Conn& c) {
    std::memcpy(tx_.data(), &c.seq, std::min<size_t>(kSeqBytes, tx_.size()));
    while (c.sent_bytes < tx_.size()) {
      const ssize_t n = ::send(c.fd, tx_.data() + c.sent_bytes, tx_.size() - c.sent_bytes,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        c.sent_bytes += static_cast<uint32_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_want_out(c, true);
        return;
      }
      lose(c);
      return;
    }
    set_want_out(c, false);
  }

  void set_want_out(Conn& c, bool want) {
    if (c.want_out == want) return;
    c.want_out = want;
    epoll_event ev{};
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
    ev.data.u64 = static_cast<uint64_t>(&c - conns_.data());
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void on_readable(Conn& c, bool measuring) {
    const size_t want = tx_.size() - c.received_bytes;
    const ssize_t n = ::recv(c.fd, rx_.data(), want, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      lose(c);
      return;
    }
    // Keep the bytes that fall on the sequence number, to check that the echo is ours.
    for (size_t i = 0; i < static_cast<size_t>(n) && c.received_bytes + i < kSeqBytes; ++i) {
      c.echoed_seq[c.received_bytes + i] = rx_[i];
    }
    c.received_bytes += static_cast<uint32_t>(n);
    if (c.received_bytes < tx_.size()) return;
    const Nanos now = now_ns();
    if (tx_.size() >= kSeqBytes && std::memcmp(c.echoed_seq, &c.seq, kSeqBytes) != 0) {
      ++corrupt_;
    }
    if (measuring) {
      histogram_.record(static_cast<uint64_t>(now - c.sent_at_ns));
      ++round_trips_;
    }
    start_ping(c, now);
  }

  void lose(Conn& c) {
    ++lost_;
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
  }

  const std::atomic<int>& phase_;
  std::vector<Conn> conns_;
  std::vector<std::byte> tx_;
  std::vector<std::byte> rx_;
  int epoll_fd_ = -1;
  std::thread thread_;
  LatencyHistogram histogram_;
  uint64_t round_trips_ = 0;
  uint64_t epoll_waits_ = 0;
  uint64_t lost_ = 0;
  uint64_t corrupt_ = 0;
  Nanos measure_start_ = 0;
  Nanos measure_end_ = 0;
};

double us(uint64_t ns) {
  return static_cast<double>(ns) / 1e3;
}

// CPU use over the measurement window, each in % of one CPU: this process, the server (when its
// pid is known, else -1), the whole machine, and the machine's softirq and steal time. What the
// machine did beyond the two processes is softirq work run outside them (loopback TCP receives
// on an idle CPU) or another tenant (a compiler, say). The softirq figure overlaps the
// processes' own time (softirqs they ran are in both), so it is for reference only.
struct CpuShares {
  double load_pct = 0;
  double server_pct = -1;
  double machine_busy_pct = 0;
  double softirq_pct = 0;
  double steal_pct = 0;
};

class CpuWindow {
 public:
  explicit CpuWindow(int server_pid)
      : server_pid_(server_pid),
        self_start_s_(self_cpu_seconds()),
        server_start_s_(server_pid ? process_cpu_seconds(server_pid) : -1),
        machine_start_(machine_cpu_ticks()) {}

  CpuShares finish(double wall_s) const {
    CpuShares shares;
    shares.load_pct = 100 * (self_cpu_seconds() - self_start_s_) / wall_s;
    if (server_pid_) {
      shares.server_pct = 100 * (process_cpu_seconds(server_pid_) - server_start_s_) / wall_s;
    }
    const MachineCpuTicks end = machine_cpu_ticks();
    const double cpus = static_cast<double>(std::thread::hardware_concurrency());
    const double ticks =
        static_cast<double>(std::max<uint64_t>(1, end.total - machine_start_.total));
    auto pct = [&](uint64_t a, uint64_t b) {
      return 100 * cpus * static_cast<double>(a - b) / ticks;
    };
    shares.machine_busy_pct = pct(end.busy, machine_start_.busy);
    shares.softirq_pct = pct(end.softirq, machine_start_.softirq);
    shares.steal_pct = pct(end.steal, machine_start_.steal);
    return shares;
  }

 private:
  int server_pid_;
  double self_start_s_;
  double server_start_s_;
  MachineCpuTicks machine_start_;
};

// Merges the threads' results and prints the JSON line; returns the exit status.
int report_pingpong(const Options& opts, double wall_s, const CpuShares& cpu,
                    const std::vector<std::unique_ptr<LoadThread>>& threads) {
  auto merged = std::make_unique<LatencyHistogram>();
  double round_trips_per_s = 0;
  uint64_t round_trips = 0, epoll_waits = 0, lost = 0, corrupt = 0;
  for (const auto& t : threads) {
    merged->merge(t->histogram());
    round_trips += t->round_trips();
    if (t->measured_s() > 0) {
      round_trips_per_s += static_cast<double>(t->round_trips()) / t->measured_s();
    }
    epoll_waits += t->epoll_waits();
    lost += t->lost();
    corrupt += t->corrupt();
  }
  const auto& h = *merged;
  std::printf(
      "{\"mode\": \"pingpong\", \"connections\": %u, \"threads\": %u, \"message_bytes\": %u, "
      "\"duration_s\": %.3f, \"round_trips\": %llu, \"round_trips_per_s\": %.0f, "
      "\"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, "
      "\"max_us\": %.1f, \"mean_us\": %.1f, \"load_cpu_pct\": %.1f, \"server_cpu_pct\": %.1f, "
      "\"machine_busy_pct\": %.1f, \"softirq_pct\": %.1f, \"steal_pct\": %.1f, "
      "\"epoll_waits_per_rt\": %.3f, \"lost_connections\": %llu, \"corrupt_echoes\": %llu}\n",
      opts.connections, opts.threads, opts.message_bytes, wall_s,
      static_cast<unsigned long long>(round_trips), round_trips_per_s, us(h.quantile_ns(0.50)),
      us(h.quantile_ns(0.90)), us(h.quantile_ns(0.99)), us(h.quantile_ns(0.999)), us(h.max_ns()),
      h.mean_ns() / 1e3, cpu.load_pct, cpu.server_pct, cpu.machine_busy_pct, cpu.softirq_pct,
      cpu.steal_pct,
      round_trips ? static_cast<double>(epoll_waits) / static_cast<double>(round_trips) : 0.0,
      static_cast<unsigned long long>(lost), static_cast<unsigned long long>(corrupt));
  std::fflush(stdout);
  if (lost > 0 || corrupt > 0) {
    std::fprintf(stderr, "cp_echo_load: %llu connection(s) lost, %llu corrupt echo(es)\n",
                 static_cast<unsigned long long>(lost), static_cast<unsigned long long>(corrupt));
    return 3;
  }
  return round_trips > 0 ? 0 : 3;
}

int run_pingpong(const Options& opts) {
  std::vector<int> fds = connect_all(opts);
  if (fds.empty()) return 1;
  std::atomic<int> phase{kWarmup};
  std::vector<std::unique_ptr<LoadThread>> threads;
  for (uint32_t t = 0; t < opts.threads; ++t) {
    threads.push_back(std::make_unique<LoadThread>(opts, phase));
  }
  for (size_t i = 0; i < fds.size(); ++i) threads[i % threads.size()]->add(fds[i]);
  for (auto& t : threads) t->start();

  sleep_seconds(opts.warmup_s);
  const CpuWindow cpu_window(opts.server_pid);
  const Nanos wall_start = now_ns();
  phase.store(kMeasure, std::memory_order_relaxed);
  sleep_seconds(opts.duration_s);
  phase.store(kStop, std::memory_order_relaxed);
  const double wall_s = static_cast<double>(now_ns() - wall_start) / 1e9;
  const CpuShares cpu = cpu_window.finish(wall_s);
  for (auto& t : threads) t->join();
  return report_pingpong(opts, wall_s, cpu, threads);
}

// ---- idle ---------------------------------------------------------------------------------------

bool write_all(int fd, const std::byte* data, size_t len) {
  while (len > 0) {
    const ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool read_exact(int fd, std::byte* data, size_t len, int timeout_ms) {
  const Nanos deadline = now_ns() + static_cast<Nanos>(timeout_ms) * kNanosPerMilli;
  while (len > 0) {
    const Nanos left_ms = (deadline - now_ns()) / kNanosPerMilli;
    pollfd pfd{fd, POLLIN, 0};
    if (left_ms <= 0 || ::poll(&pfd, 1, static_cast<int>(left_ms)) <= 0) return false;
    const ssize_t n = ::recv(fd, data, len, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return false;
    if (n < 0) continue;
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

int run_idle(const Options& opts) {
  std::vector<int> fds = connect_all(opts);
  if (fds.empty()) return 1;
  std::vector<std::byte> ping(opts.message_bytes, std::byte{'p'});
  std::vector<std::byte> echo(opts.message_bytes);
  // All pings first, then all echoes: the server works on every connection at once.
  uint64_t failed = 0;
  for (int fd : fds) failed += write_all(fd, ping.data(), ping.size()) ? 0 : 1;
  for (int fd : fds) failed += read_exact(fd, echo.data(), echo.size(), kIdleEchoTimeoutMs) ? 0 : 1;
  std::printf("holding %zu idle connections (%llu without an echo) for %.1f s\n", fds.size(),
              static_cast<unsigned long long>(failed), opts.duration_s);
  std::fflush(stdout);
  sleep_seconds(opts.duration_s);
  // Still open? An idle connection shows nothing to read and no hang-up.
  uint64_t closed_during_hold = 0;
  for (int fd : fds) {
    pollfd pfd{fd, POLLIN | POLLRDHUP, 0};
    if (::poll(&pfd, 1, 0) > 0) ++closed_during_hold;
  }
  for (int fd : fds) ::close(fd);
  std::printf(
      "{\"mode\": \"idle\", \"connections\": %u, \"without_echo\": %llu, "
      "\"closed_during_hold\": %llu, \"hold_s\": %.1f}\n",
      opts.connections, static_cast<unsigned long long>(failed),
      static_cast<unsigned long long>(closed_during_hold), opts.duration_s);
  std::fflush(stdout);
  return failed == 0 && closed_during_hold == 0 ? 0 : 3;
}

}  // namespace
}  // namespace cp::bench

int main(int argc, char** argv) {
  using namespace cp::bench;
  int exit_code = 0;
  const auto opts = parse_options(argc, argv, exit_code);
  if (!opts) return exit_code;
  const uint64_t fd_limit = raise_nofile_limit();
  if (fd_limit < opts->connections + 16ull) {
    std::fprintf(stderr, "cp_echo_load: %u connections need more descriptors (limit %llu)\n",
                 opts->connections, static_cast<unsigned long long>(fd_limit));
    return 1;
  }
  return opts->idle ? run_idle(*opts) : run_pingpong(*opts);
}
