#include "services/smpp/uplink.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "base/log.h"
#include "engine/reconnector.h"
#include "proto/smpp/pdu.h"
#include "services/smpp/convert.h"
#include "services/smpp/session.h"
#include "services/smsc/core.h"
#include "services/smsc/link.h"

namespace cp::smpp {

namespace pdu = proto::smpp;
namespace wire = smsc::wire;
using engine::CloseReason;
using engine::Connection;
using storage::SmRecord;

namespace {
constexpr Nanos kUplinkSweep = 250 * kNanosPerMilli;
constexpr Nanos kReceiptWait = 5 * kNanosPerSecond;
constexpr uint32_t kInboundMax = 256;  // deliver_sm (and receipts) being entered into the core

storage::Disposition disposition_of(pdu::MessageState s) {
  switch (s) {
    case pdu::MessageState::delivered:
      return storage::Disposition::delivered;
    case pdu::MessageState::expired:
      return storage::Disposition::expired;
    case pdu::MessageState::deleted:
      return storage::Disposition::cancelled;
    default:
      return storage::Disposition::failed_permanently;
  }
}
}  // namespace

struct SmppUplink::Impl final : engine::ConnectionHandler {
  // The core's answers come to one of two links: the role link (deliveries to the upstream, and
  // status reports, which only a role holder may submit) and the submit link.
  struct RoleUser final : smsc::CoreLinkUser {
    Impl& i;
    explicit RoleUser(Impl& impl) : i(impl) {}
    void on_core_request(const wire::Message& m) override { i.core_request(m); }
    void on_core_response(const wire::Message& m, uint64_t cookie) override {
      i.core_answered(m, cookie);
    }
  };
  struct SubmitUser final : smsc::CoreLinkUser {
    Impl& i;
    explicit SubmitUser(Impl& impl) : i(impl) {}
    void on_core_response(const wire::Message& m, uint64_t cookie) override {
      i.core_answered(m, cookie);
    }
  };

  // What a submit_sm of ours upstream carries until its response.
  struct UpSubmit {
    uint64_t core_rid = 0;
    bool srr = false;
    SmRecord record;  // what a later receipt needs
  };
  using OutRequests = Outstanding<UpSubmit>;
  // What a receipt needs of the message it reports on.
  struct Origin {
    uint64_t message_id = 0;
    storage::Address src, dst;
    uint16_t message_ref = 0;
    int64_t entry_ns = 0;
  };
  // Where the answer to a deliver_sm from upstream goes (by its SegmentedSubmits index).
  struct InOrigin {
    uint32_t sequence = 0;
    bool receipt = false;
    uint64_t conn_serial = 0;
  };

  UplinkOptions& opt;
  UplinkStats& stats;
  engine::Reactor* reactor = nullptr;
  RoleUser role_user{*this};
  SubmitUser submit_user{*this};
  std::unique_ptr<smsc::CoreLink> role;
  std::unique_ptr<smsc::CoreLink> submit_link;
  Connection* conn = nullptr;
  uint64_t conn_serial = 0;
  enum class State : uint8_t { down, connecting, binding, bound } state = State::down;
  Nanos last_rx = 0;
  Nanos state_since = 0;
  std::unique_ptr<engine::Reconnector> link;  // the upstream connection, kept up (start())
  engine::Timer sweep_timer;
  SequenceCounter sequences;
  OutRequests out;
  std::deque<wire::Message> waiting;
  std::unordered_map<std::string, Origin> origins;
  std::deque<std::string> origin_order;
  // Receipts for ids we do not know yet: the upstream may send a receipt before the
  // submit_sm_resp that tells us the id has been read (a fast final delivery). Held, unanswered,
  // until that response or kReceiptWait.
  struct HeldReceipt {
    std::string id;
    pdu::MessageState state = pdu::MessageState::unknown;
    uint32_t err = 0;
    uint32_t sequence = 0;
    uint64_t conn_serial = 0;
    Nanos since = 0;
  };
  std::deque<HeldReceipt> held;
  SegmentedSubmits ins{kInboundMax};
  std::vector<InOrigin> in_origins = std::vector<InOrigin>(kInboundMax);
  std::vector<pdu::SmsSegment> segments{255};
  SendQueue tx;
  OversizedPdu oversized;  // a PDU too long to hold, being skipped
  uint16_t concat_ref = 1;

