// One IPA connection on a reactor — the transport osmo-remsim (RSPRO), osmo-hlr (GSUP) and the
// Osmocom CTRL interface share (proto/ipa/ipa.h): framing, the CCM keepalive and the CCM
// identity exchange, so each protocol on top only sees its own OSMO-extension frames.
//   - keepalive: PING on open and every `ping_interval` (0: never), the link declared dead when
//     no PONG comes within `pong_timeout`; a PING from the peer is answered PONG;
//   - identity: an ID_GET is answered with ID_RESP naming `unit_name` (SERNR and UNITNAME, the
//     tags osmo-hlr routes by); the peer's ID_ACK is reported once (on_ipa_identified). With an
//     empty unit_name an ID_GET is ignored, as osmo-remsim does;
//   - a peer that does not read what it is answered is not read either: below kAnswerRoomMin
//     of send room, reading pauses until the peer takes its answers (TCP then pushes back on
//     it; before, a PING flood was read at line rate and its PONGs dropped);
//   - a frame that cannot be a frame closes the connection; CCM messages we do not know and
//     frames of other protocols are logged (debug) and ignored; a payload the user cannot
//     decode closes it too (on_ipa_frame returns false).
//
// Lifetime and thread: on its connection's reactor only; destroy after on_ipa_closed or once
// the reactor stopped (its timer is armed while the connection is open). Reusable for the next
// connection (accept or connect again with the same object).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "base/clock.h"
#include "engine/reactor.h"

namespace cp::ipa {

class IpaConn;

class IpaUser {
 public:
  virtual ~IpaUser() = default;
  virtual void on_ipa_open(IpaConn&) {}
  // One OSMO-extension frame (`ext`: proto::ipa::kExtRspro, kExtGsup, kExtCtrl); `payload` is
  // what follows the extension byte, valid during the call. False closes the connection.
  virtual bool on_ipa_frame(IpaConn& conn, uint8_t ext, std::span<const std::byte> payload) = 0;
  // The peer acknowledged our identity (CCM ID_ACK).
  virtual void on_ipa_identified(IpaConn&) {}
  // The last call for this connection; the IpaConn may be reused or destroyed once it returns.
  virtual void on_ipa_closed(IpaConn&, engine::CloseReason, int /*error*/) {}
};

struct IpaOptions {
  std::string name = "ipa";  // for logs
  Nanos ping_interval = 30 * kNanosPerSecond;
  Nanos pong_timeout = 10 * kNanosPerSecond;
  std::string unit_name;  // our identity for ID_GET ("" = do not answer)
};

class IpaConn : public engine::ConnectionHandler {
 public:
  IpaConn(IpaUser& user, IpaOptions options);
  IpaConn(const IpaConn&) = delete;
  IpaConn& operator=(const IpaConn&) = delete;

  // Sends one whole IPA frame (false when the connection is gone or its send buffer is full).
  bool send_frame(std::span<const std::byte> frame);
  // Sends `payload` as an OSMO frame with extension `ext`.
  bool send_osmo(uint8_t ext, std::span<const std::byte> payload);
  void close();
  bool open() const { return conn_ != nullptr; }
  bool identified() const { return identified_; }
  engine::Connection* connection() const { return conn_; }
  const IpaOptions& options() const { return opt_; }
  uint64_t pongs_missed() const { return pongs_missed_; }

  // engine::ConnectionHandler
  void on_open(engine::Connection& c) override;
  size_t on_data(engine::Connection& c, std::span<const std::byte> data) override;
  void on_writable(engine::Connection& c) override;
  void on_close(engine::Connection& c, engine::CloseReason reason, int error) override;

  // Send room below which the peer's frames wait (an answer must fit: RSPRO and GSUP answers
  // are well under this).
  static constexpr size_t kAnswerRoomMin = 4096;

 private:
  static void on_timer(engine::Timer&, void* self);
  void send_ping();
  void on_ccm(engine::Connection& c, std::span<const std::byte> payload);

  IpaUser& user_;
  IpaOptions opt_;
  engine::Connection* conn_ = nullptr;
  engine::Timer timer_;
  Nanos ping_sent_at_ = 0;  // 0: no PONG awaited
  uint64_t pongs_missed_ = 0;
  bool identified_ = false;
  bool paused_ = false;  // reading paused until the peer takes its answers
};

}  // namespace cp::ipa
