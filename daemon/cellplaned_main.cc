// cellplaned: the cellplane daemon. A thin main: command line and configuration, then the
// engine and its services, then signals until SIGTERM/SIGINT or `cellctl shutdown`.
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#ifdef CP_WITH_MIMALLOC
#include <mimalloc.h>
#endif

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "base/cli.h"
#include "base/log.h"
#include "ctl/config.h"
#include "daemon/services.h"

namespace {

constexpr const char* kVersion = "0.1.0";

struct Options {
  std::string config_path;
  std::string check_path;
  std::string io_backend;
  std::string state_dir;
  std::string log_level;
  unsigned cores = 0;
  bool cores_set = false;
  bool print_default = false;
};

// The buffer pools reserve address space for every connection a core may hold: refuse a
// configuration the kernel would not map, with a message, not an assertion at start-up.
cp::Result<void, std::string> check_limits(const cp::ctl::Config& config) {
  const auto& e = config.engine;
  const uint64_t pool_bytes = uint64_t{e.max_connections_per_core} *
                              (uint64_t{e.rx_buffer_bytes} + uint64_t{e.tx_buffer_bytes});
  constexpr uint64_t kPoolBytesMax = uint64_t{64} << 30;
  if (pool_bytes > kPoolBytesMax) {
    return cp::fail(fmt::format(
        "[engine] max_connections_per_core x (rx_buffer_bytes + tx_buffer_bytes) = {} GiB of "
        "buffer address space per core; at most {} GiB",
        pool_bytes >> 30, kPoolBytesMax >> 30));
  }
  return {};
}

cp::Result<cp::ctl::Config, std::string> load(const Options& opts) {
  const cp::ctl::ConfigSchema& schema = cp::daemon::config_schema();
  auto config = opts.config_path.empty()
                    ? cp::ctl::load_config_string(cp::ctl::default_config_toml(schema),
                                                  "<embedded default>", schema)
                    : cp::ctl::load_config_file(opts.config_path, schema);
  if (!config) return cp::fail(config.error().to_string());
  if (auto ok = check_limits(*config); !ok) return cp::fail(ok.error());
  if (!opts.io_backend.empty()) {
    auto kind = cp::engine::parse_backend_kind(opts.io_backend);
    if (!kind) return cp::fail("--io-backend: " + kind.error());
    config->engine.io_backend = *kind;
  }
  if (!opts.state_dir.empty()) config->state_dir = opts.state_dir;
  if (opts.cores_set) config->engine.cores = opts.cores;
  if (!opts.log_level.empty()) {
    auto level = cp::parse_log_level(opts.log_level);
    if (!level) return cp::fail("--log-level: unknown level '" + opts.log_level + "'");
    config->log.level = *level;
  }
  return std::move(*config);
}

std::string allocator_name() {
#ifdef CP_WITH_MIMALLOC
  // Linking libmimalloc overrides malloc; say so only if a malloc'd block really is its.
  void* probe = std::malloc(64);
  const bool overridden = mi_is_in_heap_region(probe);
  std::free(probe);
  if (overridden) return "mimalloc " + std::to_string(mi_version());
  return "system malloc (mimalloc linked but not overriding)";
#else
  return "system malloc (sanitizer build)";
#endif
}

void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  getrlimit(RLIMIT_NOFILE, &lim);
  CP_LOG_INFO("file descriptor limit {}", static_cast<uint64_t>(lim.rlim_cur));
}

// SIGHUP's reloads, on a thread of their own: a reload is answered after the engine's blocking
// worker, which a slow disk or a slotmap save can hold for long, and the main thread must meanwhile
// go on answering SIGTERM and pinging the watchdog (issue 15: it waited up to 30 s per reload).
// A SIGHUP during a reload runs one more after it. Joined when the daemon ends (after the
// engine stopped: a reload still waiting on the control socket then fails at once).
class Reloader {
 public:
  explicit Reloader(cp::daemon::Services& services) : services_(services) {}
  ~Reloader() {
    if (thread_.joinable()) thread_.join();
  }
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;

  void start() {
    if (running_.load()) {
      CP_LOG_NOTICE("SIGHUP: a reload is running; another follows it");
      again_ = true;
      return;
    }
    if (thread_.joinable()) thread_.join();
    running_ = true;
    thread_ = std::thread([this] {
      do {
        again_ = false;
        services_.reload_all();
      } while (again_.load());
      running_ = false;
    });
  }

 private:
  cp::daemon::Services& services_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> again_{false};
};