  Impl(UplinkOptions& o, UplinkStats& s) : opt(o), stats(s) {}

  uint32_t submits_out() const { return out.count(OutRequests::Kind::request); }

  // ---- the upstream connection --------------------------------------------------------------

  // Before each connection attempt (engine::Reconnector).
  void attempting() {
    state = State::connecting;
    state_since = reactor->clock().now();
    stats.connects.fetch_add(1, std::memory_order_relaxed);
  }

  void send(std::span<const std::byte> bytes) { tx.send(conn, bytes); }
  void on_writable(Connection& c) override {
    tx.flush(c);
    if (tx.empty() && c.reading_paused()) c.resume_reading();
  }

  void on_open(Connection& c) override {
    conn = &c;
    ++conn_serial;
    state = State::binding;
    state_since = last_rx = reactor->clock().now();
    pdu::Bind b;
    b.system_id = opt.system_id;
    b.password = opt.password;
    b.system_type = opt.system_type;
    b.interface_version = opt.interface_version;
    send(pdu::encode_bind(pdu::cmd::bind_transceiver, sequences.next(), b));
  }

  // The daemon is stopping: unbind from the upstream, close on its unbind_resp.
  bool on_shutdown(Connection&) override {
    if (state != State::bound) return false;
    state = State::binding;  // no more submits
    role->set_service_up(false);
    unbinding = true;
    respond(pdu::cmd::unbind, 0, sequences.next());
    return true;
  }
  bool unbinding = false;

  void on_close(Connection&, CloseReason reason, int error) override {
    const bool was_bound = state == State::bound;
    conn = nullptr;
    state = State::down;
    tx.clear();
    stats.bound.store(false, std::memory_order_relaxed);
    if (was_bound) {
      CP_LOG_WARN("smpp uplink: link to {} lost ({}{}{}); reconnecting", opt.server.to_string(),
                  engine::to_string(reason), error ? ": " : "", error ? std::strerror(error) : "");
      role->set_service_up(false);
    } else {
      CP_LOG_DEBUG("smpp uplink: {} not reachable ({})", opt.server.to_string(),
                   error ? std::strerror(error) : engine::to_string(reason));
    }
    // What the upstream had not answered goes back to the core's queue.
    for (const auto& o : out.take_all()) {
      if (o.kind != OutRequests::Kind::request) continue;
      stats.submit_errors.fetch_add(1, std::memory_order_relaxed);
      answer_core(o.payload.core_rid, wire::Status::temporary_failure, 0);
    }
    while (!waiting.empty()) {
      answer_core(waiting.front().header.request_id, wire::Status::temporary_failure, 0);
      waiting.pop_front();
    }
    link->closed(reason);  // schedules the next attempt (not while the reactor stops)
    if (unbinding || reactor->stop_requested()) {
      link->stop();
      CP_LOG_INFO("smpp uplink: unbound from {} (shutdown)", opt.server.to_string());
    }
  }

  size_t on_data(Connection& c, std::span<const std::byte> data) override {
    last_rx = reactor->clock().now();
    return consume_frames(
        data, c.reactor().config().rx_buffer_bytes, oversized,
        [&](const pdu::Header& h, std::span<const std::byte> body) {
          if (!conn) return false;
          // An upstream that does not read what it asked for is not read either.
          if (tx.over_bound()) {
            c.pause_reading();
            return false;
          }
          handle(h, body);
          return true;
        },
        [&](const pdu::Error& e) {
          CP_LOG_WARN("smpp uplink: {} from the upstream; reconnecting", e.what);
          std::byte buf[pdu::kHeaderBytes];
          send(encode_header_into(buf, pdu::cmd::generic_nack, e.status, 0));
          c.close();
        },
        [&](const pdu::Header& h) {
          CP_LOG_WARN(
              "smpp uplink: a PDU of {} bytes (command {:#010x}) from the upstream is "
              "longer than we take ({}); answered ESME_RINVMSGLEN",
              h.length, h.command_id, c.reactor().config().rx_buffer_bytes);
          if (!(h.command_id & pdu::cmd::response_bit))
            respond(h.command_id | pdu::cmd::response_bit, pdu::status::invmsglen, h.sequence);
        });
  }

