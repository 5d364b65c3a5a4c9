// One RSPRO connection on a reactor (issue 6): IPA framing (proto/ipa/ipa.h), the RSPRO codec
// (proto/rspro/rspro.h) and the keepalive every osmo-remsim side runs — IPA PING on connect and
// every `ping_interval`, the link declared dead when no PONG comes within `pong_timeout`; a PING
// from the peer is answered PONG. The remsim server, the bank daemon and the clients each put
// their protocol logic in an RsproUser and let this carry the bytes.
//
// A frame that is not RSPRO (another OSMO extension, CCM identity messages) is logged and
// ignored; an RSPRO payload that does not decode, or a frame that cannot be a frame, closes the
// connection (the peer is not speaking RSPRO).
#pragma once

#include <string>
#include <vector>

#include "base/clock.h"
#include "engine/reactor.h"
#include "proto/rspro/rspro.h"

namespace cp::remsim {

class RsproConn;

class RsproUser {
 public:
  virtual ~RsproUser() = default;
  virtual void on_rspro_open(RsproConn&) {}
  virtual void on_rspro(RsproConn& conn, const proto::rspro::Pdu& pdu) = 0;
  // The last call; the RsproConn may be reused or destroyed once it returns.
  virtual void on_rspro_closed(RsproConn&, engine::CloseReason, int /*error*/) {}
};

struct RsproOptions {
  std::string name = "rspro";  // for logs
  Nanos ping_interval = 30 * kNanosPerSecond;
  Nanos pong_timeout = 10 * kNanosPerSecond;
};

class RsproConn final : public engine::ConnectionHandler {
 public:
  // Destroy only after on_rspro_closed, or once the reactor stopped (its timer is armed while
  // the connection is open).
  RsproConn(RsproUser& user, RsproOptions options);
  RsproConn(const RsproConn&) = delete;
  RsproConn& operator=(const RsproConn&) = delete;

  // Sends one PDU (false when the connection is gone or its send buffer is full).
  bool send(const proto::rspro::Pdu& pdu);
  void close();
  bool open() const { return conn_ != nullptr; }
  engine::Connection* connection() const { return conn_; }
  const RsproOptions& options() const { return opt_; }
  uint64_t pongs_missed() const { return pongs_missed_; }

  // engine::ConnectionHandler
  void on_open(engine::Connection& c) override;
  size_t on_data(engine::Connection& c, std::span<const std::byte> data) override;
  void on_close(engine::Connection& c, engine::CloseReason reason, int error) override;

 private:
  static void on_timer(engine::Timer&, void* self);
  void send_ping();

  RsproUser& user_;
  RsproOptions opt_;
  engine::Connection* conn_ = nullptr;
  engine::Timer timer_;
  Nanos ping_sent_at_ = 0;  // 0: no PONG awaited
  uint64_t pongs_missed_ = 0;
  std::vector<std::byte> scratch_;  // the frame being sent (its capacity reused)
};

}  // namespace cp::remsim
