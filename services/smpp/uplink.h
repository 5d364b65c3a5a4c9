// The SMPP uplink (ThemWi-SMSC design 1.2.1; docs/SMPP.md, "Uplink"): our one client link to
// the upstream SMSC. It binds as a transceiver and is the core's delivery handler for the
// upstream (peer role ""):
//   - DELIVER_TO_PEER from the core -> submit_sm upstream (registered_delivery 1 when the
//     originator asked for a report) -> the core's answer once submit_sm_resp came; the upstream
//     message id is kept so the upstream's receipt can be matched later;
//   - deliver_sm from upstream -> PID/DCS preening (the core's untrusted filters, design 2.4.3)
//     -> SUBMIT -> deliver_sm_resp once durable; a delivery receipt (esm_class 0x04) for one of
//     our messages -> a status report SUBMIT for its originator.
// The role's service state follows the bind: up while bound, down otherwise, so the core queues
// upstream traffic while the link is down. Reconnects with jittered exponential backoff.
// Runs on one reactor (reactor 0).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/result.h"
#include "base/socket_address.h"
#include "engine/reactor.h"
#include "proto/smpp/coding.h"

namespace cp::smpp {

struct UplinkOptions {
  SocketAddress server;  // the upstream SMSC
  std::string system_id;
  std::string password;
  std::string system_type;
  uint8_t interface_version = 0x34;
  std::string core_socket;
  uint32_t window = 16;  // submit_sm outstanding upstream
  Nanos enquire_interval = 30 * kNanosPerSecond;
  Nanos response_timeout = 30 * kNanosPerSecond;
  Nanos reconnect_min = kNanosPerSecond;
  Nanos reconnect_max = 60 * kNanosPerSecond;
  proto::smpp::DefaultAlphabet dc0 = proto::smpp::DefaultAlphabet::gsm7;
  uint32_t receipts_max = 1 << 20;  // upstream ids remembered for receipt matching
};

struct UplinkStats {
  std::atomic<uint64_t> connects{0};
  std::atomic<uint64_t> binds{0};
  std::atomic<uint64_t> bind_failures{0};
  std::atomic<uint64_t> submits{0};        // submit_sm accepted upstream
  std::atomic<uint64_t> submit_errors{0};  // refused, timed out or lost
  std::atomic<uint64_t> delivers{0};       // deliver_sm from upstream answered ok
  std::atomic<uint64_t> deliver_errors{0};
  std::atomic<uint64_t> receipts{0};  // upstream receipts turned into status reports
  std::atomic<uint64_t> receipts_unmatched{0};
  std::atomic<bool> bound{false};
};

class SmppUplink {
 public:
  explicit SmppUplink(UplinkOptions options);
  ~SmppUplink();
  SmppUplink(const SmppUplink&) = delete;
  SmppUplink& operator=(const SmppUplink&) = delete;

  // On the reactor that runs it, after the SMSC core started there.
  Result<void, std::string> start(engine::Reactor& reactor);
  const UplinkStats& stats() const { return stats_; }
  const UplinkOptions& options() const { return options_; }

  struct Impl;

 private:
  UplinkOptions options_;
  UplinkStats stats_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cp::smpp