  void respond(uint32_t command, uint32_t status, uint32_t sequence) {
    std::byte buf[pdu::kHeaderBytes];
    send(encode_header_into(buf, command, status, sequence));
  }

  void handle(const pdu::Header& h, std::span<const std::byte> body) {
    const uint32_t resp = h.command_id | pdu::cmd::response_bit;
    switch (h.command_id) {
      case pdu::cmd::bind_transceiver | pdu::cmd::response_bit:
        if (state != State::binding) return;
        if (h.command_status != pdu::status::ok) {
          stats.bind_failures.fetch_add(1, std::memory_order_relaxed);
          CP_LOG_ERROR("smpp uplink: {} refused our bind as {} with status {:#x}",
                       opt.server.to_string(), opt.system_id, h.command_status);
          conn->close();
          return;
        }
        state = State::bound;
        link->succeeded();
        stats.binds.fetch_add(1, std::memory_order_relaxed);
        stats.bound.store(true, std::memory_order_relaxed);
        CP_LOG_INFO("smpp uplink: bound to {} as {} (transceiver)", opt.server.to_string(),
                    opt.system_id);
        role->set_service_up(true);
        return;
      case pdu::cmd::enquire_link:
        respond(resp, pdu::status::ok, h.sequence);
        return;
      case pdu::cmd::unbind:
        respond(resp, pdu::status::ok, h.sequence);
        CP_LOG_INFO("smpp uplink: the upstream unbinds; reconnecting");
        conn->close();
        return;
      case pdu::cmd::deliver_sm:
        if (state != State::bound) return respond(resp, pdu::status::invbndsts, h.sequence);
        return deliver_in(h, body);
      case pdu::cmd::submit_sm | pdu::cmd::response_bit:
      case pdu::cmd::enquire_link | pdu::cmd::response_bit:
      case pdu::cmd::generic_nack:
        return response(h, body);
      case pdu::cmd::unbind | pdu::cmd::response_bit:
        if (unbinding) conn->close();
        return;
      case pdu::cmd::alert_notification:
        // SMPP 3.4, 4.12: it has no response. We ask for no alerts (no data_sm waits here).
        CP_LOG_DEBUG("smpp uplink: alert_notification (seq {}) from the upstream; nothing to do",
                     h.sequence);
        return;
      default:
        if (h.response()) return;
        respond(h.command_id == pdu::cmd::data_sm ? resp : pdu::cmd::generic_nack,
                pdu::status::invcmdid, h.sequence);
    }
  }

  // ---- toward the upstream: the core's deliveries -------------------------------------------

  void answer_core(uint64_t rid, wire::Status status, uint32_t extra) {
    std::byte buf[wire::kMessageMax];
    role->respond(
        {buf, wire::encode_response(buf, wire::Type::deliver_to_peer, rid, status, 0, {}, extra)});
  }

  void core_request(const wire::Message& m) {
    if (m.header.type != wire::Type::deliver_to_peer) {
      std::byte buf[wire::kMessageMax];
      role->respond({buf, wire::encode_error(buf, static_cast<uint8_t>(m.header.type),
                                             m.header.request_id, wire::Status::unknown_type)});
      return;
    }
    if (state != State::bound) {
      answer_core(m.header.request_id, wire::Status::temporary_failure, 0);
      return;
    }
    waiting.push_back(m);
    pump();
  }

  void pump() {
    while (!waiting.empty() && state == State::bound && submits_out() < opt.window) {
      const wire::Message m = waiting.front();
      waiting.pop_front();
      const SmRecord& r = m.submit.record;
      if (r.flags & SmRecord::kFlagReport) {
        // Reports for upstream originators are the upstream's business (we never ask for them).
        answer_core(m.header.request_id, wire::Status::permanent_failure, 0);
        continue;
      }
      OutPdu pdu_out;
      const uint32_t seq = sequences.next();
      auto built = build_deliver(r, {opt.dc0, false}, seq, pdu::cmd::submit_sm, pdu_out);
      if (!built) {
        CP_LOG_WARN("smpp uplink: message {:#x} cannot be sent over SMPP: {}", r.message_id,
                    built.error().what);
        answer_core(m.header.request_id, wire::Status::permanent_failure, built.error().status);
        continue;
      }
      UpSubmit up;
      up.core_rid = m.header.request_id;
      up.srr = (r.flags & SmRecord::kFlagStatusReport) != 0;
      up.record = r;
      out.add(seq, pdu::cmd::submit_sm, OutRequests::Kind::request, reactor->clock().now(), up);
      send(pdu_out.bytes());
    }
  }

