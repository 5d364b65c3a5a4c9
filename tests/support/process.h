// Test support for tests that run real programs: a command run to completion with its output,
// a long-running process with its output in a log file, a helper whose stdout is read line by
// line, and a free TCP port for programs that want a fixed one in their configuration.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace cp::test {

struct Output {
  int status = -1;
  std::string text;  // stdout + stderr
};

// Runs a command to completion, capturing its output. `stdin_path`: a file for its stdin.
inline Output run(const std::vector<std::string>& argv, const std::string& stdin_path = "") {
  std::string cmd;
  for (const auto& a : argv) cmd += "'" + a + "' ";
  if (!stdin_path.empty()) cmd += "< '" + stdin_path + "' ";
  cmd += "2>&1";
  Output out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.text.append(buf, n);
  const int rc = ::pclose(p);
  out.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

// A program running until terminate(), kill() or destruction (SIGKILL), its stdout and stderr
// in `log`.
class Process {
 public:
  // `env`: extra NAME=value pairs for its environment.
  Process(const std::vector<std::string>& argv, std::filesystem::path log,
          const std::vector<std::string>& env = {})
      : log_(std::move(log)) {
    pid_ = ::fork();
    if (pid_ == 0) {
      FILE* f = std::freopen(log_.c_str(), "w", stderr);
      (void)f;
      ::dup2(2, 1);
      for (const auto& kv : env) ::putenv(const_cast<char*>(kv.c_str()));
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Process() { kill(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  void kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  pid_t pid() const { return pid_; }
  // Sends SIGTERM and returns the exit status (-1 on timeout).
  int terminate(int timeout_ms = 10000) {
    ::kill(pid_, SIGTERM);
    for (int waited = 0; waited < timeout_ms; waited += 10) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }
  std::string log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
};

// A long-running helper program (a node script) with its stdout on a pipe read line by line.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      _exit(127);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // The next line that contains `needle` (lines before it are kept in seen()), or "" on timeout.
  std::string wait_line(std::string_view needle, int timeout_ms = 15000) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      for (size_t nl; (nl = buf_.find('\n')) != std::string::npos;) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        seen_ += line + "\n";
        if (line.find(needle) != std::string::npos) return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            until - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return "";
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) return "";
      char tmp[4096];
      const ssize_t n = ::read(fd_, tmp, sizeof tmp);
      if (n <= 0) return "";
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }
  const std::string& seen() const { return seen_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buf_, seen_;
};

// Whether a pcscd already answers on pcsc-lite's socket. pcsc-lite 1.9.9's daemon has no private
// socket (it always serves /run/pcscd/pcscd.comm), so a test that needs its own pcscd skips when
// one it did not start is there, instead of ending that one.
inline bool foreign_pcscd_running() {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", "/run/pcscd/pcscd.comm");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool answers = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return answers;
}

// CPU time (user + system, clock ticks) from a /proc stat file: /proc/PID/stat for a process,
// /proc/self/task/TID/stat for one thread.
inline long cpu_ticks_of(const std::string& stat_path) {
  std::ifstream in(stat_path);
  std::string stat;
  std::getline(in, stat);
  if (stat.rfind(')') == std::string::npos) return -1;
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string f;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stol(f);
    if (i == 15) stime = std::stol(f);
  }
  return utime + stime;
}

// A TCP port free right now on 127.0.0.1 (for programs that want a fixed port in their config).
// It is picked below the kernel's ephemeral range (32768 and up by default), so the outbound
// connections of tests running in parallel cannot take it before the program binds it.
inline uint16_t free_port() {
  static std::minstd_rand next(static_cast<unsigned>(::getpid()) * 2654435761u ^
                               static_cast<unsigned>(std::time(nullptr)));
  constexpr uint16_t kLow = 20000, kHigh = 32700;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const auto port = static_cast<uint16_t>(kLow + next() % (kHigh - kLow));
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (free) return port;
  }
  return 0;  // the callers' binds then fail loudly
}

}  // namespace cp::test
