// The SMPP server's requests about a message it took: query_sm and cancel_sm by message id ->
// QUERY / CANCEL over the shard's CoreLink, each naming the peer as the owner, so a peer sees
// and cancels only its own messages (another's id is answered as unknown) -> query_sm_resp /
// cancel_sm_resp. See server_impl.h and docs/SMPP.md.
#include <utility>

#include "base/log.h"
#include "proto/smpp/coding.h"
#include "services/smpp/convert.h"
#include "services/smpp/server_impl.h"

namespace cp::smpp {

namespace {

// SMPP 3.4 message_state (5.2.28) of what the core says.
uint8_t message_state(const wire::QueryResult& r) {
  if (r.state == static_cast<uint8_t>(storage::RecordState::active)) return 1;  // ENROUTE
  switch (static_cast<storage::Disposition>(r.disposition)) {
    case storage::Disposition::delivered:
    case storage::Disposition::stored_only:
      return 2;  // DELIVERED
    case storage::Disposition::expired:
      return 3;  // EXPIRED
    case storage::Disposition::cancelled:
      return 4;  // DELETED
    case storage::Disposition::failed_permanently:
      return 5;  // UNDELIVERABLE
    default:
      return 7;  // UNKNOWN
  }
}

}  // namespace

void SmppServer::Shard::handle_target(Session& s, const pdu::Header& h,
                                      std::span<const std::byte> body) {
  const uint32_t resp = h.command_id | pdu::cmd::response_bit;
  const bool query = h.command_id == pdu::cmd::query_sm;
  const uint32_t failed = query ? pdu::status::queryfail : pdu::status::cancelfail;
  auto refuse = [&](uint32_t status, std::string_view why) {
    CP_LOG_DEBUG("smpp {}: {} {} refused: {}", s.remote, pdu::command_name(h.command_id),
                 h.sequence, why);
    respond(s, resp, status, h.sequence);
  };
  if (s.state != Session::State::bound || !s.can_transmit())
    return refuse(pdu::status::invbndsts, "not a transmitter bind");
  std::string_view id_text;
  wire::Target t;
  if (query) {
    auto q = pdu::decode_query_sm(body);
    if (!q) return refuse(q.error().status, q.error().what);
    id_text = q->message_id;
  } else {
    auto c = pdu::decode_cancel_sm(body);
    if (!c) return refuse(c.error().status, c.error().what);
    id_text = c->message_id;
    if (id_text.empty()) {
      // Every message of this peer from the source to the destination (its service_type is not
      // kept, so not matched).
      t.by = wire::TargetBy::oa_da_all;
      if (!set_address(t.oa, c->source.addr, c->source.ton, c->source.npi))
        return refuse(pdu::status::invsrcadr, "source_addr");
      if (!set_address(t.da, c->dest.addr, c->dest.ton, c->dest.npi))
        return refuse(pdu::status::invdstadr, "destination_addr");
    }
  }
  std::optional<uint64_t> id = 0;
  if (t.by == wire::TargetBy::message_id) id = parse_message_id(id_text);
  if (!id) return refuse(pdu::status::invmsgid, "not one of our message ids");
  if (!s.peer_known) return refuse(failed, "the account names no peer");
  if (!link || !link->up()) return refuse(pdu::status::throttled, "the SMSC core is not reachable");
  if (free_requests.empty() || !link->can_send())
    return refuse(pdu::status::throttled, "too many requests in flight");
  const uint32_t index = free_requests.back();
  free_requests.pop_back();
  PeerRequest& r = requests[index];
  r.generation = (r.generation + 1) & 0x7FFFFFFFu;  // bit 63 is kRequestCookie's
  r.used = true;
  r.session = &s;
  r.session_serial = s.serial;
  r.sequence = h.sequence;
  r.command = h.command_id;
  r.message_id = *id;
  t.message_id = *id;
  t.check_owner = true;  // the peer's own messages only
  t.owner_class = static_cast<uint8_t>(storage::SmeClass::downstream);
  t.owner_peer = s.peer_index;
  std::byte buf[wire::kMessageMax];
  const uint64_t cookie = kRequestCookie | (uint64_t{r.generation} << 32) | index;
  const size_t n = wire::encode_target(buf, query ? wire::Type::query : wire::Type::cancel, 0, t);
  if (!link->send({buf, n}, cookie)) {
    r.used = false;
    free_requests.push_back(index);
    refuse(pdu::status::throttled, "the SMSC core link is full");
  }
}

void SmppServer::Shard::on_target_answer(const wire::Message& m, uint64_t cookie) {
  const auto index = static_cast<uint32_t>(cookie & 0xFFFFFFFFu);
  if (index >= requests.size()) return;
  PeerRequest& r = requests[index];
  if (!r.used || r.generation != static_cast<uint32_t>((cookie & ~kRequestCookie) >> 32)) return;
  const PeerRequest done = std::exchange(r, PeerRequest{.generation = r.generation});
  free_requests.push_back(index);
  Session& s = *done.session;
  if (s.serial != done.session_serial || s.state == Session::State::closed) return;
  const uint32_t resp = done.command | pdu::cmd::response_bit;
  const bool query = done.command == pdu::cmd::query_sm;
  const wire::Status st = m.header.status;
  if (st == wire::Status::busy || (query && st == wire::Status::temporary_failure) ||
      st == wire::Status::not_registered) {
    return respond(s, resp, pdu::status::throttled, done.sequence);  // lost with the link: retry
  }
  if (st != wire::Status::ok)
    return respond(s, resp, query ? pdu::status::queryfail : pdu::status::cancelfail,
                   done.sequence);
  if (!query) return respond(s, resp, pdu::status::ok, done.sequence);
  char id[17];
  const size_t id_len = format_message_id(done.message_id, id);
  char final_date[17] = {};
  pdu::QuerySmResp q;
  q.message_id = {id, id_len};
  if (m.query.discharge_ns != 0) {
    pdu::format_time(m.query.discharge_ns / kNanosPerSecond, final_date);
    q.final_date = {final_date, 16};
  }
  q.message_state = message_state(m.query);
  // The network or SMPP error of a failed message, as far as one octet holds it.
  if (q.message_state == 5) q.error_code = static_cast<uint8_t>(m.query.extra_info & 0xFF);
  s.send(pdu::encode_query_sm_resp(pdu::status::ok, done.sequence, q));
}

}  // namespace cp::smpp