  void response(const pdu::Header& h, std::span<const std::byte> body) {
    auto taken = out.take(h);
    if (!taken) return;
    if (taken->kind != OutRequests::Kind::request) {
      pump();
      return;
    }
    const UpSubmit& o = taken->payload;
    if (h.command_status == pdu::status::ok) {
      stats.submits.fetch_add(1, std::memory_order_relaxed);
      uint32_t extra = 0;
      if (o.srr) {
        if (auto id = pdu::decode_message_id_resp(body); id && !id->empty()) {
          remember(std::string(*id), o.record);
          extra = wire::kReportFollows;
        }
      }
      answer_core(o.core_rid, wire::Status::ok, extra);
    } else {
      stats.submit_errors.fetch_add(1, std::memory_order_relaxed);
      const bool temporary = is_temporary_failure(h);
      CP_LOG_INFO("smpp uplink: submit_sm of {:#x} refused upstream with {:#x} ({})",
                  o.record.message_id, h.command_status, temporary ? "retried later" : "failed");
      answer_core(o.core_rid,
                  temporary ? wire::Status::temporary_failure : wire::Status::permanent_failure,
                  h.command_status);
    }
    if (!held.empty()) release_held(false);
    pump();
  }

  void remember(std::string upstream_id, const SmRecord& r) {
    Origin og;
    og.message_id = r.message_id;
    og.src = r.src;
    og.dst = r.dst_routed;
    og.message_ref = r.message_ref;
    og.entry_ns = r.time_entry_ns;
    if (origins.emplace(upstream_id, og).second) origin_order.push_back(std::move(upstream_id));
    while (origin_order.size() > opt.receipts_max) {
      origins.erase(origin_order.front());
      origin_order.pop_front();
    }
  }

  // ---- from the upstream: messages and receipts ---------------------------------------------

  void deliver_in(const pdu::Header& h, std::span<const std::byte> body) {
    const uint32_t resp = pdu::cmd::deliver_sm | pdu::cmd::response_bit;
    auto refuse = [&](uint32_t status, std::string_view why) {
      stats.deliver_errors.fetch_add(1, std::memory_order_relaxed);
      CP_LOG_INFO("smpp uplink: deliver_sm {} refused: {}", h.sequence, why);
      respond(resp, status, h.sequence);
    };
    auto m = pdu::decode_short_message(body);
    if (!m) return refuse(m.error().status, m.error().what);
    if (ins.full()) return refuse(pdu::status::throttled, "too many in flight");
    if (m->esm_class & 0x04) return receipt_in(h, *m);
    if (!submit_link->up()) return refuse(pdu::status::throttled, "the SMSC core is not reachable");
    InboundPolicy policy;
    policy.dc0 = opt.dc0;
    policy.src_class = storage::SmeClass::upstream;
    policy.check_source_owner = false;
    policy.untrusted = true;  // design 2.4.3: the outside world is preened
    pdu::ShortMessage plain = *m;
    plain.esm_class &= 0xC3;  // message type bits: an ordinary message
    auto in = to_submits(plain, policy, nullptr, reactor->clock().wall_now() / kNanosPerSecond,
                         concat_ref++, segments);
    if (!in) return refuse(in.error().status, in.error().what);
    // The upstream keeps its own receipts: no status report from us for what it sends.
    in->base.record.flags &= static_cast<uint8_t>(~SmRecord::kFlagStatusReport);
    // No user_message_reference: nothing tells a retry from a second, equal message.
    if (!pdu::find_tlv(m->tlvs, pdu::tag::user_message_reference))
      in->base.flags |= smsc::wire::kSubmitNoReference;
    const uint32_t index = take_in(h.sequence, static_cast<uint16_t>(in->count), false);
    if (ins.send(*submit_link, index, in->base, std::span(segments).first(in->count)))
      finish_in(index);
  }

