// epoll backend: the completion interface emulated over readiness, for machines where io_uring
// cannot be set up (containers often forbid it). Level-triggered; one read per readable socket
// per wait() for fairness; sends are attempted at once and finished on EPOLLOUT. Completions
// produced outside wait() go to a bounded pending queue and are returned by the next wait(), so
// no completion ever runs inline from a start_*() call.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "base/assert.h"
#include "base/log.h"
#include "base/log_throttle.h"
#include "engine/file_ops.h"
#include "engine/io_backend.h"
#include "engine/socket_ops.h"

namespace cp::engine {
namespace {

constexpr size_t kFileCommitsMax = 64;

constexpr int kAcceptsPerEvent = 64;
constexpr size_t kFdTableMax = size_t{1} << 20;

class EpollBackend final : public IoBackend {
 public:
  explicit EpollBackend(const IoBackendOptions& opts) : opts_(opts) {}
  ~EpollBackend() override;
  Result<void, std::string> init();

  std::string_view name() const override { return "epoll"; }
  Result<IoHandle, int> listen(const SocketAddress& addr, const ListenOptions& opts) override {
    auto fd = socket_ops::open_listener(addr, opts);
    if (fd && !valid(*fd)) {
      ::close(*fd);
      return fail(EMFILE);
    }
    return fd;
  }
  Result<SocketAddress, int> local_address(IoHandle h) override {
    return socket_ops::local_address(h);
  }
  Result<SocketAddress, int> peer_address(IoHandle h) override {
    return socket_ops::peer_address(h);
  }
  void start_accept(IoHandle listener, void* owner) override {
    fds_[listener].accept_owner = owner;
    update_interest(listener);
  }
  void start_connect(const SocketAddress& addr, void* owner, bool seqpacket) override;
  void start_recv(IoHandle h, void* owner) override {
    fds_[h].recv_owner = owner;
    update_interest(h);
  }
  void stop_recv(IoHandle h, void* owner) override {
    if (fds_[h].recv_owner != owner) return;
    fds_[h].recv_owner = nullptr;
    update_interest(h);
    push({IoOp::recv, false, 0, -ECANCELED, owner, nullptr});
  }
  void recycle_buffer(uint16_t id) override {
    free_buffers_.push_back(id);
    if (!starved_.empty()) restore_starved();
  }
  void start_send(IoHandle h, void* owner, std::span<const std::byte> bytes) override;
  // No asynchronous file I/O under epoll: the commit blocks this reactor for one write +
  // fdatasync (the io_uring backend is the production path).
  void start_file_commit(int fd, std::span<const FileWrite> writes, void* owner) override {
    push({IoOp::file_commit, false, 0, file_ops::commit_sync(fd, writes), owner, nullptr});
  }
  void shutdown(IoHandle h) override;
  void shutdown_write(IoHandle h) override { ::shutdown(h, SHUT_WR); }
  void cancel_connect(void* owner) override;
  void close(IoHandle h) override;
  size_t wait(std::span<IoCompletion> out, Nanos timeout) override;
  void wake() override {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }
  const IoBackendStats& stats() const override { return stats_; }
  uint32_t recv_buffer_count() const override { return opts_.recv_buffer_count; }

 private:
  struct FdState {
    void* accept_owner = nullptr;
    void* recv_owner = nullptr;
    void* send_owner = nullptr;
    void* connect_owner = nullptr;
    const std::byte* send_data = nullptr;
    size_t send_len = 0;
    uint32_t registered = 0;  // events currently registered with epoll
    bool in_epoll = false;
    bool starved = false;  // readable, but no receive buffer was free: EPOLLIN left out
  };

  bool valid(int fd) const { return fd >= 0 && static_cast<size_t>(fd) < fds_.size(); }
  bool room() const { return pending_count_ < pending_.size(); }
  void push(const IoCompletion& c) {
    CP_ASSERT(room());
    pending_[(pending_head_ + pending_count_) % pending_.size()] = c;
    ++pending_count_;
  }
  void update_interest(int fd);
  // epoll_ctl refused to watch `fd` (ENOMEM, ENOSPC: fs.epoll.max_user_watches): nothing armed on
  // it could ever complete, so every operation on it ends with the error (the owners close it).
  void watch_failed(int fd, int err);
  // epoll_pwait2, or epoll_wait where the kernel (before 5.11) or a seccomp profile lacks it.
  int wait_events(int max_events, const timespec* timeout);
  // A buffer came back: the sockets that found none are watched for input again.
  void restore_starved();
  void on_readable(int fd);
  void on_writable(int fd);
  void do_send(int fd);

