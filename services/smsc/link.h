// An asynchronous client of the SMSC core's local socket (docs/SMSC-SOCKET.md), running on one
// reactor: what the in-daemon SMPP server and uplink (and later the GSUP handlers) use to submit
// messages and to hold a role. The non-blocking sibling of SmscClient.
//
// One CoreLink is one SOCK_SEQPACKET connection. It
//   - connects, and reconnects after a loss (1 s, doubling to 30 s, with jitter);
//   - optionally holds a role: RH_REGISTER then RH_SERVICE_STATE on every (re)connect, and
//     service state changes on set_service_up();
//   - sends requests packed into packets of at most kPacketBytes (the core's receive buffer),
//     keeping what does not fit in its own queue (bounded by `queue_max`);
//   - hands each response to its user with the cookie the request was sent with, and each
//     request of the core (DELIVER_TO_PEER, ...) to the user, who answers with respond().
// When the connection drops, every request still waiting for its response is answered to the
// user with Status::temporary_failure (nothing it sent is known to have been taken).
//
// Reactor thread only; no allocation per request after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/backoff.h"
#include "base/clock.h"
#include "base/socket_address.h"
#include "engine/reactor.h"
#include "engine/reconnector.h"
#include "services/smsc/wire.h"

namespace cp::smsc {

class CoreLinkUser {
 public:
  virtual ~CoreLinkUser() = default;
  // The response to a request sent with send(..., cookie); or temporary_failure for a request
  // lost with the connection.
  virtual void on_core_response(const wire::Message& m, uint64_t cookie) = 0;
  // A request from the core (only a connection holding a role gets them).
  virtual void on_core_request(const wire::Message&) {}
  // The link became usable (connected and, with a role, registered) or stopped being so.
  virtual void on_core_link(bool /*up*/) {}
};

struct CoreLinkOptions {
  std::string name;  // for logs: "smpp core link", "smpp peer demo"
  bool has_role = false;
  wire::Register role;
  uint32_t in_flight_max = 4096;  // requests awaiting their response
  uint32_t queue_max = 4096;      // requests waiting for room in a packet
  Nanos reconnect_min = kNanosPerSecond;
  Nanos reconnect_max = 30 * kNanosPerSecond;
};

class CoreLink final : public engine::ConnectionHandler {
 public:
  static constexpr size_t kPacketBytes = 4096;

  CoreLink(engine::Reactor& reactor, SocketAddress socket, CoreLinkOptions options,
           CoreLinkUser& user);
  // Destroy only once its reactor has stopped running: while it runs, stop() instead (the
  // connection calls the link until its close completes).
  ~CoreLink() override;
  CoreLink(const CoreLink&) = delete;
  CoreLink& operator=(const CoreLink&) = delete;

  void start();
  // Closes the connection and stops reconnecting (the role, if any, ends with it).
  void stop();

  bool stopped() const { return link_.stopped(); }
  // Usable: connected, and registered when the link has a role.
  bool up() const { return up_; }
  // Room for one more request (in flight and queued).
  bool can_send() const;
  // Sends an encoded request (its request id is replaced by the link's own); the response comes
  // to on_core_response with `cookie`. False when there is no room or the link is down.
  bool send(std::span<const std::byte> request, uint64_t cookie);
  // Answers a request of the core (an encoded response, its request id as the core sent it).
  // Dropped when the link went down meanwhile: the core then retakes what it had handed over.
  void respond(std::span<const std::byte> response);
  // With a role: declares the service up or down (sent now if connected, and after each
  // reconnect).
  void set_service_up(bool up);

  uint32_t in_flight() const { return in_flight_; }

  // engine::ConnectionHandler
  void on_open(engine::Connection& conn) override;
  size_t on_data(engine::Connection& conn, std::span<const std::byte> data) override;
  void on_writable(engine::Connection& conn) override;
  void on_close(engine::Connection& conn, engine::CloseReason reason, int error) override;

 private:
  struct Slot {
    uint64_t cookie = 0;
    uint32_t generation = 0;
    bool used = false;
    bool internal = false;  // register / service state: not the user's
  };
  bool queue(std::span<const std::byte> bytes, uint64_t request_id);
  void flush();
  void fail_all();
  void set_up(bool up);
  bool send_internal(std::span<const std::byte> request);
  void send_service_state();

  engine::Reactor& reactor_;
  SocketAddress socket_;
  CoreLinkOptions opt_;
  CoreLinkUser& user_;
  engine::Reconnector link_;            // connects and reconnects; link_.connection() is the socket
  engine::Connection* conn_ = nullptr;  // the connected socket (null until on_open)
  bool connected_ = false;
  bool up_ = false;
  bool service_up_ = false;
  uint32_t registered_rid_ = 0;  // the slot (+1) of the RH_REGISTER in flight (0: none)
  uint32_t state_rid_ = 0;       // the slot (+1) of the service state in flight (0: none)
  bool state_stale_ = false;     // service_up_ changed while it was in flight
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  uint32_t in_flight_ = 0;
  // Encoded messages waiting for room in a packet, back to back.
  std::vector<std::byte> pending_;
  size_t pending_head_ = 0;
  uint32_t pending_count_ = 0;
};

}  // namespace cp::smsc
