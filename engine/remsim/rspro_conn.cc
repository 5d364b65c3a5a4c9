#include "engine/remsim/rspro_conn.h"

#include <cstring>

#include "base/log.h"
#include "proto/ipa/ipa.h"

namespace cp::remsim {

namespace ipa = proto::ipa;
namespace rspro = proto::rspro;

RsproConn::RsproConn(RsproUser& user, RsproOptions options)
    : user_(user), opt_(std::move(options)) {
  timer_.set_callback(&RsproConn::on_timer, this);
}

bool RsproConn::send(const rspro::Pdu& pdu) {
  if (!conn_) return false;
  return conn_->send(rspro::encode_frame(pdu, scratch_));
}

void RsproConn::close() {
  if (conn_) conn_->close();
}

void RsproConn::send_ping() {
  if (!conn_) return;
  conn_->send(ipa::encode_ccm(ipa::kCcmPing));
  ping_sent_at_ = conn_->reactor().clock().now();
  conn_->reactor().arm_timer(timer_, opt_.pong_timeout);
}

void RsproConn::on_timer(engine::Timer&, void* self) {
  auto* c = static_cast<RsproConn*>(self);
  if (!c->conn_) return;
  if (c->ping_sent_at_ != 0) {
    // No PONG in time: the link is dead (osmo-remsim's rule).
    ++c->pongs_missed_;
    CP_LOG_WARN("{}: no IPA PONG from {} within {} ms; closing", c->opt_.name,
                c->conn_->peer().to_string(), c->opt_.pong_timeout / kNanosPerMilli);
    c->conn_->abort();
    return;
  }
  c->send_ping();
}

void RsproConn::on_open(engine::Connection& c) {
  conn_ = &c;
  ping_sent_at_ = 0;
  send_ping();
  user_.on_rspro_open(*this);
}

size_t RsproConn::on_data(engine::Connection& c, std::span<const std::byte> data) {
  size_t used = 0;
  while (conn_) {
    const auto rest = data.subspan(used);
    const auto len = ipa::frame_length(rest);
    if (!len || rest.size() < *len) break;
    const auto frame = ipa::decode(rest.first(*len));
    used += *len;
    if (!frame) {
      CP_LOG_WARN("{}: {} from {}; closing", opt_.name, frame.error(), c.peer().to_string());
      c.abort();
      return data.size();
    }
    if (frame->proto == ipa::kProtoCcm) {
      const uint8_t type = frame->payload.empty() ? 0xFF : static_cast<uint8_t>(frame->payload[0]);
      if (type == ipa::kCcmPing) {
        c.send(ipa::encode_ccm(ipa::kCcmPong));
      } else if (type == ipa::kCcmPong) {
        if (ping_sent_at_ != 0) {
          ping_sent_at_ = 0;
          c.reactor().arm_timer(timer_, opt_.ping_interval);
        }
      } else {
        CP_LOG_DEBUG("{}: IPA CCM message {:#04x} ignored", opt_.name, type);
      }
      continue;
    }
    if (frame->proto != ipa::kProtoOsmo || frame->ext != ipa::kExtRspro) {
      CP_LOG_DEBUG("{}: IPA frame proto {:#04x} ignored", opt_.name, frame->proto);
      continue;
    }
    auto pdu = rspro::decode(frame->payload);
    if (!pdu) {
      CP_LOG_WARN("{}: undecodable RSPRO from {} ({}); closing", opt_.name, c.peer().to_string(),
                  pdu.error());
      c.abort();
      return data.size();
    }
    user_.on_rspro(*this, *pdu);
  }
  return used;
}

void RsproConn::on_close(engine::Connection& c, engine::CloseReason reason, int error) {
  c.reactor().cancel_timer(timer_);
  conn_ = nullptr;
  ping_sent_at_ = 0;
  user_.on_rspro_closed(*this, reason, error);
}

}  // namespace cp::remsim
