// SimNetwork: construction, hosts, faults, time, the packet layer, the trace and the socket API.
// The reliable-stream layer (handshake, segments, ACKs, retransmission) is in sim_stream.cc.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "base/assert.h"
#include "engine/sim/sim_network.h"
#include "engine/sim/sim_network_internal.h"

namespace cp::sim {

namespace {

constexpr std::string_view kEventNames[] = {
    "send",   "drop",    "dup",        "deliver",      "partitioned", "no_host",     "q_full",
    "stale",  "early",   "host_add",   "host_remove",  "partition",   "heal",        "part_timeout",
    "listen", "connect", "syn_queued", "backlog_full", "refused",     "established", "shutdown",
    "fin",    "reset",   "timeout",    "aborted",      "closed",      "freed",
};
constexpr std::string_view kKindNames[] = {"syn", "syn_ack", "rst", "seg"};

struct IpText {
  char text[16];
};
IpText ip_text(uint32_t ip) {
  IpText t{};
  fmt::format_to_n(t.text, sizeof t.text - 1, "{}.{}.{}.{}", ip >> 24, (ip >> 16) & 0xff,
                   (ip >> 8) & 0xff, ip & 0xff);
  return t;
}

uint64_t address_word(uint32_t ip, uint16_t port) {
  return (uint64_t{ip} << 16) | port;
}

// The IPv4 address of `addr` in host order, or nothing for other families.
bool ipv4_of(const SocketAddress& addr, uint32_t& ip) {
  if (addr.family() != AF_INET) return false;
  sockaddr_in in{};
  std::memcpy(&in, &addr.storage, sizeof in);
  ip = ntohl(in.sin_addr.s_addr);
  return true;
}

}  // namespace

uint64_t seed_from_env(uint64_t fallback) {
  const char* text = std::getenv("CP_SIM_SEED");
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  errno = 0;
  const unsigned long long seed = std::strtoull(text, &end, 0);
  if (errno != 0 || end == text || *end != '\0') {
    fmt::print(stderr, "CP_SIM_SEED='{}' is not a number; using seed {:#x}\n", text, fallback);
    return fallback;
  }
  return seed;
}

std::string seed_message(uint64_t seed) {
  return fmt::format("sim seed {:#x} (rerun with CP_SIM_SEED={:#x})", seed, seed);
}

SimNetwork::SimNetwork(uint64_t seed, ManualClock& clock, const SimFaults& faults,
                       const SimConfig& config)
    : seed_(seed),
      clock_(clock),
      faults_(faults),
      config_(config),
      random_(seed),
      trace_(config.trace_lines_max),
      start_ns_(clock.now()) {
  CP_ASSERT(config_.hosts_max > 0 && config_.endpoints_max > 0);
  CP_ASSERT(config_.endpoints_max <= (1u << 20) && config_.packets_in_flight_max > 0);
  CP_ASSERT(config_.segment_bytes_max > 0 && config_.rx_buffer_bytes > 0);
  CP_ASSERT(config_.tx_buffer_bytes > 0 && config_.accept_backlog_max > 0);
  CP_ASSERT(config_.rto_ns_min > 0 && config_.rto_ns_max >= config_.rto_ns_min);
  hosts_.reserve(config_.hosts_max);
  partitions_.reserve(config_.partitions_max);

  const size_t endpoint_count = config_.endpoints_max;
  const size_t ring_bytes = size_t{config_.rx_buffer_bytes} + config_.tx_buffer_bytes;
  buffer_arena_ = std::make_unique_for_overwrite<std::byte[]>(ring_bytes * endpoint_count);
  range_arena_ = std::make_unique<Range[]>(endpoint_count * config_.out_of_order_ranges_max);
  accept_arena_ = std::make_unique<EndpointId[]>(endpoint_count * config_.accept_backlog_max);
  endpoints_.resize(endpoint_count);
  for (size_t i = 0; i < endpoint_count; ++i) {
    Endpoint& ep = endpoints_[i];
    ep.id = static_cast<EndpointId>(i);
    ep.tx = &buffer_arena_[i * ring_bytes];
    ep.rx = ep.tx + config_.tx_buffer_bytes;
    ep.ranges = &range_arena_[i * config_.out_of_order_ranges_max];
    ep.accept_queue = &accept_arena_[i * config_.accept_backlog_max];
  }

  const size_t packet_count = config_.packets_in_flight_max;
  packets_.resize(packet_count);
  payload_arena_ =
      std::make_unique_for_overwrite<std::byte[]>(packet_count * config_.segment_bytes_max);
  scratch_ = std::make_unique_for_overwrite<std::byte[]>(config_.segment_bytes_max);
  free_packets_.reserve(packet_count);
  for (size_t i = packet_count; i > 0; --i) free_packets_.push_back(static_cast<uint32_t>(i - 1));
  heap_.reserve(packet_count);
}

SimNetwork::~SimNetwork() = default;

// ---- hosts and faults ----

int SimNetwork::find_host(uint32_t ip) const {
  for (size_t i = 0; i < hosts_.size(); ++i) {
    if (hosts_[i].ip == ip) return static_cast<int>(i);
  }
  return -1;
}

bool SimNetwork::add_host(uint32_t ip) {
  if (ip == 0 || has_host(ip) || hosts_.size() >= config_.hosts_max) return false;
  hosts_.push_back(Host{ip, kEphemeralPortFirst});
  Endpoint marker;
  marker.host_ip = ip;
  trace_endpoint(Event::host_added, marker);
  return true;
}

void SimNetwork::remove_host(uint32_t ip) {
  const int index = find_host(ip);
  if (index < 0) return;
  for (Endpoint& ep : endpoints_) {
    if (ep.state != SimState::free && ep.host_ip == ip) free_endpoint(ep);
  }
  hosts_.erase(hosts_.begin() + index);
  Endpoint marker;
  marker.host_ip = ip;
  trace_endpoint(Event::host_removed, marker);
}

bool SimNetwork::partition(uint32_t ip_a, uint32_t ip_b) {
  const uint32_t lo = std::min(ip_a, ip_b);
  const uint32_t hi = std::max(ip_a, ip_b);
  Endpoint marker;
  marker.host_ip = lo;
  marker.peer_ip = hi;
  if (partitioned(lo, hi)) return true;
  if (partitions_.size() >= config_.partitions_max) return false;
  partitions_.push_back(Partition{lo, hi, clock_.now(), false});
  trace_endpoint(Event::partition, marker);
  return true;
}

void SimNetwork::heal(uint32_t ip_a, uint32_t ip_b) {
  const uint32_t lo = std::min(ip_a, ip_b);
  const uint32_t hi = std::max(ip_a, ip_b);
  std::erase_if(partitions_, [&](const Partition& p) { return p.ip_lo == lo && p.ip_hi == hi; });
  Endpoint marker;
  marker.host_ip = lo;
  marker.peer_ip = hi;
  trace_endpoint(Event::heal, marker);
}

void SimNetwork::heal() {
  partitions_.clear();
  trace_endpoint(Event::heal, Endpoint{});
}

bool SimNetwork::partitioned(uint32_t a, uint32_t b) const {
  const uint32_t lo = std::min(a, b);
  const uint32_t hi = std::max(a, b);
  for (const Partition& p : partitions_) {
    if (p.ip_lo == lo && p.ip_hi == hi) return true;
  }
  return false;
}

void SimNetwork::check_partitions() {
  const Nanos now = clock_.now();
  for (Partition& part : partitions_) {
    if (part.timed_out || now - part.since_ns < config_.connection_timeout_ns) continue;
    part.timed_out = true;
    Endpoint marker;
    marker.host_ip = part.ip_lo;
    marker.peer_ip = part.ip_hi;
    trace_endpoint(Event::partition_timeout, marker);
    for (Endpoint& ep : endpoints_) {
      if (ep.state != SimState::established && ep.state != SimState::connecting) continue;
      const uint32_t lo = std::min(ep.host_ip, ep.peer_ip);
      const uint32_t hi = std::max(ep.host_ip, ep.peer_ip);
      if (lo != part.ip_lo || hi != part.ip_hi) continue;
      ++stats_.connections_timed_out;
      fail_endpoint(ep, ETIMEDOUT, Event::timeout);
    }
  }
}

bool SimNetwork::reset_connection(EndpointId id) {
  Endpoint* ep = endpoint(id);
  if (ep == nullptr || ep->state != SimState::established) return false;
  Endpoint* peer = endpoint(ep->peer);
  if (peer != nullptr && peer->generation == ep->peer_generation &&
      peer->state == SimState::established) {
    fail_endpoint(*peer, ECONNRESET, Event::reset);
  }
  ++stats_.connections_reset;
  fail_endpoint(*ep, ECONNRESET, Event::reset);
  return true;
}

// ---- time ----

Nanos SimNetwork::next_event_ns() const {
  Nanos next = std::numeric_limits<Nanos>::max();
  if (!heap_.empty()) next = packets_[heap_.front()].deliver_at_ns;
  for (const Endpoint& ep : endpoints_) {
    if (ep.state == SimState::free) continue;
    if (ep.rto_deadline_ns != 0) next = std::min(next, ep.rto_deadline_ns);
    if (ep.deadline_ns != 0) next = std::min(next, ep.deadline_ns);
  }
  for (const Partition& p : partitions_) {
    if (!p.timed_out) next = std::min(next, p.since_ns + config_.connection_timeout_ns);
  }
  return next;
}

void SimNetwork::tick(Nanos step) {
  const Nanos target = clock_.now() + std::max<Nanos>(step, 0);
  for (uint32_t events = 0; events < config_.events_per_tick_max; ++events) {
    const Nanos next = next_event_ns();
    if (next > target) break;
    clock_.set(next);
    if (!heap_.empty() && packets_[heap_.front()].deliver_at_ns <= clock_.now()) {
      deliver_next();
    } else {
      fire_timers();
    }
  }
  clock_.set(target);
}

bool SimNetwork::run_until_idle(size_t ticks_max, Nanos step) {
  for (size_t i = 0; i < ticks_max && !idle(); ++i) tick(step);
  return idle();
}

bool SimNetwork::idle() const {
  if (!heap_.empty()) return false;
  for (const Endpoint& ep : endpoints_) {
    if (ep.state == SimState::free) continue;
    if (ep.rto_deadline_ns != 0 || (!ep.app_owned && ep.deadline_ns != 0)) return false;
  }
  return true;
}

void SimNetwork::fire_timers() {
  const Nanos now = clock_.now();
  for (Endpoint& ep : endpoints_) {
    if (ep.state == SimState::free) continue;
    if (ep.deadline_ns != 0 && ep.deadline_ns <= now) on_deadline(ep);
    if (ep.state == SimState::free) continue;
    if (ep.rto_deadline_ns != 0 && ep.rto_deadline_ns <= now) on_rto(ep);
  }
  check_partitions();
}

// ---- packet layer ----

bool SimNetwork::later(uint32_t slot_a, uint32_t slot_b) const {
  const Packet& a = packets_[slot_a];
  const Packet& b = packets_[slot_b];
  if (a.deliver_at_ns != b.deliver_at_ns) return a.deliver_at_ns > b.deliver_at_ns;
  return a.order > b.order;
}

Nanos SimNetwork::draw_delay() {
  Nanos delay = random_.between(faults_.delay_ns_min, faults_.delay_ns_max);
  if (random_.chance(faults_.reorder_probability)) {
    delay += random_.between(0, faults_.reorder_delay_ns_max);
  }
  return std::max<Nanos>(delay, 0);
}

void SimNetwork::transmit_packet(const Packet& p, std::span<const std::byte> payload) {
  ++stats_.packets_sent;
  if (random_.chance(faults_.drop_probability)) {
    ++stats_.packets_dropped;
    trace_packet(Event::drop, p);
    return;
  }
  enqueue(p, payload, draw_delay());
  if (random_.chance(faults_.duplicate_probability)) {
    ++stats_.packets_duplicated;
    trace_packet(Event::duplicate, p);
    enqueue(p, payload, draw_delay());
  }
}

void SimNetwork::enqueue(const Packet& p, std::span<const std::byte> payload, Nanos delay_ns) {
  CP_ASSERT(payload.size() <= config_.segment_bytes_max);
  if (free_packets_.empty()) {
    ++stats_.packets_queue_full;
    trace_packet(Event::queue_full, p);
    return;
  }
  const uint32_t slot = free_packets_.back();
  free_packets_.pop_back();
  Packet& q = packets_[slot];
  q = p;
  q.deliver_at_ns = clock_.now() + delay_ns;
  q.order = packet_order_++;
  q.payload_bytes = static_cast<uint32_t>(payload.size());
  if (!payload.empty()) {
    std::memcpy(&payload_arena_[size_t{slot} * config_.segment_bytes_max], payload.data(),
                payload.size());
  }
  heap_.push_back(slot);
  std::push_heap(heap_.begin(), heap_.end(),
                 [this](uint32_t a, uint32_t b) { return later(a, b); });
  trace_packet(Event::send, q);
}

void SimNetwork::deliver_next() {
  std::pop_heap(heap_.begin(), heap_.end(), [this](uint32_t a, uint32_t b) { return later(a, b); });
  const uint32_t slot = heap_.back();
  heap_.pop_back();
  // The slot stays taken while it is dispatched, so the payload cannot be overwritten by the
  // packets dispatch() sends.
  const Packet p = packets_[slot];
  const std::span<const std::byte> payload(
      &payload_arena_[size_t{slot} * config_.segment_bytes_max], p.payload_bytes);
  dispatch(p, payload);
  free_packets_.push_back(slot);
}

void SimNetwork::dispatch(const Packet& p, std::span<const std::byte> payload) {
  if (partitioned(p.src_ip, p.dst_ip)) {
    ++stats_.packets_partitioned;
    trace_packet(Event::partitioned, p);
    return;
  }
  if (!has_host(p.dst_ip)) {
    ++stats_.packets_stale;
    trace_packet(Event::no_host, p);
    return;
  }
  ++stats_.packets_delivered;
  trace_packet(Event::deliver, p);
  if (p.kind == PacketKind::syn) {
    on_syn(p);
    return;
  }
  Endpoint* ep = endpoint(p.to);
  if (ep == nullptr || ep->generation != p.to_generation || ep->host_ip != p.dst_ip) {
    ++stats_.packets_stale;
    trace_packet(Event::stale, p);
    // Like TCP, answer with an RST, but not to an RST nor to a bare ACK (nothing to stop).
    const bool bare_ack = p.kind == PacketKind::segment && !p.wants_ack();
    if (p.kind != PacketKind::rst && !bare_ack) send_rst(p);
    return;
  }
  switch (p.kind) {
    case PacketKind::syn_ack:
      on_syn_ack(*ep, p);
      break;
    case PacketKind::rst:
      on_rst(*ep, p);
      break;
    case PacketKind::segment:
      on_segment(*ep, p, payload);
      break;
    case PacketKind::syn:
      break;
  }
}

// ---- endpoints ----

SimNetwork::Endpoint* SimNetwork::endpoint(EndpointId id) {
  if (id < 0 || static_cast<size_t>(id) >= endpoints_.size()) return nullptr;
  Endpoint& ep = endpoints_[static_cast<size_t>(id)];
  return ep.state == SimState::free ? nullptr : &ep;
}

const SimNetwork::Endpoint* SimNetwork::endpoint(EndpointId id) const {
  if (id < 0 || static_cast<size_t>(id) >= endpoints_.size()) return nullptr;
  const Endpoint& ep = endpoints_[static_cast<size_t>(id)];
  return ep.state == SimState::free ? nullptr : &ep;
}

EndpointId SimNetwork::allocate_endpoint(uint32_t host_ip) {
  for (Endpoint& ep : endpoints_) {
    if (ep.state != SimState::free) continue;
    Endpoint fresh;
    fresh.id = ep.id;
    fresh.generation = ep.generation + 1;
    fresh.tx = ep.tx;
    fresh.rx = ep.rx;
    fresh.ranges = ep.ranges;
    fresh.accept_queue = ep.accept_queue;
    fresh.host_ip = host_ip;
    fresh.rto_ns = config_.rto_ns_min;
    fresh.rcv_edge_advertised = config_.rx_buffer_bytes;
    fresh.state = SimState::connecting;  // the caller sets the real state
    ep = fresh;
    return ep.id;
  }
  return -1;
}

void SimNetwork::free_endpoint(Endpoint& ep) {
  trace_endpoint(Event::freed, ep);
  ep.state = SimState::free;
  ep.app_owned = false;
  ep.rto_deadline_ns = 0;
  ep.deadline_ns = 0;
}

void SimNetwork::maybe_free(Endpoint& ep) {
  if (ep.app_owned || ep.state == SimState::free) return;
  if (ep.state == SimState::closed) {
    free_endpoint(ep);
  } else if (ep.state == SimState::established && ep.fin_acked && ep.fin_received &&
             !ep.time_wait) {
    ep.time_wait = true;  // freed by on_deadline()
    ep.deadline_ns = clock_.now() + config_.time_wait_ns;
  }
}

bool SimNetwork::port_in_use(uint32_t host_ip, uint16_t port) const {
  for (const Endpoint& ep : endpoints_) {
    if (ep.state != SimState::free && ep.host_ip == host_ip && ep.local_port == port) return true;
  }
  return false;
}

uint16_t SimNetwork::allocate_port(uint32_t host_ip) {
  const int index = find_host(host_ip);
  if (index < 0) return 0;
  Host& host = hosts_[static_cast<size_t>(index)];
  for (uint32_t tries = 0; tries < kPortSearchMax; ++tries) {
    const uint16_t port = host.next_port;
    host.next_port = port == 65535 ? kEphemeralPortFirst : static_cast<uint16_t>(port + 1);
    if (!port_in_use(host_ip, port)) return port;
  }
  return 0;
}

EndpointId SimNetwork::find_listener(uint32_t ip, uint16_t port) const {
  for (const Endpoint& ep : endpoints_) {
    if (ep.state == SimState::listening && !ep.shut_local && ep.host_ip == ip &&
        ep.local_port == port) {
      return ep.id;
    }
  }
  return -1;
}

EndpointId SimNetwork::find_by_peer(uint32_t host_ip, const Packet& p) const {
  for (const Endpoint& ep : endpoints_) {
    if (ep.state == SimState::free || ep.state == SimState::listening) continue;
    if (ep.host_ip == host_ip && ep.peer == p.from && ep.peer_generation == p.from_generation) {
      return ep.id;
    }
  }
  return -1;
}

size_t SimNetwork::endpoints_in_use() const {
  return static_cast<size_t>(
      std::count_if(endpoints_.begin(), endpoints_.end(),
                    [](const Endpoint& ep) { return ep.state != SimState::free; }));
}

// ---- socket API ----

Result<EndpointId, int> SimNetwork::listen(uint32_t host_ip, const SocketAddress& addr,
                                           uint32_t backlog) {
  uint32_t ip = 0;
  if (!ipv4_of(addr, ip)) return fail(EAFNOSUPPORT);
  if (!has_host(host_ip) || (ip != 0 && ip != host_ip)) return fail(EADDRNOTAVAIL);
  uint16_t port = addr.port();
  if (port == 0) {
    port = allocate_port(host_ip);
    if (port == 0) return fail(EADDRINUSE);
  } else if (port_in_use(host_ip, port)) {
    return fail(EADDRINUSE);
  }
  const EndpointId id = allocate_endpoint(host_ip);
  if (id < 0) return fail(EMFILE);
  Endpoint& ep = endpoints_[static_cast<size_t>(id)];
  ep.state = SimState::listening;
  ep.local_port = port;
  ep.app_owned = true;
  ep.backlog = std::clamp<uint32_t>(backlog, 1, config_.accept_backlog_max);
  trace_endpoint(Event::listen, ep);
  return id;
}

EndpointId SimNetwork::accept(EndpointId listener) {
  Endpoint* l = endpoint(listener);
  if (l == nullptr || l->state != SimState::listening || l->accept_count == 0) return -1;
  const EndpointId id = l->accept_queue[l->accept_head];
  l->accept_head = (l->accept_head + 1) % config_.accept_backlog_max;
  --l->accept_count;
  return id;
}

Result<EndpointId, int> SimNetwork::connect(uint32_t host_ip, const SocketAddress& addr) {
  uint32_t ip = 0;
  if (!ipv4_of(addr, ip)) return fail(EAFNOSUPPORT);
  if (!has_host(host_ip)) return fail(EADDRNOTAVAIL);
  if (ip == 0 || addr.port() == 0) return fail(EINVAL);
  const uint16_t port = allocate_port(host_ip);
  if (port == 0) return fail(EADDRNOTAVAIL);
  const EndpointId id = allocate_endpoint(host_ip);
  if (id < 0) return fail(EMFILE);
  Endpoint& ep = endpoints_[static_cast<size_t>(id)];
  ep.state = SimState::connecting;
  ep.local_port = port;
  ep.peer_ip = ip;
  ep.peer_port = addr.port();
  ep.app_owned = true;
  ep.deadline_ns = clock_.now() + config_.connect_timeout_ns;
  ep.rto_deadline_ns = clock_.now() + ep.rto_ns;
  ep.silence_since_ns = clock_.now();
  trace_endpoint(Event::connect, ep);
  send_syn(ep);
  return id;
}

bool SimNetwork::valid(EndpointId id) const {
  return endpoint(id) != nullptr;
}

uint32_t SimNetwork::host_of(EndpointId id) const {
  const Endpoint* ep = endpoint(id);
  return ep == nullptr ? 0 : ep->host_ip;
}

SimState SimNetwork::state(EndpointId id) const {
  const Endpoint* ep = endpoint(id);
  return ep == nullptr ? SimState::free : ep->state;
}

int SimNetwork::error(EndpointId id) const {
  const Endpoint* ep = endpoint(id);
  return ep == nullptr ? EBADF : ep->error;
}

size_t SimNetwork::recv_available(EndpointId id) const {
  const Endpoint* ep = endpoint(id);
  if (ep == nullptr || ep->state != SimState::established) return 0;
  return ep->rcv_nxt - ep->rcv_read;
}

size_t SimNetwork::recv(EndpointId id, std::span<std::byte> out) {
  Endpoint* ep = endpoint(id);
  if (ep == nullptr || ep->state != SimState::established) return 0;
  const size_t bytes = std::min<uint64_t>(out.size(), ep->rcv_nxt - ep->rcv_read);
  copy_out_of_ring(ep->rx, config_.rx_buffer_bytes, ep->rcv_read, out.data(), bytes);
  ep->rcv_read += bytes;
  maybe_send_window_update(*ep);
  return bytes;
}

bool SimNetwork::at_eof(EndpointId id) const {
  const Endpoint* ep = endpoint(id);
  return ep != nullptr && ep->state == SimState::established && ep->fin_received &&
         ep->rcv_read == ep->rcv_nxt;
}

size_t SimNetwork::send_room(EndpointId id) const {
  const Endpoint* ep = endpoint(id);
  if (ep == nullptr || ep->state != SimState::established || ep->shut_local) return 0;
  return config_.tx_buffer_bytes - (ep->snd_end - ep->data_una());
}

size_t SimNetwork::send(EndpointId id, std::span<const std::byte> bytes) {
  const size_t n = std::min(send_room(id), bytes.size());
  Endpoint* found = endpoint(id);
  if (n == 0 || found == nullptr) return 0;
  Endpoint& ep = *found;
  copy_into_ring(ep.tx, config_.tx_buffer_bytes, ep.snd_end, bytes.data(), n);
  ep.snd_end += n;
  transmit(ep);
  return n;
}

size_t SimNetwork::send_queued(EndpointId id) const {
  const Endpoint* ep = endpoint(id);
  return ep == nullptr ? 0 : ep->snd_end - ep->data_una();
}

void SimNetwork::shutdown(EndpointId id) {
  Endpoint* ep = endpoint(id);
  if (ep == nullptr || ep->shut_local) return;
  if (ep->state == SimState::listening) {
    ep->shut_local = true;  // new SYNs are refused from now on
    trace_endpoint(Event::shutdown, *ep);
  } else if (ep->state == SimState::connecting) {
    fail_endpoint(*ep, ECANCELED, Event::shutdown);
  } else if (ep->state == SimState::established) {
    ep->shut_local = true;
    ep->rcv_read = ep->rcv_nxt;
    ep->range_count = 0;
    trace_endpoint(Event::shutdown, *ep);
    transmit(*ep);
  }
}

void SimNetwork::close(EndpointId id) {
  Endpoint* ep = endpoint(id);
  if (ep == nullptr) return;
  if (ep->state == SimState::listening) {
    close_listener(*ep);
    return;
  }
  ep->app_owned = false;
  trace_endpoint(Event::closed, *ep);
  if (ep->state != SimState::established) {
    free_endpoint(*ep);
    return;
  }
  if (!ep->shut_local && ep->rcv_nxt > ep->rcv_read) {
    abort_with_rst(*ep, ECONNRESET);  // unread input: TCP answers close() with an RST
    return;
  }
  shutdown(id);
  ep->deadline_ns = clock_.now() + config_.connection_timeout_ns;
  maybe_free(*ep);
}

void SimNetwork::close_listener(Endpoint& listener) {
  while (listener.accept_count > 0) {
    Endpoint& queued = endpoints_[static_cast<size_t>(accept(listener.id))];
    queued.app_owned = false;
    if (queued.state == SimState::established) {
      abort_with_rst(queued, ECONNRESET);
    } else {
      free_endpoint(queued);
    }
  }
  listener.app_owned = false;
  trace_endpoint(Event::closed, listener);
  free_endpoint(listener);
}

Result<SocketAddress, int> SimNetwork::local_address(EndpointId id) const {
  const Endpoint* ep = endpoint(id);
  if (ep == nullptr) return fail(EBADF);
  return SocketAddress::ipv4(ep->host_ip, ep->local_port);
}

Result<SocketAddress, int> SimNetwork::peer_address(EndpointId id) const {
  const Endpoint* ep = endpoint(id);
  if (ep == nullptr) return fail(EBADF);
  if (ep->state != SimState::established && ep->state != SimState::closed) return fail(ENOTCONN);
  return SocketAddress::ipv4(ep->peer_ip, ep->peer_port);
}

void SimNetwork::copy_out_of_ring(const std::byte* ring, size_t ring_bytes, uint64_t seq,
                                  std::byte* out, size_t bytes) const {
  const size_t start = seq % ring_bytes;
  const size_t first = std::min(bytes, ring_bytes - start);
  if (first > 0) std::memcpy(out, ring + start, first);
  if (bytes > first) std::memcpy(out + first, ring, bytes - first);
}

void SimNetwork::copy_into_ring(std::byte* ring, size_t ring_bytes, uint64_t seq,
                                const std::byte* in, size_t bytes) const {
  const size_t start = seq % ring_bytes;
  const size_t first = std::min(bytes, ring_bytes - start);
  if (first > 0) std::memcpy(ring + start, in, first);
  if (bytes > first) std::memcpy(ring, in + first, bytes - first);
}

// ---- trace ----

void SimNetwork::trace_packet(Event event, const Packet& p) {
  const Nanos t = clock_.now() - start_ns_;
  trace_.count_event();
  trace_.fold(static_cast<uint64_t>(event));
  trace_.fold(static_cast<uint64_t>(t));
  trace_.fold(static_cast<uint64_t>(p.kind) | uint64_t{p.fin} << 8 | uint64_t{p.probe} << 9);
  trace_.fold(address_word(p.src_ip, p.src_port));
  trace_.fold(address_word(p.dst_ip, p.dst_port));
  trace_.fold(p.seq);
  trace_.fold(p.ack);
  trace_.fold(p.window_edge);
  trace_.fold(p.payload_bytes);
  trace_.fold(static_cast<uint64_t>(p.deliver_at_ns - start_ns_));
  if (!trace_.text_enabled()) return;
  char line[SimTrace::kLineBytesMax];
  const auto r = fmt::format_to_n(
      line, sizeof line, "{}.{:09} {} {}{}{} {}:{}>{}:{} seq={} ack={} len={} win={}",
      t / kNanosPerSecond, t % kNanosPerSecond, kEventNames[static_cast<size_t>(event)],
      kKindNames[static_cast<size_t>(p.kind)], p.fin ? "+fin" : "", p.probe ? "+probe" : "",
      ip_text(p.src_ip).text, p.src_port, ip_text(p.dst_ip).text, p.dst_port, p.seq, p.ack,
      p.payload_bytes, p.window_edge > p.ack ? p.window_edge - p.ack : 0);
  trace_.append_line(std::string_view(line, std::min(r.size, sizeof line)));
}

void SimNetwork::trace_endpoint(Event event, const Endpoint& ep, int error) {
  const Nanos t = clock_.now() - start_ns_;
  trace_.count_event();
  trace_.fold(static_cast<uint64_t>(event));
  trace_.fold(static_cast<uint64_t>(t));
  trace_.fold(static_cast<uint64_t>(static_cast<uint32_t>(ep.id)) << 32 | ep.generation);
  trace_.fold(address_word(ep.host_ip, ep.local_port));
  trace_.fold(address_word(ep.peer_ip, ep.peer_port));
  trace_.fold(static_cast<uint64_t>(error));
  if (!trace_.text_enabled()) return;
  char line[SimTrace::kLineBytesMax];
  const auto r = fmt::format_to_n(
      line, sizeof line, "{}.{:09} {} ep={}/{} {}:{}>{}:{} err={}", t / kNanosPerSecond,
      t % kNanosPerSecond, kEventNames[static_cast<size_t>(event)], ep.id, ep.generation,
      ip_text(ep.host_ip).text, ep.local_port, ip_text(ep.peer_ip).text, ep.peer_port, error);
  trace_.append_line(std::string_view(line, std::min(r.size, sizeof line)));
}

}  // namespace cp::sim
