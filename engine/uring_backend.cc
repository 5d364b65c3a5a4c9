// io_uring backend: multishot accept, multishot recv into a provided-buffer ring, send, connect,
// an eventfd read for cross-thread wake-ups; one submission per loop turn. The ring is created
// with SINGLE_ISSUER + DEFER_TASKRUN where the kernel has them, so the backend must be created on
// the reactor thread that uses it (see Engine).
//
// Sockets this ring receives or sends on are registered in its fixed-file table at slot = fd
// (on first use, one io_uring_register call), so recv and send skip the kernel's per-operation
// file lookup (fget/fput, ~3 % of a loopback request/response load); close() unregisters the
// slot before closing the fd. A handle above the table, or a kernel without sparse tables, uses
// the plain fd.
#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

#include "base/assert.h"
#include "base/log.h"
#include "base/log_throttle.h"
#include "engine/io_backend.h"
#include "engine/socket_ops.h"

namespace cp::engine {
namespace {

enum Tag : uint64_t {
  kTagInternal = 0,
  kTagAccept,
  kTagConnect,
  kTagRecv,
  kTagSend,
  kTagWake,
  kTagFileWrite,
  kTagFileSync,
};
constexpr uint64_t kTagMask = 7;
constexpr uint16_t kBufferGroup = 1;
constexpr size_t kPendingConnectsMax = 256;
constexpr size_t kFileCommitsMax = 64;
// Fixed-file table slots (8 bytes of kernel memory each, per reactor).
constexpr rlim_t kFixedFilesMax = 65536;

uint64_t encode(void* owner, Tag tag) {
  const auto p = reinterpret_cast<uintptr_t>(owner);
  CP_ASSERT((p & kTagMask) == 0);
  return p | tag;
}

class UringBackend final : public IoBackend {
 public:
  explicit UringBackend(const IoBackendOptions& opts) : opts_(opts) {}
  ~UringBackend() override;

  Result<void, std::string> init();
  std::string_view name() const override { return "io_uring"; }
  Result<IoHandle, int> listen(const SocketAddress& addr, const ListenOptions& opts) override {
    return socket_ops::open_listener(addr, opts);
  }
  Result<SocketAddress, int> local_address(IoHandle h) override {
    return socket_ops::local_address(h);
  }
  Result<SocketAddress, int> peer_address(IoHandle h) override {
    return socket_ops::peer_address(h);
  }
  void start_accept(IoHandle listener, void* owner) override {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, encode(owner, kTagAccept));
  }
  void start_connect(const SocketAddress& addr, void* owner, bool seqpacket) override;
  void start_recv(IoHandle h, void* owner) override {
    const bool fixed = use_fixed(h);
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_recv_multishot(sqe, h, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT | (fixed ? IOSQE_FIXED_FILE : 0);
    sqe->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(sqe, encode(owner, kTagRecv));
  }
  void stop_recv(IoHandle, void* owner) override {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, encode(owner, kTagRecv), 0);
    io_uring_sqe_set_data64(sqe, kTagInternal);
  }
  void recycle_buffer(uint16_t id) override {
    io_uring_buf_ring_add(buf_ring_, buffer(id), opts_.recv_buffer_bytes, id, buf_mask_,
                          pending_recycles_++);
  }
  void start_send(IoHandle h, void* owner, std::span<const std::byte> bytes) override {
    const bool fixed = use_fixed(h);
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_send(sqe, h, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (fixed) sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, encode(owner, kTagSend));
  }
  void shutdown(IoHandle h) override { ::shutdown(h, SHUT_RDWR); }
  void shutdown_write(IoHandle h) override { ::shutdown(h, SHUT_WR); }
  void cancel_connect(void* owner) override {
    for (auto& pc : connects_) {
      if (pc.owner != owner || pc.fd < 0) continue;
      io_uring_sqe* sqe = get_sqe();
      io_uring_prep_cancel64(sqe, encode(&pc, kTagConnect), 0);
      io_uring_sqe_set_data64(sqe, kTagInternal);
    }
  }
  void close(IoHandle h) override {
    unregister_fixed(h);
    ::close(h);
  }
  void start_file_commit(int fd, std::span<const FileWrite> writes, void* owner) override;
  size_t wait(std::span<IoCompletion> out, Nanos timeout) override;
  void wake() override {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }
  const IoBackendStats& stats() const override { return stats_; }
  uint32_t recv_buffer_count() const override { return opts_.recv_buffer_count; }

