// cp_echo_server: the echo benchmark's server. By default an engine::Engine (one reactor per
// core, io_uring or epoll) running EchoService; with --blocking, a deliberately plain baseline of
// our own: one accept thread and one blocking thread per connection (recv, send, repeat), the
// design the engine is meant to beat. Prints `listening on ADDR` once it accepts connections and
// stops on SIGTERM or SIGINT, then prints its counters on stderr (the benchmark script reads them
// to compute syscalls per round trip).
//
//   cp_echo_server --listen 127.0.0.1:0 [--cores N] [--backend io_uring|epoll] [--pin|--no-pin]
//                  [--max-connections N]
//   cp_echo_server --listen 127.0.0.1:0 --blocking
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/cli.h"
#include "base/log.h"
#include "base/socket_address.h"
#include "bench/common/process_util.h"
#include "engine/echo/echo_service.h"
#include "engine/engine.h"

namespace cp::bench {
namespace {

struct Options {
  SocketAddress listen_address;
  unsigned cores = 1;
  engine::IoBackendKind backend = engine::IoBackendKind::automatic;
  bool pin_threads = true;
  uint32_t max_connections_per_core = 20000;
  bool blocking = false;
  engine::ListenMode listen_mode = engine::ListenMode::reuse_port;
};

// Command line (base/cli.h). Returns the options, or the exit code when there is nothing to run
// (--help, or a bad argument, which CLI11 explains).
std::optional<Options> parse_options(int argc, char** argv, int& exit_code) {
  cli::App app{"cp_echo_server: the engine's echo service (or a blocking baseline) for benchmarks"};
  Options opts;
  std::string listen, backend = "auto", mode = "reuseport";
  app.option("--listen", listen, "address, e.g. 127.0.0.1:0 (prints the bound one)").required();
  app.option("--cores", opts.cores, "reactor threads").range(1u, 1024u);
  app.option("--backend", backend, "auto, io_uring or epoll");
  app.flag("--pin,!--no-pin", opts.pin_threads, "pin reactor threads to CPUs (default on)");
  app.option("--max-connections", opts.max_connections_per_core, "per reactor").range(1u, 1u << 20);
  app.option("--listen-mode", mode, "reuseport or handoff").one_of({"reuseport", "handoff"});
  app.flag("--blocking", opts.blocking, "thread-per-connection blocking baseline instead");
  if (const auto status = app.parse(argc, argv)) {
    exit_code = *status;
    return std::nullopt;
  }
  exit_code = 2;
  auto addr = SocketAddress::parse(listen);
  if (!addr) {
    std::fprintf(stderr, "--listen: %s\n", addr.error().c_str());
    return std::nullopt;
  }
  opts.listen_address = *addr;
  auto kind = engine::parse_backend_kind(backend);
  if (!kind) {
    std::fprintf(stderr, "--backend: %s\n", kind.error().c_str());
    return std::nullopt;
  }
  opts.backend = *kind;
  opts.listen_mode =
      mode == "handoff" ? engine::ListenMode::handoff : engine::ListenMode::reuse_port;
  exit_code = 0;
  return opts;
}

// Blocks SIGTERM and SIGINT in this thread (and so in every thread started afterwards) and
// returns the set to sigwait() on.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

void wait_for_stop_signal(const sigset_t& set) {
  int signal_number = 0;
  sigwait(&set, &signal_number);
}

void announce(const SocketAddress& bound) {
  std::printf("listening on %s\n", bound.to_string().c_str());
  std::fflush(stdout);
}

// ---- the engine server --------------------------------------------------------------------------

int run_engine_server(const Options& opts, const sigset_t& stop_signals) {
  engine::EngineConfig config;
  config.cores = opts.cores;
  config.pin_threads = opts.pin_threads;
  config.backend = opts.backend;
  config.reactor.max_connections = opts.max_connections_per_core;
  engine::Engine engine(config);
  engine::EchoService echo;

  // Every reactor listens on the same port (SO_REUSEPORT): with port 0 the first reactor to get
  // here picks the port and the others bind to it. In hand-off mode reactor 0 alone binds and
  // the others only register their acceptor, after it.
  std::mutex bound_mutex;
  std::condition_variable bound_cv;
  std::optional<SocketAddress> bound;
  engine::ListenOptions listen_opts;
  listen_opts.mode = opts.listen_mode;
  engine.on_each_core([&](engine::Reactor& reactor) -> Result<void, std::string> {
    std::unique_lock lock(bound_mutex);
    if (opts.listen_mode == engine::ListenMode::handoff && reactor.core() != 0) {
      bound_cv.wait(lock, [&] { return bound.has_value(); });
    }
    const SocketAddress want = bound ? *bound : opts.listen_address;
    auto got = reactor.listen(want, echo, listen_opts);
    if (!got) return fail(got.error());
    if (!bound) bound = *got;
    bound_cv.notify_all();
    return {};
  });
  if (auto started = engine.start(); !started) {
    std::fprintf(stderr, "cp_echo_server: %s\n", started.error().c_str());
    return 1;
  }
  announce(*bound);
  wait_for_stop_signal(stop_signals);
  engine.request_stop();
  engine.join();

  for (const engine::Reactor* r : engine.reactors()) {
    const engine::ReactorStats& s = r->stats();
    const engine::IoBackendStats& b = r->backend().stats();
    std::fprintf(stderr,
                 "stats core=%u backend=%s accepted=%llu refused_limit=%llu bytes_received=%llu "
                 "loop_iterations=%llu io_waits=%llu backend_submit_calls=%llu "
                 "backend_completions=%llu recv_buffer_exhausted=%llu\n",
                 r->core(), std::string(engine.backend_name()).c_str(),
                 static_cast<unsigned long long>(s.connections_accepted.load()),
                 static_cast<unsigned long long>(s.connections_refused_limit.load()),
                 static_cast<unsigned long long>(s.bytes_received.load()),
                 static_cast<unsigned long long>(s.loop_iterations.load()),
                 static_cast<unsigned long long>(s.io_waits.load()),
                 static_cast<unsigned long long>(b.submit_calls),
                 static_cast<unsigned long long>(b.completions),
                 static_cast<unsigned long long>(b.recv_buffer_exhausted));
  }
  return 0;
}

// ---- the blocking baseline ----------------------------------------------------------------------

// One thread per connection: the classic design, kept honest (TCP_NODELAY, a 16 KiB buffer,
// small 128 KiB stacks so 10,000 threads fit) but with no batching of any kind.
class BlockingServer {
 public:
  static constexpr size_t kThreadStackBytes = 128 * 1024;
  static constexpr size_t kBufferBytes = 16 * 1024;

