// Test support shared by every area's tests: a Reactor running on its own thread with a chosen
// backend, small blocking-socket client helpers, `eventually`, and the backend label used to
// name value-parameterised tests. The backend is created on the reactor's thread (io_uring
// SINGLE_ISSUER requires it).
#pragma once

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "engine/reactor.h"

namespace cp::test {

class ReactorThread {
 public:
  using Setup = std::function<void(engine::Reactor&)>;

  ReactorThread(engine::IoBackendKind kind, engine::ReactorConfig config, Setup setup,
                engine::IoBackendOptions io = {}) {
    std::promise<std::string> ready;
    auto started = ready.get_future();
    thread_ = std::thread([&, kind, config, io] {
      auto backend = engine::make_backend(kind, io);
      if (!backend) {
        ready.set_value(backend.error());
        return;
      }
      reactor_ =
          std::make_unique<engine::Reactor>(config, std::move(*backend), SystemClock::instance());
      setup(*reactor_);
      ready.set_value("");
      reactor_->run(kNanosPerSecond);
    });
    error_ = started.get();
  }
  ~ReactorThread() { stop(); }

  const std::string& error() const { return error_; }
  engine::Reactor& reactor() { return *reactor_; }
  void stop() {
    if (reactor_) reactor_->request_stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::thread thread_;
  std::unique_ptr<engine::Reactor> reactor_;
  std::string error_;
};

// "io_uring" / "epoll": names the instances of tests parameterised over the backends.
inline std::string backend_label(engine::IoBackendKind kind) {
  return kind == engine::IoBackendKind::io_uring ? "io_uring" : "epoll";
}
struct BackendName {
  template <typename ParamInfo>
  std::string operator()(const ParamInfo& param_info) const {
    return backend_label(param_info.param);
  }
};

// Why io_uring cannot run here ("" when it can): containers often forbid creating a ring.
// CP_TEST_NO_IO_URING=1 pretends so (to check that such runs report their skips).
inline const std::string& io_uring_unavailable() {
  static const std::string why = []() -> std::string {
    if (const char* e = std::getenv("CP_TEST_NO_IO_URING"); e && *e && *e != '0')
      return "CP_TEST_NO_IO_URING is set";
    auto uring = engine::make_uring_backend({});
    return uring ? "" : uring.error();
  }();
  return why;
}

// Both backends, always: the io_uring instances of a test skip themselves (BackendTest) where
// io_uring cannot run, so a green run shows them as skipped rather than leaving them out.
inline std::vector<engine::IoBackendKind> available_backends() {
  return {engine::IoBackendKind::io_uring, engine::IoBackendKind::epoll};
}
// io_uring where it runs, else epoll (for tests that need one backend).
inline engine::IoBackendKind preferred_backend() {
  return io_uring_unavailable().empty() ? engine::IoBackendKind::io_uring
                                        : engine::IoBackendKind::epoll;
}

// The fixture of tests parameterised over the backends: an io_uring instance is skipped, with
// the reason, where io_uring cannot run. Fixtures with a SetUp of their own call this one first.
class BackendTest : public ::testing::TestWithParam<engine::IoBackendKind> {
 protected:
  void SetUp() override {
    if (GetParam() == engine::IoBackendKind::io_uring && !io_uring_unavailable().empty())
      GTEST_SKIP() << "io_uring unavailable: " << io_uring_unavailable();
  }
};

inline SocketAddress loopback(uint16_t port = 0) {
  return SocketAddress::ipv4(0x7f000001, port);
}

// A blocking TCP client socket connected to `addr`, or -1.
inline int connect_to(const SocketAddress& addr) {
  const int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, addr.sa(), addr.length) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

inline bool write_all(int fd, const void* data, size_t len) {
  auto* p = static_cast<const char*>(data);
  while (len > 0) {
    const ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Reads exactly `len` bytes, waiting at most `timeout_ms` in all. Returns bytes read.
inline size_t read_exact(int fd, void* data, size_t len, int timeout_ms = 5000) {
  auto* p = static_cast<char*>(data);
  size_t got = 0;
  while (got < len) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) <= 0) break;
    const ssize_t n = ::recv(fd, p + got, len - got, 0);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

// True when the peer closed `fd` (EOF or reset) within `timeout_ms`.
inline bool wait_closed(int fd, int timeout_ms) {
  char c;
  pollfd pfd{fd, POLLIN, 0};
  if (::poll(&pfd, 1, timeout_ms) <= 0) return false;
  return ::recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

// Polls `pred` until it holds or `timeout_ms` passes (for state another thread updates).
template <typename Pred>
bool eventually(Pred pred, int timeout_ms = 3000) {
  for (int waited = 0; waited < timeout_ms; waited += 5) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

}  // namespace cp::test
