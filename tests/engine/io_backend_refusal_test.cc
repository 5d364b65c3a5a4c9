// The I/O backends when the kernel refuses them (issue 15): epoll_pwait2 missing (kernels before
// 5.11, seccomp profiles), epoll_ctl refusing to watch a socket (ENOSPC at
// fs.epoll.max_user_watches, ENOMEM), io_uring_enter refusing submissions (EBUSY while the
// kernel holds completions it cannot post). Each refusal is made real by a seccomp filter in a
// forked child, so the rest of the test process is untouched. The backends must neither abort,
// nor spin, nor leave an operation that can never complete.
#include <gtest/gtest.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "engine/io_backend.h"
#include "tests/support/reactor_harness.h"

namespace cp::engine {
namespace {

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
constexpr uint32_t kAuditArch = 0;
#endif

constexpr uint32_t arg_low(int n) {
  return static_cast<uint32_t>(offsetof(seccomp_data, args) + n * sizeof(uint64_t));
}

// One refusal: system call `nr` fails with `err` — when `arg` >= 0, only if that argument's low
// 32 bits equal `value`.
struct Refusal {
  long nr;
  int err;
  int arg = -1;
  uint32_t value = 0;
};

// Installs a filter on the calling process: every `refusals` entry fails, the rest is allowed.
std::string install_filter(const std::vector<Refusal>& refusals) {
  std::vector<sock_filter> prog;
  const auto add = [&](sock_filter f) { prog.push_back(f); };
  add(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  add(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0));
  add(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  for (const Refusal& r : refusals) {
    add(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
    if (r.arg < 0) {
      add(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(r.nr), 0, 1));
    } else {
      add(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(r.nr), 0, 3));
      add(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg_low(r.arg)));
      add(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, r.value, 0, 1));
    }
    add(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<uint32_t>(r.err) & 0xFFFF)));
  }
  add(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return std::string("PR_SET_NO_NEW_PRIVS: ") + std::strerror(errno);
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0)
    return std::string("seccomp: ") + std::strerror(errno);
  return "";
}

// Runs `body` in a forked child and returns what it reports: "" when it passed, else what
// failed — or how it died (an assert aborts). "skip: ..." when the child could not set up.
std::string in_child(const std::function<std::string()>& body) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(fds[0]);
    const std::string result = body();
    [[maybe_unused]] ssize_t n = ::write(fds[1], result.data(), result.size());
    _exit(0);
  }
  ::close(fds[1]);
  std::string report;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    report.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status))
    return report + "child killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  return report;
}

void expect_child_passes(const std::function<std::string()>& body) {
  if (kAuditArch == 0) GTEST_SKIP() << "no seccomp architecture constant for this CPU";
  const std::string report = in_child(body);
  if (report.rfind("skip: ", 0) == 0) GTEST_SKIP() << report;
  EXPECT_EQ(report, "");
}

std::string fmt_completion(const IoCompletion& c) {
  return "op " + std::to_string(static_cast<int>(c.op)) + " result " + std::to_string(c.result) +
         (c.more ? " more" : "");
}

// Waits up to `turns` x 10 ms for a completion of `owner`.
bool next_for(IoBackend& b, void* owner, IoCompletion& found, int turns = 100) {
  for (int t = 0; t < turns; ++t) {
    std::array<IoCompletion, 16> out;
    const size_t n = b.wait(out, 10 * kNanosPerMilli);
    for (size_t i = 0; i < n; ++i) {
      if (out[i].owner == owner) {
        found = out[i];
        return true;
      }
      if (out[i].op == IoOp::recv && out[i].result > 0) b.recycle_buffer(out[i].buffer_id);
    }
  }
  return false;
}

Nanos cpu_now() {
  return read_clock(CLOCK_PROCESS_CPUTIME_ID);
}

// An io_uring backend with an 8-entry submission queue: a few entries fill it.
Result<std::unique_ptr<IoBackend>, std::string> small_ring() {
  IoBackendOptions opts;
  opts.queue_depth = 8;
  return make_backend(IoBackendKind::io_uring, opts);
}

