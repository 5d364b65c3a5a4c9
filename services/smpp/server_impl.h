// The SMPP server's insides, shared by its files (not for other users of the server):
//   server_session.cc   a bind's connection: accept, framing, bind and authentication, the
//                       per-address failure limit, the sweep (timeouts, enquire_link), close
//   server_submit.cc    the submit pipeline: submit_sm / data_sm -> SUBMITs -> submit_sm_resp
//   server_requests.cc  query_sm, cancel_sm: QUERY / CANCEL of the peer's own messages
//   server_delivery.cc  peer delivery: the peer's role on a shard, deliveries spread over its
//                       binds on every core (cross-core forwards), deliver_sm responses
//   server.cc           SmppServer: start on each core, accounts, snapshots
// The connection mechanics both SMPP ends share are in session.h.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/log_throttle.h"
#include "proto/smpp/coding.h"
#include "proto/smpp/pdu.h"
#include "services/smpp/server.h"
#include "services/smpp/session.h"
#include "services/smsc/link.h"

namespace cp::smpp {

namespace pdu = proto::smpp;
namespace wire = smsc::wire;

constexpr Nanos kServerSweep = 250 * kNanosPerMilli;
constexpr size_t kSegmentsMax = 255;
constexpr uint32_t kSubmitsInFlightMax = 4096;  // per shard, over all its binds
constexpr size_t kDeliverBacklogMax = 65536;    // a bind with more unsent bytes gets no delivery
constexpr uint32_t kForwardsPerBindMax = 64;    // deliveries out on another core's bind

std::string_view bind_name(uint8_t type);
// Where the SMSC core listens: its socket, or a test's stream address.
inline SocketAddress core_address(const ServerOptions& o) {
  return o.core_stream ? *o.core_stream : *SocketAddress::parse("unix:" + o.core_socket);
}

// What all shards share. Each mutex guards its own group; none is held while calling out.
struct SmppServer::Shared {
  ServerOptions opt;
  ServerStats& stats;
  NumdbSource numdb_source;
  unsigned cores;

  mutable std::mutex accounts_mu;
  std::shared_ptr<const Accounts> accounts;

  // Open binds per system_id (max_binds), and the receiver-capable binds of each peer (by peer
  // index) on each core: where a role holder may hand deliveries.
  mutable std::mutex binds_mu;
  std::unordered_map<std::string, uint32_t> bind_counts;
  std::unordered_map<uint16_t, std::vector<uint32_t>> rx_binds;

  // Failed binds by remote IP (the per-address limit).
  struct Failures {
    uint32_t count = 0;
    Nanos since = 0;
  };
  std::mutex failures_mu;
  std::unordered_map<std::string, Failures> failures;

  // Set while starting: the shards, and the address reactor 0 bound.
  mutable std::mutex start_mu;
  std::vector<Shard*> shards;
  SocketAddress bound;
  std::condition_variable bound_cv;

  Shared(ServerOptions o, ServerStats& s, NumdbSource n, unsigned c)
      : opt(std::move(o)), stats(s), numdb_source(std::move(n)), cores(c), shards(c, nullptr) {}
};

struct Session;
struct PeerRole;

// A delivery the core gave the shard holding a peer's role, handed to another shard's bind of
// that peer (so a peer's binds on every core share its load) and answered back.
struct Forward {
  wire::Message m;
  unsigned holder = 0;  // the core whose role link must answer the core
  unsigned target = 0;
  uint16_t peer = 0;
  uint64_t epoch = 0;  // the holder's role link session it came from (PeerRole::epoch)
  wire::Status status = wire::Status::temporary_failure;
  uint32_t extra = 0;
};

// What one of our deliver_sm carries until its response.
struct Delivery {
  bool receipt = false;
  uint64_t core_rid = 0;  // the DELIVER_TO_PEER it carries
  uint64_t epoch = 0;     // the role link session it came from (PeerRole::epoch)
  PeerRole* role = nullptr;
  Forward* forward = nullptr;  // a delivery for another core's role
};
using OutRequests = Outstanding<Delivery>;

// A query_sm / cancel_sm waiting for the core's answer (by index; their cookies on the submit
// link have kRequestCookie set, so they are told from the submits' answers).
struct PeerRequest {
  Session* session = nullptr;
  uint64_t session_serial = 0;
  uint64_t message_id = 0;
  uint32_t sequence = 0;
  uint32_t command = 0;  // query_sm or cancel_sm
  uint32_t generation = 0;
  bool used = false;
};
constexpr uint64_t kRequestCookie = uint64_t{1} << 63;
constexpr uint32_t kPeerRequestsMax = 1024;  // per shard

// Where a submit's answer goes (by the SegmentedSubmits index).
struct SubmitOrigin {
  Session* session = nullptr;
  uint64_t session_serial = 0;
  uint32_t sequence = 0;
  uint32_t command = 0;  // the response's command id
};

struct Session final : engine::ConnectionHandler {
  SmppServer::Shard* shard = nullptr;
  engine::Connection* conn = nullptr;
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
  bool bind_timed_out = false;  // closed for not binding in time (logged once)
  double tokens = 0;
  Nanos tokens_at = 0;
  SequenceCounter sequences;
  OutRequests out;           // our requests awaiting responses (small: the window)
  SendQueue tx;              // PDUs the connection had no room for
  OversizedPdu oversized;    // a PDU too long to hold, being skipped
  PeerRole* role = nullptr;  // receiver-capable: the role of its peer on this shard

