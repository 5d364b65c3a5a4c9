// One RSPRO connection on a reactor (issue 6): the RSPRO codec (proto/rspro/rspro.h) on the
// shared IPA connection (services/ipa/ipa_conn.h), which carries the framing and the keepalive
// every osmo-remsim side runs — IPA PING on connect and every `ping_interval`, the link declared
// dead when no PONG comes within `pong_timeout`; a PING from the peer is answered PONG. The
// remsim server, the bank daemon and the clients each put their protocol logic in an RsproUser
// and let this carry the bytes.
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
#include "services/ipa/ipa_conn.h"

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

// name, ping_interval, pong_timeout (osmo-remsim's 30 s / 10 s by default); RSPRO sides do not
// answer CCM ID_GET (unit_name stays empty).
using RsproOptions = ipa::IpaOptions;

class RsproConn final : private ipa::IpaUser, public ipa::IpaConn {
 public:
  // Destroy only after on_rspro_closed, or once the reactor stopped (its timer is armed while
  // the connection is open).
  RsproConn(RsproUser& user, RsproOptions options);

  // Sends one PDU (false when the connection is gone or its send buffer is full).
  bool send(const proto::rspro::Pdu& pdu);

 private:
  // ipa::IpaUser
  void on_ipa_open(ipa::IpaConn&) override;
  bool on_ipa_frame(ipa::IpaConn&, uint8_t ext, std::span<const std::byte> payload) override;
  void on_ipa_closed(ipa::IpaConn&, engine::CloseReason reason, int error) override;

  RsproUser& user_;
  std::vector<std::byte> scratch_;  // the frame being sent (its capacity reused)
};

}  // namespace cp::remsim
