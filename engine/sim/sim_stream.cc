// SimNetwork's reliable-stream layer: a deliberately small TCP. Three packets open a
// connection's life (SYN, SYN-ACK; RST refuses or resets), segments carry data with a cumulative
// ACK and the receive window's right edge. The receiver keeps out-of-order bytes inside its
// window and drops duplicates; the sender goes back to the oldest unacknowledged byte when the
// RTO expires, retransmits one segment after three duplicate ACKs, and probes a zero window.
#include <algorithm>
#include <cerrno>

#include "engine/sim/sim_network.h"
#include "engine/sim/sim_network_internal.h"

namespace cp::sim {

uint64_t SimNetwork::rcv_ack(const Endpoint& ep) const {
  return ep.rcv_nxt + (ep.fin_received ? 1 : 0);
}

uint64_t SimNetwork::rcv_edge(const Endpoint& ep) const {
  return ep.rcv_read + config_.rx_buffer_bytes;
}

SimNetwork::Packet SimNetwork::make_packet(const Endpoint& ep, PacketKind kind) const {
  Packet p;
  p.kind = kind;
  p.src_ip = ep.host_ip;
  p.src_port = ep.local_port;
  p.dst_ip = ep.peer_ip;
  p.dst_port = ep.peer_port;
  p.from = ep.id;
  p.from_generation = ep.generation;
  p.to = ep.peer;
  p.to_generation = ep.peer_generation;
  p.seq = ep.snd_nxt;
  p.ack = rcv_ack(ep);
  p.window_edge = rcv_edge(ep);
  return p;
}

// ---- sending ----

void SimNetwork::send_syn(Endpoint& ep) {
  Packet p = make_packet(ep, PacketKind::syn);
  p.to = -1;
  transmit_packet(p, {});
}

void SimNetwork::send_ack(Endpoint& ep) {
  const Packet p = make_packet(ep, PacketKind::segment);
  ep.rcv_edge_advertised = std::max(ep.rcv_edge_advertised, p.window_edge);
  transmit_packet(p, {});
}

void SimNetwork::send_probe(Endpoint& ep) {
  Packet p = make_packet(ep, PacketKind::segment);
  p.probe = true;
  ++stats_.window_probes;
  transmit_packet(p, {});
}

// Answers a packet nobody should have received; `from` stays -1 for a SYN without listener.
void SimNetwork::send_rst(const Packet& in) {
  Packet p;
  p.kind = PacketKind::rst;
  p.src_ip = in.dst_ip;
  p.src_port = in.dst_port;
  p.dst_ip = in.src_ip;
  p.dst_port = in.src_port;
  p.from = in.to;
  p.from_generation = in.to_generation;
  p.to = in.from;
  p.to_generation = in.from_generation;
  transmit_packet(p, {});
}

void SimNetwork::send_segment(Endpoint& ep, uint64_t seq, uint32_t bytes, bool fin) {
  Packet p = make_packet(ep, PacketKind::segment);
  p.seq = seq;
  p.fin = fin;
  copy_out_of_ring(ep.tx, config_.tx_buffer_bytes, seq, scratch_.get(), bytes);
  ep.rcv_edge_advertised = std::max(ep.rcv_edge_advertised, p.window_edge);
  transmit_packet(p, std::span<const std::byte>(scratch_.get(), bytes));
}

// Sends what the peer's window allows, then the FIN once every data byte has gone out.
void SimNetwork::transmit(Endpoint& ep) {
  if (ep.state != SimState::established) return;
  const uint64_t limit = std::min(ep.snd_end, ep.snd_wnd_edge);
  // Bounded by the window: at most rx_buffer_bytes / segment_bytes_max + 1 segments.
  while (ep.snd_nxt < limit) {
    const uint64_t bytes = std::min<uint64_t>(config_.segment_bytes_max, limit - ep.snd_nxt);
    send_segment(ep, ep.snd_nxt, static_cast<uint32_t>(bytes), false);
    ep.snd_nxt += bytes;
  }
  if (ep.shut_local && ep.snd_nxt == ep.snd_end && !ep.fin_acked) {
    send_segment(ep, ep.snd_end, 0, true);
    ep.snd_nxt = ep.snd_end + 1;
  }
  ep.snd_max = std::max(ep.snd_max, ep.snd_nxt);
  arm_rto(ep);
}

// Armed while bytes are unacknowledged (retransmission) or held back by a closed window
// (probing); the silence clock starts when the endpoint starts waiting.
void SimNetwork::arm_rto(Endpoint& ep) {
  if (ep.rto_deadline_ns != 0) return;
  if (ep.snd_una >= ep.snd_max && ep.snd_nxt >= ep.snd_end) return;
  ep.rto_deadline_ns = clock_.now() + ep.rto_ns;
  ep.silence_since_ns = clock_.now();
}

void SimNetwork::retransmit_first(Endpoint& ep) {
  if (ep.snd_una < ep.snd_end) {
    const uint64_t bytes = std::min<uint64_t>(config_.segment_bytes_max, ep.snd_end - ep.snd_una);
    send_segment(ep, ep.snd_una, static_cast<uint32_t>(bytes), false);
  } else if (ep.shut_local && !ep.fin_acked) {
    send_segment(ep, ep.snd_end, 0, true);
  }
}

void SimNetwork::on_rto(Endpoint& ep) {
  ep.rto_deadline_ns = 0;
  const Nanos now = clock_.now();
  if (ep.state == SimState::connecting) {
    ep.rto_ns = std::min(ep.rto_ns * 2, config_.rto_ns_max);
    ep.rto_deadline_ns = now + ep.rto_ns;
    send_syn(ep);
    return;
  }
  if (ep.state != SimState::established) return;
  if (now - ep.silence_since_ns >= config_.connection_timeout_ns) {
    ++stats_.connections_timed_out;
    fail_endpoint(ep, ETIMEDOUT, Event::timeout);
    return;
  }
  ep.rto_ns = std::min(ep.rto_ns * 2, config_.rto_ns_max);
  const Nanos silence_since_ns = ep.silence_since_ns;
  if (ep.snd_una < ep.snd_max) {
    ++stats_.retransmit_timeouts;
    ep.snd_nxt = ep.snd_una;  // go back N; the receiver drops what it already has
    ep.dup_acks = 0;
    transmit(ep);
  } else if (ep.snd_nxt < ep.snd_end) {
    send_probe(ep);
  }
  arm_rto(ep);
  ep.silence_since_ns = silence_since_ns;  // re-arming is not news from the peer
}

void SimNetwork::on_deadline(Endpoint& ep) {
  ep.deadline_ns = 0;
  if (ep.state == SimState::connecting) {
    ++stats_.connections_timed_out;
    fail_endpoint(ep, ETIMEDOUT, Event::timeout);
  } else if (!ep.app_owned) {
    free_endpoint(ep);  // TIME-WAIT over, or the peer never finished the close
  }
}

void SimNetwork::fail_endpoint(Endpoint& ep, int error, Event event) {
  ep.state = SimState::closed;
  ep.error = error;
  ep.rto_deadline_ns = 0;
  ep.deadline_ns = 0;
  ep.rcv_read = ep.rcv_nxt;
  ep.range_count = 0;
  ep.snd_una = ep.snd_nxt = ep.snd_max = ep.snd_end;
  trace_endpoint(event, ep, error);
  maybe_free(ep);
}

void SimNetwork::abort_with_rst(Endpoint& ep, int error) {
  transmit_packet(make_packet(ep, PacketKind::rst), {});
  ++stats_.connections_reset;
  fail_endpoint(ep, error, Event::aborted);
}

void SimNetwork::maybe_send_window_update(Endpoint& ep) {
  const uint64_t edge = rcv_edge(ep);
  const uint64_t window_advertised = ep.rcv_edge_advertised - ep.rcv_nxt;
  const bool opened_much = edge - ep.rcv_edge_advertised >= config_.rx_buffer_bytes / 4;
  const bool reopened = window_advertised < config_.segment_bytes_max &&
                        edge - ep.rcv_nxt >= config_.segment_bytes_max;
  if (opened_much || reopened) send_ack(ep);
}

// ---- receiving ----

// The omniscient check standing in for TCP's TIME-WAIT and initial sequence numbers: a SYN is
// only acted on while its sender is still connecting, so a late duplicate cannot open a ghost.
bool SimNetwork::sender_still_connecting(const Packet& syn) const {
  const Endpoint* sender = endpoint(syn.from);
  return sender != nullptr && sender->generation == syn.from_generation &&
         sender->state == SimState::connecting;
}

void SimNetwork::on_syn(const Packet& p) {
  const EndpointId existing = find_by_peer(p.dst_ip, p);
  if (existing >= 0) {
    Endpoint& ep = endpoints_[static_cast<size_t>(existing)];
    if (ep.state == SimState::established)
      transmit_packet(make_packet(ep, PacketKind::syn_ack), {});
    return;
  }
  if (!sender_still_connecting(p)) {
    ++stats_.packets_stale;
    trace_packet(Event::stale, p);
    return;
  }
  const EndpointId listener_id = find_listener(p.dst_ip, p.dst_port);
  if (listener_id < 0) {
    trace_packet(Event::refused, p);
    send_rst(p);
    return;
  }
  Endpoint& listener = endpoints_[static_cast<size_t>(listener_id)];
  const EndpointId id = listener.accept_count < listener.backlog ? allocate_endpoint(p.dst_ip) : -1;
  if (id < 0) {
    trace_packet(Event::backlog_full, p);  // dropped: the client's SYN retransmission retries
    return;
  }
  Endpoint& ep = endpoints_[static_cast<size_t>(id)];
  ep.state = SimState::established;
  ep.local_port = p.dst_port;
  ep.peer_ip = p.src_ip;
  ep.peer_port = p.src_port;
  ep.peer = p.from;
  ep.peer_generation = p.from_generation;
  ep.app_owned = true;
  ep.snd_wnd_edge = p.window_edge;
  ep.silence_since_ns = clock_.now();
  const uint32_t tail = (listener.accept_head + listener.accept_count) % config_.accept_backlog_max;
  listener.accept_queue[tail] = id;
  ++listener.accept_count;
  ++stats_.connections_established;
  trace_endpoint(Event::syn_queued, ep);
  transmit_packet(make_packet(ep, PacketKind::syn_ack), {});
}

void SimNetwork::on_syn_ack(Endpoint& ep, const Packet& p) {
  if (ep.state != SimState::connecting) return;  // a duplicate
  if (p.src_ip != ep.peer_ip || p.src_port != ep.peer_port) return;
  ep.state = SimState::established;
  ep.peer = p.from;
  ep.peer_generation = p.from_generation;
  ep.snd_wnd_edge = p.window_edge;
  ep.deadline_ns = 0;
  ep.rto_deadline_ns = 0;
  ep.rto_ns = config_.rto_ns_min;
  ep.silence_since_ns = clock_.now();
  ++stats_.connections_established;
  trace_endpoint(Event::established, ep);
}

void SimNetwork::on_rst(Endpoint& ep, const Packet& p) {
  if (ep.state == SimState::connecting) {
    if (p.src_ip != ep.peer_ip || p.src_port != ep.peer_port) return;
    fail_endpoint(ep, ECONNREFUSED, Event::refused);
    return;
  }
  if (ep.state != SimState::established) return;
  if (p.from != ep.peer || p.from_generation != ep.peer_generation) return;
  ++stats_.connections_reset;
  fail_endpoint(ep, ECONNRESET, Event::reset);
}

void SimNetwork::on_segment(Endpoint& ep, const Packet& p, std::span<const std::byte> payload) {
  if (ep.state == SimState::listening) return;
  if (ep.state == SimState::connecting) {
    trace_packet(Event::early, p);  // overtook the SYN-ACK; the peer retransmits it
    return;
  }
  if (ep.state == SimState::closed) {
    send_rst(p);
    return;
  }
  if (p.from != ep.peer || p.from_generation != ep.peer_generation) return;
  ep.silence_since_ns = clock_.now();
  on_ack(ep, p);
  if (!p.wants_ack()) {
    maybe_free(ep);
    return;
  }
  if (!ep.app_owned && p.payload_bytes > 0 && p.seq + p.payload_bytes > ep.rcv_nxt) {
    abort_with_rst(ep, ECONNRESET);  // new data for a closed socket
    return;
  }
  accept_payload(ep, p, payload);
  send_ack(ep);
  maybe_free(ep);
}

void SimNetwork::on_ack(Endpoint& ep, const Packet& p) {
  const bool window_moved = p.window_edge > ep.snd_wnd_edge;
  if (window_moved) {
    ep.snd_wnd_edge = p.window_edge;
    if (ep.snd_una >= ep.snd_max) {  // the window reopened: probing ends, sending restarts
      ep.rto_ns = config_.rto_ns_min;
      ep.rto_deadline_ns = 0;
    }
  }
  if (p.ack > ep.snd_una && p.ack <= ep.snd_max) {
    ep.snd_una = p.ack;
    if (ep.snd_nxt < ep.snd_una) ep.snd_nxt = ep.snd_una;
    if (ep.snd_una > ep.snd_end) ep.fin_acked = true;
    ep.dup_acks = 0;
    ep.rto_ns = config_.rto_ns_min;
    ep.rto_deadline_ns = 0;  // transmit() re-arms it if bytes are still outstanding
  } else if (p.ack == ep.snd_una && ep.snd_una < ep.snd_max && !p.wants_ack() && !window_moved) {
    if (++ep.dup_acks == 3) {
      ++stats_.fast_retransmits;
      retransmit_first(ep);
    }
  }
  transmit(ep);
}

void SimNetwork::accept_payload(Endpoint& ep, const Packet& p, std::span<const std::byte> payload) {
  const uint64_t begin = p.seq;
  const uint64_t end = p.seq + payload.size();
  if (p.fin && ep.peer_fin_seq == kNoFin) ep.peer_fin_seq = end;
  if (ep.shut_local) {
    // Input after shutdown() is acknowledged and thrown away, in order only.
    if (begin <= ep.rcv_nxt && end > ep.rcv_nxt) ep.rcv_nxt = end;
    ep.rcv_read = ep.rcv_nxt;
  } else {
    const uint64_t first = std::max(begin, ep.rcv_nxt);
    const uint64_t last = std::min(end, rcv_edge(ep));
    if (first < last) {
      copy_into_ring(ep.rx, config_.rx_buffer_bytes, first, payload.data() + (first - begin),
                     last - first);
      if (first == ep.rcv_nxt) {
        ep.rcv_nxt = last;
        merge_out_of_order(ep);
      } else {
        add_out_of_order(ep, first, last);
      }
    }
  }
  if (!ep.fin_received && ep.rcv_nxt == ep.peer_fin_seq) {
    ep.fin_received = true;
    trace_endpoint(Event::fin, ep);
  }
}

// Records [begin, end) as held beyond a gap, merged with overlapping or touching ranges. When
// the table is full the bytes are forgotten (the sender retransmits them).
void SimNetwork::add_out_of_order(Endpoint& ep, uint64_t begin, uint64_t end) {
  uint32_t i = 0;
  while (i < ep.range_count) {  // each merge removes a range, so this ends
    Range& r = ep.ranges[i];
    if (r.begin <= end && begin <= r.end) {
      begin = std::min(begin, r.begin);
      end = std::max(end, r.end);
      r = ep.ranges[--ep.range_count];
      i = 0;
    } else {
      ++i;
    }
  }
  if (ep.range_count < config_.out_of_order_ranges_max) ep.ranges[ep.range_count++] = {begin, end};
}

// Moves rcv_nxt over every held range it has reached.
void SimNetwork::merge_out_of_order(Endpoint& ep) {
  uint32_t i = 0;
  while (i < ep.range_count) {  // each hit removes a range, so this ends
    const Range r = ep.ranges[i];
    if (r.begin <= ep.rcv_nxt) {
      ep.rcv_nxt = std::max(ep.rcv_nxt, r.end);
      ep.ranges[i] = ep.ranges[--ep.range_count];
      i = 0;
    } else {
      ++i;
    }
  }
}

}  // namespace cp::sim
