// The role-handler registry of the front (front.h): which connection holds which role, its
// service state broadcast to every owner, the requests outstanding toward handlers (bounded,
// with deadlines) and their answers.
#include "services/smsc/front.h"

#include <cstring>

#include "base/log.h"
#include "services/smsc/admission.h"
#include "services/smsc/route.h"
#include "services/smsc/shard_owner.h"

namespace cp::smsc {

void Front::drop_role(uint64_t id, Client& c) {
  if (!c.has_role) return;
  if (c.up) broadcast_role(c.role, c.queue, false);
  switch (c.role) {
    case wire::Role::imsi_lookup:
      imsi_rh = 0;
      break;
    case wire::Role::gsm_mt:
      gsm_rh = 0;
      break;
    case wire::Role::peer:
      peer_rh.erase(c.peer);
      break;
  }
  CP_LOG_INFO("smsc: role handler {}{} gone (connection {})", wire::to_string(c.role),
              c.role == wire::Role::peer ? " '" + c.peer + "'" : std::string(), id);
  c.has_role = false;
  c.up = false;
  publish_roles();
}

void Front::rh_register(Connection& conn, Client& c, const wire::Message& m) {
  auto answer = [&](Status st) {
    const size_t n = wire::encode_response(buf, Type::rh_register, m.header.request_id, st);
    send_msg(conn, {buf, n});
  };
  if (c.has_role) return answer(Status::already_registered);
  uint16_t queue = 0;
  switch (m.reg.role) {
    case wire::Role::imsi_lookup:
      if (imsi_rh) return answer(Status::role_taken);
      imsi_rh = conn.id();
      break;
    case wire::Role::gsm_mt:
      if (gsm_rh) return answer(Status::role_taken);
      gsm_rh = conn.id();
      break;
    case wire::Role::peer: {
      if (!m.reg.peer.empty()) {
        const auto idx = numdb->peer_index(m.reg.peer);
        if (!idx) return answer(Status::bad_role);  // no such peer in the number database
        queue = static_cast<uint16_t>(*idx + 1);
      }
      if (peer_rh.count(m.reg.peer)) return answer(Status::role_taken);
      peer_rh[m.reg.peer] = conn.id();
      break;
    }
  }
  c.has_role = true;
  c.role = m.reg.role;
  c.peer = m.reg.peer;
  c.queue = queue;
  c.up = false;
  CP_LOG_INFO("smsc: connection {} registered as {}{}", conn.id(), wire::to_string(c.role),
              c.role == wire::Role::peer
                  ? (c.peer.empty() ? std::string(" (upstream)") : " '" + c.peer + "'")
                  : std::string());
  publish_roles();
  answer(Status::ok);
}

void Front::rh_service_state(Connection& conn, Client& c, const wire::Message& m) {
  Status st = Status::ok;
  if (!c.has_role) {
    st = Status::not_registered;
  } else if (c.up != m.up) {
    c.up = m.up;
    CP_LOG_INFO("smsc: {}{} service {}", wire::to_string(c.role),
                c.role == wire::Role::peer ? " '" + c.peer + "'" : std::string(),
                c.up ? "up" : "down");
    broadcast_role(c.role, c.queue, c.up);
    publish_roles();
  }
  const size_t n = wire::encode_response(buf, Type::rh_service_state, m.header.request_id, st);
  send_msg(conn, {buf, n});
}

void Front::broadcast_role(wire::Role role, uint16_t queue, bool up) {
  for (unsigned k = 0; k < impl.cores; ++k)
    impl.post(*reactor, k, &ShardOwner::on_role_state, nullptr,
              (uint64_t{static_cast<uint8_t>(role)} << 32) | queue, up ? 1 : 0);
}

uint64_t Front::handler_for(const OutReq& o, uint16_t queue) const {
  const auto up = [&](uint64_t id) -> uint64_t {
    auto it = clients.find(id);
    return id && it != clients.end() && it->second.up ? id : 0;
  };
  switch (o.type) {
    case Type::mt_find_imsi:
      return up(imsi_rh);
    case Type::mt_transfer:
    case Type::mt_cancel:
      return up(gsm_rh);
    case Type::deliver_to_peer:
      for (const auto& [name, id] : peer_rh) {
        auto it = clients.find(id);
        if (it != clients.end() && it->second.queue == queue) return up(id);
      }
      return 0;
    default:
      return 0;
  }
}

void Front::send_out(OutReq* o) {
  const uint64_t id = handler_for(*o, o->queue);
  auto it = clients.find(id);
  o->not_sent = false;
  if (!id || it == clients.end() || pending_free == kNone) {
    o->status = id ? Status::busy : Status::not_registered;
    o->not_sent = id != 0;
    return back_to_owner(o);
  }
  Connection& conn = *it->second.conn;
  const uint64_t rid = next_request_id++;
  size_t n = 0;
  switch (o->type) {
    case Type::mt_find_imsi:
      n = wire::encode_find_imsi(buf, rid, o->msisdn);
      break;
    case Type::mt_cancel:
      n = wire::encode_mt_cancel(buf, rid, o->message_id);
      break;
    default:
      n = wire::encode_record(buf, o->type, rid, o->record);
      break;
  }
  if (!conn.can_send(n) || clients[conn.id()].pending.size() >= kPendingMax) {
    conn.wait_writable();
    o->status = Status::busy;
    o->not_sent = true;
    return back_to_owner(o);
  }
  send_msg(conn, {buf, n});
  const uint32_t k = pending_free;
  pending_free = pending[k].next_free;
  pending[k] = Pending{o, id, rid, reactor->clock().now() + impl.opt.handler_timeout, kNone};
  pending_by_id.put(rid, k);
}

void Front::back_to_owner(OutReq* o) {
  impl.post(*reactor, o->owner, &ShardOwner::on_out_done, o);
}

void Front::finish_pending(uint32_t k) {
  Pending& p = pending[k];
  OutReq* o = p.out;
  pending_by_id.erase(p.request_id);
  p.out = nullptr;
  p.next_free = pending_free;
  pending_free = k;
  back_to_owner(o);
}

void Front::on_rh_response(Connection& conn, const wire::Message& m) {
  auto k = pending_by_id.find(m.header.request_id);
  const Type type = static_cast<Type>(static_cast<uint8_t>(m.header.type) & ~wire::kResponseBit);
  if (!k || pending[*k].conn_id != conn.id() || pending[*k].out->type != type) {
    impl.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    if (uint64_t held; stray_log.pass(reactor->clock().now(), held))
      CP_LOG_WARN(
          "smsc: connection {}: a {} response to no request of ours (id {}; {} more not logged)",
          conn.id(), wire::to_string(type), m.header.request_id, held);
    return;
  }
  OutReq* o = pending[*k].out;
  o->status = m.header.status;
  o->extra_info = m.extra_info;
  std::memset(o->imsi, 0, sizeof o->imsi);
  std::memcpy(o->imsi, m.digits.data(), std::min(m.digits.size(), wire::kImsiDigitsMax));
  if (type == Type::mt_find_imsi && o->status == Status::ok && m.digits.size() < 6)
    o->status = Status::temporary_failure;  // an IMSI has 6..15 digits
  finish_pending(*k);
}

void Front::publish_roles() {
  std::vector<RoleSnapshot> out;
  for (const auto& [id, c] : clients) {
    if (!c.has_role) continue;
    uint64_t outstanding = 0;
    for (const Pending& p : pending)
      if (p.out && p.conn_id == id) ++outstanding;
    out.push_back({std::string(wire::to_string(c.role)), c.peer, c.up, outstanding});
  }
  std::lock_guard lock(impl.roles_mutex);
  impl.role_snapshot = std::move(out);
}

}  // namespace cp::smsc
