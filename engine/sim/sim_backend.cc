#include "engine/sim/sim_backend.h"

#include <algorithm>
#include <cerrno>

#include "base/assert.h"
#include "engine/file_ops.h"

namespace cp::sim {

using engine::IoCompletion;
using engine::IoHandle;
using engine::IoOp;

engine::IoBackendOptions SimBackend::default_options() {
  engine::IoBackendOptions opts;
  opts.queue_depth = 256;
  opts.recv_buffer_count = 64;
  opts.recv_buffer_bytes = 4096;
  return opts;
}

SimBackend::SimBackend(SimNetwork& net, uint32_t host_ip, const engine::IoBackendOptions& opts)
    : net_(net), host_ip_(host_ip), buffer_bytes_(opts.recv_buffer_bytes) {
  CP_ASSERT(net_.add_host(host_ip));  // a free address, one backend per host
  CP_ASSERT(opts.recv_buffer_count > 0 && opts.recv_buffer_count <= 65536);
  CP_ASSERT(opts.recv_buffer_bytes > 0 && opts.queue_depth > 0);
  ops_.resize(net_.config().endpoints_max);
  active_.reserve(net_.config().endpoints_max);
  ready_.resize(opts.queue_depth);
  buffers_ =
      std::make_unique_for_overwrite<std::byte[]>(size_t{opts.recv_buffer_count} * buffer_bytes_);
  buffer_in_use_.assign(opts.recv_buffer_count, 0);
  free_buffers_.reserve(opts.recv_buffer_count);
  for (uint32_t i = opts.recv_buffer_count; i > 0; --i) {
    free_buffers_.push_back(static_cast<uint16_t>(i - 1));
  }
}

SimBackend::~SimBackend() {
  net_.remove_host(host_ip_);
}

bool SimBackend::owns(IoHandle handle) const {
  return net_.valid(handle) && net_.host_of(handle) == host_ip_;
}

// Clears a handle's operations (a new endpoint may reuse the id), keeping its place in active_.
SimBackend::Ops& SimBackend::fresh_ops(IoHandle handle) {
  Ops& ops = ops_[static_cast<size_t>(handle)];
  const bool listed = ops.listed;
  ops = Ops{};
  ops.listed = listed;
  return ops;
}

void SimBackend::list(IoHandle handle) {
  Ops& ops = ops_[static_cast<size_t>(handle)];
  if (ops.listed) return;
  ops.listed = true;
  active_.push_back(handle);  // capacity endpoints_max: never reallocates
}

void SimBackend::push_ready(IoOp op, int32_t result, void* owner) {
  CP_ASSERT(ready_count_ < ready_.size());  // more than queue_depth operations outstanding
  IoCompletion& c = ready_[(ready_head_ + ready_count_) % ready_.size()];
  c = IoCompletion{};
  c.op = op;
  c.result = result;
  c.owner = owner;
  ++ready_count_;
}

Result<IoHandle, int> SimBackend::listen(const SocketAddress& addr,
                                         const engine::ListenOptions& opts) {
  const uint32_t backlog = opts.backlog > 0 ? static_cast<uint32_t>(opts.backlog) : 1;
  auto id = net_.listen(host_ip_, addr, backlog);
  if (!id) return fail(id.error());
  fresh_ops(*id);
  return *id;
}

Result<SocketAddress, int> SimBackend::local_address(IoHandle handle) {
  if (!owns(handle)) return fail(EBADF);
  return net_.local_address(handle);
}

Result<SocketAddress, int> SimBackend::peer_address(IoHandle handle) {
  if (!owns(handle)) return fail(EBADF);
  return net_.peer_address(handle);
}

void SimBackend::start_accept(IoHandle listener, void* owner) {
  if (!owns(listener) || net_.state(listener) != SimState::listening) {
    push_ready(IoOp::accept, -EINVAL, owner);
    return;
  }
  Ops& ops = ops_[static_cast<size_t>(listener)];
  ops.accept_armed = true;
  ops.accept_owner = owner;
  list(listener);
}

void SimBackend::start_connect(const SocketAddress& addr, void* owner, bool seqpacket) {
  if (seqpacket) {
    push_ready(IoOp::connect, -EPROTONOSUPPORT, owner);
    return;
  }
  auto id = net_.connect(host_ip_, addr);
  if (!id) {
    push_ready(IoOp::connect, -id.error(), owner);
    return;
  }
  Ops& ops = fresh_ops(*id);
  ops.connect_pending = true;
  ops.connect_owner = owner;
  list(*id);
}

void SimBackend::start_recv(IoHandle handle, void* owner) {
  if (!owns(handle)) {
    push_ready(IoOp::recv, -EBADF, owner);
    return;
  }
  Ops& ops = ops_[static_cast<size_t>(handle)];
  ops.recv_armed = true;
  ops.recv_stop = false;
  ops.recv_owner = owner;
  list(handle);
}

void SimBackend::stop_recv(IoHandle handle, void* /*owner*/) {
  // Like cancelling a finished io_uring request: nothing follows when no recv is armed.
  if (!owns(handle)) return;
  Ops& ops = ops_[static_cast<size_t>(handle)];
  if (ops.recv_armed) ops.recv_stop = true;
}

void SimBackend::recycle_buffer(uint16_t buffer_id) {
  CP_ASSERT(buffer_id < buffer_in_use_.size() && buffer_in_use_[buffer_id]);
  buffer_in_use_[buffer_id] = 0;
  free_buffers_.push_back(buffer_id);
}

void SimBackend::start_file_commit(int fd, std::span<const engine::FileWrite> writes, void* owner) {
  push_ready(IoOp::file_commit, engine::file_ops::commit_sync(fd, writes), owner);
}

void SimBackend::start_send(IoHandle handle, void* owner, std::span<const std::byte> bytes) {
  if (!owns(handle)) {
    push_ready(IoOp::send, -EBADF, owner);
    return;
  }
  Ops& ops = ops_[static_cast<size_t>(handle)];
  CP_ASSERT(!ops.send_pending);  // the interface allows one send in flight per handle
  ops.send_pending = true;
  ops.send_owner = owner;
  ops.send_data = bytes.data();
  ops.send_bytes = bytes.size();
  list(handle);
}

void SimBackend::shutdown(IoHandle handle) {
  if (!owns(handle)) return;
  ops_[static_cast<size_t>(handle)].shut = true;
  net_.shutdown(handle);
  list(handle);
}

void SimBackend::close(IoHandle handle) {
  if (!owns(handle)) return;
  fresh_ops(handle);
  net_.close(handle);
}

size_t SimBackend::wait(std::span<IoCompletion> out, Nanos /*timeout*/) {
  ++stats_.submit_calls;
  woken_.store(false, std::memory_order_relaxed);
  size_t n = 0;
  for (; n < out.size() && ready_count_ > 0; ++n) {
    out[n] = ready_[ready_head_];
    ready_head_ = (ready_head_ + 1) % ready_.size();
    --ready_count_;
  }
  const size_t count = active_.size();
  const size_t start = count > 0 ? rotation_++ % count : 0;
  for (size_t i = 0; i < count && n < out.size(); ++i) {
    n += poll_handle(active_[(start + i) % count], out.subspan(n));
  }
  std::erase_if(active_, [this](IoHandle h) {
    Ops& ops = ops_[static_cast<size_t>(h)];
    if (ops.armed()) return false;
    ops.listed = false;
    return true;
  });
  stats_.completions += n;
  return n;
}

size_t SimBackend::poll_handle(IoHandle handle, std::span<IoCompletion> out) {
  Ops& ops = ops_[static_cast<size_t>(handle)];
  size_t n = poll_connect(handle, ops, out);
  n += poll_accept(handle, ops, out.subspan(n));
  n += poll_recv(handle, ops, out.subspan(n));
  n += poll_send(handle, ops, out.subspan(n));
  return n;
}

size_t SimBackend::poll_connect(IoHandle handle, Ops& ops, std::span<IoCompletion> out) {
  if (!ops.connect_pending || out.empty()) return 0;
  const SimState state = net_.state(handle);
  if (state == SimState::connecting) return 0;
  IoCompletion& c = out[0];
  c = IoCompletion{};
  c.op = IoOp::connect;
  c.owner = ops.connect_owner;
  ops.connect_pending = false;
  if (state == SimState::established) {
    c.result = handle;
  } else {  // refused, timed out: the caller never sees this handle
    c.result = -net_.error(handle);
    fresh_ops(handle);
    net_.close(handle);
  }
  return 1;
}

size_t SimBackend::poll_accept(IoHandle handle, Ops& ops, std::span<IoCompletion> out) {
  size_t n = 0;
  while (ops.accept_armed && n < out.size()) {
    IoCompletion& c = out[n];
    c = IoCompletion{};
    c.op = IoOp::accept;
    c.owner = ops.accept_owner;
    if (ops.shut || net_.state(handle) != SimState::listening) {
      c.result = -ECANCELED;
      ops.accept_armed = false;
      return n + 1;
    }
    const EndpointId id = net_.accept(handle);
    if (id < 0) break;
    fresh_ops(id);
    c.more = true;
    c.result = id;
    ++n;
  }
  return n;
}

size_t SimBackend::poll_recv(IoHandle handle, Ops& ops, std::span<IoCompletion> out) {
  size_t n = 0;
  while (ops.recv_armed && n < out.size() && n < kRecvBurstMax) {
    IoCompletion& c = out[n];
    c = IoCompletion{};
    c.op = IoOp::recv;
    c.owner = ops.recv_owner;
    const size_t available = net_.recv_available(handle);
    if (ops.recv_stop) {
      c.result = -ECANCELED;
    } else if (ops.shut) {
      c.result = 0;
    } else if (available > 0 && free_buffers_.empty()) {
      c.result = -ENOBUFS;
      ++stats_.recv_buffer_exhausted;
    } else if (available > 0) {
      const uint16_t id = free_buffers_.back();
      free_buffers_.pop_back();
      buffer_in_use_[id] = 1;
      std::byte* buffer = &buffers_[size_t{id} * buffer_bytes_];
      const size_t bytes = net_.recv(handle, std::span(buffer, std::min(available, buffer_bytes_)));
      c.more = true;
      c.buffer_id = id;
      c.result = static_cast<int32_t>(bytes);
      c.data = buffer;
      ++n;
      continue;
    } else if (net_.at_eof(handle)) {
      c.result = 0;
    } else if (net_.state(handle) == SimState::closed) {
      c.result = -net_.error(handle);
    } else {
      break;  // nothing yet: stays armed
    }
    ops.recv_armed = false;  // a final completion
    ops.recv_stop = false;
    return n + 1;
  }
  return n;
}

size_t SimBackend::poll_send(IoHandle handle, Ops& ops, std::span<IoCompletion> out) {
  if (!ops.send_pending || out.empty()) return 0;
  IoCompletion& c = out[0];
  c = IoCompletion{};
  c.op = IoOp::send;
  c.owner = ops.send_owner;
  const SimState state = net_.state(handle);
  if (ops.shut) {
    c.result = -EPIPE;
  } else if (state == SimState::closed) {
    c.result = -net_.error(handle);
  } else if (ops.send_bytes == 0) {
    c.result = 0;
  } else if (state != SimState::established || net_.send_room(handle) == 0) {
    return 0;  // stays in flight until the send buffer has room
  } else {
    const size_t bytes = net_.send(handle, std::span(ops.send_data, ops.send_bytes));
    c.result = static_cast<int32_t>(bytes);
  }
  ops.send_pending = false;
  return 1;
}

}  // namespace cp::sim
