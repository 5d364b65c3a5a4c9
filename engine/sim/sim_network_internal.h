// Private to sim_network.cc and sim_stream.cc: the packet and endpoint records of SimNetwork.
#pragma once

#include <cstdint>
#include <limits>

#include "engine/sim/sim_network.h"

namespace cp::sim {

inline constexpr uint64_t kNoFin = std::numeric_limits<uint64_t>::max();
inline constexpr uint16_t kEphemeralPortFirst = 49152;
inline constexpr uint32_t kPortSearchMax = 65536 - kEphemeralPortFirst;

enum class SimNetwork::Event : uint8_t {
  send,
  drop,
  duplicate,
  deliver,
  partitioned,
  no_host,
  queue_full,
  stale,
  early,
  host_added,
  host_removed,
  partition,
  heal,
  partition_timeout,
  listen,
  connect,
  syn_queued,
  backlog_full,
  refused,
  established,
  shutdown,
  fin,
  reset,
  timeout,
  aborted,
  closed,
  freed,
};

// One packet on the wire. Segments carry data, a FIN, a window probe or just an ACK; every
// packet after the SYN carries the sender's cumulative ACK and receive-window right edge.
struct SimNetwork::Packet {
  Nanos deliver_at_ns = 0;
  uint64_t order = 0;
  PacketKind kind = PacketKind::segment;
  bool fin = false;
  bool probe = false;
  uint32_t src_ip = 0;
  uint32_t dst_ip = 0;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  EndpointId from = -1;
  uint32_t from_generation = 0;
  EndpointId to = -1;  // -1 on a SYN: the listener is found by address
  uint32_t to_generation = 0;
  uint64_t seq = 0;
  uint64_t ack = 0;
  uint64_t window_edge = 0;  // the sender accepts bytes below this sequence number
  uint32_t payload_bytes = 0;

  bool wants_ack() const { return payload_bytes > 0 || fin || probe; }
};

// A listener or one end of a connection. Sequence numbers are 64-bit and start at 0 in each
// direction, so they never wrap; byte `seq` of a ring lives at ring[seq % ring_bytes]. A FIN
// takes the sequence number right after the last data byte.
struct SimNetwork::Endpoint {
  EndpointId id = -1;
  SimState state = SimState::free;
  uint32_t generation = 0;  // bumped on every allocation: packets for an older one are stale
  uint32_t host_ip = 0;
  uint16_t local_port = 0;
  uint16_t peer_port = 0;
  uint32_t peer_ip = 0;
  EndpointId peer = -1;
  uint32_t peer_generation = 0;
  bool app_owned = false;   // a handle the application holds, or a connection not yet accepted
  bool shut_local = false;  // shutdown(): FIN after the queued bytes, input discarded
  bool fin_acked = false;
  bool fin_received = false;
  bool time_wait = false;  // closed by the app, both FINs through: waiting to be freed
  int error = 0;

  // Listener: a ring of accepted connections, capacity accept_backlog_max.
  uint32_t backlog = 0;
  uint32_t accept_head = 0;
  uint32_t accept_count = 0;
  EndpointId* accept_queue = nullptr;

  // Send side: the tx ring holds [snd_una, snd_end).
  std::byte* tx = nullptr;
  uint64_t snd_una = 0;       // oldest unacknowledged
  uint64_t snd_nxt = 0;       // next to send
  uint64_t snd_max = 0;       // highest ever sent + 1 (acks beyond it are bogus)
  uint64_t snd_end = 0;       // end of the queued data
  uint64_t snd_wnd_edge = 0;  // the peer's advertised right edge (never shrinks)
  uint32_t dup_acks = 0;
  Nanos rto_ns = 0;
  Nanos rto_deadline_ns = 0;   // 0 = not armed
  Nanos silence_since_ns = 0;  // waiting for the peer since (any packet from it resets this)

  // Receive side: the rx ring holds [rcv_read, rcv_nxt) in order, then out-of-order ranges.
  std::byte* rx = nullptr;
  uint64_t rcv_read = 0;
  uint64_t rcv_nxt = 0;
  uint64_t rcv_edge_advertised = 0;
  uint64_t peer_fin_seq = kNoFin;
  Range* ranges = nullptr;
  uint32_t range_count = 0;

  Nanos deadline_ns = 0;  // connect timeout (connecting) or linger end (closed by the app)

  uint64_t data_una() const { return snd_una < snd_end ? snd_una : snd_end; }
};

}  // namespace cp::sim
