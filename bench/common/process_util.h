// Small process helpers shared by the benchmark programs: raising the descriptor limit, pinning
// a thread, reading a process's CPU time and resident memory from /proc, and parsing numeric
// command-line values. Start-up code only; nothing here is on a measured path.
#pragma once

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace cp::bench {

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
inline uint64_t raise_nofile_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur != lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur;
}

// Pins the calling thread to `cpu`; false when the kernel refuses (fewer CPUs, cpuset).
inline bool pin_thread_to_cpu(int cpu) {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

// User + system CPU time of process `pid` in seconds (from /proc/PID/stat), or -1.
inline double process_cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return -1;
  // The command name (field 2) may hold spaces; fields after its closing ')' are plain.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  uint64_t utime_ticks = 0;
  uint64_t stime_ticks = 0;
  for (int index = 3; rest >> field; ++index) {  // field 3 is the state
    if (index == 14) utime_ticks = std::stoull(field);
    if (index == 15) {
      stime_ticks = std::stoull(field);
      break;
    }
  }
  const long ticks_per_s = sysconf(_SC_CLK_TCK);
  return static_cast<double>(utime_ticks + stime_ticks) / static_cast<double>(ticks_per_s);
}

// VmRSS of process `pid` in bytes (from /proc/PID/status), or -1.
inline int64_t process_rss_bytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      int64_t kib = 0;
      fields >> kib;
      return kib * 1024;
    }
  }
  return -1;
}

// Busy and total time of the whole machine, summed over its CPUs, in clock ticks (the "cpu" line
// of /proc/stat). Busy counts user, nice, system, irq, softirq and steal; total adds idle and
// iowait. The difference of two samples says how many CPUs were busy in between. Softirq time
// (loopback TCP receive processing, mostly) is charged to no process, so it is kept apart.
struct MachineCpuTicks {
  uint64_t busy = 0;
  uint64_t total = 0;
  uint64_t softirq = 0;
  uint64_t steal = 0;
};

inline MachineCpuTicks machine_cpu_ticks() {
  std::ifstream in("/proc/stat");
  std::string label;
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> label >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  MachineCpuTicks t;
  t.busy = user + nice + system + irq + softirq + steal;
  t.total = t.busy + idle + iowait;
  t.softirq = softirq;
  t.steal = steal;
  return t;
}

// This process's user + system CPU time in seconds.
inline double self_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

template <typename T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace cp::bench
