// The SMPP server for downstream peers (ThemWi-SMSC design 1.2, 1.2.1; docs/SMPP.md): peers
// bind as ESMEs with the accounts of services/smpp/account.h, submit messages into the SMSC core,
// and receive the messages routed to their numbers, and delivery receipts, as deliver_sm.
//
// Threads and data:
//   - Every reactor listens on the same address (SO_REUSEPORT) and serves the binds the kernel
//     gives it; a shard per reactor holds its sessions, a CoreLink for submits, and one role
//     link per peer that has receiver-capable binds on that reactor.
//   - submit_sm -> one SUBMIT per SMS segment over the shard's CoreLink -> submit_sm_resp with
//     our message id once the core answered, i.e. once the record is durable.
//   - The core hands a peer's messages (DELIVER_TO_PEER) to whichever connection holds that
//     peer's role. A shard holds it while it has receiver-capable binds of the peer; the other
//     shards with binds of that peer retry registering (role_taken) and take over when the
//     holder lets go. Deliveries spread round robin over the holder's binds of the peer.
//   - One sweep timer per shard (250 ms): bind and response timeouts, enquire_link, role links.
// Reactor threads only, except the few methods marked "any thread".
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/socket_address.h"
#include "engine/reactor.h"
#include "services/smpp/account.h"
#include "services/smsc/numdb.h"

namespace cp::smpp {

struct ServerOptions {
  SocketAddress listen;     // 127.0.0.1:2775 by default (daemon config)
  std::string core_socket;  // the SMSC core's SOCK_SEQPACKET socket
  // Tests on the simulation transport: the core's stream address instead of the socket
  // (SmscOptions::stream_listen).
  std::optional<SocketAddress> core_stream;
  std::string system_id = "cellplane";            // ours, in bind responses
  Nanos bind_timeout = 10 * kNanosPerSecond;      // a connection must bind within this
  Nanos enquire_interval = 30 * kNanosPerSecond;  // enquire_link after this long without input
  Nanos response_timeout = 30 * kNanosPerSecond;  // our requests' answers (deliver_sm, enquire)
  uint32_t bind_failures_max = 5;  // failed binds per source address within the window ...
  Nanos bind_failure_window = 60 * kNanosPerSecond;  // ... after which it is refused this long
};

struct ServerStats {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> binds{0};
  std::atomic<uint64_t> bind_failures{0};
  std::atomic<uint64_t> bind_refused_rate{0};  // refused by the per-address failure limit
  std::atomic<uint64_t> bind_timeouts{0};      // closed for not binding within bind_timeout
  std::atomic<uint64_t> submits{0};            // submit_sm answered ok
  std::atomic<uint64_t> submit_errors{0};      // submit_sm answered with an error status
  std::atomic<uint64_t> delivers{0};           // deliver_sm acknowledged by peers
  std::atomic<uint64_t> deliver_errors{0};     // deliver_sm refused, timed out or lost
  std::atomic<uint64_t> receipts{0};           // delivery receipts among the delivers
  std::atomic<uint64_t> protocol_errors{0};    // generic_nack and undecodable PDUs
  // The largest send backlog (bytes) any connection held: a peer that does not read stops
  // being read at session.h's kSendBacklogPauseBytes, so this stays near that.
  std::atomic<uint64_t> send_backlog_bytes_max{0};
};

struct BindSnapshot {
  std::string system_id;
  std::string peer;
  std::string type;  // tx, rx, trx
  std::string remote;
  unsigned core = 0;
  uint64_t submits_in_flight = 0;
  uint64_t delivers_in_flight = 0;
};

class SmppServer {
 public:
  using NumdbSource = std::function<std::shared_ptr<const smsc::Numdb>()>;
  SmppServer(ServerOptions options, std::shared_ptr<const Accounts> accounts, NumdbSource numdb,
             unsigned cores);
  ~SmppServer();
  SmppServer(const SmppServer&) = delete;
  SmppServer& operator=(const SmppServer&) = delete;

  // On every reactor's thread (Engine::on_each_core), after the SMSC core started there.
  Result<void, std::string> start_on_core(engine::Reactor& reactor);

  // Any thread: accounts for binds from now on (open binds keep theirs).
  void set_accounts(std::shared_ptr<const Accounts> accounts);
  std::shared_ptr<const Accounts> accounts() const;
  const ServerStats& stats() const { return stats_; }
  std::vector<BindSnapshot> binds() const;  // any thread
  // The address bound (port 0 resolved); known once reactor 0 started.
  SocketAddress bound_address() const;

  struct Shard;
  struct Shared;

 private:
  ServerStats stats_;
  std::unique_ptr<Shared> shared_;
};

}  // namespace cp::smpp
