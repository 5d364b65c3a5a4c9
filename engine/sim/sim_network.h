// The deterministic simulated network: hosts (IPv4 addresses) joined by an in-memory packet layer
// of bounded queues, advanced only by tick() on an injected ManualClock and driven by one seed.
// Packets can be delayed, dropped, duplicated, reordered and partitioned; streams stay intact
// through a minimal reliable-stream layer (per-direction sequence numbers, cumulative ACKs,
// out-of-order buffering within the receive window, go-back-N retransmission after an RTO, zero
// window probes). Every buffer is preallocated at construction and bounded by SimConfig.
//
// SimBackend (sim_backend.h) puts the IoBackend interface on top of one host's endpoints, so
// services run unchanged on the simulator. The network itself knows nothing about IoBackend.
//
// Ownership and threading: one SimNetwork per simulated run, used from one thread (the test's
// driving loop); it must outlive every SimBackend attached to it. Nothing here blocks or reads
// the wall clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/socket_address.h"
#include "engine/sim/sim_random.h"
#include "engine/sim/sim_trace.h"

namespace cp::sim {

constexpr uint32_t ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | uint32_t{d};
}

// The seed of a simulated run: CP_SIM_SEED from the environment (decimal or 0x hex) when set,
// otherwise `fallback`.
uint64_t seed_from_env(uint64_t fallback);
// "sim seed 0x... (rerun with CP_SIM_SEED=0x...)", for failure messages.
std::string seed_message(uint64_t seed);

// What the packet layer does to every packet. May be changed between ticks (set_faults).
struct SimFaults {
  Nanos delay_ns_min = 100 * kNanosPerMicro;  // one-way delay, uniform in [min, max]
  Nanos delay_ns_max = 1 * kNanosPerMilli;
  double drop_probability = 0;       // lost on the wire
  double duplicate_probability = 0;  // delivered twice (the copy with its own delay)
  double reorder_probability = 0;    // held back by an extra uniform [0, reorder_delay_ns_max]
  Nanos reorder_delay_ns_max = 5 * kNanosPerMilli;
};

// Sizes and timeouts, fixed at construction. Every queue has its maximum here.
struct SimConfig {
  uint32_t hosts_max = 16;
  uint32_t endpoints_max = 64;            // listeners + connections, all hosts together
  uint32_t packets_in_flight_max = 2048;  // a full packet queue drops (traced as queue_full)
  uint32_t segment_bytes_max = 1460;      // MSS
  uint32_t rx_buffer_bytes = 64 * 1024;   // per endpoint: bounds the advertised window
  uint32_t tx_buffer_bytes = 64 * 1024;   // per endpoint: send() accepts only what fits
  uint32_t accept_backlog_max = 64;       // per listener: SYNs beyond it are dropped
  uint32_t out_of_order_ranges_max = 16;  // per endpoint: segments beyond it are dropped
  uint32_t partitions_max = 16;
  Nanos rto_ns_min = 10 * kNanosPerMilli;  // retransmission timeout, doubled per expiry
  Nanos rto_ns_max = 200 * kNanosPerMilli;
  Nanos connect_timeout_ns = 3 * kNanosPerSecond;      // connect() -> ETIMEDOUT
  Nanos connection_timeout_ns = 10 * kNanosPerSecond;  // silence / partition -> ETIMEDOUT
  // A closed connection whose FINs crossed stays this long to re-acknowledge a retransmitted
  // FIN (TCP's TIME-WAIT), so a lost last ACK does not turn into an RST.
  Nanos time_wait_ns = 500 * kNanosPerMilli;
  uint32_t events_per_tick_max = 1u << 20;  // deliveries + timer firings in one tick()
  uint32_t trace_lines_max = 512;           // text lines kept; 0 = hash only
};

struct SimStats {
  uint64_t packets_sent = 0;
  uint64_t packets_delivered = 0;
  uint64_t packets_dropped = 0;  // by drop_probability
  uint64_t packets_duplicated = 0;
  uint64_t packets_partitioned = 0;  // dropped by a partition
  uint64_t packets_queue_full = 0;   // dropped for lack of a free packet slot
  uint64_t packets_stale = 0;        // for an endpoint that no longer exists
  uint64_t retransmit_timeouts = 0;
  uint64_t fast_retransmits = 0;
  uint64_t window_probes = 0;
  uint64_t connections_established = 0;
  uint64_t connections_reset = 0;
  uint64_t connections_timed_out = 0;
};