 private:
  struct PendingConnect {
    alignas(8) void* owner = nullptr;
    int fd = -1;
    SocketAddress addr;
  };

  // One group commit in flight: its writes and fdatasync each complete here; the owner hears
  // once, when all have.
  struct FileCommit {
    alignas(8) void* owner = nullptr;
    uint32_t remaining = 0;
    int32_t error = 0;
    int32_t expected = -1;  // a lone RWF_DSYNC write: the byte count that means success
  };

  std::byte* buffer(uint16_t id) const {
    return buffers_ + static_cast<size_t>(id) * opts_.recv_buffer_bytes;
  }
  // A submission entry: a slot of the ring, or, when the kernel takes nothing more (io_uring_enter
  // failing with EBUSY while completions it cannot post wait, EINTR, ENOMEM), one of backlog_,
  // behind every entry already there. Never null: no assert is reachable from load.
  io_uring_sqe* get_sqe();
  // Hands the queued entries to the kernel; a failure is logged (rate-limited) and counted.
  void submit_queued();
  // Moves backlogged entries into the ring, a linked chain only whole (start of wait()).
  void flush_backlog();
  void arm_wake();
  // True once `h` sits in the fixed-file table at slot h (registering it on first use).
  bool use_fixed(IoHandle h);
  void unregister_fixed(IoHandle h);
  bool translate(const io_uring_cqe& cqe, IoCompletion& out);