// Waits for SIGTERM/SIGINT, pinging the systemd watchdog while every reactor is healthy: its
// loop advanced since the last check, or it is asleep waiting for work. A reactor stuck in a
// handler is neither, the pings stop, and systemd restarts the daemon.
void wait_for_stop(cp::engine::Engine& engine, Reloader& reloader, const sigset_t& signals) {
  uint64_t watchdog_usec = 0;
  const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
  const cp::Nanos period =
      watchdog ? static_cast<cp::Nanos>(watchdog_usec) * 1000 / 2 : cp::kNanosPerSecond;
  std::vector<uint64_t> last(engine.core_count(), 0);
  for (;;) {
    timespec ts{period / cp::kNanosPerSecond, period % cp::kNanosPerSecond};
    const int sig = sigtimedwait(&signals, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      CP_LOG_NOTICE("{}: stopping (drain up to the configured timeout)", strsignal(sig));
      return;
    }
    if (sig == SIGHUP) {
      CP_LOG_NOTICE("SIGHUP: reloading what `cellctl ... reload` reloads");
      reloader.start();
    }
    if (!watchdog) continue;
    bool alive = true;
    for (unsigned core = 0; core < engine.core_count(); ++core) {
      const cp::engine::Reactor& reactor = engine.reactor(core);
      const uint64_t now = reactor.stats().loop_iterations.load();
      alive = alive && (now != last[core] || reactor.asleep());
      last[core] = now;
    }
    if (alive) sd_notify(0, "WATCHDOG=1");
  }
}

int run(const Options& opts) {
  auto config = load(opts);
  if (!config) {
    std::fprintf(stderr, "cellplaned: %s\n", config.error().c_str());
    return 1;
  }
  cp::set_log_level(config->log.level);
  cp::set_wire_trace(config->log.wire_trace);
  std::error_code ec;
  std::filesystem::create_directories(config->state_dir, ec);
  if (ec) {
    std::fprintf(stderr, "cellplaned: cannot create state_dir %s: %s\n", config->state_dir.c_str(),
                 ec.message().c_str());
    return 1;
  }
  CP_LOG_INFO("cellplaned {} starting (pid {}, config {}, state {})", kVersion, getpid(),
              opts.config_path.empty() ? "<embedded default>" : opts.config_path,
              config->state_dir);
  raise_fd_limit();

  // Signals are blocked before any thread starts, so only the main thread's sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // From here on reactors hand their log lines to the writer thread instead of blocking on
  // write(2) (base/log.h); main() stops it, writing what is queued, on every way out.
  cp::start_log_writer();

  cp::engine::Engine engine(cp::daemon::engine_config(*config));
  const std::string allocator = allocator_name();
  CP_LOG_INFO("allocator: {}", allocator);
  cp::daemon::Services services(*config, engine,
                                {kVersion, allocator, cp::SystemClock::instance().now(), getpid()});
  if (auto ok = services.install(); !ok) {
    CP_LOG_ERROR("{}", ok.error());
    return 1;
  }
  if (auto ok = engine.start(); !ok) {
    CP_LOG_ERROR("cannot start: {}", ok.error());
    return 1;
  }
  sd_notifyf(0, "READY=1\nSTATUS=%u reactor(s) on %s\nMAINPID=%d", engine.core_count(),
             std::string(engine.backend_name()).c_str(), getpid());
  Reloader reloader(services);
  wait_for_stop(engine, reloader, signals);
  sd_notify(0, "STOPPING=1");
  engine.request_stop();
  engine.join();
  CP_LOG_INFO("stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  cp::cli::App app{"cellplaned - the cellplane data-plane daemon (SMSC, remote SIM, WSRC, modem)"};
  Options opts;
  app.option("-c,--config", opts.config_path,
             "TOML configuration file (default: the embedded configuration)")
      .existing_file();
  app.option("--check-config", opts.check_path, "check FILE, print problems, exit 0 if valid");
  app.option("--io-backend", opts.io_backend, "auto, io_uring or epoll (overrides the file)");
  app.option("--cores", opts.cores, "reactor threads, 0 = one per CPU (overrides the file)");
  app.option("--state-dir", opts.state_dir, "state directory (overrides the file)");
  app.option("--log-level", opts.log_level, "trace, debug, info, notice, warn or error");
  app.flag("--print-default-config", opts.print_default, "print the embedded configuration");
  app.version_flag("--version", kVersion);
  if (const auto status = app.parse(argc, argv)) return *status;
  opts.cores_set = app.given("--cores");
  if (opts.print_default) {
    std::cout << cp::ctl::default_config_toml(cp::daemon::config_schema());
    return 0;
  }
  if (!opts.check_path.empty()) {
    auto config = cp::ctl::load_config_file(opts.check_path, cp::daemon::config_schema());
    if (!config) {
      std::fprintf(stderr, "%s\n", config.error().to_string().c_str());
      return 1;
    }
    if (auto ok = check_limits(*config); !ok) {
      std::fprintf(stderr, "%s: %s\n", opts.check_path.c_str(), ok.error().c_str());
      return 1;
    }
    std::printf("%s: configuration is valid\n", opts.check_path.c_str());
    return 0;
  }
  const int rc = run(opts);
  cp::stop_log_writer();
  return rc;
}