enum class SimState : uint8_t {
  free,
  listening,
  connecting,   // SYN sent, no SYN-ACK yet
  established,  // includes half-closed: see at_eof() and shutdown()
  closed,       // refused, reset or timed out: error() says which; the handle awaits close()
};

// An endpoint id: a listener or one end of a connection (SimBackend uses it as the IoHandle).
using EndpointId = int32_t;

class SimNetwork {
 public:
  SimNetwork(uint64_t seed, ManualClock& clock, const SimFaults& faults,
             const SimConfig& config = {});
  ~SimNetwork();
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  uint64_t seed() const { return seed_; }
  ManualClock& clock() const { return clock_; }
  const SimConfig& config() const { return config_; }
  const SimFaults& faults() const { return faults_; }
  void set_faults(const SimFaults& faults) { faults_ = faults; }
  const SimStats& stats() const { return stats_; }

  // Hosts. False when the table is full or the address is taken.
  bool add_host(uint32_t ip);
  bool has_host(uint32_t ip) const { return find_host(ip) >= 0; }
  // The host crashes: its endpoints vanish without a word; peers time out or get RSTs.
  void remove_host(uint32_t ip);

  // Faults. Packets between partitioned hosts are dropped on delivery; a partition older than
  // connection_timeout_ns times out (ETIMEDOUT) every connection crossing it.
  bool partition(uint32_t ip_a, uint32_t ip_b);  // false when the partition table is full
  void heal(uint32_t ip_a, uint32_t ip_b);
  void heal();
  // RST on both ends at once: both see ECONNRESET. False if `id` is not a connection.
  bool reset_connection(EndpointId id);

  // Advances the clock by `step`, delivering every packet and firing every timer that falls due
  // on the way, in time order.
  void tick(Nanos step);
  // Ticks until idle() or `ticks_max` ticks have run; returns idle().
  bool run_until_idle(size_t ticks_max, Nanos step = kNanosPerMilli);
  // No packet in flight, no retransmission pending and no closed connection still lingering.
  bool idle() const;

  // The socket layer, as one host sees it (SimBackend's side). Errors are positive errno.
  Result<EndpointId, int> listen(uint32_t host_ip, const SocketAddress& addr, uint32_t backlog);
  // Takes the oldest connection from a listener's accept queue, or -1 when it is empty.
  EndpointId accept(EndpointId listener);
  Result<EndpointId, int> connect(uint32_t host_ip, const SocketAddress& addr);
  bool valid(EndpointId id) const;
  uint32_t host_of(EndpointId id) const;  // 0 when !valid(id)
  SimState state(EndpointId id) const;
  int error(EndpointId id) const;
  size_t recv_available(EndpointId id) const;  // bytes readable now, in order
  size_t recv(EndpointId id, std::span<std::byte> out);
  bool at_eof(EndpointId id) const;  // peer's FIN arrived and every byte before it was read
  size_t send_room(EndpointId id) const;
  size_t send(EndpointId id, std::span<const std::byte> bytes);  // copies what fits
  size_t send_queued(EndpointId id) const;  // bytes in the send buffer, sent or not, unacked
  // Both directions: a FIN follows the queued bytes; unread and later input is discarded.
  void shutdown(EndpointId id);
  // The application lets go: queued bytes and the FIN are still delivered (unless unread input
  // forces an RST, as in TCP); the endpoint is freed time_wait_ns after both FINs went through,
  // or connection_timeout_ns after close() if the peer never finishes.
  void close(EndpointId id);
  Result<SocketAddress, int> local_address(EndpointId id) const;
  Result<SocketAddress, int> peer_address(EndpointId id) const;

  size_t packets_in_flight() const { return heap_.size(); }
  size_t endpoints_in_use() const;

  uint64_t trace_hash() const { return trace_.hash(); }
  uint64_t trace_events() const { return trace_.events(); }
  std::string trace_text() const { return trace_.text(); }

 private:
  struct Range {
    uint64_t begin;
    uint64_t end;
  };
  enum class PacketKind : uint8_t { syn, syn_ack, rst, segment };
  enum class Event : uint8_t;
  struct Packet;
  struct Endpoint;
  struct Host {
    uint32_t ip = 0;
    uint16_t next_port = 0;
  };
  struct Partition {
    uint32_t ip_lo = 0;
    uint32_t ip_hi = 0;
    Nanos since_ns = 0;
    bool timed_out = false;
  };