TEST(EpollRefusal, WithoutEpollPwait2TheBackendFallsBackInsteadOfSpinning) {
  expect_child_passes([]() -> std::string {
    auto b = make_backend(IoBackendKind::epoll, {});
    if (!b) return "skip: " + b.error();
    IoBackend& backend = **b;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) return "socketpair";
    if (auto why = install_filter({{SYS_epoll_pwait2, ENOSYS}}); !why.empty())
      return "skip: " + why;
    // Idle: ten waits of 20 ms must take ~200 ms of wall time and next to no CPU.
    const Nanos wall0 = read_clock(CLOCK_MONOTONIC);
    const Nanos cpu0 = cpu_now();
    for (int i = 0; i < 10; ++i) {
      std::array<IoCompletion, 4> out;
      backend.wait(out, 20 * kNanosPerMilli);
    }
    const Nanos wall = read_clock(CLOCK_MONOTONIC) - wall0;
    const Nanos cpu = cpu_now() - cpu0;
    std::string failed;
    if (wall < 180 * kNanosPerMilli)
      failed += "ten 20 ms waits returned after " + std::to_string(wall / kNanosPerMilli) + " ms; ";
    if (cpu > 100 * kNanosPerMilli)
      failed += "idle waits used " + std::to_string(cpu / kNanosPerMilli) + " ms of CPU; ";
    // Readiness still arrives.
    alignas(8) static char owner = 0;
    backend.start_recv(sv[0], &owner);
    if (::write(sv[1], "ping", 4) != 4) return failed + "write";
    IoCompletion c{};
    if (!next_for(backend, &owner, c)) return failed + "no receive completion";
    if (c.result != 4 || std::memcmp(c.data, "ping", 4) != 0)
      failed += "received " + fmt_completion(c);
    return failed;
  });
}

TEST(EpollRefusal, ASocketEpollWillNotWatchEndsItsOperationsWithTheError) {
  expect_child_passes([]() -> std::string {
    auto b = make_backend(IoBackendKind::epoll, {});
    if (!b) return "skip: " + b.error();
    IoBackend& backend = **b;
    int rx[2];
    int tx[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, rx) != 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, tx) != 0)
      return "socketpair";
    // tx[0]'s send buffer full: a send must wait for EPOLLOUT, which needs a watch.
    std::vector<char> chunk(65536, 'x');
    while (::send(tx[0], chunk.data(), chunk.size(), MSG_DONTWAIT) > 0) {
    }
    if (auto why = install_filter({{SYS_epoll_ctl, ENOSPC, 1, EPOLL_CTL_ADD}}); !why.empty())
      return "skip: " + why;
    std::string failed;
    alignas(8) static char recv_owner = 0;
    alignas(8) static char send_owner = 0;
    backend.start_recv(rx[0], &recv_owner);
    IoCompletion c{};
    if (!next_for(backend, &recv_owner, c))
      failed += "the receive never completed (the socket is not watched); ";
    else if (c.op != IoOp::recv || c.result != -ENOSPC || c.more)
      failed += "receive: " + fmt_completion(c) + "; ";
    backend.start_send(tx[0], &send_owner, std::as_bytes(std::span(chunk.data(), 100)));
    if (!next_for(backend, &send_owner, c))
      failed += "the send never completed (the socket is not watched); ";
    else if (c.op != IoOp::send || c.result != -ENOSPC)
      failed += "send: " + fmt_completion(c) + "; ";
    if (backend.stats().watch_failures != 2)
      failed += "watch_failures " + std::to_string(backend.stats().watch_failures);
    return failed;
  });
}

