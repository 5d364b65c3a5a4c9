#include "services/smpp/server.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <unordered_map>

#include <fmt/format.h>

#include "base/assert.h"
#include "base/log.h"
#include "proto/smpp/coding.h"
#include "proto/smpp/pdu.h"
#include "services/smpp/convert.h"
#include "services/smsc/link.h"
#include "services/smsc/nanp.h"

namespace cp::smpp {

namespace pdu = proto::smpp;
namespace wire = smsc::wire;
using engine::CloseReason;
using engine::Connection;

namespace {

constexpr Nanos kSweep = 250 * kNanosPerMilli;
constexpr size_t kSegmentsMax = 255;

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

}  // namespace

struct SmppServer::Shared {
  ServerOptions opt;
  ServerStats& stats;
  NumdbSource numdb_source;
  unsigned cores;
  mutable std::mutex mu;  // guards everything below
  std::shared_ptr<const Accounts> accounts;
  std::unordered_map<std::string, uint32_t> bind_counts;  // by system_id
  std::vector<Shard*> shards;
  SocketAddress bound;
  std::condition_variable bound_cv;
  struct Failures {
    uint32_t count = 0;
    Nanos since = 0;
  };
  std::unordered_map<std::string, Failures> failures;  // failed binds by remote IP
  // Receiver-capable binds of each peer (by peer index) on each core: where the role holder
  // may hand deliveries.
  std::unordered_map<uint16_t, std::vector<uint32_t>> rx_binds;

  Shared(ServerOptions o, ServerStats& s, NumdbSource n, unsigned c)
      : opt(std::move(o)), stats(s), numdb_source(std::move(n)), cores(c), shards(c, nullptr) {}
};

struct Session;
struct PeerRole;

// A submit_sm (or later data_sm) being entered into the core: one SUBMIT per segment.
struct PendingSubmit {
  Session* session = nullptr;
  uint64_t session_serial = 0;
  uint32_t sequence = 0;
  uint32_t command = 0;  // the response's command id
  uint16_t total = 0;
  uint16_t answered = 0;
  uint32_t status = pdu::status::ok;
  uint64_t first_id = 0;
  std::vector<uint64_t> accepted;  // multi-segment only: ids to cancel if another fails
  uint32_t generation = 0;
  bool used = false;
};

// A delivery the core gave the shard holding a peer's role, handed to another shard's bind of
// that peer (so a peer's binds on every core share its load) and answered back.
struct Forward {
  wire::Message m;
  unsigned holder = 0;  // the core whose role link must answer the core
  unsigned target = 0;
  uint16_t peer = 0;
  wire::Status status = wire::Status::temporary_failure;
  uint32_t extra = 0;
};

// A request of ours on a session, waiting for its response.
struct OutRequest {
  uint32_t sequence = 0;
  bool deliver = false;  // deliver_sm (else enquire_link or unbind)
  bool unbind = false;   // our unbind at shutdown
  bool receipt = false;
  uint64_t core_rid = 0;  // the DELIVER_TO_PEER it carries
  PeerRole* role = nullptr;
  Forward* forward = nullptr;  // a delivery for another core's role
  Nanos sent_at = 0;
};

struct Session final : engine::ConnectionHandler {
  SmppServer::Shard* shard = nullptr;
  Connection* conn = nullptr;
  uint64_t serial = 0;  // unique per shard, so late answers for a recycled session are dropped
  enum class State : uint8_t { open, bound, unbinding, closed } state = State::open;
  uint8_t bind_type = 0;
  std::shared_ptr<const Accounts> accounts;  // keeps `account` alive
  const Account* account = nullptr;
  uint16_t peer_index = 0;
  bool peer_known = false;
  std::string remote;
  Nanos opened_at = 0;
  Nanos last_rx = 0;
  uint32_t submits_in_flight = 0;
  double tokens = 0;
  Nanos tokens_at = 0;
  uint32_t next_sequence = 1;
  std::vector<OutRequest> out;        // our requests awaiting responses (small: the window)
  std::vector<std::byte> tx_pending;  // PDUs the connection had no room for
  PeerRole* role = nullptr;           // receiver-capable: the role of its peer on this shard