  int find_host(uint32_t ip) const;
  Endpoint* endpoint(EndpointId id);
  const Endpoint* endpoint(EndpointId id) const;
  EndpointId allocate_endpoint(uint32_t host_ip);
  void free_endpoint(Endpoint& ep);
  void maybe_free(Endpoint& ep);
  uint16_t allocate_port(uint32_t host_ip);
  bool port_in_use(uint32_t host_ip, uint16_t port) const;
  EndpointId find_listener(uint32_t ip, uint16_t port) const;
  EndpointId find_by_peer(uint32_t host_ip, const Packet& p) const;
  bool partitioned(uint32_t a, uint32_t b) const;
  bool sender_still_connecting(const Packet& syn) const;

  // Packet layer.
  Packet make_packet(const Endpoint& ep, PacketKind kind) const;
  void transmit_packet(const Packet& p, std::span<const std::byte> payload);
  void enqueue(const Packet& p, std::span<const std::byte> payload, Nanos delay_ns);
  Nanos draw_delay();
  bool later(uint32_t slot_a, uint32_t slot_b) const;  // heap order: a is delivered after b
  void deliver_next();
  void dispatch(const Packet& p, std::span<const std::byte> payload);
  Nanos next_event_ns() const;
  void fire_timers();
  void check_partitions();

  // Reliable-stream layer.
  void send_syn(Endpoint& ep);
  void send_ack(Endpoint& ep);
  void send_probe(Endpoint& ep);
  void send_rst(const Packet& in);
  void send_segment(Endpoint& ep, uint64_t seq, uint32_t bytes, bool fin);
  void transmit(Endpoint& ep);
  void on_syn(const Packet& p);
  void on_syn_ack(Endpoint& ep, const Packet& p);
  void on_rst(Endpoint& ep, const Packet& p);
  void on_segment(Endpoint& ep, const Packet& p, std::span<const std::byte> payload);
  void on_ack(Endpoint& ep, const Packet& p);
  void accept_payload(Endpoint& ep, const Packet& p, std::span<const std::byte> payload);
  void add_out_of_order(Endpoint& ep, uint64_t begin, uint64_t end);
  void merge_out_of_order(Endpoint& ep);
  void on_rto(Endpoint& ep);
  void on_deadline(Endpoint& ep);
  void fail_endpoint(Endpoint& ep, int error, Event event);
  void abort_with_rst(Endpoint& ep, int error);
  void close_listener(Endpoint& ep);
  uint64_t rcv_ack(const Endpoint& ep) const;
  uint64_t rcv_edge(const Endpoint& ep) const;
  void arm_rto(Endpoint& ep);
  void retransmit_first(Endpoint& ep);
  void maybe_send_window_update(Endpoint& ep);
  void copy_out_of_ring(const std::byte* ring, size_t ring_bytes, uint64_t seq, std::byte* out,
                        size_t bytes) const;
  void copy_into_ring(std::byte* ring, size_t ring_bytes, uint64_t seq, const std::byte* in,
                      size_t bytes) const;

  void trace_packet(Event event, const Packet& p);
  void trace_endpoint(Event event, const Endpoint& ep, int error = 0);

  uint64_t seed_;
  ManualClock& clock_;
  SimFaults faults_;
  SimConfig config_;
  SimRandom random_;
  SimTrace trace_;
  SimStats stats_;
  Nanos start_ns_;
  uint64_t packet_order_ = 0;  // ties between equal delivery times go by send order

  std::vector<Host> hosts_;
  std::vector<Partition> partitions_;
  std::vector<Endpoint> endpoints_;
  std::unique_ptr<std::byte[]> buffer_arena_;   // rx + tx ring of every endpoint
  std::unique_ptr<Range[]> range_arena_;        // out-of-order ranges of every endpoint
  std::unique_ptr<EndpointId[]> accept_arena_;  // accept queue of every endpoint
  std::vector<Packet> packets_;                 // packets_in_flight_max slots
  std::unique_ptr<std::byte[]> payload_arena_;  // segment_bytes_max per packet slot
  std::vector<uint32_t> free_packets_;
  std::vector<uint32_t> heap_;            // packet slots, min-heap on (deliver_at, order)
  std::unique_ptr<std::byte[]> scratch_;  // one segment, assembled from a wrapping tx ring
};

}  // namespace cp::sim
