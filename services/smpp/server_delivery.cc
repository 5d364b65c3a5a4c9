// The SMPP server's peer delivery: a shard with receiver-capable binds of a peer holds that
// peer's role with the SMSC core; the core's DELIVER_TO_PEER become deliver_sm on the peer's
// binds — this shard's, or another shard's over the cross-core ring (answered back the same
// way) — spread round robin in proportion to each core's binds. See server_impl.h.
#include <fmt/format.h>

#include <algorithm>

#include "base/log.h"
#include "services/smpp/convert.h"
#include "services/smpp/server_impl.h"

namespace cp::smpp {

// ---- PeerRole ---------------------------------------------------------------------------------

void PeerRole::on_core_link(bool up) {
  if (up) {
    CP_LOG_INFO("smpp: delivering to peer {} from core {} ({} binds)", peer, shard->reactor.core(),
                binds.size());
    link->set_service_up(true);
  } else {
    // The core retakes custody of whatever it had handed over; drop our copies.
    end_session();
  }
}

void PeerRole::answer(uint64_t rid, wire::Status status, uint32_t extra) {
  std::byte buf[wire::kMessageMax];
  link->respond(
      {buf, wire::encode_response(buf, wire::Type::deliver_to_peer, rid, status, 0, {}, extra)});
}

void PeerRole::on_core_request(const wire::Message& m) {
  if (m.header.type != wire::Type::deliver_to_peer) {
    std::byte buf[wire::kMessageMax];
    link->respond({buf, wire::encode_error(buf, static_cast<uint8_t>(m.header.type),
                                           m.header.request_id, wire::Status::unknown_type)});
    return;
  }
  waiting.push_back(m);
  dispatch();
}

bool PeerRole::deliver_local(const wire::Message& m, Forward* forward) {
  Session* target = nullptr;
  for (size_t i = 0; i < binds.size() && !target; ++i) {
    Session* s = binds[(next + i) % binds.size()];
    if (s->state == Session::State::bound && s->delivers_in_flight() < s->window() &&
        s->tx.backlog() < kDeliverBacklogMax) {
      target = s;
      next = (next + i + 1) % binds.size();
    }
  }
  if (!target) return false;
  OutPdu out;
  const uint32_t seq = target->sequences.next();
  auto built = build_deliver(m.submit.record, {target->account->dc0, target->account->concat_sar},
                             seq, pdu::cmd::deliver_sm, out);
  Delivery d;
  d.role = this;
  d.forward = forward;
  d.core_rid = m.header.request_id;
  d.epoch = epoch;
  if (!built) {
    CP_LOG_WARN("smpp: message {:#x} for peer {} cannot be sent over SMPP: {}; failed",
                m.submit.record.message_id, peer, built.error().what);
    shard->delivery_done(d, wire::Status::permanent_failure, built.error().status);
    return true;
  }
  d.receipt = *built;
  target->out.add(seq, pdu::cmd::deliver_sm, OutRequests::Kind::request,
                  shard->reactor.clock().now(), d);
  target->send(out.bytes());
  return true;
}

void PeerRole::dispatch() {
  const unsigned cores = shard->shared.cores;
  const unsigned here = shard->reactor.core();
  forwarded.resize(cores, 0);
  while (!waiting.empty()) {
    // The peer's receiver binds on every core share its deliveries, in proportion to their
    // number: a slot is picked round robin over all of them; a core without room is skipped.
    std::vector<uint32_t> counts;
    {
      std::lock_guard lock(shard->shared.binds_mu);
      auto it = shard->shared.rx_binds.find(peer_index);
      if (it != shard->shared.rx_binds.end()) counts = it->second;
    }
    counts.resize(cores, 0);
    uint32_t total = 0;
    for (uint32_t c : counts) total += c;
    bool sent = false;
    for (uint32_t attempt = 0; attempt < std::max<uint32_t>(total, 1) && !sent; ++attempt) {
      uint64_t slot = total ? turn++ % total : 0;
      unsigned core = here;
      for (unsigned c = 0; c < cores && total; ++c) {
        if (slot < counts[c]) {
          core = c;
          break;
        }
        slot -= counts[c];
      }
      if (core == here) {
        sent = deliver_local(waiting.front(), nullptr);
      } else if (forwarded[core] < counts[core] * kForwardsPerBindMax) {
        auto* f = new Forward{waiting.front(), here, core, peer_index, epoch};
        engine::CrossCoreMessage msg;
        msg.fn = &SmppServer::Shard::on_forward;
        msg.from_core = here;
        msg.ptr = f;
        msg.args[0] = reinterpret_cast<uintptr_t>(shard->shared.shards[core]);
        if (shard->reactor.send_to(core, msg)) {
          ++forwarded[core];
          sent = true;
        } else {
          delete f;
        }
      }
    }
    if (!sent) return;
    waiting.pop_front();
  }
}

// ---- Shard: roles -----------------------------------------------------------------------------

void SmppServer::Shard::bound(Session& s) {
  if (!s.can_receive() || !s.peer_known) return;
  auto& role = roles[s.peer_index];
  if (!role) {
    role = std::make_unique<PeerRole>();
    role->shard = this;
    role->peer_index = s.peer_index;
    role->peer = s.account->peer;
  }
  role->binds.push_back(&s);
  s.role = role.get();
  {
    std::lock_guard lock(shared.binds_mu);
    auto& counts = shared.rx_binds[s.peer_index];
    counts.resize(shared.cores, 0);
    ++counts[reactor.core()];
  }
  if (!role->link) {
    smsc::CoreLinkOptions lo;
    lo.name = fmt::format("smpp peer {} (core {})", role->peer, reactor.core());
    lo.has_role = true;
    lo.role = {wire::Role::peer, role->peer};
    lo.reconnect_min = 200 * kNanosPerMilli;
    lo.reconnect_max = 2 * kNanosPerSecond;
    lo.in_flight_max = 16;
    role->link = std::make_unique<smsc::CoreLink>(reactor, core_address(shared.opt), lo, *role);
    role->link->set_service_up(true);
  }
  if (role->link->stopped()) role->link->start();
  role->dispatch();
}

void SmppServer::Shard::unbound(Session& s) {
  if (!s.role) return;
  PeerRole* role = s.role;
  std::erase(role->binds, &s);
  s.role = nullptr;
  {
    std::lock_guard lock(shared.binds_mu);
    auto& counts = shared.rx_binds[role->peer_index];
    if (counts.size() > reactor.core() && counts[reactor.core()] > 0) --counts[reactor.core()];
  }
  if (role->binds.empty() && role->link) {
    CP_LOG_INFO("smpp: no receiver bind of peer {} left on core {}; releasing its deliveries",
                role->peer, reactor.core());
    // Stopped, not destroyed: the connection may still call it until its close completes.
    role->link->stop();
    role->end_session();
  } else {
    role->dispatch();
  }
}

// ---- Shard: answers ---------------------------------------------------------------------------

void SmppServer::Shard::delivery_done(const Delivery& d, wire::Status status, uint32_t extra) {
  if (!d.forward) {
    if (d.role->epoch == d.epoch) d.role->answer(d.core_rid, status, extra);
    return;
  }
  Forward* f = d.forward;
  f->status = status;
  f->extra = extra;
  engine::CrossCoreMessage msg;
  msg.fn = &Shard::on_forward_done;
  msg.from_core = reactor.core();
  msg.ptr = f;
  msg.args[0] = reinterpret_cast<uintptr_t>(shared.shards[f->holder]);
  replies.push_back(msg);
  flush_replies();
}

void SmppServer::Shard::flush_replies() {
  size_t sent = 0;
  while (sent < replies.size() &&
         reactor.send_to(static_cast<Forward*>(replies[sent].ptr)->holder, replies[sent]))
    ++sent;
  replies.erase(replies.begin(), replies.begin() + static_cast<long>(sent));
}

// On the core with the bind: deliver it there, or answer at once that no bind had room (the
// holder then keeps it for the core's retry).
void SmppServer::Shard::on_forward(engine::Reactor&, const engine::CrossCoreMessage& msg) {
  auto* self = reinterpret_cast<Shard*>(msg.args[0]);
  auto* f = static_cast<Forward*>(msg.ptr);
  Delivery d;
  d.forward = f;
  d.core_rid = f->m.header.request_id;
  auto it = self->roles.find(f->peer);
  // No bind with room here (any more): bounced, the holder keeps it (`busy` never reaches the
  // core).
  if (it == self->roles.end() || !it->second->deliver_local(f->m, f))
    self->delivery_done(d, wire::Status::busy, 0);
}

// Back on the holder: answer the core over the role link.
void SmppServer::Shard::on_forward_done(engine::Reactor&, const engine::CrossCoreMessage& msg) {
  auto* self = reinterpret_cast<Shard*>(msg.args[0]);
  auto* f = static_cast<Forward*>(msg.ptr);
  auto it = self->roles.find(f->peer);
  if (it != self->roles.end()) {
    PeerRole& role = *it->second;
    if (f->target < role.forwarded.size() && role.forwarded[f->target] > 0)
      --role.forwarded[f->target];
    // Handed out in an earlier session of the role link, it is the core's again: dropped.
    if (f->epoch == role.epoch && f->status == wire::Status::busy) {
      if (!role.deliver_local(f->m, nullptr)) role.waiting.push_front(f->m);
    } else if (f->epoch == role.epoch) {
      role.answer(f->m.header.request_id, f->status, f->extra);
    }
    delete f;
    role.dispatch();
    return;
  }
  delete f;
}

void SmppServer::Shard::fail_out(Session& s) {
  for (const auto& o : s.out.take_all()) {
    if (o.kind != OutRequests::Kind::request) continue;
    shared.stats.deliver_errors.fetch_add(1, std::memory_order_relaxed);
    delivery_done(o.payload, wire::Status::temporary_failure, 0);
  }
}

void SmppServer::Shard::handle_response(Session& s, const pdu::Header& h) {
  auto o = s.out.take(h);
  if (!o) {
    if (h.command_id != pdu::cmd::generic_nack)
      CP_LOG_DEBUG("smpp {}: {} (seq {}) answers no request of ours", s.remote,
                   pdu::command_name(h.command_id), h.sequence);
    return;
  }
  if (o->kind == OutRequests::Kind::unbind) {
    CP_LOG_INFO("smpp {}: {} unbound (shutdown)", s.remote, s.account->system_id);
    s.conn->close();
    return;
  }
  if (o->kind == OutRequests::Kind::enquire_link) return;  // last_rx already moved
  if (h.command_status == pdu::status::ok) {
    shared.stats.delivers.fetch_add(1, std::memory_order_relaxed);
    if (o->payload.receipt) shared.stats.receipts.fetch_add(1, std::memory_order_relaxed);
    delivery_done(o->payload, wire::Status::ok, 0);
  } else {
    shared.stats.deliver_errors.fetch_add(1, std::memory_order_relaxed);
    const bool temporary = is_temporary_failure(h);
    CP_LOG_INFO("smpp {}: deliver_sm refused with {:#x} ({})", s.remote, h.command_status,
                temporary ? "retried later" : "failed");
    delivery_done(o->payload,
                  temporary ? wire::Status::temporary_failure : wire::Status::permanent_failure,
                  h.command_status);
  }
  if (s.role) s.role->dispatch();
}

}  // namespace cp::smpp