  void receipt_in(const pdu::Header& h, const pdu::ShortMessage& m) {
    const uint32_t resp = pdu::cmd::deliver_sm | pdu::cmd::response_bit;
    std::string_view id;
    if (auto t = pdu::find_tlv(m.tlvs, pdu::tag::receipted_message_id); t && !t->value.empty())
      id = std::string_view(reinterpret_cast<const char*>(t->value.data()), t->value.size() - 1);
    const std::string_view text(reinterpret_cast<const char*>(m.short_message.data()),
                                m.short_message.size());
    auto parsed = pdu::parse_receipt(text);
    if (id.empty() && parsed) id = parsed->id;
    pdu::MessageState final_state = parsed ? parsed->state : pdu::MessageState::unknown;
    if (auto t = pdu::find_tlv(m.tlvs, pdu::tag::message_state); t && t->value.size() == 1)
      final_state = static_cast<pdu::MessageState>(t->value[0]);
    if (final_state == pdu::MessageState::enroute || final_state == pdu::MessageState::accepted) {
      // An intermediate receipt: the final one comes later.
      respond(resp, pdu::status::ok, h.sequence);
      return;
    }
    HeldReceipt r;
    r.id = std::string(id);
    r.state = final_state;
    r.err = parsed ? parsed->err : 0;
    r.sequence = h.sequence;
    r.conn_serial = conn_serial;
    r.since = reactor->clock().now();
    if (origins.count(r.id) == 0 && submits_out() > 0 && held.size() < 1024) {
      held.push_back(std::move(r));
      return;
    }
    apply_receipt(r);
  }

  // A final receipt: a status report for our message's originator, deliver_sm_resp once durable.
  void apply_receipt(const HeldReceipt& rc) {
    const uint32_t resp = pdu::cmd::deliver_sm | pdu::cmd::response_bit;
    auto it = origins.find(rc.id);
    if (it == origins.end()) {
      stats.receipts_unmatched.fetch_add(1, std::memory_order_relaxed);
      CP_LOG_DEBUG("smpp uplink: receipt for unknown upstream id '{}'", rc.id);
      if (conn && rc.conn_serial == conn_serial) respond(resp, pdu::status::ok, rc.sequence);
      return;
    }
    const Origin og = it->second;
    wire::Submit sub;
    SmRecord& r = sub.record;
    r.src = og.dst;
    r.dst_written = og.src;
    r.src_class = static_cast<uint8_t>(storage::SmeClass::upstream);
    r.message_ref = og.message_ref;
    r.flags = SmRecord::kFlagReport;
    r.dcs = 0x04;
    smsc::StatusReport rep;
    rep.message_id = og.message_id;
    rep.submitted_ns = og.entry_ns;
    rep.done_ns = reactor->clock().wall_now();
    rep.disposition = static_cast<uint8_t>(disposition_of(rc.state));
    rep.extra_info = rc.err;
    std::memcpy(r.user_data, &rep, sizeof rep);
    r.ud_length = sizeof rep;
    const uint32_t index = take_in(rc.sequence, 1, true);
    in_origins[index].conn_serial = rc.conn_serial;
    std::byte buf[wire::kMessageMax];
    if (!role->send({buf, wire::encode_submit(buf, 0, sub)}, ins.cookie(index))) {
      ins.refused(index, 1);
      return finish_in(index);
    }
    origins.erase(it);  // one final receipt per message
  }

  // After a submit_sm_resp: receipts that were waiting for its id, and those waited too long.
  void release_held(bool only_expired) {
    const Nanos now = reactor->clock().now();
    for (auto it = held.begin(); it != held.end();) {
      const bool known = origins.count(it->id) != 0;
      if ((known && !only_expired) || now - it->since > kReceiptWait ||
          it->conn_serial != conn_serial || (!known && submits_out() == 0)) {
        const HeldReceipt r = std::move(*it);
        it = held.erase(it);
        if (ins.full()) {
          held.push_front(r);
          return;
        }
        apply_receipt(r);
      } else {
        ++it;
      }
    }
  }

