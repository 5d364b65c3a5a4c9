// The simulator's IoBackend: one SimNetwork host seen through the engine's completion-style
// interface, so a Reactor and its services run on the simulator unchanged. A handle is the
// network's endpoint id. Received bytes are copied into the backend's own fixed pool of provided
// buffers; when none is free a multishot recv ends with -ENOBUFS, as with io_uring.
//
// wait() never blocks and never reads the wall clock: it returns what is ready now, and the
// test's loop moves time with SimNetwork::tick(). Operations started since the last wait() take
// effect in it (sends copy into the network's send buffer there), so nothing completes inline.
// A send stays in flight while the send buffer is full, then completes with the bytes that fit.
// close() forgets the handle's armed operations without completing them.
//
// Ownership and threading: created by the test for one host (which it adds to the network; one
// backend per host), usually handed to a Reactor; used from the thread driving the network.
// The network must outlive it. Destroying it removes the host (a crash: peers hear nothing).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/io_backend.h"
#include "engine/sim/sim_network.h"

namespace cp::sim {

class SimBackend final : public engine::IoBackend {
 public:
  // Small pools: queue_depth 256, 64 provided buffers of 4096 bytes.
  static engine::IoBackendOptions default_options();

  SimBackend(SimNetwork& net, uint32_t host_ip,
             const engine::IoBackendOptions& opts = default_options());
  ~SimBackend() override;
  SimBackend(const SimBackend&) = delete;
  SimBackend& operator=(const SimBackend&) = delete;

  std::string_view name() const override { return "sim"; }
  Result<engine::IoHandle, int> listen(const SocketAddress& addr,
                                       const engine::ListenOptions& opts) override;
  Result<SocketAddress, int> local_address(engine::IoHandle handle) override;
  Result<SocketAddress, int> peer_address(engine::IoHandle handle) override;

  void start_accept(engine::IoHandle listener, void* owner) override;
  // The simulated network has streams only: `seqpacket` is refused (EPROTONOSUPPORT).
  void start_connect(const SocketAddress& addr, void* owner, bool seqpacket) override;
  void start_recv(engine::IoHandle handle, void* owner) override;
  void stop_recv(engine::IoHandle handle, void* owner) override;
  void recycle_buffer(uint16_t buffer_id) override;
  void start_send(engine::IoHandle handle, void* owner, std::span<const std::byte> bytes) override;
  // Real files, written synchronously (storage tests use their own simulated disk).
  void start_file_commit(int fd, std::span<const engine::FileWrite> writes, void* owner) override;
  void shutdown(engine::IoHandle handle) override;
  void close(engine::IoHandle handle) override;

  // Returns the completions ready now; `timeout` is ignored (simulated time moves by tick()).
  size_t wait(std::span<engine::IoCompletion> out, Nanos timeout) override;
  void wake() override { woken_.store(true, std::memory_order_relaxed); }
  const engine::IoBackendStats& stats() const override { return stats_; }
  uint32_t recv_buffer_count() const override {
    return static_cast<uint32_t>(buffer_in_use_.size());
  }

  uint32_t host_ip() const { return host_ip_; }
  SimNetwork& network() const { return net_; }
  bool woken() const { return woken_.load(std::memory_order_relaxed); }
  size_t recv_buffers_free() const { return free_buffers_.size(); }

 private:
  // The operations armed on one handle.
  struct Ops {
    bool listed = false;  // in active_
    bool shut = false;
    bool accept_armed = false;
    bool connect_pending = false;
    bool recv_armed = false;
    bool recv_stop = false;
    bool send_pending = false;
    void* accept_owner = nullptr;
    void* connect_owner = nullptr;
    void* recv_owner = nullptr;
    void* send_owner = nullptr;
    const std::byte* send_data = nullptr;
    size_t send_bytes = 0;

    bool armed() const { return accept_armed || connect_pending || recv_armed || send_pending; }
  };
  // A handle's recv completions per wait(), so one busy connection cannot take every slot.
  static constexpr size_t kRecvBurstMax = 8;

  bool owns(engine::IoHandle handle) const;
  Ops& fresh_ops(engine::IoHandle handle);
  void list(engine::IoHandle handle);
  void push_ready(engine::IoOp op, int32_t result, void* owner);
  size_t poll_handle(engine::IoHandle handle, std::span<engine::IoCompletion> out);
  size_t poll_connect(engine::IoHandle handle, Ops& ops, std::span<engine::IoCompletion> out);
  size_t poll_accept(engine::IoHandle handle, Ops& ops, std::span<engine::IoCompletion> out);
  size_t poll_recv(engine::IoHandle handle, Ops& ops, std::span<engine::IoCompletion> out);
  size_t poll_send(engine::IoHandle handle, Ops& ops, std::span<engine::IoCompletion> out);

  SimNetwork& net_;
  const uint32_t host_ip_;
  const size_t buffer_bytes_;
  engine::IoBackendStats stats_;
  std::atomic<bool> woken_{false};
  std::vector<Ops> ops_;                  // indexed by handle, endpoints_max entries
  std::vector<engine::IoHandle> active_;  // handles with armed operations, arming order
  size_t rotation_ = 0;                   // where wait() starts in active_ (fairness)
  // Completions decided when the operation started (errors), a ring of queue_depth entries.
  std::vector<engine::IoCompletion> ready_;
  size_t ready_head_ = 0;
  size_t ready_count_ = 0;
  std::unique_ptr<std::byte[]> buffers_;  // recv_buffer_count * recv_buffer_bytes
  std::vector<uint16_t> free_buffers_;
  std::vector<uint8_t> buffer_in_use_;
};

}  // namespace cp::sim
