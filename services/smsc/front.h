// The SMSC core's front, on reactor 0: the local socket (smsc.sock, SOCK_SEQPACKET) and its
// clients, admission and routing of every SUBMIT, the hand-off of each request to the owner of
// the message's shard, and the role-handler registry (which connection holds the IMSI lookup,
// GSM MT and each peer's delivery role, and the requests outstanding toward them). Lives on
// reactor 0's thread only. Internal to services/smsc.
//
// Where its parts are defined:
//   front.cc          connections, decoding, submit / cancel / CHANGE_SRR / MT discharge, the
//                     answers from the owners, control commands
//   role_registry.cc  registration and service state of role handlers, requests toward them
//                     and their answers, timeouts, the roles snapshot
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/log_throttle.h"
#include "engine/reactor.h"
#include "services/smsc/flat_map.h"
#include "services/smsc/owner_requests.h"
#include "services/smsc/service_impl.h"
#include "services/smsc/wire.h"

namespace cp::smsc {

struct Front final : engine::Acceptor, engine::ConnectionHandler {
  using Impl = SmscService::Impl;
  Impl& impl;
  Reactor* reactor = nullptr;
  std::shared_ptr<const Numdb> numdb;

  struct Client {
    Connection* conn = nullptr;
    bool has_role = false;
    wire::Role role = wire::Role::peer;
    std::string peer;
    uint16_t queue = 0;
    bool up = false;
    uint32_t in_flight = 0;  // requests handed to owners, not yet answered
    // Messages waiting for room in a packet: a packet the core sends holds at most kPacketMax
    // bytes (docs/SMSC-SOCKET.md), so any client's receive buffer of that size takes it whole.
    std::vector<std::byte> pending;
  };
  static constexpr size_t kPacketMax = 4096;
  // Sends one message to a client, at most kPacketMax bytes per packet (the reactor sends what
  // is queued in one packet: keeping the queue within the limit keeps every packet within it).
  void send_msg(Connection& conn, std::span<const std::byte> msg);
  void flush_pending(Connection& conn, Client& c);
  std::unordered_map<uint64_t, Client> clients;  // by connection id
  uint64_t imsi_rh = 0, gsm_rh = 0;
  std::unordered_map<std::string, uint64_t> peer_rh;  // "" = upstream

  struct Pending {
    OutReq* out = nullptr;
    uint64_t conn_id = 0;
    uint64_t request_id = 0;
    Nanos deadline = 0;  // monotonic: no answer by then = a temporary failure
    uint32_t next_free = kNone;
  };
  std::vector<Pending> pending;
  uint32_t pending_free = kNone;
  FlatMap pending_by_id;
  uint64_t next_request_id = 1;
  LogThrottle stray_log;  // answers to no request of ours: a line per 10 s at most

  std::vector<InReq> in_pool;
  InReq* in_free = nullptr;
  std::byte buf[wire::kMessageMax];

  explicit Front(Impl& i);

  // -- connections
  ConnectionHandler* on_accept(Connection& conn) override;
  void on_close(Connection& conn, engine::CloseReason, int) override;
  void drop_role(uint64_t id, Client& c);

  size_t on_data(Connection& conn, std::span<const std::byte> data) override;
  void on_writable(Connection& conn) override;
  static constexpr size_t kPendingMax = 64 * 1024;

  void respond_error(Connection& conn, uint8_t type, uint64_t request_id, Status status);

  void handle(Connection& conn, Client& c, std::span<const std::byte> bytes);

  InReq* take_in(Connection& conn, const wire::Message& m);
  void give_in(InReq* q);

  void submit(Connection& conn, Client& c, const wire::Message& m);

  void target_request(Connection& conn, Client& c, const wire::Message& m);

  void mt_discharge(Connection& conn, Client& c, const wire::Message& m);

  void rh_register(Connection& conn, Client& c, const wire::Message& m);

  void rh_service_state(Connection& conn, Client& c, const wire::Message& m);

  void broadcast_role(wire::Role role, uint16_t queue, bool up);

  // -- requests toward role handlers
  uint64_t handler_for(const OutReq& o, uint16_t queue) const;
  void send_out(OutReq* o);
  void back_to_owner(OutReq* o);
  void finish_pending(uint32_t k);
  void on_rh_response(Connection& conn, const wire::Message& m);

  // -- answers from the owners
  std::unordered_map<uint64_t, std::function<void(InReq&)>> control_waiters;
  uint64_t next_control_token = 1;
  // A control command's request (no connection): answered through its callback.
  void control_request(InReq::Kind kind, uint64_t message_id, std::function<void(InReq&)> cb);

  void answered(InReq& q);

  // A handler that does not answer in time loses the request: it fails back to its owner as a
  // temporary failure (the message is retried), and a late answer is ignored with a warning.
  void sweep_timeouts();

  void publish_roles();
};

}  // namespace cp::smsc