  bool can_receive() const { return bind_type == kBindRx || bind_type == kBindTrx; }
  bool can_transmit() const { return bind_type == kBindTx || bind_type == kBindTrx; }
  uint32_t window() const { return account ? account->window : 1; }
  uint32_t delivers_in_flight() const {
    uint32_t n = 0;
    for (const auto& o : out) n += o.deliver ? 1 : 0;
    return n;
  }

  void on_open(Connection& c) override;
  size_t on_data(Connection& c, std::span<const std::byte> data) override;
  void on_writable(Connection& c) override;
  void on_close(Connection& c, CloseReason reason, int error) override;
  bool on_shutdown(Connection& c) override;
  void send(std::span<const std::byte> pdu);
  void flush();
  uint32_t take_sequence() {
    const uint32_t s = next_sequence;
    next_sequence = next_sequence >= 0x7FFFFFFF ? 1 : next_sequence + 1;
    return s;
  }
};

// The role for one peer on one shard: a CoreLink registered as that peer's delivery handler
// while the shard has receiver-capable binds of it.
struct PeerRole final : smsc::CoreLinkUser {
  SmppServer::Shard* shard = nullptr;
  uint16_t peer_index = 0;
  std::string peer;
  std::unique_ptr<smsc::CoreLink> link;
  std::vector<Session*> binds;
  size_t next = 0;
  std::deque<wire::Message> waiting;  // deliveries no bind had room for
  std::vector<uint32_t> forwarded;    // deliveries out on each other core's binds
  uint64_t turn = 0;

  void on_core_response(const wire::Message&, uint64_t) override {}
  void on_core_request(const wire::Message& m) override;
  void on_core_link(bool up) override;
  void dispatch();
  // Sends one delivery on a local bind with room; false when there is none.
  bool deliver_local(const wire::Message& m, Forward* forward);
  void answer(uint64_t rid, wire::Status status, uint32_t extra = 0);
};

struct SmppServer::Shard final : engine::Acceptor, smsc::CoreLinkUser {
  Shared& shared;
  engine::Reactor& reactor;
  std::unique_ptr<smsc::CoreLink> link;  // submits
  std::vector<std::unique_ptr<Session>> sessions;
  std::vector<Session*> free_sessions;
  std::vector<Session*> live;
  uint64_t next_serial = 1;
  std::vector<PendingSubmit> pending;
  std::vector<uint32_t> pending_free;
  std::unordered_map<uint16_t, std::unique_ptr<PeerRole>> roles;
  std::shared_ptr<const smsc::Numdb> numdb;
  std::vector<pdu::SmsSegment> segments{kSegmentsMax};
  engine::Timer sweep_timer;
  uint16_t concat_ref = 1;
  std::mutex snapshot_mu;
  std::vector<BindSnapshot> snapshot;

  Shard(Shared& s, engine::Reactor& r) : shared(s), reactor(r) {}

  // engine::Acceptor
  engine::ConnectionHandler* on_accept(Connection& c) override;
  // smsc::CoreLinkUser (the submit link)
  void on_core_response(const wire::Message& m, uint64_t cookie) override;
  void on_core_link(bool up) override;

