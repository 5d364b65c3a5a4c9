// A bind's connection on the SMPP server: accept, framing, the request dispatch, bind with
// authentication and the per-address failure limit, the sweep (bind timeout, unanswered
// requests, enquire_link) and close. See server_impl.h for the map of the server's files.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "base/constant_time.h"
#include "base/log.h"
#include "services/smpp/convert.h"
#include "services/smpp/server_impl.h"

namespace cp::smpp {

using engine::CloseReason;
using engine::Connection;

std::string_view bind_name(uint8_t type) {
  switch (type) {
    case kBindTx:
      return "tx";
    case kBindRx:
      return "rx";
    case kBindTrx:
      return "trx";
    default:
      return "none";
  }
}

// ---- Session ----------------------------------------------------------------------------------

void Session::on_open(Connection& c) {
  conn = &c;
}

size_t Session::on_data(Connection& c, std::span<const std::byte> data) {
  last_rx = c.reactor().clock().now();
  return consume_frames(
      data, c.reactor().config().rx_buffer_bytes, oversized,
      [&](const pdu::Header& h, std::span<const std::byte> body) {
        if (state == State::closed) return false;
        // A submit beyond the window waits (unread) for answers; what takes no window slot —
        // enquire_link, unbind, a deliver_sm_resp — is still answered while submits are
        // throttled. A peer that does not read what it asked for is not read at all.
        const bool takes_slot =
            h.command_id == pdu::cmd::submit_sm || h.command_id == pdu::cmd::data_sm;
        if ((takes_slot && submits_in_flight >= window()) || tx.over_bound()) {
          c.pause_reading();
          return false;
        }
        shard->handle(*this, h, body);
        return true;
      },
      [&](const pdu::Error& e) {
        // Nothing after a bad command_length can be trusted: answer and close (SMPP 3.4, 2.10).
        shard->shared.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
        CP_LOG_WARN("smpp {}: {}; closing", remote, e.what);
        std::byte buf[pdu::kHeaderBytes];
        send(encode_header_into(buf, pdu::cmd::generic_nack, e.status, 0));
        c.close();
      },
      [&](const pdu::Header& h) {
        shard->shared.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
        CP_LOG_NOTICE(
            "smpp {}: a PDU of {} bytes (command {:#010x}) is longer than this server "
            "takes ({}); answered ESME_RINVMSGLEN",
            remote, h.length, h.command_id, c.reactor().config().rx_buffer_bytes);
        if (!(h.command_id & pdu::cmd::response_bit))
          shard->respond(*this, h.command_id | pdu::cmd::response_bit, pdu::status::invmsglen,
                         h.sequence);
      });
}

void Session::on_writable(Connection& c) {
  tx.flush(c);
  if (tx.empty() && submits_in_flight < window()) c.resume_reading();
}

void Session::send(std::span<const std::byte> pdu) {
  if (state == State::closed) return;
  tx.send(conn, pdu);
  if (tx.empty()) return;
  auto& high = shard->shared.stats.send_backlog_bytes_max;
  if (tx.backlog() > high.load(std::memory_order_relaxed))
    high.store(tx.backlog(), std::memory_order_relaxed);
}

void Session::on_close(Connection&, CloseReason reason, int error) {
  if (state == State::bound || state == State::unbinding)
    CP_LOG_INFO("smpp {}: {} bind of {} closed ({}{}{})", remote, bind_name(bind_type),
                account ? account->system_id : "?", engine::to_string(reason), error ? ": " : "",
                error ? std::strerror(error) : "");
  conn = nullptr;
  shard->closed(*this);
}

// The daemon is stopping: a bound peer hears unbind and the connection closes on its
// unbind_resp (or when the reactor's drain timeout runs out).
bool Session::on_shutdown(Connection& c) {
  if (state != State::bound) return false;
  state = State::unbinding;
  const uint32_t seq = sequences.next();
  out.add(seq, pdu::cmd::unbind, OutRequests::Kind::unbind, c.reactor().clock().now());
  std::byte buf[pdu::kHeaderBytes];
  send(encode_header_into(buf, pdu::cmd::unbind, 0, seq));
  return true;
}

// ---- Shard: connections -----------------------------------------------------------------------

engine::ConnectionHandler* SmppServer::Shard::on_accept(Connection& c) {
  Session* s;
  if (free_sessions.empty()) {
    sessions.push_back(std::make_unique<Session>());
    s = sessions.back().get();
  } else {
    s = free_sessions.back();
    free_sessions.pop_back();
  }
  *s = Session{};
  s->shard = this;
  s->conn = &c;
  s->serial = next_serial++;
  s->remote = c.peer().to_string();
  s->opened_at = s->last_rx = reactor.clock().now();
  live.push_back(s);
  shared.stats.connections.fetch_add(1, std::memory_order_relaxed);
  CP_LOG_DEBUG("smpp {}: connected (core {})", s->remote, reactor.core());
  return s;
}

void SmppServer::Shard::respond(Session& s, uint32_t command, uint32_t status, uint32_t sequence) {
  std::byte buf[pdu::kHeaderBytes];
  s.send(encode_header_into(buf, command, status, sequence));
}

void SmppServer::Shard::handle(Session& s, const pdu::Header& h, std::span<const std::byte> body) {
  if (h.response()) {
    handle_response(s, h);
    return;
  }
  const uint32_t resp = h.command_id | pdu::cmd::response_bit;
  switch (h.command_id) {
    case pdu::cmd::bind_transmitter:
    case pdu::cmd::bind_receiver:
    case pdu::cmd::bind_transceiver:
      handle_bind(s, h, body);
      return;
    case pdu::cmd::enquire_link:
      respond(s, resp, pdu::status::ok, h.sequence);
      return;
    case pdu::cmd::unbind:
      if (s.state == Session::State::open) {
        // Nothing to unbind (SMPP 3.4, 4.2: ESME_RINVBNDSTS); the connection stays.
        respond(s, resp, pdu::status::invbndsts, h.sequence);
        return;
      }
      respond(s, resp, pdu::status::ok, h.sequence);
      if (s.state == Session::State::bound) {
        CP_LOG_INFO("smpp {}: {} unbinds", s.remote, s.account->system_id);
        s.state = Session::State::unbinding;
      }
      // Answers still owed (submits in flight) go out before the close completes.
      if (s.submits_in_flight == 0) s.conn->close();
      return;
    case pdu::cmd::submit_sm:
    case pdu::cmd::data_sm:
      if (s.state != Session::State::bound) {
        respond(s, resp, pdu::status::invbndsts, h.sequence);
        return;
      }
      handle_submit(s, h, body);
      return;
    case pdu::cmd::deliver_sm:
      // What an SMSC sends, never an ESME.
      respond(s, resp, pdu::status::invcmdid, h.sequence);
      return;
    case pdu::cmd::outbind:
    case pdu::cmd::alert_notification:
      // An SMSC's too, and they have no response PDU: generic_nack (SMPP 3.4, 4.3).
      shared.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      respond(s, pdu::cmd::generic_nack, pdu::status::invcmdid, h.sequence);
      return;
    case pdu::cmd::query_sm:
    case pdu::cmd::cancel_sm:
      return handle_target(s, h, body);
    case pdu::cmd::replace_sm:
    case pdu::cmd::submit_multi: {
      // Not offered yet (docs/SMPP.md). Each gets its own failure status.
      uint32_t st =
          h.command_id == pdu::cmd::replace_sm ? pdu::status::replacefail : pdu::status::submitfail;
      if (s.state != Session::State::bound) st = pdu::status::invbndsts;
      respond(s, resp, st, h.sequence);
      return;
    }
    default:
      shared.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      respond(s, pdu::cmd::generic_nack, pdu::status::invcmdid, h.sequence);
      return;
  }
}

// ---- Shard: binds -----------------------------------------------------------------------------

bool SmppServer::Shard::bind_refused_by_rate(const std::string& ip) {
  std::lock_guard lock(shared.failures_mu);
  auto it = shared.failures.find(ip);
  if (it == shared.failures.end()) return false;
  const Nanos now = reactor.clock().now();
  if (now - it->second.since > shared.opt.bind_failure_window) {
    shared.failures.erase(it);
    return false;
  }
  return it->second.count >= shared.opt.bind_failures_max;
}

void SmppServer::Shard::note_bind_failure(const std::string& ip) {
  const Nanos now = reactor.clock().now();
  std::lock_guard lock(shared.failures_mu);
  // Bounded: an address space scan must not grow the table without end.
  if (shared.failures.size() >= 65536 && !shared.failures.count(ip)) shared.failures.clear();
  auto& f = shared.failures[ip];
  if (f.count == 0 || now - f.since > shared.opt.bind_failure_window) {
    f.count = 0;
    f.since = now;
  }
  if (++f.count == shared.opt.bind_failures_max)
    CP_LOG_WARN("smpp: {} failed binds from {}; refusing its binds for {} s", f.count, ip,
                shared.opt.bind_failure_window / kNanosPerSecond);
}

void SmppServer::Shard::handle_bind(Session& s, const pdu::Header& h,
                                    std::span<const std::byte> body) {
  const uint32_t resp = h.command_id | pdu::cmd::response_bit;
  auto answer = [&](uint32_t status, bool interface_version_tlv = false) {
    std::byte buf[pdu::kHeaderBytes + 32];
    s.send(encode_bind_resp_into(buf, resp, status, h.sequence, shared.opt.system_id,
                                 interface_version_tlv));
  };
  if (s.state != Session::State::open) {
    answer(pdu::status::alybnd);
    return;
  }
  const std::string ip = host_of(s.conn->peer());
  if (bind_refused_by_rate(ip)) {
    shared.stats.bind_refused_rate.fetch_add(1, std::memory_order_relaxed);
    answer(pdu::status::bindfail);
    s.conn->close();
    return;
  }
  auto b = pdu::decode_bind(body);
  if (!b) {
    shared.stats.bind_failures.fetch_add(1, std::memory_order_relaxed);
    note_bind_failure(ip);
    CP_LOG_WARN("smpp {}: malformed bind: {}", s.remote, b.error().what);
    answer(b.error().status);
    return;
  }
  const uint8_t type = h.command_id == pdu::cmd::bind_transmitter ? kBindTx
                       : h.command_id == pdu::cmd::bind_receiver  ? kBindRx
                                                                  : kBindTrx;
  std::shared_ptr<const Accounts> accounts;
  {
    std::lock_guard lock(shared.accounts_mu);
    accounts = shared.accounts;
  }
  const Account* a = accounts ? accounts->find(b->system_id) : nullptr;
  uint32_t status = pdu::status::ok;
  std::string_view why;
  if (!a) {
    // Compare anyway, so an unknown system_id takes as long as a wrong password.
    constant_time_equal(b->password, "--------");
    status = pdu::status::invsysid;
    why = "unknown system_id";
  } else if (!constant_time_equal(b->password, a->password)) {
    status = pdu::status::invpaswd;
    why = "wrong password";
  } else if (!a->allowed_from(s.conn->peer())) {
    status = pdu::status::bindfail;
    why = "not allowed from this address";
  } else if ((a->binds & type) == 0) {
    status = pdu::status::bindfail;
    why = "bind type not allowed for the account";
  }
  if (status == pdu::status::ok) {
    std::lock_guard lock(shared.binds_mu);
    uint32_t& n = shared.bind_counts[a->system_id];
    if (n >= a->max_binds) {
      status = pdu::status::bindfail;
      why = "max_binds reached";
    } else {
      ++n;
    }
  }
  if (status != pdu::status::ok) {
    shared.stats.bind_failures.fetch_add(1, std::memory_order_relaxed);
    note_bind_failure(ip);
    CP_LOG_WARN("smpp {}: {} bind as '{}' refused: {}", s.remote, bind_name(type), b->system_id,
                why);
    answer(status);
    return;
  }
  s.accounts = std::move(accounts);
  s.account = a;
  s.bind_type = type;
  s.state = Session::State::bound;
  s.tokens = a->tps;
  s.tokens_at = reactor.clock().now();
  if (numdb) {
    if (auto idx = numdb->peer_index(a->peer)) {
      s.peer_index = *idx;
      s.peer_known = true;
    }
  }
  shared.stats.binds.fetch_add(1, std::memory_order_relaxed);
  CP_LOG_INFO("smpp {}: bound as {} ({}, peer {}, interface version {:#04x}, core {})", s.remote,
              a->system_id, bind_name(type), a->peer, b->interface_version, reactor.core());
  if (!s.peer_known)
    CP_LOG_WARN(
        "smpp: peer {} of account {} is not in the SMSC's peers file: it has no numbers, "
        "so it can neither send (unless any_source) nor receive",
        a->peer, a->system_id);
  answer(pdu::status::ok, b->interface_version >= 0x34);
  bound(s);
}

void SmppServer::Shard::closed(Session& s) {
  fail_out(s);
  unbound(s);
  if (s.state == Session::State::bound || s.state == Session::State::unbinding) {
    std::lock_guard lock(shared.binds_mu);
    auto it = shared.bind_counts.find(s.account->system_id);
    if (it != shared.bind_counts.end() && it->second > 0) --it->second;
  }
  s.state = Session::State::closed;
  s.serial = 0;  // answers still coming for it find no session
  std::erase(live, &s);
  release_if_done(s);
}

// A closed session is reused once the last answer of its submits has come (finish_submit).
void SmppServer::Shard::release_if_done(Session& s) {
  if (s.state != Session::State::closed || s.submits_in_flight != 0) return;
  s.accounts.reset();
  free_sessions.push_back(&s);
}

// ---- Shard: the sweep -------------------------------------------------------------------------

void SmppServer::Shard::on_sweep(engine::Timer&, void* self) {
  auto* shard = static_cast<Shard*>(self);
  shard->sweep();
  shard->reactor.arm_timer(shard->sweep_timer, kServerSweep);
}

void SmppServer::Shard::sweep() {
  if (!replies.empty()) flush_replies();
  const Nanos now = reactor.clock().now();
  numdb = shared.numdb_source();
  for (size_t i = 0; i < live.size(); ++i) {
    Session& s = *live[i];
    if (!s.conn) continue;
    if (s.state == Session::State::open && now - s.opened_at > shared.opt.bind_timeout) {
      // Once: the close lingers until the peer's EOF, and the session stays here meanwhile.
      if (!s.bind_timed_out) {
        s.bind_timed_out = true;
        shared.stats.bind_timeouts.fetch_add(1, std::memory_order_relaxed);
        // A flood of silent connections must not flood the log: a line per 10 s at most.
        if (uint64_t held = 0; bind_timeout_log.pass(now, held))
          CP_LOG_INFO("smpp {}: no bind within {} s; closing ({} more since the last line)",
                      s.remote, shared.opt.bind_timeout / kNanosPerSecond, held);
        s.conn->close();
      }
      continue;
    }
    if (s.state != Session::State::bound) continue;
    switch (keepalive(s.out, now, s.last_rx, shared.opt.response_timeout,
                      shared.opt.enquire_interval)) {
      case KeepaliveAction::give_up:
        CP_LOG_WARN("smpp {}: {} unanswered for {} s; closing the bind", s.remote,
                    s.account->system_id, shared.opt.response_timeout / kNanosPerSecond);
        s.conn->abort();
        break;
      case KeepaliveAction::send_enquire_link: {
        const uint32_t seq = s.sequences.next();
        s.out.add(seq, pdu::cmd::enquire_link, OutRequests::Kind::enquire_link, now);
        respond(s, pdu::cmd::enquire_link, 0, seq);
        break;
      }
      case KeepaliveAction::none:
        break;
    }
  }
  publish();
}

void SmppServer::Shard::publish() {
  std::vector<BindSnapshot> out;
  for (const Session* s : live) {
    if (s->state != Session::State::bound || !s->account) continue;
    BindSnapshot b;
    b.system_id = s->account->system_id;
    b.peer = s->account->peer;
    b.type = bind_name(s->bind_type);
    b.remote = s->remote;
    b.core = reactor.core();
    b.submits_in_flight = s->submits_in_flight;
    b.delivers_in_flight = s->delivers_in_flight();
    out.push_back(std::move(b));
  }
  std::lock_guard lock(snapshot_mu);
  snapshot = std::move(out);
}

}  // namespace cp::smpp
