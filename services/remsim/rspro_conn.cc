#include "services/remsim/rspro_conn.h"

#include "base/log.h"
#include "proto/ipa/ipa.h"

namespace cp::remsim {

namespace rspro = proto::rspro;

RsproConn::RsproConn(RsproUser& user, RsproOptions options)
    : ipa::IpaConn(static_cast<ipa::IpaUser&>(*this), std::move(options)), user_(user) {}

bool RsproConn::send(const rspro::Pdu& pdu) {
  if (!open()) return false;
  return send_frame(rspro::encode_frame(pdu, scratch_));
}

void RsproConn::on_ipa_open(ipa::IpaConn&) {
  user_.on_rspro_open(*this);
}

bool RsproConn::on_ipa_frame(ipa::IpaConn&, uint8_t ext, std::span<const std::byte> payload) {
  if (ext != proto::ipa::kExtRspro) {
    CP_LOG_DEBUG("{}: IPA OSMO extension {:#04x} ignored", options().name, ext);
    return true;
  }
  auto pdu = rspro::decode(payload);
  if (!pdu) {
    CP_LOG_WARN("{}: undecodable RSPRO from {} ({}); closing", options().name,
                connection()->peer().to_string(), pdu.error());
    return false;
  }
  user_.on_rspro(*this, *pdu);
  return true;
}

void RsproConn::on_ipa_closed(ipa::IpaConn&, engine::CloseReason reason, int error) {
  user_.on_rspro_closed(*this, reason, error);
}

}  // namespace cp::remsim