  IoBackendOptions opts_;
  io_uring ring_{};
  bool ring_ready_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  int buf_mask_ = 0;
  int pending_recycles_ = 0;
  std::byte* buffers_ = nullptr;
  size_t buffers_bytes_ = 0;
  int wake_fd_ = -1;
  uint64_t wake_value_ = 0;
  std::vector<uint8_t> fixed_;  // fixed_[fd] != 0: fd is registered at slot fd (empty: none)
  std::vector<PendingConnect> connects_;
  std::vector<PendingConnect*> free_connects_;
  std::vector<FileCommit> file_commits_;
  std::vector<FileCommit*> free_file_commits_;
  std::deque<io_uring_sqe> backlog_;  // entries waiting for ring slots, in order
  std::vector<IoCompletion> ready_;   // completions made here (a commit refused), not by the kernel
  LogThrottle submit_log_;
  IoBackendStats stats_;
};

UringBackend::~UringBackend() {
  if (ring_ready_) io_uring_queue_exit(&ring_);
  if (buf_ring_) munmap(buf_ring_, buf_ring_bytes_);
  if (buffers_) munmap(buffers_, buffers_bytes_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Result<void, std::string> UringBackend::init() {
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
                 IORING_SETUP_SUBMIT_ALL;
  params.cq_entries = opts_.queue_depth * 4;
  int rc = io_uring_queue_init_params(opts_.queue_depth, &ring_, &params);
  if (rc == -EINVAL) {  // older kernel: no SINGLE_ISSUER / DEFER_TASKRUN
    params = {};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = opts_.queue_depth * 4;
    rc = io_uring_queue_init_params(opts_.queue_depth, &ring_, &params);
  }
  if (rc < 0) return fail(std::string("io_uring_queue_init: ") + std::strerror(-rc));
  ring_ready_ = true;

  // The provided-buffer ring, mapped by hand (liburing 2.3 has no io_uring_setup_buf_ring).
  const uint32_t count = opts_.recv_buffer_count;
  CP_ASSERT(count > 0 && count <= 32768 && (count & (count - 1)) == 0);
  buf_ring_bytes_ = count * sizeof(io_uring_buf);
  void* ring_mem =
      mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (ring_mem == MAP_FAILED) return fail(std::string("mmap buffer ring: ") + std::strerror(errno));
  buf_ring_ = static_cast<io_uring_buf_ring*>(ring_mem);
  io_uring_buf_ring_init(buf_ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
  reg.ring_entries = count;
  reg.bgid = kBufferGroup;
  rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc < 0) return fail(std::string("io_uring_register_buf_ring: ") + std::strerror(-rc));
  buf_mask_ = io_uring_buf_ring_mask(count);
  buffers_bytes_ = static_cast<size_t>(count) * opts_.recv_buffer_bytes;
  void* mem = mmap(nullptr, buffers_bytes_, PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return fail(std::string("mmap recv buffers: ") + std::strerror(errno));
  buffers_ = static_cast<std::byte*>(mem);
  for (uint32_t i = 0; i < count; ++i) recycle_buffer(static_cast<uint16_t>(i));
  io_uring_buf_ring_advance(buf_ring_, pending_recycles_);
  pending_recycles_ = 0;

  // The fixed-file table, one slot per possible fd number: the kernel caps its size at
  // RLIMIT_NOFILE. Without it (old kernel, tiny limit) every operation uses the plain fd.
  rlimit nofile{};
  if (opts_.fixed_files && getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    const auto slots = static_cast<unsigned>(std::min<rlim_t>(nofile.rlim_cur, kFixedFilesMax));
    rc = slots >= 64 ? io_uring_register_files_sparse(&ring_, slots) : -EINVAL;
    if (rc == 0) {
      fixed_.assign(slots, 0);
    } else {
      CP_LOG_INFO("io_uring: no fixed-file table ({}); sockets use plain descriptors",
                  std::strerror(-rc));
    }
  }

  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return fail(std::string("eventfd: ") + std::strerror(errno));
  connects_.resize(kPendingConnectsMax);
  for (auto& pc : connects_) free_connects_.push_back(&pc);
  file_commits_.resize(kFileCommitsMax);
  for (auto& fc : file_commits_) free_file_commits_.push_back(&fc);
  arm_wake();
  return {};
}

io_uring_sqe* UringBackend::get_sqe() {
  if (backlog_.empty()) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
    submit_queued();  // submission queue full: hand it to the kernel and take a fresh slot
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
  }
  ++stats_.sq_backlogged;
  return &backlog_.emplace_back(io_uring_sqe{});
}

void UringBackend::submit_queued() {
  // GETEVENTS: lets the kernel flush completions it holds back (overflow), which is what an
  // EBUSY refusal waits for.
  const int rc = io_uring_submit_and_get_events(&ring_);
  ++stats_.submit_calls;
  if (rc >= 0 || rc == -EINTR) return;
  if (uint64_t held; submit_log_.pass(read_clock(CLOCK_MONOTONIC), held)) {
    CP_LOG_WARN(
        "io_uring: submitting failed: {}; {} entries wait for the next turn ({} more "
        "failures not logged)",
        std::strerror(-rc), backlog_.size() + io_uring_sq_ready(&ring_), held);
  }
}

void UringBackend::flush_backlog() {
  while (!backlog_.empty()) {
    size_t chain = 1;  // the entry and those linked behind it
    while (chain < backlog_.size() && (backlog_[chain - 1].flags & IOSQE_IO_LINK)) ++chain;
    if (io_uring_sq_space_left(&ring_) < chain) {
      submit_queued();
      if (io_uring_sq_space_left(&ring_) < chain) return;  // the kernel is still refusing
    }
    for (size_t i = 0; i < chain; ++i) {
      io_uring_sqe* slot = io_uring_get_sqe(&ring_);
      if (!slot) return;  // not after the check above
      *slot = backlog_.front();
      backlog_.pop_front();
    }
  }
}

bool UringBackend::use_fixed(IoHandle h) {
  if (h < 0 || static_cast<size_t>(h) >= fixed_.size()) return false;
  if (fixed_[h]) return true;
  const int rc = io_uring_register_files_update(&ring_, static_cast<unsigned>(h), &h, 1);
  if (rc != 1) return false;  // the plain fd still works
  fixed_[h] = 1;
  return true;
}

void UringBackend::unregister_fixed(IoHandle h) {
  if (h < 0 || static_cast<size_t>(h) >= fixed_.size() || !fixed_[h]) return;
  const int none = -1;
  const int rc = io_uring_register_files_update(&ring_, static_cast<unsigned>(h), &none, 1);
  // Were the slot kept, it would hold the socket open after close(): say so loudly.
  if (rc != 1) CP_LOG_ERROR("io_uring: unregistering fd {} failed: {}", h, std::strerror(-rc));
  fixed_[h] = 0;
}

void UringBackend::arm_wake() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
  io_uring_sqe_set_data64(sqe, encode(this, kTagWake));
}

void UringBackend::start_connect(const SocketAddress& addr, void* owner, bool seqpacket) {
  auto fd = socket_ops::open_stream(addr, seqpacket ? SOCK_SEQPACKET : SOCK_STREAM);
  if (!fd || free_connects_.empty()) {
    // Report the failure through a completion, never inline: a no-op tagged with the owner
    // itself (not a PendingConnect) completes, and translate() turns it into -EMFILE.
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, encode(owner, kTagConnect));
    if (fd) ::close(*fd);
    return;
  }
  PendingConnect* pc = free_connects_.back();
  free_connects_.pop_back();
  pc->owner = owner;
  pc->fd = *fd;
  pc->addr = addr;
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_connect(sqe, pc->fd, pc->addr.sa(), pc->addr.length);
  io_uring_sqe_set_data64(sqe, encode(pc, kTagConnect));
}

void UringBackend::start_file_commit(int fd, std::span<const FileWrite> writes, void* owner) {
  // More commits in flight than any service keeps, or a chain longer than the ring: refused
  // through a completion, never an assert (the store's batch limit keeps chains within the ring).
  if (free_file_commits_.empty() || writes.empty() || writes.size() + 1 > opts_.queue_depth) {
    ready_.push_back({IoOp::file_commit, false, 0, free_file_commits_.empty() ? -EAGAIN : -EINVAL,
                      owner, nullptr});
    return;
  }
  // A chain must go to the kernel in one submission: a submit between its entries would end the
  // link early and let the fdatasync run before the writes. It goes whole into the ring, or
  // whole into the backlog (flush_backlog keeps it whole).
  const size_t entries = writes.size() == 1 ? 1 : writes.size() + 1;
  if (backlog_.empty() && io_uring_sq_space_left(&ring_) < entries) submit_queued();
  const bool direct = backlog_.empty() && io_uring_sq_space_left(&ring_) >= entries;
  const auto take = [&]() -> io_uring_sqe* {
    if (direct) {
      if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;  // room was checked above
    }
    ++stats_.sq_backlogged;
    return &backlog_.emplace_back(io_uring_sqe{});
  };
  FileCommit* fc = free_file_commits_.back();
  free_file_commits_.pop_back();
  fc->owner = owner;
  fc->error = 0;
  if (writes.size() == 1) {
    // One contiguous run (the common commit: the tail blocks): a single RWF_DSYNC write, which
    // the kernel completes without handing an fsync to an io-wq worker thread.
    fc->remaining = 1;
    io_uring_sqe* sqe = take();
    io_uring_prep_write(sqe, fd, writes[0].bytes.data(),
                        static_cast<unsigned>(writes[0].bytes.size()), writes[0].offset);
    sqe->rw_flags = RWF_DSYNC;
    io_uring_sqe_set_data64(sqe, encode(fc, kTagFileSync));
    fc->expected = static_cast<int32_t>(writes[0].bytes.size());
    return;
  }
  fc->expected = -1;
  fc->remaining = static_cast<uint32_t>(writes.size() + 1);
  for (const FileWrite& w : writes) {
    io_uring_sqe* sqe = take();
    io_uring_prep_write(sqe, fd, w.bytes.data(), static_cast<unsigned>(w.bytes.size()), w.offset);
    sqe->flags |= IOSQE_IO_LINK;  // a failed or short write cancels the rest of the chain
    io_uring_sqe_set_data64(sqe, encode(fc, kTagFileWrite));
  }
  io_uring_sqe* sqe = take();
  io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
  io_uring_sqe_set_data64(sqe, encode(fc, kTagFileSync));
}

bool UringBackend::translate(const io_uring_cqe& cqe, IoCompletion& out) {
  const uint64_t data = cqe.user_data;
  const auto tag = static_cast<Tag>(data & kTagMask);
  void* ptr = reinterpret_cast<void*>(data & ~kTagMask);
  out = IoCompletion{};
  out.result = cqe.res;
  out.more = (cqe.flags & IORING_CQE_F_MORE) != 0;
  switch (tag) {
    case kTagInternal:
      return false;
    case kTagWake:
      arm_wake();
      return false;
    case kTagAccept:
      out.op = IoOp::accept;
      out.owner = ptr;
      if (cqe.res >= 0) socket_ops::tune_connected(cqe.res);
      return true;
    case kTagConnect: {
      out.op = IoOp::connect;
      auto* pc = static_cast<PendingConnect*>(ptr);
      const bool ours = pc >= connects_.data() && pc < connects_.data() + connects_.size();
      if (!ours) {  // start_connect could not even create the socket
        out.owner = ptr;
        out.result = -EMFILE;
        return true;
      }
      out.owner = pc->owner;
      if (cqe.res < 0) {
        ::close(pc->fd);
      } else {
        socket_ops::tune_connected(pc->fd);
        out.result = pc->fd;
      }
      pc->fd = -1;
      pc->owner = nullptr;
      free_connects_.push_back(pc);
      return true;
    }
    case kTagRecv:
      out.op = IoOp::recv;
      out.owner = ptr;
      if (cqe.res > 0) {
        CP_ASSERT(cqe.flags & IORING_CQE_F_BUFFER);
        out.buffer_id = static_cast<uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
        out.data = buffer(out.buffer_id);
      } else if (cqe.res == -ENOBUFS) {
        ++stats_.recv_buffer_exhausted;
      }
      return true;
    case kTagSend:
      out.op = IoOp::send;
      out.owner = ptr;
      return true;
    case kTagFileWrite:
    case kTagFileSync: {
      auto* fc = static_cast<FileCommit*>(ptr);
      // The first real error wins; -ECANCELED only means an earlier link failed or was short.
      if (cqe.res < 0 && (fc->error == 0 || fc->error == -ECANCELED)) fc->error = cqe.res;
      if (fc->expected >= 0 && cqe.res >= 0 && cqe.res != fc->expected) fc->error = -EIO;
      if (--fc->remaining > 0) return false;
      out.op = IoOp::file_commit;
      out.owner = fc->owner;
      out.result = fc->error == -ECANCELED ? -EIO : fc->error;
      fc->owner = nullptr;
      free_file_commits_.push_back(fc);
      return true;
    }
  }
  return false;
}

size_t UringBackend::wait(std::span<IoCompletion> out, Nanos timeout) {
  if (pending_recycles_) {
    io_uring_buf_ring_advance(buf_ring_, pending_recycles_);
    pending_recycles_ = 0;
  }
  size_t n = std::min(ready_.size(), out.size());  // in the order they were made
  std::copy_n(ready_.begin(), n, out.begin());
  ready_.erase(ready_.begin(), ready_.begin() + static_cast<long>(n));
  if (n > 0) timeout = 0;
  if (!backlog_.empty()) {
    flush_backlog();
    // Entries the kernel would not take yet: come back soon, but do not spin on a refusal.
    if (!backlog_.empty() && (timeout < 0 || timeout > kNanosPerMilli)) timeout = kNanosPerMilli;
  }
  ++stats_.submit_calls;
  int rc = 0;
  if (timeout == 0) {
    rc = io_uring_submit_and_get_events(&ring_);
  } else if (timeout < 0) {
    rc = io_uring_submit_and_wait(&ring_, 1);
  } else {
    __kernel_timespec ts{};
    ts.tv_sec = timeout / kNanosPerSecond;
    ts.tv_nsec = timeout % kNanosPerSecond;
    io_uring_cqe* first = nullptr;
    rc = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
  }
  if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY) {
    if (uint64_t held; submit_log_.pass(read_clock(CLOCK_MONOTONIC), held))
      CP_LOG_WARN("io_uring_enter: {} ({} more failures not logged)", std::strerror(-rc), held);
  }
  unsigned head = 0;
  unsigned seen = 0;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    if (n == out.size()) break;
    ++seen;
    if (translate(*cqe, out[n])) ++n;
  }
  io_uring_cq_advance(&ring_, seen);
  stats_.completions += seen;
  return n;
}

}  // namespace

Result<std::unique_ptr<IoBackend>, std::string> make_uring_backend(const IoBackendOptions& opts) {
  auto backend = std::make_unique<UringBackend>(opts);
  if (auto ok = backend->init(); !ok) return fail(ok.error());
  return std::unique_ptr<IoBackend>(std::move(backend));
}

}  // namespace cp::engine