TEST(UringRefusal, SubmissionsTheKernelRefusesWaitInOrderAndAllComplete) {
  if (!test::io_uring_unavailable().empty()) GTEST_SKIP() << test::io_uring_unavailable();
  expect_child_passes([]() -> std::string {
    auto b = small_ring();
    if (!b) return "skip: " + b.error();
    IoBackend& backend = **b;
    {  // the wake-up read armed at start goes to the kernel first
      std::array<IoCompletion, 4> out;
      backend.wait(out, 0);
    }
    constexpr int kSockets = 20;
    std::vector<std::array<int, 2>> pairs(kSockets);
    for (auto& p : pairs)
      if (socketpair(AF_UNIX, SOCK_STREAM, 0, p.data()) != 0) return "socketpair";
    // Submissions that wait for nothing (min_complete 0: a full submission queue handed over
    // from inside a start_*() call) are refused, as the kernel does with EBUSY while it holds
    // completions it cannot post; waiting submissions go through.
    if (auto why = install_filter({{SYS_io_uring_enter, EBUSY, 2, 0}}); !why.empty())
      return "skip: " + why;
    std::vector<std::string> messages(kSockets);
    std::vector<char> owners(kSockets * 8);
    for (int i = 0; i < kSockets; ++i) {
      messages[i] = "message " + std::to_string(i);
      backend.start_send(pairs[i][0], &owners[i * 8],
                         std::as_bytes(std::span(messages[i].data(), messages[i].size())));
    }
    std::string failed;
    if (backend.stats().sq_backlogged == 0) failed += "nothing waited for the kernel; ";
    int done = 0;
    for (int turn = 0; turn < 300 && done < kSockets; ++turn) {
      std::array<IoCompletion, 32> out;
      const size_t n = backend.wait(out, 10 * kNanosPerMilli);
      for (size_t i = 0; i < n; ++i) {
        const auto index = (static_cast<char*>(out[i].owner) - owners.data()) / 8;
        if (out[i].op != IoOp::send || index < 0 || index >= kSockets) continue;
        if (out[i].result != static_cast<int32_t>(messages[index].size()))
          failed += "send " + std::to_string(index) + ": " + fmt_completion(out[i]) + "; ";
        ++done;
      }
    }
    if (done != kSockets) failed += std::to_string(done) + " of 20 sends completed; ";
    for (int i = 0; i < kSockets; ++i) {
      std::string got(64, '\0');
      const ssize_t n = ::recv(pairs[i][1], got.data(), got.size(), MSG_DONTWAIT);
      got.resize(n > 0 ? static_cast<size_t>(n) : 0);
      if (got != messages[i]) failed += "socket " + std::to_string(i) + " got '" + got + "'; ";
    }
    return failed;
  });
}

// A file commit the ring cannot take whole (more block runs than submission entries) is refused
// through its completion, in order with another refusal, instead of CP_ASSERT aborting the
// process (issue 15: [store] batch_kib allowed 16,384 runs against a 4,096-entry ring).
TEST(UringRefusal, ACommitLongerThanTheRingIsRefusedThroughItsCompletion) {
  if (!test::io_uring_unavailable().empty()) GTEST_SKIP() << test::io_uring_unavailable();
  expect_child_passes([]() -> std::string {
    auto b = small_ring();
    if (!b) return "skip: " + b.error();
    IoBackend& backend = **b;
    alignas(4096) static std::byte block[4096];
    std::vector<FileWrite> writes;
    for (uint64_t i = 0; i < 12; ++i) writes.push_back({i * 2 * 4096, block});
    alignas(8) static char first = 0;
    alignas(8) static char second = 0;
    backend.start_file_commit(-1, writes, &first);
    backend.start_file_commit(-1, {}, &second);
    std::array<IoCompletion, 8> out;
    const size_t n = backend.wait(out, 0);
    std::string failed;
    if (n != 2 || out[0].owner != &first || out[1].owner != &second)
      return "expected the two refusals, in order; got " + std::to_string(n) + " completions";
    if (out[0].op != IoOp::file_commit || out[0].result != -EINVAL)
      failed += fmt_completion(out[0]);
    if (out[1].result != -EINVAL) failed += "; " + fmt_completion(out[1]);
    return failed;
  });
}

}  // namespace
}  // namespace cp::engine
