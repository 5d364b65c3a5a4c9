// The SIM bank daemon (issue 6; osmo-remsim's remsim-bankd): serves the cards of one bank to
// remsim clients over RSPRO, following the slot mappings the remsim server sends it.
//
//   control link (reactor 0): connects to the server, ConnectBankReq(bankId, slots), then obeys
//     CreateMappingReq / RemoveMappingReq / ResetStateReq; reconnects with jittered backoff and
//     keeps serving its mappings while the server is away (the server re-sends them when back).
//   client listener (every reactor for in-process cards; the home reactor for PC/SC, whose
//     rings have one producer): one Worker per connection, an explicit state table after the
//     seed's worker states —
//
//       WAIT_ID ---ConnectClientReq---> CLIENT_WAIT_MAP (no mapping for the client slot yet:
//         answered cardNotPresent, the connection stays) ---mapping created---> MAPPED (the card
//         is being opened; retried every second while there is no card) ---ATR---> MAPPED_CARD
//         (SetAtrReq sent; TPDUs flow; ClientSlotStatusInd VCC off = cold reset, RST = warm)
//       a removed mapping closes the connection; a card that fails in MAPPED_CARD is reported
//       (BankSlotStatusInd) and the connection closed, so the client reconnects and learns
//       cardNotPresent / cardUnresponsive / cardTransmissionError from ConnectClientRes.
//
// Threading: the mapping table and the slot ownership are shared by all reactors (a mutex, taken
// on connect and mapping changes only, never per TPDU); each Worker lives on the reactor that
// accepted it; mapping removals reach other reactors as cross-core messages.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/address_filter.h"
#include "base/backoff.h"
#include "base/result.h"
#include "base/socket_address.h"
#include "engine/engine.h"
#include "engine/reactor.h"
#include "services/remsim/card_backend.h"
#include "services/remsim/rspro_conn.h"

namespace cp::remsim {

struct BankdOptions {
  SocketAddress server = *SocketAddress::parse("127.0.0.1:9998");
  SocketAddress listen = *SocketAddress::parse("127.0.0.1:9999");
  uint16_t bank_id = 1;
  std::string name = "cellplane-bankd";
  Nanos id_timeout = 10 * kNanosPerSecond;
  Nanos card_retry = kNanosPerSecond;  // reopening a missing card, polling a present one
  Nanos reconnect_min = 500 * kNanosPerMilli;
  Nanos reconnect_max = 30 * kNanosPerSecond;
  AddressFilter allow;  // clients accepted from; empty: any
  // Client connections open at once, over all cores (identified or not); more are closed at
  // accept. Each holds a worker whose table never shrinks: this bounds it.
  uint32_t max_connections = 1024;
  RsproOptions rspro;
};

enum class WorkerState : uint8_t { wait_id, client_wait_map, mapped, mapped_card, closing };
std::string_view to_string(WorkerState s);

struct BankdStats {
  std::atomic<uint64_t> clients_accepted{0};
  std::atomic<uint64_t> clients_disallowed{0};  // from an address outside `allow`
  std::atomic<uint64_t> clients_refused{0};     // over max_connections
  std::atomic<uint32_t> clients_open{0};
  std::atomic<uint64_t> tpdus{0};
  std::atomic<uint64_t> card_errors{0};
  std::atomic<uint64_t> resets{0};
  std::atomic<uint64_t> mappings_created{0};
  std::atomic<uint64_t> mappings_removed{0};
  std::atomic<uint64_t> server_connects{0};
  std::atomic<bool> server_up{false};
};

struct WorkerView {
  unsigned core = 0;
  std::string remote;
  WorkerState state = WorkerState::wait_id;
  std::optional<proto::rspro::ClientSlot> client;
  std::optional<proto::rspro::BankSlot> bank;
  uint64_t tpdus = 0;
};

class Bankd {
 public:
  Bankd(BankdOptions options, std::unique_ptr<CardBackend> backend, unsigned cores);
  ~Bankd();
  Bankd(const Bankd&) = delete;
  Bankd& operator=(const Bankd&) = delete;

  // On each reactor's thread (engine.on_each_core): the listener, and on core 0 the backend
  // and the control link.
  Result<void, std::string> start_on_core(engine::Reactor& reactor);
  // The port clients connect to (known once core 0 started).
  uint16_t bound_port() const { return bound_port_.load(); }
  void set_server(const SocketAddress& server) { opt_.server = server; }

  const BankdOptions& options() const { return opt_; }
  const BankdStats& stats() const { return stats_; }
  CardBackend& backend() { return *backend_; }
  // Any thread (copies under the lock).
  std::vector<std::pair<proto::rspro::BankSlot, proto::rspro::ClientSlot>> mappings() const;
  // Any thread.
  std::vector<WorkerView> workers() const;

 private:
  class Worker;
  class Control;
  struct Core;

  void on_mapping_added(proto::rspro::ClientSlot client);
  void on_mapping_removed(proto::rspro::BankSlot bank, proto::rspro::ClientSlot client);
  void broadcast(void (*fn)(engine::Reactor&, const engine::CrossCoreMessage&), uint64_t a0,
                 uint64_t a1);
  // Sends what broadcast() could not (a full ring), in order; re-arms itself while some wait.
  static void on_unsent_timer(engine::Timer&, void* self);
  static void on_card_reply(Bankd& b, const CardReply& reply);

  BankdOptions opt_;
  std::unique_ptr<CardBackend> backend_;
  std::vector<std::unique_ptr<Core>> cores_;
  std::unique_ptr<Control> control_;
  std::atomic<uint16_t> bound_port_{0};
  std::mutex bound_mu_;
  std::condition_variable bound_cv_;
  SocketAddress bound_addr_;
  BankdStats stats_;
  // Reactor 0 only: mapping changes for each core that found its ring full, oldest first (a
  // later change for that core waits behind them, so each core sees them in order).
  std::vector<std::deque<engine::CrossCoreMessage>> unsent_;
  static constexpr size_t kUnsentMax = 65536;  // per core; then the server link is dropped
  engine::Timer unsent_timer_;

  mutable std::mutex mu_;
  std::map<uint32_t, proto::rspro::ClientSlot> maps_;  // by bank slot number
  std::map<uint32_t, uint64_t> connected_clients_;     // client key -> worker key
};

}  // namespace cp::remsim