  IoBackendOptions opts_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::vector<FdState> fds_;
  std::vector<IoCompletion> pending_;
  size_t pending_head_ = 0;
  size_t pending_count_ = 0;
  std::vector<epoll_event> events_;
  std::byte* buffers_ = nullptr;
  size_t buffers_bytes_ = 0;
  std::vector<uint16_t> free_buffers_;
  std::vector<int> starved_;     // fds with FdState::starved set
  std::vector<int> connecting_;  // sockets with a connect in progress
  bool use_epoll_wait_ = false;  // epoll_pwait2 answered ENOSYS
  LogThrottle watch_log_;
  LogThrottle wait_log_;
  IoBackendStats stats_;
};

EpollBackend::~EpollBackend() {
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (buffers_) munmap(buffers_, buffers_bytes_);
}

Result<void, std::string> EpollBackend::init() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return fail(std::string("epoll_create1: ") + std::strerror(errno));
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return fail(std::string("eventfd: ") + std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0)
    return fail(std::string("epoll_ctl (wake-up eventfd): ") + std::strerror(errno));
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  const size_t table =
      lim.rlim_cur == RLIM_INFINITY ? kFdTableMax : std::min<size_t>(lim.rlim_cur, kFdTableMax);
  fds_.resize(table);
  // Sized so the pending queue can always take what one wait() produces (at most the free room,
  // see wait()) plus what start_*() calls add outside it: per connection at most one send, one
  // stop_recv, one connect and one failed-watch completion; and the file commits in flight (a
  // few per reactor).
  pending_.resize(opts_.queue_depth * 4 + kAcceptsPerEvent + 4 * size_t{opts_.max_connections} +
                  kFileCommitsMax);
  connecting_.reserve(opts_.max_connections);
  events_.resize(opts_.queue_depth);
  buffers_bytes_ = static_cast<size_t>(opts_.recv_buffer_count) * opts_.recv_buffer_bytes;
  void* mem = mmap(nullptr, buffers_bytes_, PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return fail(std::string("mmap recv buffers: ") + std::strerror(errno));
  buffers_ = static_cast<std::byte*>(mem);
  free_buffers_.reserve(opts_.recv_buffer_count);
  for (uint32_t i = opts_.recv_buffer_count; i-- > 0;)
    free_buffers_.push_back(static_cast<uint16_t>(i));
  return {};
}

void EpollBackend::update_interest(int fd) {
  FdState& s = fds_[fd];
  uint32_t want = 0;
  if (s.accept_owner || (s.recv_owner && !s.starved)) want |= EPOLLIN;
  if (s.send_owner || s.connect_owner) want |= EPOLLOUT;
  if (want == s.registered && (s.in_epoll || want == 0)) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.fd = fd;
  if (!s.in_epoll && want == 0) return;
  if (epoll_ctl(epoll_fd_, s.in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) {
    watch_failed(fd, errno);
    return;
  }
  s.in_epoll = true;
  s.registered = want;
}

void EpollBackend::watch_failed(int fd, int err) {
  ++stats_.watch_failures;
  if (uint64_t held; watch_log_.pass(read_clock(CLOCK_MONOTONIC), held)) {
    CP_LOG_WARN(
        "epoll: cannot watch socket {}: {}; its operations end with that error ({} more "
        "not logged)",
        fd, std::strerror(err), held);
  }
  FdState& s = fds_[fd];
  if (s.in_epoll) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);  // may fail too: nobody is left to wake
    s.in_epoll = false;
  }
  s.registered = 0;
  s.starved = false;
  const int32_t result = -err;
  if (void* owner = std::exchange(s.accept_owner, nullptr))
    push({IoOp::accept, false, 0, result, owner, nullptr});
  if (void* owner = std::exchange(s.recv_owner, nullptr))
    push({IoOp::recv, false, 0, result, owner, nullptr});
  if (void* owner = std::exchange(s.send_owner, nullptr))
    push({IoOp::send, false, 0, result, owner, nullptr});
  if (void* owner = std::exchange(s.connect_owner, nullptr)) {
    // The socket was never handed to its owner: it is ours to close.
    std::erase(connecting_, fd);
    s = FdState{};
    ::close(fd);
    push({IoOp::connect, false, 0, result, owner, nullptr});
  }
}

int EpollBackend::wait_events(int max_events, const timespec* timeout) {
  if (!use_epoll_wait_) {
    const int n = epoll_pwait2(epoll_fd_, events_.data(), max_events, timeout, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    use_epoll_wait_ = true;
    CP_LOG_NOTICE(
        "epoll: epoll_pwait2 is not available (kernel before 5.11?); using epoll_wait, "
        "timers to the millisecond");
  }
  int ms = -1;
  if (timeout) {  // rounded up: a timer must not fire early, nor the loop spin below 1 ms
    const Nanos ns = static_cast<Nanos>(timeout->tv_sec) * kNanosPerSecond + timeout->tv_nsec;
    ms = static_cast<int>(std::min<Nanos>((ns + kNanosPerMilli - 1) / kNanosPerMilli, 1 << 30));
  }
  return epoll_wait(epoll_fd_, events_.data(), max_events, ms);
}

void EpollBackend::start_connect(const SocketAddress& addr, void* owner, bool seqpacket) {
  auto fd = socket_ops::open_stream(addr, seqpacket ? SOCK_SEQPACKET : SOCK_STREAM);
  if (fd && !valid(*fd)) {
    ::close(*fd);
    fd = fail(EMFILE);
  }
  if (!fd) {
    push({IoOp::connect, false, 0, -fd.error(), owner, nullptr});
    return;
  }
  if (::connect(*fd, addr.sa(), addr.length) == 0) {
    socket_ops::tune_connected(*fd);
    push({IoOp::connect, false, 0, *fd, owner, nullptr});
    return;
  }
  if (errno != EINPROGRESS) {
    const int err = errno;
    ::close(*fd);
    push({IoOp::connect, false, 0, -err, owner, nullptr});
    return;
  }
  fds_[*fd].connect_owner = owner;
  connecting_.push_back(*fd);
  update_interest(*fd);
}

void EpollBackend::cancel_connect(void* owner) {
  for (size_t i = 0; i < connecting_.size(); ++i) {
    const int fd = connecting_[i];
    if (fds_[fd].connect_owner != owner) continue;
    connecting_[i] = connecting_.back();
    connecting_.pop_back();
    close(fd);
    push({IoOp::connect, false, 0, -ECANCELED, owner, nullptr});
    return;
  }
}

void EpollBackend::start_send(IoHandle h, void* owner, std::span<const std::byte> bytes) {
  FdState& s = fds_[h];
  s.send_owner = owner;
  s.send_data = bytes.data();
  s.send_len = bytes.size();
  do_send(h);
}

void EpollBackend::do_send(int fd) {
  FdState& s = fds_[fd];
  const ssize_t n = ::send(fd, s.send_data, s.send_len, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    update_interest(fd);  // finish on EPOLLOUT
    return;
  }
  void* owner = s.send_owner;
  s.send_owner = nullptr;
  update_interest(fd);
  push({IoOp::send, false, 0, n < 0 ? -errno : static_cast<int32_t>(n), owner, nullptr});
}

void EpollBackend::shutdown(IoHandle h) {
  ::shutdown(h, SHUT_RDWR);
  FdState& s = fds_[h];
  if (s.accept_owner) {  // a listener: accept4 would now fail with EINVAL
    push({IoOp::accept, false, 0, -ECANCELED, s.accept_owner, nullptr});
    s.accept_owner = nullptr;
    update_interest(h);
  }
}

void EpollBackend::restore_starved() {
  for (int fd : std::exchange(starved_, {})) {
    FdState& s = fds_[fd];
    if (!s.starved) continue;  // closed (and maybe reused) since
    s.starved = false;
    update_interest(fd);
  }
}

void EpollBackend::close(IoHandle h) {
  FdState& s = fds_[h];
  if (s.in_epoll) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, h, nullptr);
  s = FdState{};
  ::close(h);
}

void EpollBackend::on_readable(int fd) {
  FdState& s = fds_[fd];
  if (s.accept_owner) {
    for (int i = 0; i < kAcceptsPerEvent && room() && s.accept_owner; ++i) {
      const int nfd = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (nfd >= 0 && !valid(nfd)) {
        ::close(nfd);
        push({IoOp::accept, false, 0, -EMFILE, s.accept_owner, nullptr});
        s.accept_owner = nullptr;
      } else if (nfd >= 0) {
        socket_ops::tune_connected(nfd);
        push({IoOp::accept, true, 0, nfd, s.accept_owner, nullptr});
      } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) {
        break;
      } else {  // EMFILE, ENFILE, ...: end the multishot accept so we do not spin on it
        push({IoOp::accept, false, 0, -errno, s.accept_owner, nullptr});
        s.accept_owner = nullptr;
      }
    }
    update_interest(fd);
    return;
  }
  if (!s.recv_owner || !room()) return;
  if (free_buffers_.empty()) {
    // Every buffer is held (paused connections keep theirs). Level-triggered, the socket would
    // be reported again at once, every turn: a busy loop exactly when overloaded. Stop watching
    // its input until a buffer comes back (restore_starved); the receive stays armed.
    ++stats_.recv_buffer_exhausted;
    s.starved = true;
    starved_.push_back(fd);
    update_interest(fd);
    return;
  }
  const uint16_t id = free_buffers_.back();
  std::byte* buf = buffers_ + static_cast<size_t>(id) * opts_.recv_buffer_bytes;
  const ssize_t n = ::recv(fd, buf, opts_.recv_buffer_bytes, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n > 0) {
    free_buffers_.pop_back();
    push({IoOp::recv, true, id, static_cast<int32_t>(n), s.recv_owner, buf});
    return;
  }
  push({IoOp::recv, false, 0, n == 0 ? 0 : -errno, s.recv_owner, nullptr});
  s.recv_owner = nullptr;
  update_interest(fd);
}