  void handle(Session& s, const pdu::Header& h, std::span<const std::byte> body);
  void handle_bind(Session& s, const pdu::Header& h, std::span<const std::byte> body);
  void handle_submit(Session& s, const pdu::Header& h, std::span<const std::byte> body);
  void handle_response(Session& s, const pdu::Header& h, std::span<const std::byte> body);
  void respond(Session& s, uint32_t command, uint32_t status, uint32_t sequence);
  void respond_id(Session& s, uint32_t command, uint32_t status, uint32_t sequence,
                  uint64_t message_id);
  void finish_submit(uint32_t index);
  bool bind_refused_by_rate(const std::string& ip);
  void note_bind_failure(const std::string& ip);
  void bound(Session& s);
  void closed(Session& s);
  void fail_out(Session& s);
  void delivery_done(const OutRequest& o, wire::Status status, uint32_t extra);
  void flush_replies();
  std::vector<engine::CrossCoreMessage> replies;  // forward answers waiting for ring room
  static void on_forward(engine::Reactor& r, const engine::CrossCoreMessage& msg);
  static void on_forward_done(engine::Reactor& r, const engine::CrossCoreMessage& msg);
  void sweep();
  void publish();
  static void on_sweep(engine::Timer&, void* self) {
    auto* shard = static_cast<Shard*>(self);
    shard->sweep();
    shard->reactor.arm_timer(shard->sweep_timer, kSweep);
  }
};

// ---- Session ----------------------------------------------------------------------------------

void Session::on_open(Connection& c) {
  conn = &c;
}

size_t Session::on_data(Connection& c, std::span<const std::byte> data) {
  last_rx = c.reactor().clock().now();
  size_t used = 0;
  while (state != State::closed) {
    const auto rest = data.subspan(used);
    auto len = pdu::frame_length(rest);
    if (!len) {
      // Nothing after a bad command_length can be trusted: answer and close (SMPP 3.4, 2.10).
      shard->shared.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      CP_LOG_WARN("smpp {}: {}; closing", remote, len.error().what);
      std::byte buf[pdu::kHeaderBytes];
      auto nack = encode_header_into(buf, pdu::cmd::generic_nack, len.error().status, 0);
      send(nack);
      c.close();
      return data.size();
    }
    if (!*len || rest.size() < **len) break;
    // A transmitter at its window waits for answers before it is read further.
    if (submits_in_flight >= window()) {
      c.pause_reading();
      break;
    }
    const auto one = rest.first(**len);
    used += **len;
    auto h = pdu::decode_header(one);
    if (!h) continue;  // frame_length already checked the only thing decode_header does
    shard->handle(*this, *h, one.subspan(pdu::kHeaderBytes));
  }
  return used;
}

void Session::on_writable(Connection& c) {
  flush();
  if (tx_pending.empty() && submits_in_flight < window()) c.resume_reading();
}

void Session::send(std::span<const std::byte> bytes) {
  if (state == State::closed || !conn) return;
  if (tx_pending.empty() && conn->send(bytes)) return;
  tx_pending.insert(tx_pending.end(), bytes.begin(), bytes.end());
  conn->wait_writable();
}

void Session::flush() {
  if (!conn || tx_pending.empty()) return;
  const size_t n = std::min(tx_pending.size(), conn->send_room());
  if (n == 0) {
    conn->wait_writable();
    return;
  }
  // Partial PDUs are fine here: the stream is TCP.
  if (!conn->send({tx_pending.data(), n})) {
    conn->wait_writable();
    return;
  }
  tx_pending.erase(tx_pending.begin(), tx_pending.begin() + static_cast<long>(n));
  if (!tx_pending.empty()) conn->wait_writable();
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
  OutRequest o;
  o.sequence = take_sequence();
  o.unbind = true;
  o.sent_at = c.reactor().clock().now();
  out.push_back(o);
  std::byte buf[pdu::kHeaderBytes];
  send(encode_header_into(buf, pdu::cmd::unbind, 0, o.sequence));
  return true;
}

// ---- PeerRole ---------------------------------------------------------------------------------

void PeerRole::on_core_link(bool up) {
  if (up) {
    CP_LOG_INFO("smpp: delivering to peer {} from core {} ({} binds)", peer, shard->reactor.core(),
                binds.size());
    link->set_service_up(true);
  }
  if (!up) {
    // The core retakes custody of whatever it had handed over; drop our copies.
    waiting.clear();
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
        s->tx_pending.size() < 65536) {
      target = s;
      next = (next + i + 1) % binds.size();
    }
  }
  if (!target) return false;
  OutPdu out;
  const uint32_t seq = target->take_sequence();
  auto built = build_deliver(m.submit.record, {target->account->dc0, target->account->concat_sar},
                             seq, pdu::cmd::deliver_sm, out);
  OutRequest o;
  o.role = this;
  o.forward = forward;
  o.core_rid = m.header.request_id;
  if (!built) {
    CP_LOG_WARN("smpp: message {:#x} for peer {} cannot be sent over SMPP: {}; failed",
                m.submit.record.message_id, peer, built.error().what);
    shard->delivery_done(o, wire::Status::permanent_failure, built.error().status);
    return true;
  }
  o.sequence = seq;
  o.deliver = true;
  o.receipt = *built;
  o.sent_at = shard->reactor.clock().now();
  target->out.push_back(o);
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
      std::lock_guard lock(shard->shared.mu);
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
      } else if (forwarded[core] < counts[core] * 64) {
        auto* f = new Forward{waiting.front(), here, core, peer_index};
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

// ---- Shard ------------------------------------------------------------------------------------

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

void SmppServer::Shard::respond_id(Session& s, uint32_t command, uint32_t status, uint32_t sequence,
                                   uint64_t message_id) {
  std::byte buf[pdu::kHeaderBytes + 32];
  s.send(encode_id_resp_into(buf, command, status, sequence, message_id));
}

void SmppServer::Shard::handle(Session& s, const pdu::Header& h, std::span<const std::byte> body) {
  if (h.response()) {
    handle_response(s, h, body);
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
    case pdu::cmd::outbind:
    case pdu::cmd::alert_notification:
      // What an SMSC sends, never an ESME.
      respond(s, resp, pdu::status::invcmdid, h.sequence);
      return;
    case pdu::cmd::query_sm:
    case pdu::cmd::cancel_sm:
    case pdu::cmd::replace_sm:
    case pdu::cmd::submit_multi: {
      // Not offered (docs/SMPP.md): the core's socket cannot tell whether a message id is this
      // peer's own, and submit_multi fans out nothing yet. Each gets its own failure status.
      uint32_t st = h.command_id == pdu::cmd::query_sm     ? pdu::status::queryfail
                    : h.command_id == pdu::cmd::cancel_sm  ? pdu::status::cancelfail
                    : h.command_id == pdu::cmd::replace_sm ? pdu::status::replacefail
                                                           : pdu::status::submitfail;
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

bool SmppServer::Shard::bind_refused_by_rate(const std::string& ip) {
  std::lock_guard lock(shared.mu);
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
  std::lock_guard lock(shared.mu);
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
  auto answer = [&](uint32_t status) {
    std::byte buf[pdu::kHeaderBytes + 32];
    s.send(encode_bind_resp_into(buf, resp, status, h.sequence, shared.opt.system_id));
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
    std::lock_guard lock(shared.mu);
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
    std::lock_guard lock(shared.mu);
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
  answer(pdu::status::ok);
  bound(s);
}

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
    std::lock_guard lock(shared.mu);
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
    role->link = std::make_unique<smsc::CoreLink>(
        reactor, *SocketAddress::parse("unix:" + shared.opt.core_socket), lo, *role);
    role->link->set_service_up(true);
  }
  if (role->link->stopped()) role->link->start();
  role->dispatch();
}

void SmppServer::Shard::delivery_done(const OutRequest& o, wire::Status status, uint32_t extra) {
  if (!o.forward) {
    o.role->answer(o.core_rid, status, extra);
    return;
  }
  Forward* f = o.forward;
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
  OutRequest o;
  o.forward = f;
  o.core_rid = f->m.header.request_id;
  auto it = self->roles.find(f->peer);
  // No bind with room here (any more): bounced, the holder keeps it (`busy` never reaches the
  // core).
  if (it == self->roles.end() || !it->second->deliver_local(f->m, f))
    self->delivery_done(o, wire::Status::busy, 0);
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
    if (f->status == wire::Status::busy) {
      if (!role.deliver_local(f->m, nullptr)) role.waiting.push_front(f->m);
    } else {
      role.answer(f->m.header.request_id, f->status, f->extra);
    }
    delete f;
    role.dispatch();
    return;
  }
  delete f;
}

void SmppServer::Shard::fail_out(Session& s) {
  for (const OutRequest& o : s.out) {
    if (!o.deliver) continue;
    shared.stats.deliver_errors.fetch_add(1, std::memory_order_relaxed);
    delivery_done(o, wire::Status::temporary_failure, 0);
  }
  s.out.clear();
}

void SmppServer::Shard::closed(Session& s) {
  fail_out(s);
  if (s.role) {
    PeerRole* role = s.role;
    std::erase(role->binds, &s);
    s.role = nullptr;
    {
      std::lock_guard lock(shared.mu);
      auto& counts = shared.rx_binds[role->peer_index];
      if (counts.size() > reactor.core() && counts[reactor.core()] > 0) --counts[reactor.core()];
    }
    if (role->binds.empty() && role->link) {
      CP_LOG_INFO("smpp: no receiver bind of peer {} left on core {}; releasing its deliveries",
                  role->peer, reactor.core());
      // Stopped, not destroyed: the connection may still call it until its close completes.
      role->link->stop();
      role->waiting.clear();
    } else {
      role->dispatch();
    }
  }
  if (s.state == Session::State::bound || s.state == Session::State::unbinding) {
    std::lock_guard lock(shared.mu);
    auto it = shared.bind_counts.find(s.account->system_id);
    if (it != shared.bind_counts.end() && it->second > 0) --it->second;
  }
  s.state = Session::State::closed;
  s.serial = 0;  // answers still coming for it find no session
  std::erase(live, &s);
  if (s.submits_in_flight == 0) {
    s.accounts.reset();
    free_sessions.push_back(&s);
  }
  // else: the last answer of its submits frees it (finish_submit).
}

void SmppServer::Shard::handle_submit(Session& s, const pdu::Header& h,
                                      std::span<const std::byte> body) {
  const uint32_t resp = h.command_id | pdu::cmd::response_bit;
  auto refuse = [&](uint32_t status, std::string_view why) {
    shared.stats.submit_errors.fetch_add(1, std::memory_order_relaxed);
    CP_LOG_DEBUG("smpp {}: {} {} refused: {}", s.remote, pdu::command_name(h.command_id),
                 h.sequence, why);
    respond(s, resp, status, h.sequence);
  };
  if (!s.can_transmit()) return refuse(pdu::status::invbndsts, "a receiver bind");
  if (s.account->tps > 0) {
    const Nanos now = reactor.clock().now();
    s.tokens = std::min<double>(s.account->tps, s.tokens + static_cast<double>(now - s.tokens_at) *
                                                               s.account->tps / kNanosPerSecond);
    s.tokens_at = now;
    if (s.tokens < 1) return refuse(pdu::status::throttled, "over the account's tps");
    s.tokens -= 1;
  }
  if (!link || !link->up()) return refuse(pdu::status::throttled, "the SMSC core is not reachable");
  // data_sm (4.7.1) is submit_sm with its text in message_payload and fewer fields.
  Result<pdu::ShortMessage, pdu::Error> m = fail(pdu::Error{});
  if (h.command_id == pdu::cmd::data_sm) {
    auto d = pdu::decode_data_sm(body);
    if (!d) return refuse(d.error().status, d.error().what);
    pdu::ShortMessage sm;
    sm.service_type = d->service_type;
    sm.source_addr_ton = d->source.ton;
    sm.source_addr_npi = d->source.npi;
    sm.source_addr = d->source.addr;
    sm.dest_addr_ton = d->dest.ton;
    sm.dest_addr_npi = d->dest.npi;
    sm.destination_addr = d->dest.addr;
    sm.esm_class = d->esm_class;
    sm.registered_delivery = d->registered_delivery;
    sm.data_coding = d->data_coding;
    sm.tlvs = d->tlvs;
    if (!pdu::find_tlv(sm.tlvs, pdu::tag::message_payload))
      return refuse(pdu::status::missingoptparam, "data_sm without message_payload");
    m = sm;
  } else {
    m = pdu::decode_short_message(body);
  }
  if (!m) return refuse(m.error().status, m.error().what);
  InboundPolicy policy;
  policy.dc0 = s.account->dc0;
  policy.src_class = storage::SmeClass::downstream;
  if (s.peer_known) policy.src_peer = s.peer_index;
  policy.check_source_owner = !s.account->any_source;
  policy.untrusted = !s.account->trusted;
  auto in = to_submits(*m, policy, numdb.get(), reactor.clock().wall_now() / kNanosPerSecond,
                       concat_ref++, segments);
  if (!in) return refuse(in.error().status, in.error().what);
  // Without a user_message_reference, the sequence number tells two equal texts apart (the
  // core's duplicate check keys on the reference).
  if (!pdu::find_tlv(m->tlvs, pdu::tag::user_message_reference))
    in->base.record.message_ref = static_cast<uint16_t>(h.sequence);
  if (pending_free.empty() || link->in_flight() + in->count > 4096 || !link->can_send())
    return refuse(pdu::status::throttled, "too many submits in flight");
  const uint32_t index = pending_free.back();
  pending_free.pop_back();
  PendingSubmit& p = pending[index];
  p.used = true;
  p.session = &s;
  p.session_serial = s.serial;
  p.sequence = h.sequence;
  p.command = resp;
  p.total = static_cast<uint16_t>(in->count);
  p.answered = 0;
  p.status = pdu::status::ok;
  p.first_id = 0;
  p.accepted.clear();
  ++p.generation;
  ++s.submits_in_flight;
  const uint64_t cookie = (uint64_t{p.generation} << 32) | index;
  std::byte buf[wire::kMessageMax];
  for (size_t i = 0; i < in->count; ++i) {
    wire::Submit sub = in->base;
    fill_segment(sub.record, segments[i]);
    const size_t n = wire::encode_submit(buf, 0, sub);
    if (!link->send({buf, n}, cookie)) {
      // Out of room half way: the rest counts as refused.
      p.status = pdu::status::throttled;
      p.answered = static_cast<uint16_t>(p.answered + (in->count - i));
      break;
    }
  }
  if (p.answered == p.total) finish_submit(index);
}

void SmppServer::Shard::on_core_response(const wire::Message& m, uint64_t cookie) {
  const uint32_t index = static_cast<uint32_t>(cookie);
  if (index >= pending.size()) return;
  PendingSubmit& p = pending[index];
  if (!p.used || p.generation != static_cast<uint32_t>(cookie >> 32)) return;
  ++p.answered;
  const wire::Status st = m.header.status;
  if (st == wire::Status::ok || st == wire::Status::duplicate) {
    if (p.first_id == 0) p.first_id = m.message_id;
    if (p.total > 1) p.accepted.push_back(m.message_id);
  } else if (p.status == pdu::status::ok) {
    p.status = smpp_status_of(st);
  }
  if (p.answered == p.total) finish_submit(index);
}

void SmppServer::Shard::finish_submit(uint32_t index) {
  PendingSubmit& p = pending[index];
  Session& s = *p.session;
  if (p.status != pdu::status::ok && !p.accepted.empty()) {
    // A long message is all or nothing: withdraw the segments already stored, so the peer's
    // retry of the whole message leaves no orphans.
    std::byte buf[wire::kMessageMax];
    for (uint64_t id : p.accepted) {
      wire::Target t;
      t.message_id = id;
      link->send({buf, wire::encode_target(buf, wire::Type::cancel, 0, t)}, ~uint64_t{0});
    }
  }
  if (s.serial == p.session_serial && s.state != Session::State::closed) {
    if (p.status == pdu::status::ok) {
      shared.stats.submits.fetch_add(1, std::memory_order_relaxed);
      respond_id(s, p.command, pdu::status::ok, p.sequence, p.first_id);
    } else {
      shared.stats.submit_errors.fetch_add(1, std::memory_order_relaxed);
      respond(s, p.command, p.status, p.sequence);
    }
  }
  --s.submits_in_flight;
  if (s.state == Session::State::closed && s.submits_in_flight == 0) {
    s.accounts.reset();
    free_sessions.push_back(&s);
  } else if (s.state == Session::State::unbinding && s.submits_in_flight == 0 && s.conn) {
    s.conn->close();
  } else if (s.conn && s.conn->reading_paused() && s.submits_in_flight < s.window() &&
             s.tx_pending.empty()) {
    s.conn->resume_reading();
  }
  p.used = false;
  p.session = nullptr;
  p.accepted.clear();
  pending_free.push_back(index);
}

void SmppServer::Shard::on_core_link(bool up) {
  if (up)
    CP_LOG_INFO("smpp: core {} connected to the SMSC core", reactor.core());
  else if (!reactor.stop_requested())
    CP_LOG_WARN("smpp: core {} lost the SMSC core; submits are answered ESME_RTHROTTLED",
                reactor.core());
}

void SmppServer::Shard::handle_response(Session& s, const pdu::Header& h,
                                        std::span<const std::byte>) {
  auto it = std::find_if(s.out.begin(), s.out.end(),
                         [&](const OutRequest& o) { return o.sequence == h.sequence; });
  if (it == s.out.end()) {
    if (h.command_id != pdu::cmd::generic_nack)
      CP_LOG_DEBUG("smpp {}: a response to no request of ours (seq {})", s.remote, h.sequence);
    return;
  }
  const OutRequest o = *it;
  s.out.erase(it);
  if (o.unbind) {
    CP_LOG_INFO("smpp {}: {} unbound (shutdown)", s.remote, s.account->system_id);
    s.conn->close();
    return;
  }
  if (!o.deliver) return;  // enquire_link_resp: last_rx already moved
  if (h.command_status == pdu::status::ok) {
    shared.stats.delivers.fetch_add(1, std::memory_order_relaxed);
    if (o.receipt) shared.stats.receipts.fetch_add(1, std::memory_order_relaxed);
    delivery_done(o, wire::Status::ok, 0);
  } else {
    shared.stats.deliver_errors.fetch_add(1, std::memory_order_relaxed);
    const bool temporary =
        h.command_status == pdu::status::throttled || h.command_status == pdu::status::msgqful ||
        h.command_status == pdu::status::syserr || h.command_id == pdu::cmd::generic_nack;
    CP_LOG_INFO("smpp {}: deliver_sm refused with {:#x} ({})", s.remote, h.command_status,
                temporary ? "retried later" : "failed");
    delivery_done(o, temporary ? wire::Status::temporary_failure : wire::Status::permanent_failure,
                  h.command_status);
  }
  if (s.role) s.role->dispatch();
}

void SmppServer::Shard::sweep() {
  if (!replies.empty()) flush_replies();
  const Nanos now = reactor.clock().now();
  numdb = shared.numdb_source();
  for (size_t i = 0; i < live.size(); ++i) {
    Session& s = *live[i];
    if (!s.conn) continue;
    if (s.state == Session::State::open && now - s.opened_at > shared.opt.bind_timeout) {
      CP_LOG_INFO("smpp {}: no bind within {} s; closing", s.remote,
                  shared.opt.bind_timeout / kNanosPerSecond);
      s.conn->close();
      continue;
    }
    if (s.state != Session::State::bound) continue;
    bool timed_out = false;
    for (const OutRequest& o : s.out)
      if (now - o.sent_at > shared.opt.response_timeout) timed_out = true;
    if (timed_out) {
      CP_LOG_WARN("smpp {}: {} unanswered for {} s; closing the bind", s.remote,
                  s.account->system_id, shared.opt.response_timeout / kNanosPerSecond);
      s.conn->abort();
      continue;
    }
    const bool enquiring =
        std::any_of(s.out.begin(), s.out.end(), [](const OutRequest& o) { return !o.deliver; });
    if (!enquiring && now - s.last_rx > shared.opt.enquire_interval) {
      OutRequest o;
      o.sequence = s.take_sequence();
      o.sent_at = now;
      s.out.push_back(o);
      std::byte buf[pdu::kHeaderBytes];
      s.send(encode_header_into(buf, pdu::cmd::enquire_link, 0, o.sequence));
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

// ---- SmppServer -------------------------------------------------------------------------------

SmppServer::SmppServer(ServerOptions options, std::shared_ptr<const Accounts> accounts,
                       NumdbSource numdb, unsigned cores)
    : shared_(std::make_unique<Shared>(std::move(options), stats_, std::move(numdb), cores)) {
  shared_->accounts = std::move(accounts);
}

SmppServer::~SmppServer() {
  for (Shard* s : shared_->shards) delete s;
}

Result<void, std::string> SmppServer::start_on_core(engine::Reactor& reactor) {
  const unsigned core = reactor.core();
  CP_ASSERT(core < shared_->cores);
  auto* shard = new Shard(*shared_, reactor);
  {
    std::lock_guard lock(shared_->mu);
    shared_->shards[core] = shard;
  }
  shard->numdb = shared_->numdb_source();
  shard->pending.resize(4096);
  for (uint32_t i = 4096; i-- > 0;) shard->pending_free.push_back(i);
  smsc::CoreLinkOptions lo;
  lo.name = fmt::format("smpp core link (core {})", core);
  shard->link = std::make_unique<smsc::CoreLink>(
      reactor, *SocketAddress::parse("unix:" + shared_->opt.core_socket), lo, *shard);
  shard->link->start();
  SocketAddress addr = shared_->opt.listen;
  if (core != 0 && addr.port() == 0) {
    // Port 0: every reactor listens where reactor 0 bound (its setup runs at the same time).
    std::unique_lock lock(shared_->mu);
    if (!shared_->bound_cv.wait_for(lock, std::chrono::seconds(10),
                                    [&] { return shared_->bound.port() != 0; }))
      return fail(std::string("smpp: reactor 0 did not bind its listener"));
    addr = shared_->bound;
  }
  auto bound = reactor.listen(addr, *shard);
  if (!bound) return fail("smpp: listen on " + addr.to_string() + ": " + bound.error());
  if (core == 0) {
    std::lock_guard lock(shared_->mu);
    shared_->bound = *bound;
    shared_->bound_cv.notify_all();
    CP_LOG_INFO("smpp: server listening on {}", bound->to_string());
  }
  shard->sweep_timer.set_callback(&Shard::on_sweep, shard);
  reactor.arm_timer(shard->sweep_timer, kSweep);
  return {};
}

void SmppServer::set_accounts(std::shared_ptr<const Accounts> accounts) {
  std::lock_guard lock(shared_->mu);
  shared_->accounts = std::move(accounts);
}

std::shared_ptr<const Accounts> SmppServer::accounts() const {
  std::lock_guard lock(shared_->mu);
  return shared_->accounts;
}

SocketAddress SmppServer::bound_address() const {
  std::lock_guard lock(shared_->mu);
  return shared_->bound;
}

std::vector<BindSnapshot> SmppServer::binds() const {
  std::vector<BindSnapshot> out;
  std::lock_guard lock(shared_->mu);
  for (Shard* s : shared_->shards) {
    if (!s) continue;
    std::lock_guard l2(s->snapshot_mu);
    out.insert(out.end(), s->snapshot.begin(), s->snapshot.end());
  }
  return out;
}

}  // namespace cp::smpp
