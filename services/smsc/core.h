// The SMSC core service (ThemWi-SMSC design 2.3-2.6; docs/SMSC.md): admission, custody and the
// queues of every active message, served to the rest of the SMSC over the local socket
// (services/smsc/wire.h, docs/SMSC-SOCKET.md).
//
// Threads and data:
//   - The local socket is served by reactor 0, the front: it decodes requests, runs admission
//     (routing needs only the number database) and holds the role-handler registry and every
//     request the core has outstanding toward a role handler.
//   - Each message lives on the core that owns its shard (the store's primary shard of that
//     core), chosen by its routed destination (shard_for), so per-destination order, duplicate
//     and cancel checks stay on one core. That core keeps the message's queue position, expiry
//     and custody state, in fixed-size tables (no allocation per message).
//   - Front and owners talk over the engine's cross-core rings (CrossCoreMessage carrying a
//     pointer to a pooled request); with one core they are direct calls.
// The core keeps accepting and storing with no role handler connected (design 2.3); queued
// messages wait for theirs.
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
#include "services/smsc/admission.h"
#include "services/smsc/numdb.h"
#include "services/smsc/wire.h"
#include "storage/store.h"

namespace cp::smsc {

// The user data of a status report (a record with SmRecord::kFlagReport, 8-bit DCS), generated
// when a message that asked for one is delivered, fails or expires. Role handlers turn it into
// an SMS-STATUS-REPORT (GSM) or an SMPP delivery receipt.
struct StatusReport {
  uint64_t message_id = 0;   // the original message
  int64_t submitted_ns = 0;  // its entry time (UTC)
  int64_t done_ns = 0;       // its discharge time (UTC)
  uint32_t extra_info = 0;   // the handler's detail (network / SMPP error)
  uint8_t disposition = 0;   // storage::Disposition
  uint8_t reserved[3] = {};
};
static_assert(sizeof(StatusReport) == 32);

struct SmscOptions {
  std::string socket_path;      // the SOCK_SEQPACKET socket
  uint32_t socket_mode = 0660;  // its file mode
  // Tests on the simulation transport: listen on this stream address instead of the socket
  // (the protocol is framed by its headers, so it runs unchanged over a stream).
  std::optional<SocketAddress> stream_listen;
  AdmissionConfig admission;
  uint32_t peer_window = 1;          // DELIVER_TO_PEER outstanding per peer and core (design: 1)
  uint32_t mt_transfer_window = 64;  // MT_TRANSFERs outstanding per core toward the GSM handler
  uint32_t imsi_lookup_window = 1;   // MT_FIND_IMSIs outstanding per core (design: 1)
  Nanos imsi_cache_ttl = 60 * kNanosPerSecond;
  Nanos retry_delay = 10 * kNanosPerSecond;        // after a temporary failure of a handler
  Nanos handler_timeout = 60 * kNanosPerSecond;    // a handler answer later than this is lost
  Nanos duplicate_window = 600 * kNanosPerSecond;  // a duplicate is an active message this young
  uint32_t parts_assembling_max = 65536;  // per core: multi-part messages being entered at once
  Nanos part_timeout =
      30 * kNanosPerSecond;  // a multi-part message missing parts this long: cancelled
  uint32_t max_active_per_core = 1 << 20;
  uint32_t requests_in_flight_max = 65536;  // front: SUBMITs etc. between front and owners
  bool status_reports = true;
};

// Counters and a queue snapshot per core, for cellctl (any thread).
struct QueueSnapshot {
  std::string name;  // "peer:<name>", "upstream", "imsi-lookup", "gsm-mt", "gsm-mt-transferred"
  uint64_t depth = 0;
  uint64_t outstanding = 0;
  int64_t oldest_entry_ns = 0;  // wall time of the oldest message's entry (0: empty)
};
struct CoreSnapshot {
  unsigned core = 0;
  uint64_t active = 0;
  std::vector<QueueSnapshot> queues;
};
struct SmscStats {
  std::atomic<uint64_t> submits{0};
  std::atomic<uint64_t> submit_refusals{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> expired{0};
  std::atomic<uint64_t> cancelled{0};
  std::atomic<uint64_t> status_reports{0};
  std::atomic<uint64_t> status_report_retries{0};  // refused (store full, failed commit), retried
  std::atomic<uint64_t> status_reports_lost{0};    // none could be made: every one was in use
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> clients{0};
};
struct RoleSnapshot {
  std::string role;  // imsi_lookup, gsm_mt, peer
  std::string peer;  // peer role: "" upstream
  bool up = false;
  uint64_t outstanding = 0;
};

class SmscService {
 public:
  SmscService(SmscOptions options, storage::Store& store, std::shared_ptr<const Numdb> numdb,
              unsigned cores);
  ~SmscService();
  SmscService(const SmscService&) = delete;
  SmscService& operator=(const SmscService&) = delete;

  // On every reactor's thread after the store opened there (Engine::on_each_core): builds that
  // core's queues from the recovered active messages; reactor 0 also listens on the socket.
  Result<void, std::string> start_on_core(engine::Reactor& reactor);

  // Swaps in a new number database on every core (any thread; each core picks it up on its next
  // 100 ms tick).
  void set_numdb(std::shared_ptr<const Numdb> numdb);
  std::shared_ptr<const Numdb> numdb() const;

  // For control commands, on reactor 0's thread (where the control socket is served): ask the
  // core that owns `message_id` to cancel it, or to describe it. `done` runs later on reactor 0,
  // exactly once.
  using CancelDone = std::function<void(wire::Status status)>;
  using LookupDone = std::function<void(wire::Status status, const storage::SmRecord& record,
                                        std::string_view queue_state)>;
  void control_cancel(uint64_t message_id, CancelDone done);
  void control_lookup(uint64_t message_id, LookupDone done);

  const SmscStats& stats() const { return stats_; }
  std::vector<CoreSnapshot> queues() const;  // published every 250 ms by each core
  std::vector<RoleSnapshot> roles() const;
  const SmscOptions& options() const { return options_; }

  struct Impl;

 private:
  SmscOptions options_;
  SmscStats stats_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cp::smsc