void EpollBackend::on_writable(int fd) {
  FdState& s = fds_[fd];
  if (s.connect_owner && room()) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    void* owner = s.connect_owner;
    s.connect_owner = nullptr;
    std::erase(connecting_, fd);
    update_interest(fd);
    if (err) {
      s = FdState{};
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
      ::close(fd);
      push({IoOp::connect, false, 0, -err, owner, nullptr});
    } else {
      socket_ops::tune_connected(fd);
      push({IoOp::connect, false, 0, fd, owner, nullptr});
    }
    return;
  }
  if (s.send_owner && room()) do_send(fd);
}

size_t EpollBackend::wait(std::span<IoCompletion> out, Nanos timeout) {
  ++stats_.submit_calls;
  const bool have_pending = pending_count_ > 0;
  timespec ts{};
  timespec* tsp = nullptr;
  if (have_pending || timeout >= 0) {
    const Nanos t = have_pending ? 0 : timeout;
    ts.tv_sec = t / kNanosPerSecond;
    ts.tv_nsec = t % kNanosPerSecond;
    tsp = &ts;
  }
  // No more ready sockets than free receive buffers (+1 for the wake-up eventfd): each one
  // reported is read once.
  const size_t max_ready =
      std::min({events_.size(), pending_.size() - pending_count_, free_buffers_.size() + 1});
  const int max_events = static_cast<int>(max_ready);
  int n = max_events > 0 ? wait_events(max_events, tsp) : 0;
  if (n < 0) {
    if (errno != EINTR) {
      if (uint64_t held; wait_log_.pass(read_clock(CLOCK_MONOTONIC), held))
        CP_LOG_ERROR("epoll_wait: {} ({} more not logged)", std::strerror(errno), held);
    }
    n = 0;
  }
  for (int i = 0; i < n; ++i) {
    const int fd = events_[i].data.fd;
    if (fd == wake_fd_) {
      uint64_t v = 0;
      [[maybe_unused]] ssize_t r = ::read(wake_fd_, &v, sizeof v);
      continue;
    }
    const uint32_t ev = events_[i].events;
    if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_writable(fd);
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(fd);
    FdState& s = fds_[fd];
    if ((ev & (EPOLLERR | EPOLLHUP)) && s.in_epoll && !s.accept_owner && !s.recv_owner &&
        !s.send_owner && !s.connect_owner) {
      // epoll reports ERR/HUP even with no interest: with nobody to hand it to, stop watching
      // the socket (the next start_*() adds it back) instead of waking up for it forever.
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
      s.in_epoll = false;
      s.registered = 0;
    }
  }
  size_t count = 0;
  while (pending_count_ > 0 && count < out.size()) {
    out[count++] = pending_[pending_head_];
    pending_head_ = (pending_head_ + 1) % pending_.size();
    --pending_count_;
  }
  stats_.completions += count;
  return count;
}

}  // namespace

Result<std::unique_ptr<IoBackend>, std::string> make_epoll_backend(const IoBackendOptions& opts) {
  auto backend = std::make_unique<EpollBackend>(opts);
  if (auto ok = backend->init(); !ok) return fail(ok.error());
  return std::unique_ptr<IoBackend>(std::move(backend));
}

}  // namespace cp::engine
