#include "services/ipa/ipa_conn.h"

#include <algorithm>
#include <vector>

#include "base/log.h"
#include "base/log_throttle.h"
#include "proto/ipa/ipa.h"

namespace cp::ipa {

namespace wire = proto::ipa;

IpaConn::IpaConn(IpaUser& user, IpaOptions options) : user_(user), opt_(std::move(options)) {
  timer_.set_callback(&IpaConn::on_timer, this);
}

bool IpaConn::send_frame(std::span<const std::byte> frame) {
  return conn_ && conn_->send(frame);
}

bool IpaConn::send_osmo(uint8_t ext, std::span<const std::byte> payload) {
  return send_frame(wire::encode_osmo(ext, payload));
}

void IpaConn::close() {
  if (conn_) conn_->close();
}

void IpaConn::send_ping() {
  if (!conn_ || opt_.ping_interval <= 0) return;
  conn_->send(wire::encode_ccm(wire::kCcmPing));
  ping_sent_at_ = conn_->reactor().clock().now();
  conn_->reactor().arm_timer(timer_, opt_.pong_timeout);
}

void IpaConn::on_timer(engine::Timer&, void* self) {
  auto* c = static_cast<IpaConn*>(self);
  if (!c->conn_) return;
  if (c->ping_sent_at_ != 0) {
    // No PONG in time: the link is dead (osmo-remsim's and libosmocore's rule).
    ++c->pongs_missed_;
    // A peer that never identified itself is the user's identification timeout to report (it
    // fires as soon): one line per event. Either way a line per 10 s at most per core.
    thread_local LogThrottle throttle;
    if (uint64_t held = 0; c->identified_ && throttle.pass(c->conn_->reactor().clock().now(), held))
      CP_LOG_WARN("{}: no IPA PONG from {} within {} ms; closing ({} more since the last line)",
                  c->opt_.name, c->conn_->peer().to_string(), c->opt_.pong_timeout / kNanosPerMilli,
                  held);
    c->conn_->abort();
    return;
  }
  c->send_ping();
}

void IpaConn::on_open(engine::Connection& c) {
  conn_ = &c;
  paused_ = false;
  ping_sent_at_ = 0;
  identified_ = false;
  send_ping();
  user_.on_ipa_open(*this);
}

namespace {
// kAnswerRoomMin, or half a small configured send buffer (on_writable comes at half).
size_t answer_room(const engine::Connection& c) {
  return std::min<size_t>(IpaConn::kAnswerRoomMin, c.reactor().config().tx_buffer_bytes / 2);
}
}  // namespace

void IpaConn::on_writable(engine::Connection& c) {
  if (paused_ && c.send_room() >= answer_room(c)) {
    paused_ = false;
    c.resume_reading();  // offers the kept frames again
  } else if (paused_) {
    c.wait_writable();
  }
}

void IpaConn::on_ccm(engine::Connection& c, std::span<const std::byte> payload) {
  const uint8_t type = payload.empty() ? 0xFF : static_cast<uint8_t>(payload[0]);
  switch (type) {
    case wire::kCcmPing:
      c.send(wire::encode_ccm(wire::kCcmPong));
      return;
    case wire::kCcmPong:
      if (ping_sent_at_ != 0) {
        ping_sent_at_ = 0;
        c.reactor().arm_timer(timer_, opt_.ping_interval);
      }
      return;
    case wire::kCcmIdGet: {
      if (opt_.unit_name.empty()) break;
      auto request = wire::decode_id_get(payload.subspan(1));
      if (!request) {
        CP_LOG_WARN("{}: {} from {}; not answered", opt_.name, request.error(),
                    c.peer().to_string());
        return;
      }
      c.send(wire::encode_id_resp(*request, opt_.unit_name));
      return;
    }
    case wire::kCcmIdAck:
      if (!identified_) {
        identified_ = true;
        user_.on_ipa_identified(*this);
      }
      return;
    default:
      break;
  }
  CP_LOG_DEBUG("{}: IPA CCM message {:#04x} ignored", opt_.name, type);
}

size_t IpaConn::on_data(engine::Connection& c, std::span<const std::byte> data) {
  size_t used = 0;
  while (conn_) {
    const auto rest = data.subspan(used);
    const auto len = wire::frame_length(rest);
    if (!len || rest.size() < *len) break;
    if (c.send_room() < answer_room(c)) {  // the peer is not reading its answers
      paused_ = true;
      c.pause_reading();
      c.wait_writable();
      break;
    }
    const auto frame = wire::decode(rest.first(*len));
    used += *len;
    if (!frame) {
      CP_LOG_WARN("{}: {} from {}; closing", opt_.name, frame.error(), c.peer().to_string());
      c.abort();
      return data.size();
    }
    if (frame->proto == wire::kProtoCcm) {
      on_ccm(c, frame->payload);
      continue;
    }
    if (frame->proto != wire::kProtoOsmo) {
      CP_LOG_DEBUG("{}: IPA frame proto {:#04x} ignored", opt_.name, frame->proto);
      continue;
    }
    if (!user_.on_ipa_frame(*this, *frame->ext, frame->payload)) {
      c.abort();
      return data.size();
    }
  }
  return used;
}

void IpaConn::on_close(engine::Connection& c, engine::CloseReason reason, int error) {
  c.reactor().cancel_timer(timer_);
  conn_ = nullptr;
  ping_sent_at_ = 0;
  identified_ = false;
  user_.on_ipa_closed(*this, reason, error);
}

}  // namespace cp::ipa
