// The remsim server (issue 6; osmo-remsim's remsim-server): the RSPRO control server that bank
// daemons and clients register with, the owner of the slot mappings, and its REST API.
//
//   bank daemon --ConnectBankReq--> server: bank id and slot count; the server then sends it a
//       CreateMappingReq for every mapping of that bank (RemoveMappingReq for one being deleted)
//       and matches the answers in FIFO order, as osmo-remsim does.
//   client --ConnectClientReq(clientSlot)--> server; once the client's mapping is ACTIVE, the
//       server sends ConfigClientBankReq(bank slot, bank daemon ip:port); when the mapping goes
//       (or its bank), ConfigClientBankReq(0.0.0.0:0) — the client then drops its bank link.
//   A second bank with the same id, or client with the same slot, is answered identityInUse and
//   dropped; a connection that has not identified itself within `id_timeout` is closed.
//
// The bank daemon address told to clients is the source address of the bank's control
// connection with `bankd_port` (osmo-remsim's rule), unless `bankd_advertise` names one.
//
// REST, compatible with osmo-remsim's (../shared/PROTOCOLS.md): GET /api/backend/v1/banks[/id],
// /clients[/id], /slotmaps, POST /slotmaps, DELETE /slotmaps/id, POST /global-reset, GET
// /restart-counter; a missing id is 404 (osmo-remsim answers an empty 200), errors carry a JSON
// body saying why, and with `rest_token` set every request needs "Authorization: Bearer <token>"
// (401 otherwise).
//
// Slotmaps are saved to `slotmaps_path` (write to a temporary file, fsync, rename) on every
// change of the set, and loaded at start: mappings survive a restart. The restart counter is
// kept beside them.
//
// Threading: one reactor (the daemon uses core 0) — connections, REST and the control commands
// all run on it, so nothing here is locked.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/address_filter.h"
#include "base/log_throttle.h"
#include "base/result.h"
#include "base/socket_address.h"
#include "engine/http/http_server.h"
#include "engine/reactor.h"
#include "services/remsim/rspro_conn.h"
#include "services/remsim/slotmap.h"

namespace cp::remsim {

struct ServerOptions {
  SocketAddress listen = *SocketAddress::parse("127.0.0.1:9998");
  std::optional<SocketAddress> rest_listen = *SocketAddress::parse("127.0.0.1:9997");
  std::string rest_token;     // "" = no authentication
  std::string slotmaps_path;  // "" = not persisted
  std::string name = "cellplane";
  std::optional<SocketAddress> bankd_advertise;  // else the bank's source address + bankd_port
  uint16_t bankd_port = 9999;
  Nanos id_timeout = 10 * kNanosPerSecond;
  // RSPRO connections open at once, identified or not; more are closed at accept (the reactor's
  // connection table is shared with every other service of the daemon).
  uint32_t connections_max = 1024;
  AddressFilter allow;  // RSPRO peers (banks, clients) accepted from; empty: any
  RsproOptions rspro;
};

// The identity a peer gave in its Connect*Req, owned.
struct PeerIdentity {
  proto::rspro::ComponentType type = proto::rspro::ComponentType::client;
  std::string name, software, sw_version;
  std::array<std::optional<std::string>, 5> hw;
};

// What REST and cellctl show of one connection.
struct PeerView {
  std::string peer;   // "B1", "C23:0", or the address before identification
  std::string state;  // osmo-remsim's FSM state names
  std::string remote;
  PeerIdentity identity;
  uint16_t bank_id = 0, number_of_slots = 0;  // banks
  ClientSlot client;                          // clients
  std::string bankd;                          // clients: the bank they were told, "ip:port"
};

// Written by the server's reactor, readable from any thread.
struct ServerStats {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> connections_refused{0};     // over connections_max
  std::atomic<uint64_t> connections_disallowed{0};  // from an address outside `allow`
  std::atomic<uint64_t> id_timeouts{0};
  std::atomic<uint64_t> identity_in_use{0};
  std::atomic<uint64_t> protocol_errors{0};  // unexpected messages
  std::atomic<uint64_t> rest_requests{0};
  std::atomic<uint64_t> rest_unauthorized{0};
  std::atomic<uint64_t> saves{0};
  std::atomic<uint64_t> save_errors{0};
};

class RemsimServer final : public engine::Acceptor {
 public:
  // Loads the slotmaps (and bumps the restart counter) from options.slotmaps_path.
  static Result<std::unique_ptr<RemsimServer>, std::string> create(ServerOptions options);
  ~RemsimServer() override;
  RemsimServer(const RemsimServer&) = delete;
  RemsimServer& operator=(const RemsimServer&) = delete;

