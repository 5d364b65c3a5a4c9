// The SMPP server's submit pipeline: submit_sm / data_sm -> the account's rate limit -> one
// SUBMIT per SMS segment over the shard's CoreLink -> submit_sm_resp with our message id once
// the core answered every segment (the record is durable). See server_impl.h.
#include <algorithm>
#include <utility>

#include "base/log.h"
#include "services/smpp/convert.h"
#include "services/smpp/server_impl.h"

namespace cp::smpp {

void SmppServer::Shard::handle_submit(Session& s, const pdu::Header& h,
                                      std::span<const std::byte> body) {
  const uint32_t resp = h.command_id | pdu::cmd::response_bit;
  auto refuse = [&](uint32_t status, std::string_view why) {
    shared.stats.submit_errors.fetch_add(1, std::memory_order_relaxed);
    CP_LOG_DEBUG("smpp {}: {} {} refused: {}", s.remote, pdu::command_name(h.command_id),
                 h.sequence, why);
    respond(s, resp, status, h.sequence);
  };
  if (!s.can_transmit()) return refuse(pdu::status::invbndsts, "a receiver bind");
  if (s.account->tps > 0) {
    const Nanos now = reactor.clock().now();
    s.tokens = std::min<double>(s.account->tps, s.tokens + static_cast<double>(now - s.tokens_at) *
                                                               s.account->tps / kNanosPerSecond);
    s.tokens_at = now;
    if (s.tokens < 1) return refuse(pdu::status::throttled, "over the account's tps");
    s.tokens -= 1;
  }
  if (!link || !link->up()) return refuse(pdu::status::throttled, "the SMSC core is not reachable");
  // data_sm (4.7.1) is submit_sm with its text in message_payload and fewer fields.
  Result<pdu::ShortMessage, pdu::Error> m = fail(pdu::Error{});
  if (h.command_id == pdu::cmd::data_sm) {
    auto d = pdu::decode_data_sm(body);
    if (!d) return refuse(d.error().status, d.error().what);
    pdu::ShortMessage sm;
    sm.service_type = d->service_type;
    sm.source_addr_ton = d->source.ton;
    sm.source_addr_npi = d->source.npi;
    sm.source_addr = d->source.addr;
    sm.dest_addr_ton = d->dest.ton;
    sm.dest_addr_npi = d->dest.npi;
    sm.destination_addr = d->dest.addr;
    sm.esm_class = d->esm_class;
    sm.registered_delivery = d->registered_delivery;
    sm.data_coding = d->data_coding;
    sm.tlvs = d->tlvs;
    if (!pdu::find_tlv(sm.tlvs, pdu::tag::message_payload))
      return refuse(pdu::status::missingoptparam, "data_sm without message_payload");
    m = sm;
  } else {
    m = pdu::decode_short_message(body);
  }
  if (!m) return refuse(m.error().status, m.error().what);
  InboundPolicy policy;
  policy.dc0 = s.account->dc0;
  policy.src_class = storage::SmeClass::downstream;
  if (s.peer_known) policy.src_peer = s.peer_index;
  policy.check_source_owner = !s.account->any_source;
  policy.untrusted = !s.account->trusted;
  auto in = to_submits(*m, policy, numdb.get(), reactor.clock().wall_now() / kNanosPerSecond,
                       concat_ref++, segments);
  if (!in) return refuse(in.error().status, in.error().what);
  // Without a user_message_reference nothing tells a retry from a second, equal message (a
  // client's sequence numbers restart with each bind): the core then checks no duplicates.
  if (!pdu::find_tlv(m->tlvs, pdu::tag::user_message_reference))
    in->base.flags |= smsc::wire::kSubmitNoReference;
  if (submits.full() || link->in_flight() + in->count > kSubmitsInFlightMax || !link->can_send())
    return refuse(pdu::status::throttled, "too many submits in flight");
  const uint32_t index = submits.take(static_cast<uint16_t>(in->count));
  submit_origins[index] = SubmitOrigin{&s, s.serial, h.sequence, resp};
  ++s.submits_in_flight;
  if (submits.send(*link, index, in->base, std::span(segments).first(in->count)))
    finish_submit(index);
}

void SmppServer::Shard::on_core_response(const wire::Message& m, uint64_t cookie) {
  if (cookie & kRequestCookie) return on_target_answer(m, cookie);
  if (auto done = submits.answered(m, cookie)) finish_submit(*done);
}

void SmppServer::Shard::finish_submit(uint32_t index) {
  const uint32_t status = submits[index].status;
  const uint64_t message_id = submits[index].first_id;
  const SubmitOrigin origin = std::exchange(submit_origins[index], {});
  submits.finish(*link, index);  // withdraws a long message's stored segments on failure
  Session& s = *origin.session;
  if (s.serial == origin.session_serial && s.state != Session::State::closed) {
    if (status == pdu::status::ok) {
      shared.stats.submits.fetch_add(1, std::memory_order_relaxed);
      std::byte buf[pdu::kHeaderBytes + 32];
      s.send(
          encode_id_resp_into(buf, origin.command, pdu::status::ok, origin.sequence, message_id));
    } else {
      shared.stats.submit_errors.fetch_add(1, std::memory_order_relaxed);
      respond(s, origin.command, status, origin.sequence);
    }
  }
  --s.submits_in_flight;
  if (s.state == Session::State::closed) {
    release_if_done(s);
  } else if (s.state == Session::State::unbinding && s.submits_in_flight == 0 && s.conn) {
    s.conn->close();
  } else if (s.conn && s.conn->reading_paused() && s.submits_in_flight < s.window() &&
             s.tx.empty()) {
    s.conn->resume_reading();
  }
}

void SmppServer::Shard::on_core_link(bool up) {
  if (up)
    CP_LOG_INFO("smpp: core {} connected to the SMSC core", reactor.core());
  else if (!reactor.stop_requested())
    CP_LOG_WARN("smpp: core {} lost the SMSC core; submits are answered ESME_RTHROTTLED",
                reactor.core());
}

}  // namespace cp::smpp