  bool can_receive() const { return bind_type == kBindRx || bind_type == kBindTrx; }
  bool can_transmit() const { return bind_type == kBindTx || bind_type == kBindTrx; }
  uint32_t window() const { return account ? account->window : 1; }
  uint32_t delivers_in_flight() const { return out.count(OutRequests::Kind::request); }

  void on_open(engine::Connection& c) override;
  size_t on_data(engine::Connection& c, std::span<const std::byte> data) override;
  void on_writable(engine::Connection& c) override;
  void on_close(engine::Connection& c, engine::CloseReason reason, int error) override;
  bool on_shutdown(engine::Connection& c) override;
  void send(std::span<const std::byte> pdu);
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
  // Counts the role link's sessions: it moves on whenever the link goes down or is stopped,
  // when the core takes back everything it had handed over. A delivery from an earlier session
  // (an answer, a forward bounced back) is the core's again: it must neither be answered on
  // the new session nor delivered again from here (issue 15: a bounced forward re-entered the
  // queue of a role released meanwhile, and went out twice).
  uint64_t epoch = 1;
  void end_session() {
    ++epoch;
    waiting.clear();
  }

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
  SegmentedSubmits submits{kSubmitsInFlightMax};
  LogThrottle bind_timeout_log;  // connections closed unbound: a line per 10 s at most
  std::vector<SubmitOrigin> submit_origins = std::vector<SubmitOrigin>(kSubmitsInFlightMax);
  std::unordered_map<uint16_t, std::unique_ptr<PeerRole>> roles;
  std::shared_ptr<const smsc::Numdb> numdb;
  std::vector<pdu::SmsSegment> segments{kSegmentsMax};
  engine::Timer sweep_timer;
  uint16_t concat_ref = 1;
  std::vector<engine::CrossCoreMessage> replies;  // forward answers waiting for ring room
  std::mutex snapshot_mu;
  std::vector<BindSnapshot> snapshot;

  std::vector<PeerRequest> requests = std::vector<PeerRequest>(kPeerRequestsMax);
  std::vector<uint32_t> free_requests;

  Shard(Shared& s, engine::Reactor& r) : shared(s), reactor(r) {
    for (uint32_t i = kPeerRequestsMax; i-- > 0;) free_requests.push_back(i);
  }

  // engine::Acceptor (server_session.cc)
  engine::ConnectionHandler* on_accept(engine::Connection& c) override;
  // smsc::CoreLinkUser, the submit link (server_submit.cc)
  void on_core_response(const wire::Message& m, uint64_t cookie) override;
  void on_core_link(bool up) override;

  // server_session.cc
  void handle(Session& s, const pdu::Header& h, std::span<const std::byte> body);
  void handle_bind(Session& s, const pdu::Header& h, std::span<const std::byte> body);
  bool bind_refused_by_rate(const std::string& ip);
  void note_bind_failure(const std::string& ip);
  void closed(Session& s);
  void release_if_done(Session& s);
  void respond(Session& s, uint32_t command, uint32_t status, uint32_t sequence);
  void sweep();
  void publish();
  static void on_sweep(engine::Timer&, void* self);

  // server_submit.cc
  void handle_submit(Session& s, const pdu::Header& h, std::span<const std::byte> body);
  void finish_submit(uint32_t index);

  // server_requests.cc
  void handle_target(Session& s, const pdu::Header& h, std::span<const std::byte> body);
  void on_target_answer(const wire::Message& m, uint64_t cookie);

  // server_delivery.cc
  void bound(Session& s);
  void unbound(Session& s);
  void handle_response(Session& s, const pdu::Header& h);
  void fail_out(Session& s);
  void delivery_done(const Delivery& d, wire::Status status, uint32_t extra);
  void flush_replies();
  static void on_forward(engine::Reactor& r, const engine::CrossCoreMessage& msg);
  static void on_forward_done(engine::Reactor& r, const engine::CrossCoreMessage& msg);
};

}  // namespace cp::smpp