  // Listens (RSPRO, REST) on `reactor`; call on its thread.
  Result<void, std::string> start(engine::Reactor& reactor);
  const SocketAddress& bound_address() const { return bound_; }
  const std::optional<SocketAddress>& rest_address() const { return rest_bound_; }
  // The port told to clients with the bank's source address (when no bankd_advertise); set
  // before start() when the bank daemon's port is only known then (one daemon running both).
  void set_bankd_port(uint16_t port) { opt_.bankd_port = port; }

  // Reactor thread only (REST, control commands). A change is saved to the slotmaps file on
  // the engine's blocking worker; answer it from after_saved().
  Result<const Slotmap*, std::string> add_slotmap(BankSlot bank, ClientSlot client);
  Result<void, std::string> delete_slotmap(uint32_t id);
  void global_reset();
  // Reactor thread: runs `fn` once every slotmap change made so far is on disk (or its save
  // failed: logged and counted in save_errors); at once when nothing is waiting to be saved.
  // `fn` hears the save's error ("" when it is on disk).
  void after_saved(std::function<void(const std::string& save_error)> fn);
  const Slotmaps& slotmaps() const { return maps_; }
  std::vector<PeerView> banks() const;
  std::vector<PeerView> clients() const;
  uint64_t restart_counter() const { return restart_counter_; }
  const ServerStats& stats() const { return stats_; }
  const ServerOptions& options() const { return opt_; }

  engine::ConnectionHandler* on_accept(engine::Connection& conn) override;

 private:
  class Peer;
  explicit RemsimServer(ServerOptions options);
  void add_rest_routes();
  void on_pdu(Peer& p, const proto::rspro::Pdu& pdu);
  void on_closed(Peer& p);
  void on_connect_bank(Peer& p, const proto::rspro::Pdu& pdu);
  void on_connect_client(Peer& p, const proto::rspro::Pdu& pdu);
  void on_bank_response(Peer& p, const proto::rspro::Pdu& pdu);
  // Brings banks and clients in line with the slotmaps: sends what each one is missing.
  void sync();
  void configure_client(Peer& client);
  Peer* bank(uint16_t bank_id) const;
  proto::rspro::IpPort advertised_bankd(const Peer& bank) const;
  // Asks for the slotmaps to be saved; saves run one at a time, each writing the table as it is
  // when it starts, so changes made during one are saved by the next.
  void save();
  void start_save();
  void bury(Peer& p);
  static void on_reap(engine::Timer&, void* self);

  ServerOptions opt_;
  engine::Reactor* reactor_ = nullptr;
  SocketAddress bound_;
  std::optional<SocketAddress> rest_bound_;
  std::unique_ptr<engine::http::HttpServer> rest_;
  Slotmaps maps_;
  uint64_t restart_counter_ = 0;
  std::vector<std::unique_ptr<Peer>> peers_;
  std::vector<std::unique_ptr<Peer>> dead_;  // closed, destroyed on the next reap
  engine::Timer reap_timer_;
  LogThrottle refusal_log_;  // refusals: a line every 10 s at most
  LogThrottle disallowed_log_;
  uint64_t saves_asked_ = 0;  // changes so far (generations of the table)
  uint64_t saves_done_ = 0;   // the generation the last finished save wrote
  bool save_running_ = false;
  // By generation: answered by the first save that covers it.
  std::vector<std::pair<uint64_t, std::function<void(const std::string&)>>> after_saved_;
  ServerStats stats_;
};

}  // namespace cp::remsim