  uint32_t take_in(uint32_t sequence, uint16_t total, bool receipt) {
    const uint32_t index = ins.take(total);
    in_origins[index] = InOrigin{sequence, receipt, conn_serial};
    return index;
  }

  void core_answered(const wire::Message& m, uint64_t cookie) {
    if (auto done = ins.answered(m, cookie)) finish_in(*done);
  }

  void finish_in(uint32_t index) {
    const uint32_t status = ins[index].status;
    const InOrigin x = in_origins[index];
    ins.finish(*submit_link, index);  // withdraws a long message's stored segments on failure
    if (conn && x.conn_serial == conn_serial) {
      if (status == pdu::status::ok) {
        stats.delivers.fetch_add(1, std::memory_order_relaxed);
        if (x.receipt) stats.receipts.fetch_add(1, std::memory_order_relaxed);
      } else {
        stats.deliver_errors.fetch_add(1, std::memory_order_relaxed);
      }
      std::byte buf[48];
      send(encode_empty_id_resp_into(buf, pdu::cmd::deliver_sm | pdu::cmd::response_bit, status,
                                     x.sequence));
    }
  }

  // ---- timers -------------------------------------------------------------------------------

  static void on_sweep(engine::Timer&, void* self) {
    auto* i = static_cast<Impl*>(self);
    i->sweep();
    i->reactor->arm_timer(i->sweep_timer, kUplinkSweep);
  }
  void sweep() {
    if (!held.empty()) release_held(true);
    if (!conn) return;
    const Nanos now = reactor->clock().now();
    if (state == State::binding && now - state_since > opt.response_timeout) {
      CP_LOG_WARN("smpp uplink: no bind response from {}; reconnecting", opt.server.to_string());
      conn->abort();
      return;
    }
    if (state != State::bound) return;
    switch (keepalive(out, now, last_rx, opt.response_timeout, opt.enquire_interval)) {
      case KeepaliveAction::give_up:
        CP_LOG_WARN("smpp uplink: the upstream left a request unanswered for {} s; reconnecting",
                    opt.response_timeout / kNanosPerSecond);
        conn->abort();
        return;
      case KeepaliveAction::send_enquire_link: {
        const uint32_t seq = sequences.next();
        out.add(seq, pdu::cmd::enquire_link, OutRequests::Kind::enquire_link, now);
        respond(pdu::cmd::enquire_link, 0, seq);
        return;
      }
      case KeepaliveAction::none:
        return;
    }
  }
};

SmppUplink::SmppUplink(UplinkOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(options_, stats_)) {}

SmppUplink::~SmppUplink() = default;

Result<void, std::string> SmppUplink::start(engine::Reactor& reactor) {
  Impl& i = *impl_;
  i.reactor = &reactor;
  auto core = SocketAddress::parse("unix:" + options_.core_socket);
  if (!core) return fail("smpp uplink: core socket: " + core.error());
  smsc::CoreLinkOptions ro;
  ro.name = "smpp uplink role";
  ro.has_role = true;
  ro.role = {wire::Role::peer, ""};
  ro.in_flight_max = 256;
  i.role = std::make_unique<smsc::CoreLink>(reactor, *core, ro, i.role_user);
  smsc::CoreLinkOptions so;
  so.name = "smpp uplink";
  i.submit_link = std::make_unique<smsc::CoreLink>(reactor, *core, so, i.submit_user);
  i.role->start();
  i.submit_link->start();
  i.sweep_timer.set_callback(&Impl::on_sweep, &i);
  reactor.arm_timer(i.sweep_timer, kUplinkSweep);
  CP_LOG_INFO("smpp uplink: connecting to {} as {}", options_.server.to_string(),
              options_.system_id);
  engine::ReconnectorOptions lo;
  lo.min = options_.reconnect_min;
  lo.max = options_.reconnect_max;
  lo.seed = reinterpret_cast<uintptr_t>(&i);
  lo.on_attempt = [&i] { i.attempting(); };
  i.link = std::make_unique<engine::Reconnector>(reactor, i, options_.server, std::move(lo));
  i.link->start();
  return {};
}

}  // namespace cp::smpp
