// The SMSC core's front on reactor 0 (front.h): connections, decoding, client requests handed
// to the owners and their answers, control commands.
#include "services/smsc/front.h"

#include <cstring>

#include "base/log.h"
#include "services/smsc/admission.h"
#include "services/smsc/route.h"
#include "services/smsc/shard_owner.h"

namespace cp::smsc {

void Front::send_msg(Connection& conn, std::span<const std::byte> msg) {
  Client& c = clients[conn.id()];
  if (c.pending.empty() && conn.send_queued() + msg.size() <= kPacketMax && conn.send(msg)) return;
  c.pending.insert(c.pending.end(), msg.begin(), msg.end());
  conn.wait_writable();
}

void Front::flush_pending(Connection& conn, Client& c) {
  size_t at = 0;
  while (at < c.pending.size()) {
    const auto h = wire::peek_header({c.pending.data() + at, c.pending.size() - at});
    const size_t len = h->length;
    if (conn.send_queued() + len > kPacketMax || !conn.send({c.pending.data() + at, len})) break;
    at += len;
  }
  c.pending.erase(c.pending.begin(), c.pending.begin() + static_cast<long>(at));
  if (!c.pending.empty()) conn.wait_writable();
}

Front::Front(Impl& i) : impl(i), pending_by_id(i.opt.requests_in_flight_max) {
  pending.resize(i.opt.requests_in_flight_max);
  for (uint32_t k = static_cast<uint32_t>(pending.size()); k-- > 0;) {
    pending[k].next_free = pending_free;
    pending_free = k;
  }
}

engine::ConnectionHandler* Front::on_accept(Connection& conn) {
  clients[conn.id()].conn = &conn;
  impl.stats.clients.fetch_add(1, std::memory_order_relaxed);
  return this;
}

void Front::on_close(Connection& conn, engine::CloseReason, int) {
  auto it = clients.find(conn.id());
  if (it == clients.end()) return;
  impl.stats.clients.fetch_sub(1, std::memory_order_relaxed);
  drop_role(conn.id(), it->second);
  // Every request outstanding toward this handler fails back to its owner (custody returns).
  for (uint32_t k = 0; k < pending.size(); ++k) {
    Pending& p = pending[k];
    if (p.out && p.conn_id == conn.id()) {
      p.out->status = Status::not_registered;
      finish_pending(k);
    }
  }
  clients.erase(it);
}

size_t Front::on_data(Connection& conn, std::span<const std::byte> data) {
  Client& c = clients[conn.id()];
  size_t used = 0;
  while (data.size() - used >= wire::kHeaderBytes) {
    const auto h = wire::peek_header(data.subspan(used));
    if (h->length < wire::kHeaderBytes || h->length > wire::kMessageMax) {
      // No way to find the next message: say why and close.
      CP_LOG_WARN("smsc: connection {}: message length {} out of range; closing", conn.id(),
                  h->length);
      impl.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      const size_t n = wire::encode_error(buf, static_cast<uint8_t>(h->type), h->request_id,
                                          Status::bad_message);
      send_msg(conn, {buf, n});
      conn.close();
      return data.size();
    }
    if (data.size() - used < h->length) break;
    // Room for this answer and everything already in flight on this connection. A handler's
    // answer to us needs none: it is always read, or a handler that answers while our requests
    // fill its socket would wait on us as we wait on it (issue 15).
    const bool response = (static_cast<uint8_t>(h->type) & wire::kResponseBit) != 0;
    if (!response && (conn.send_room() < (size_t{c.in_flight} + 2) * wire::kMessageMax ||
                      c.pending.size() >= kPendingMax)) {
      conn.pause_reading();
      conn.wait_writable();
      break;
    }
    handle(conn, c, data.subspan(used, h->length));
    used += h->length;
    if (!conn.can_send(0)) break;  // closed meanwhile
  }
  return used;
}

void Front::on_writable(Connection& conn) {
  Client& c = clients[conn.id()];
  flush_pending(conn, c);
  if (c.pending.size() < kPendingMax) conn.resume_reading();
}

void Front::respond_error(Connection& conn, uint8_t type, uint64_t request_id, Status status) {
  const size_t n = wire::encode_error(buf, type, request_id, status);
  send_msg(conn, {buf, n});
}

void Front::handle(Connection& conn, Client& c, std::span<const std::byte> bytes) {
  wire::Message m;
  const Status st = wire::decode(bytes, m);
  const auto h = wire::peek_header(bytes);
  if (st != Status::ok) {
    impl.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    CP_LOG_DEBUG("smsc: connection {}: {} ({})", conn.id(), wire::to_string(st),
                 static_cast<unsigned>(h->type));
    if (!h->response()) respond_error(conn, static_cast<uint8_t>(h->type), h->request_id, st);
    return;
  }
  if (m.header.response()) return on_rh_response(conn, m);
  switch (m.header.type) {
    case Type::submit:
      return submit(conn, c, m);
    case Type::cancel:
    case Type::change_srr:
    case Type::query:
      return target_request(conn, c, m);
    case Type::rh_register:
      return rh_register(conn, c, m);
    case Type::rh_service_state:
      return rh_service_state(conn, c, m);
    case Type::mt_discharge:
      return mt_discharge(conn, c, m);
    default:
      // A request only the core sends.
      impl.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      respond_error(conn, static_cast<uint8_t>(m.header.type), m.header.request_id,
                    Status::unknown_type);
  }
}

InReq* Front::take_in(Connection& conn, const wire::Message& m) {
  InReq* q = in_free;
  if (!q) {
    respond_error(conn, static_cast<uint8_t>(m.header.type), m.header.request_id, Status::busy);
    return nullptr;
  }
  in_free = q->next_free;
  q->conn_id = conn.id();
  q->control_token = 0;
  q->request_id = m.header.request_id;
  q->status = Status::ok;
  q->message_id = 0;
  q->home = 0;
  return q;
}

void Front::give_in(InReq* q) {
  q->next_free = in_free;
  in_free = q;
}

void Front::submit(Connection& conn, Client& c, const wire::Message& m) {
  InReq* q = take_in(conn, m);
  if (!q) return;
  q->kind = InReq::Kind::submit;
  // A status report for an earlier message (the upstream's delivery receipt, turned into our
  // report by the uplink): only a peer delivery handler may enter one, in the core's layout.
  const bool report = (m.submit.record.flags & SmRecord::kFlagReport) != 0;
  Result<Admitted, Status> a = fail(Status::bad_message);
  if (!report) {
    a = admit(*numdb, impl.opt.admission, m.submit, reactor->clock().wall_now(), q->record);
  } else if (c.has_role && c.role == wire::Role::peer &&
             m.submit.record.ud_length == sizeof(StatusReport) &&
             (m.submit.record.flags & SmRecord::kFlagStatusReport) == 0) {
    wire::Submit plain = m.submit;
    plain.record.flags &= static_cast<uint8_t>(~SmRecord::kFlagReport);
    plain.flags &= static_cast<uint8_t>(~wire::kSubmitUntrusted);
    a = admit(*numdb, impl.opt.admission, plain, reactor->clock().wall_now(), q->record);
    if (a) q->record.flags |= SmRecord::kFlagReport;
  }
  if (!a) {
    impl.stats.submit_refusals.fetch_add(1, std::memory_order_relaxed);
    const size_t n = wire::encode_response(buf, Type::submit, m.header.request_id, a.error());
    send_msg(conn, {buf, n});
    return give_in(q);
  }
  q->store_only = a->store_only;
  q->group = m.submit.group;
  q->dup_key = duplicate_key(q->record);
  ++c.in_flight;
  impl.post(*reactor, shard_for(a->routed_digits, impl.cores), &ShardOwner::on_submit, q);
}

void Front::target_request(Connection& conn, Client& c, const wire::Message& m) {
  InReq* q = take_in(conn, m);
  if (!q) return;
  q->kind = m.header.type == Type::cancel       ? InReq::Kind::cancel
            : m.header.type == Type::change_srr ? InReq::Kind::change_srr
                                                : InReq::Kind::query;
  q->target = m.target;
  q->srr = m.srr;
  unsigned owner = 0;
  if (m.target.by == wire::TargetBy::message_id) {
    owner = impl.owner_of_shard(storage::message_shard(m.target.message_id));
  } else {
    // The message lives where its routed destination sends it.
    RouteInput ri;
    const std::string da = storage::digits(m.target.da);
    const std::string oa = storage::digits(m.target.oa);
    ri.dst_ton = m.target.da.ton;
    ri.dst_digits = da;
    ri.src_ton = m.target.oa.ton;
    ri.src_digits = oa;
    ri.locally_originated = true;
    auto r = route(*numdb, ri);
    if (!r) {
      const size_t n =
          wire::encode_response(buf, m.header.type, m.header.request_id, Status::not_found);
      send_msg(conn, {buf, n});
      return give_in(q);
    }
    owner = shard_for(r->routed_digits, impl.cores);
  }
  ++c.in_flight;
  impl.post(*reactor, owner, &ShardOwner::on_request, q);
}

void Front::mt_discharge(Connection& conn, Client& c, const wire::Message& m) {
  if (!c.has_role || c.role != wire::Role::gsm_mt) {
    respond_error(conn, static_cast<uint8_t>(Type::mt_discharge), m.header.request_id,
                  Status::not_registered);
    return;
  }
  InReq* q = take_in(conn, m);
  if (!q) return;
  q->kind = InReq::Kind::discharge;
  q->discharge = m.discharge;
  ++c.in_flight;
  impl.post(*reactor, impl.owner_of_shard(storage::message_shard(m.discharge.message_id)),
            &ShardOwner::on_request, q);
}

void Front::control_request(InReq::Kind kind, uint64_t message_id, std::function<void(InReq&)> cb) {
  InReq* q = in_free;
  if (!q) {
    InReq busy;
    busy.status = Status::busy;
    return cb(busy);
  }
  in_free = q->next_free;
  q->kind = kind;
  q->conn_id = 0;
  q->request_id = 0;
  q->status = Status::ok;
  q->message_id = 0;
  q->home = 0;
  q->target = wire::Target{};
  q->target.message_id = message_id;
  q->control_token = next_control_token++;
  control_waiters.emplace(q->control_token, std::move(cb));
  impl.post(*reactor, impl.owner_of_shard(storage::message_shard(message_id)),
            &ShardOwner::on_request, q);
}

void Front::answered(InReq& q) {
  if (q.conn_id == 0 && q.control_token != 0) {
    auto it = control_waiters.find(q.control_token);
    q.control_token = 0;
    if (it != control_waiters.end()) {
      auto cb = std::move(it->second);
      control_waiters.erase(it);
      cb(q);
    }
  } else if (q.conn_id != 0) {
    auto it = clients.find(q.conn_id);
    if (it != clients.end()) {
      Client& c = it->second;
      --c.in_flight;
      const Type type = q.kind == InReq::Kind::submit       ? Type::submit
                        : q.kind == InReq::Kind::cancel     ? Type::cancel
                        : q.kind == InReq::Kind::change_srr ? Type::change_srr
                        : q.kind == InReq::Kind::query      ? Type::query
                                                            : Type::mt_discharge;
      const size_t n =
          type == Type::query
              ? wire::encode_query_response(buf, q.request_id, q.status, q.message_id, q.query)
              : wire::encode_response(buf, type, q.request_id, q.status, q.message_id);
      send_msg(*c.conn, {buf, n});
      if (c.conn->reading_paused() && c.pending.size() < kPendingMax) c.conn->resume_reading();
    }
  }
  give_in(&q);
}

// A handler that leaves a request unanswered for handler_timeout is taken for broken: its
// connection is closed, which returns custody of everything it holds (as when it disconnects).
// Keeping it would let the retry of a message race a late answer to the first try — a late
// "delivered" dropped as an answer to nothing while the message goes out again (issue 15).
void Front::sweep_timeouts() {
  const Nanos t = reactor->clock().now();
  for (uint32_t k = 0; k < pending.size(); ++k) {
    Pending& p = pending[k];
    if (!p.out || p.deadline > t) continue;
    const uint64_t conn_id = p.conn_id;
    CP_LOG_WARN("smsc: connection {}: no answer to {} (request {}) within {} s; closing it",
                conn_id, wire::to_string(p.out->type), p.request_id,
                impl.opt.handler_timeout / kNanosPerSecond);
    p.out->status = Status::temporary_failure;
    finish_pending(k);
    if (auto it = clients.find(conn_id); it != clients.end() && it->second.conn)
      it->second.conn->abort();  // on_close fails the rest of its requests
  }
}

void set_front_numdb(SmscService::Impl& impl, std::shared_ptr<const Numdb> db) {
  impl.front->numdb = std::move(db);
}

void front_tick(SmscService::Impl& impl) {
  if (!impl.front->reactor) return;
  impl.front->sweep_timeouts();
  impl.front->publish_roles();  // outstanding counts move without registrations
}

}  // namespace cp::smsc