  explicit BlockingServer(uint64_t fd_limit) : open_(fd_limit) {}

  Result<SocketAddress, std::string> listen(const SocketAddress& addr) {
    listen_fd_ = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) return fail(std::string("socket: ") + std::strerror(errno));
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(listen_fd_, addr.sa(), addr.length) != 0 || ::listen(listen_fd_, 4096) != 0) {
      return fail(std::string("bind/listen: ") + std::strerror(errno));
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    accept_thread_ = std::thread([this] { accept_loop(); });
    return SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  }

  // Stops accepting, shuts every connection down so its thread returns, waits for them.
  void stop() {
    stopping_.store(true);
    ::shutdown(listen_fd_, SHUT_RDWR);  // accept() returns EINVAL
    if (accept_thread_.joinable()) accept_thread_.join();
    for (size_t fd = 0; fd < open_.size(); ++fd) {
      if (open_[fd].load()) ::shutdown(static_cast<int>(fd), SHUT_RDWR);
    }
    for (int waited_ms = 0; live_threads_.load() > 0 && waited_ms < 5000; waited_ms += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::close(listen_fd_);
    std::fprintf(stderr,
                 "stats blocking accepted=%llu thread_create_failed=%llu peak_threads=%llu "
                 "threads_left=%llu\n",
                 static_cast<unsigned long long>(accepted_.load()),
                 static_cast<unsigned long long>(thread_failures_.load()),
                 static_cast<unsigned long long>(peak_threads_.load()),
                 static_cast<unsigned long long>(live_threads_.load()));
  }

 private:
  struct ConnectionArg {
    BlockingServer* server;
    int fd;
  };

  void accept_loop() {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kThreadStackBytes);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (!stopping_.load()) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          continue;
        }
        break;  // EINVAL after shutdown(): stopping
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      accepted_.fetch_add(1);
      if (static_cast<size_t>(fd) < open_.size()) open_[fd].store(true);
      const uint64_t live = live_threads_.fetch_add(1) + 1;
      if (live > peak_threads_.load()) peak_threads_.store(live);
      pthread_t thread;
      auto* arg = new ConnectionArg{this, fd};
      const int rc = pthread_create(&thread, &attr, &BlockingServer::connection_main, arg);
      if (rc != 0) {
        if (thread_failures_.fetch_add(1) == 0) {
          std::fprintf(stderr, "cp_echo_server --blocking: thread creation failed: %s\n",
                       std::strerror(rc));
        }
        delete arg;
        live_threads_.fetch_sub(1);
        if (static_cast<size_t>(fd) < open_.size()) open_[fd].store(false);
        ::close(fd);
      }
    }
    pthread_attr_destroy(&attr);
  }

  static void* connection_main(void* raw) {
    std::unique_ptr<ConnectionArg> arg(static_cast<ConnectionArg*>(raw));
    arg->server->serve(arg->fd);
    return nullptr;
  }

  void serve(int fd) {
    char buffer[kBufferBytes];
    for (;;) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0 && !(n < 0 && errno == EINTR)) break;
      if (n < 0) continue;
      ssize_t sent_total = 0;
      while (sent_total < n) {
        const ssize_t m =
            ::send(fd, buffer + sent_total, static_cast<size_t>(n - sent_total), MSG_NOSIGNAL);
        if (m < 0 && errno == EINTR) continue;
        if (m <= 0) break;
        sent_total += m;
      }
      if (sent_total < n) break;
    }
    if (static_cast<size_t>(fd) < open_.size()) open_[fd].store(false);
    ::close(fd);
    live_threads_.fetch_sub(1);
  }

  int listen_fd_ = -1;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::vector<std::atomic<bool>> open_;  // indexed by fd: to shut connections down at stop
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> thread_failures_{0};
  std::atomic<uint64_t> live_threads_{0};
  std::atomic<uint64_t> peak_threads_{0};
};

int run_blocking_server(const Options& opts, const sigset_t& stop_signals, uint64_t fd_limit) {
  BlockingServer server(fd_limit);
  auto bound = server.listen(opts.listen_address);
  if (!bound) {
    std::fprintf(stderr, "cp_echo_server --blocking: %s\n", bound.error().c_str());
    return 1;
  }
  announce(*bound);
  wait_for_stop_signal(stop_signals);
  server.stop();
  return 0;
}

}  // namespace
}  // namespace cp::bench

int main(int argc, char** argv) {
  using namespace cp::bench;
  int exit_code = 0;
  const auto opts = parse_options(argc, argv, exit_code);
  if (!opts) return exit_code;
  const uint64_t fd_limit = raise_nofile_limit();
  cp::set_log_level(cp::LogLevel::warn);
  const sigset_t stop_signals = block_stop_signals();  // before any thread exists
  return opts->blocking ? run_blocking_server(*opts, stop_signals, fd_limit)
                        : run_engine_server(*opts, stop_signals);
}
