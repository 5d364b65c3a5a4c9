#include "services/remsim/bankd.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "base/log.h"
#include "base/log_throttle.h"
#include "engine/reconnector.h"

namespace cp::remsim {

namespace rspro = proto::rspro;
using rspro::BankSlot;
using rspro::ClientSlot;
using rspro::MsgType;
using rspro::ResultCode;

namespace {
constexpr uint32_t kConnectClientResTag = 2342;  // as osmo-remsim's bankd sends it
constexpr const char* kSoftware = "cellplane-bankd";
constexpr const char* kVersion = "0.1.0";
constexpr size_t kQueuedTpdusMax = 8;

uint32_t key(ClientSlot c) {
  return uint32_t{c.client_id} << 16 | c.slot;
}
ClientSlot client_of(uint32_t k) {
  return {static_cast<uint16_t>(k >> 16), static_cast<uint16_t>(k & 0xFFFF)};
}
}  // namespace

std::string_view to_string(WorkerState s) {
  switch (s) {
    case WorkerState::wait_id:
      return "CONNECTED_WAIT_ID";
    case WorkerState::client_wait_map:
      return "CONNECTED_CLIENT_WAIT_MAP";
    case WorkerState::mapped:
      return "CONNECTED_CLIENT_MAPPED";
    case WorkerState::mapped_card:
      return "CONNECTED_CLIENT_MAPPED_CARD";
    case WorkerState::closing:
      return "CLOSING";
  }
  return "?";
}

struct Bankd::Core final : engine::Acceptor {
  Bankd* bankd = nullptr;
  unsigned index = 0;
  engine::Reactor* reactor = nullptr;
  mutable std::mutex mu;  // guards `workers` growth and the view fields (read by workers())
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<uint32_t> free;
  LogThrottle disallowed_log;  // this core's refusals: a line every 10 s at most
  LogThrottle refused_log;     // over max_connections, the same
  engine::ConnectionHandler* on_accept(engine::Connection& conn) override;
};

// One client connection and the card it is mapped to.
class Bankd::Worker final : public RsproUser {
 public:
  Worker(Bankd& b, Core& core, uint32_t index)
      : b_(b), core_(core), index_(index), conn_(*this, b.opt_.rspro) {
    timer_.set_callback(&Worker::on_timer, this);
  }

  RsproConn& conn() { return conn_; }
  uint64_t cookie() const { return uint64_t{gen_} << 32 | uint64_t{core_.index} << 24 | index_; }

  WorkerView view() const {
    WorkerView v;
    v.core = core_.index;
    v.remote = remote_;
    v.state = state_;
    if (has_client_) v.client = client_;
    if (has_bank_) v.bank = bank_;
    v.tpdus = tpdus_.load(std::memory_order_relaxed);
    return v;
  }
  bool serves(BankSlot bank) const { return has_bank_ && bank_ == bank; }
  bool waits_for(ClientSlot c) const {
    return state_ == WorkerState::client_wait_map && has_client_ && client_ == c;
  }

  void on_rspro_open(RsproConn& c) override {
    ++gen_;
    set_state(WorkerState::wait_id);
    {
      std::lock_guard lock(core_.mu);
      remote_ = c.connection()->peer().to_string();
    }
    {
      std::lock_guard lock(core_.mu);
      has_client_ = has_bank_ = false;
    }
    connect_res_pending_ = busy_ = false;
    pending_reset_.reset();
    queued_.clear();
    last_vcc_ = true;
    last_rst_ = false;
    tpdus_.store(0, std::memory_order_relaxed);
    c.connection()->reactor().arm_timer(timer_, b_.opt_.id_timeout);
  }

  void on_rspro_closed(RsproConn&, engine::CloseReason, int) override {
    core_.reactor->cancel_timer(timer_);
    if (has_bank_) {
      CardRequest r;
      r.op = CardOp::close;
      r.slot = bank_.slot;
      r.cookie = 0;  // nobody waits for it
      (void)b_.backend_->submit(r);
    }
    release_identity();
    if (state_ != WorkerState::wait_id)
      CP_LOG_INFO("bankd: client {} ({}) disconnected", label(), remote_);
    ++gen_;  // late card replies are for nobody
    set_state(WorkerState::closing);
    {
      std::lock_guard lock(core_.mu);
      has_client_ = has_bank_ = false;
      core_.free.push_back(index_);
    }
    b_.stats_.clients_open.fetch_sub(1, std::memory_order_relaxed);
  }

  void on_rspro(RsproConn&, const rspro::Pdu& pdu) override {
    switch (pdu.type) {
      case MsgType::connect_client_req:
        if (state_ == WorkerState::wait_id) return on_connect(pdu);
        break;
      case MsgType::tpdu_modem_to_card:
        if (state_ == WorkerState::mapped_card) return on_tpdu(pdu);
        // No card behind this connection (any more): the client learns why on reconnecting.
        CP_LOG_NOTICE("bankd: TPDU from {} without a card ({}); closing", label(),
                      to_string(state_));
        close_connection();
        return;
      case MsgType::client_slot_status_ind:
        if (state_ == WorkerState::mapped_card) return on_slot_status(pdu);
        return;
      case MsgType::set_atr_res:
        return;
      case MsgType::error_ind:
        CP_LOG_WARN("bankd: client {} reports error {}{}{}", label(), pdu.error.code,
                    pdu.error.error_string ? ": " : "", pdu.error.error_string.value_or(""));
        return;
      default:
        break;
    }
    CP_LOG_WARN("bankd: unexpected {} from {} in state {}; ignored", rspro::to_string(pdu.type),
                label(), to_string(state_));
  }

  // The client slot is free for a new connection (this one keeps its own copy for the logs).
  // Called when the bank itself ends the connection, before the close completes: the client
  // reconnects as soon as it sees the close, maybe on another core, and must not be refused
  // as "connected already" by a connection that is only lingering (and again at on_close).
  void release_identity() {
    if (!has_client_) return;
    std::lock_guard lock(b_.mu_);
    auto it = b_.connected_clients_.find(key(client_));
    if (it != b_.connected_clients_.end() && it->second == cookie())
      b_.connected_clients_.erase(it);
  }
  void close_connection() {
    release_identity();
    conn_.close();
  }

  // The client's mapping appeared (cross-core broadcast, or at once on this core).
  void mapping_added() {
    if (state_ != WorkerState::client_wait_map) return;
    if (!find_mapping()) return;
    open_card();
  }
  void mapping_removed() {
    CP_LOG_INFO("bankd: mapping of {} removed; closing its connection", label());
    close_connection();
  }

  void on_card(const CardReply& r) {
    switch (r.op) {
      case CardOp::open:
        return on_open_reply(r);
      case CardOp::transmit:
        busy_ = false;
        if (r.code != ResultCode::ok) return card_failed(r);
        send_tpdu_response(r.bytes());
        drain_queue();
        return;
      case CardOp::reset_cold:
      case CardOp::reset_warm:
        busy_ = false;
        if (r.code != ResultCode::ok) return card_failed(r);
        drain_queue();
        return;
      case CardOp::poll:
        busy_ = false;
        if (r.code != ResultCode::ok && state_ == WorkerState::mapped_card) return card_failed(r);
        drain_queue();
        return;
      case CardOp::close:
        return;
    }
  }

 private:
  std::string label() const {
    if (!has_client_) return remote_;
    return fmt::format("C{}:{}", client_.client_id, client_.slot);
  }
  void set_state(WorkerState s) {
    std::lock_guard lock(core_.mu);
    state_ = s;
  }
  void send_connect_res(ResultCode code) {
    rspro::Pdu res;
    res.type = MsgType::connect_client_res;
    res.tag = kConnectClientResTag;
    res.identity = {rspro::ComponentType::bankd, b_.opt_.name, kSoftware, kVersion, {}};
    res.result = code;
    conn_.send(res);
  }

  void on_connect(const rspro::Pdu& pdu) {
    if (pdu.version != rspro::kVersion) {
      CP_LOG_WARN("bankd: client from {} refused: RSPRO version {} (we speak {})", remote_,
                  pdu.version, rspro::kVersion);
      send_connect_res(ResultCode::unsupported_protocol_version);
      conn_.close();
      return;
    }
    if (!pdu.client_slot) {
      send_connect_res(ResultCode::illegal_client_id);
      conn_.close();
      return;
    }
    {
      std::lock_guard lock(b_.mu_);
      auto [it, inserted] = b_.connected_clients_.emplace(key(*pdu.client_slot), cookie());
      if (!inserted) {
        CP_LOG_WARN("bankd: client {}:{} from {} refused: it is connected already",
                    pdu.client_slot->client_id, pdu.client_slot->slot, remote_);
        send_connect_res(ResultCode::identity_in_use);
        conn_.close();
        return;
      }
    }
    core_.reactor->cancel_timer(timer_);
    {
      std::lock_guard lock(core_.mu);
      client_ = *pdu.client_slot;
      has_client_ = true;
    }
    ++b_.stats_.clients_accepted;
    if (!find_mapping()) {
      CP_LOG_INFO("bankd: client {} connected from {}; no mapping yet", label(), remote_);
      set_state(WorkerState::client_wait_map);
      send_connect_res(ResultCode::card_not_present);
      return;
    }
    CP_LOG_INFO("bankd: client {} connected from {}; bank slot {}", label(), remote_, bank_.slot);
    connect_res_pending_ = true;
    open_card();
  }

  bool find_mapping() {
    std::lock_guard lock(b_.mu_);
    for (const auto& [slot, c] : b_.maps_) {
      if (c != client_) continue;
      std::lock_guard vlock(core_.mu);
      bank_ = {b_.opt_.bank_id, static_cast<uint16_t>(slot)};
      has_bank_ = true;
      return true;
    }
    return false;
  }

  void open_card() {
    set_state(WorkerState::mapped);
    submit(CardOp::open, {});
  }

  void submit(CardOp op, std::span<const std::byte> data) {
    CardRequest r;
    r.op = op;
    r.slot = bank_.slot;
    r.cookie = cookie();
    r.len = static_cast<uint16_t>(data.size());
    if (!data.empty()) std::memcpy(r.data.data(), data.data(), data.size());
    busy_ = true;
    if (auto reply = b_.backend_->submit(r)) on_card(*reply);
  }

  void on_open_reply(const CardReply& r) {
    busy_ = false;
    if (r.code != ResultCode::ok || r.len == 0 || r.len > 55) {
      const ResultCode code = r.code == ResultCode::ok ? ResultCode::card_unresponsive : r.code;
      if (connect_res_pending_) {
        connect_res_pending_ = false;
        send_connect_res(code);
      }
      core_.reactor->arm_timer(timer_, b_.opt_.card_retry);  // try again (card inserted?)
      return;
    }
    if (connect_res_pending_) {
      connect_res_pending_ = false;
      send_connect_res(ResultCode::ok);
    }
    rspro::Pdu atr;
    atr.type = MsgType::set_atr_req;
    atr.client = client_;
    atr.atr = r.bytes();
    conn_.send(atr);
    set_state(WorkerState::mapped_card);
    core_.reactor->arm_timer(timer_, b_.opt_.card_retry);
  }

  void on_tpdu(const rspro::Pdu& pdu) {
    if (!(pdu.bank == bank_) || pdu.data.size() > kCardBytesMax) {
      CP_LOG_WARN("bankd: TPDU from {} for bank slot {}:{}, which is not its own; closing", label(),
                  pdu.bank.bank_id, pdu.bank.slot);
      close_connection();
      return;
    }
    tpdus_.fetch_add(1, std::memory_order_relaxed);
    b_.stats_.tpdus.fetch_add(1, std::memory_order_relaxed);
    if (busy_) {
      if (queued_.size() >= kQueuedTpdusMax) {
        CP_LOG_WARN("bankd: {} sent more than {} TPDUs without waiting; closing", label(),
                    kQueuedTpdusMax);
        conn_.close();
        return;
      }
      queued_.emplace_back(pdu.data.begin(), pdu.data.end());
      return;
    }
    submit(CardOp::transmit, pdu.data);
  }

  // The next card operation once the card is free: a reset the modem asked for meanwhile first
  // (it must reach the card before any later APDU), then the queued APDUs in order.
  void drain_queue() {
    if (busy_ || state_ != WorkerState::mapped_card) return;
    if (pending_reset_) {
      const CardOp op = *std::exchange(pending_reset_, std::nullopt);
      submit(op, {});
      return;
    }
    if (queued_.empty()) return;
    std::vector<std::byte> next = std::move(queued_.front());
    queued_.pop_front();
    submit(CardOp::transmit, next);
  }

  void send_tpdu_response(std::span<const std::byte> data) {
    rspro::Pdu res;
    res.type = MsgType::tpdu_card_to_modem;
    res.bank = bank_;
    res.client = client_;
    res.data = data;
    conn_.send(res);
  }

  void on_slot_status(const rspro::Pdu& pdu) {
    const bool vcc = pdu.status.vcc_present.value_or(true);
    const bool rst = pdu.status.reset_active;
    std::optional<CardOp> op;
    if (!vcc && last_vcc_) {
      op = CardOp::reset_cold;  // falling edge on VCC
    } else if (vcc && rst && !last_rst_) {
      op = CardOp::reset_warm;  // rising edge on RST with power
    }
    last_vcc_ = vcc;
    last_rst_ = rst;
    if (!op) return;
    ++b_.stats_.resets;
    if (busy_) {
      // An APDU is at the card: its answer comes first, then the reset (a cold one wins over a
      // warm one asked for meanwhile), before anything queued after it.
      if (pending_reset_ != CardOp::reset_cold) pending_reset_ = *op;
      return;
    }
    submit(*op, {});
  }

  void card_failed(const CardReply& r) {
    ++b_.stats_.card_errors;
    CP_LOG_WARN("bankd: card of {} (bank slot {}) failed: result {}; closing", label(), bank_.slot,
                static_cast<int>(r.code));
    rspro::Pdu ind;
    ind.type = MsgType::bank_slot_status_ind;
    ind.bank = bank_;
    ind.client = client_;
    ind.status.card_present = r.code != ResultCode::card_not_present;
    conn_.send(ind);
    close_connection();
  }

  static void on_timer(engine::Timer&, void* self) {
    auto* w = static_cast<Worker*>(self);
    switch (w->state_) {
      case WorkerState::wait_id:
        // A line per 10 s at most per core: silent connections do not flood the log.
        thread_local LogThrottle id_timeout_log;
        if (uint64_t held = 0;
            w->conn_.connection() != nullptr &&
            id_timeout_log.pass(w->conn_.connection()->reactor().clock().now(), held))
          CP_LOG_NOTICE(
              "bankd: {} did not identify itself within {} ms; closing ({} more since the last "
              "line)",
              w->remote_, w->b_.opt_.id_timeout / kNanosPerMilli, held);
        w->conn_.close();
        return;
      case WorkerState::mapped:
        if (!w->busy_) w->submit(CardOp::open, {});
        return;
      case WorkerState::mapped_card:
        // Insertion and removal: a status check between APDUs.
        if (!w->busy_) w->submit(CardOp::poll, {});
        if (w->conn_.open()) w->core_.reactor->arm_timer(w->timer_, w->b_.opt_.card_retry);
        return;
      default:
        return;
    }
  }

  Bankd& b_;
  Core& core_;
  uint32_t index_;
  uint32_t gen_ = 0;
  RsproConn conn_;
  engine::Timer timer_;
  WorkerState state_ = WorkerState::closing;
  std::string remote_;
  ClientSlot client_;
  BankSlot bank_;
  bool has_client_ = false, has_bank_ = false;
  bool connect_res_pending_ = false;
  bool busy_ = false;
  std::optional<CardOp> pending_reset_;  // asked for while busy_
  bool last_vcc_ = true, last_rst_ = false;
  std::deque<std::vector<std::byte>> queued_;
  std::atomic<uint64_t> tpdus_{0};
};

engine::ConnectionHandler* Bankd::Core::on_accept(engine::Connection& conn) {
  if (!bankd->opt_.allow.allows(conn.peer())) {
    bankd->stats_.clients_disallowed.fetch_add(1, std::memory_order_relaxed);
    if (uint64_t held; disallowed_log.pass(reactor->clock().now(), held)) {
      CP_LOG_WARN(
          "bankd: refusing {}: not in [bankd] allow ({} more refused since the last "
          "line)",
          conn.peer().to_string(), held);
    }
    return nullptr;
  }
  if (bankd->stats_.clients_open.fetch_add(1, std::memory_order_relaxed) >=
      bankd->opt_.max_connections) {
    bankd->stats_.clients_open.fetch_sub(1, std::memory_order_relaxed);
    bankd->stats_.clients_refused.fetch_add(1, std::memory_order_relaxed);
    if (uint64_t held; refused_log.pass(reactor->clock().now(), held)) {
      CP_LOG_WARN(
          "bankd: {} client connections open ([bankd] max_connections); refusing {} ({} more "
          "refused since the last line)",
          bankd->opt_.max_connections, conn.peer().to_string(), held);
    }
    return nullptr;
  }
  std::lock_guard lock(mu);
  uint32_t i;
  if (!free.empty()) {
    i = free.back();
    free.pop_back();
  } else {
    i = static_cast<uint32_t>(workers.size());
    workers.push_back(std::make_unique<Worker>(*bankd, *this, i));
  }
  return &workers[i]->conn();
}

// The control link to the remsim server (reactor 0).
class Bankd::Control final : public RsproUser {
 public:
  Control(Bankd& b, engine::Reactor& r)
      : b_(b),
        r_(r),
        conn_(*this, b.opt_.rspro),
        link_(r, conn_, b.opt_.server,
              {b.opt_.reconnect_min,
               b.opt_.reconnect_max,
               uint64_t{0x5eed} ^ b.opt_.bank_id,
               {},
               {}}) {}

  void connect() { link_.start(); }
  // Drops the link to the server; it reconnects (with backoff) and the server sends the
  // mappings again.
  void drop() { conn_.close(); }

  void on_rspro_open(RsproConn&) override {
    ++b_.stats_.server_connects;
    rspro::Pdu req;
    req.type = MsgType::connect_bank_req;
    req.identity = {rspro::ComponentType::bankd, b_.opt_.name, kSoftware, kVersion, {}};
    req.bank_id = b_.opt_.bank_id;
    // RSPRO's numberOfSlots is a SlotNumber (0..1023): a full bank of 1,024 says 1023, which
    // the server reads as "slots 0..1023".
    req.number_of_slots = std::min<uint16_t>(b_.backend_->slots(), 1023);
    conn_.send(req);
  }

  void on_rspro_closed(RsproConn&, engine::CloseReason reason, int) override {
    if (b_.stats_.server_up.exchange(false))
      CP_LOG_WARN("bankd: lost the remsim server at {} ({}); mappings kept, reconnecting",
                  b_.opt_.server.to_string(), engine::to_string(reason));
    link_.closed(reason);
  }

  void on_rspro(RsproConn&, const rspro::Pdu& pdu) override {
    switch (pdu.type) {
      case MsgType::connect_bank_res:
        if (pdu.result != ResultCode::ok) {
          CP_LOG_ERROR("bankd: the remsim server refused bank {} (result {}); retrying",
                       b_.opt_.bank_id, static_cast<int>(pdu.result));
          conn_.close();
          return;
        }
        b_.stats_.server_up.store(true);
        link_.succeeded();
        CP_LOG_INFO("bankd: bank {} ({} slots) registered with the remsim server at {}",
                    b_.opt_.bank_id, b_.backend_->slots(), b_.opt_.server.to_string());
        return;
      case MsgType::create_mapping_req:
        return respond(MsgType::create_mapping_res, create(pdu.bank, pdu.client));
      case MsgType::remove_mapping_req:
        return respond(MsgType::remove_mapping_res, remove(pdu.bank, pdu.client));
      case MsgType::reset_state_req:
        reset();
        return respond(MsgType::reset_state_res, ResultCode::ok);
      default:
        CP_LOG_WARN("bankd: unexpected {} from the remsim server; ignored",
                    rspro::to_string(pdu.type));
    }
  }

 private:
  void respond(MsgType type, ResultCode code) {
    rspro::Pdu res;
    res.type = type;
    res.result = code;
    conn_.send(res);
  }

  ResultCode check(BankSlot bank) const {
    if (bank.bank_id != b_.opt_.bank_id) return ResultCode::illegal_bank_id;
    if (bank.slot >= b_.backend_->slots()) return ResultCode::illegal_slot_id;
    return ResultCode::ok;
  }

  ResultCode create(BankSlot bank, ClientSlot client) {
    if (auto c = check(bank); c != ResultCode::ok) {
      CP_LOG_WARN("bankd: CreateMappingReq for bank slot {}:{} refused (result {})", bank.bank_id,
                  bank.slot, static_cast<int>(c));
      return c;
    }
    std::vector<std::pair<BankSlot, ClientSlot>> replaced;
    {
      std::lock_guard lock(b_.mu_);
      auto it = b_.maps_.find(bank.slot);
      if (it != b_.maps_.end() && it->second == client) return ResultCode::ok;  // identical
      if (it != b_.maps_.end()) {
        replaced.push_back({bank, it->second});
        b_.maps_.erase(it);
      }
      for (auto m = b_.maps_.begin(); m != b_.maps_.end();) {
        if (m->second == client) {
          replaced.push_back({{b_.opt_.bank_id, static_cast<uint16_t>(m->first)}, client});
          m = b_.maps_.erase(m);
        } else {
          ++m;
        }
      }
      b_.maps_[bank.slot] = client;
    }
    for (const auto& [bs, cs] : replaced) b_.on_mapping_removed(bs, cs);
    ++b_.stats_.mappings_created;
    CP_LOG_INFO("bankd: mapping bank slot {} -> client {}:{}", bank.slot, client.client_id,
                client.slot);
    b_.on_mapping_added(client);
    return ResultCode::ok;
  }

  ResultCode remove(BankSlot bank, ClientSlot client) {
    if (auto c = check(bank); c != ResultCode::ok) return c;
    {
      std::lock_guard lock(b_.mu_);
      auto it = b_.maps_.find(bank.slot);
      if (it == b_.maps_.end() || !(it->second == client)) return ResultCode::unknown_slotmap;
      b_.maps_.erase(it);
    }
    ++b_.stats_.mappings_removed;
    CP_LOG_INFO("bankd: mapping bank slot {} -> client {}:{} removed", bank.slot, client.client_id,
                client.slot);
    b_.on_mapping_removed(bank, client);
    return ResultCode::ok;
  }

  void reset() {
    std::map<uint32_t, ClientSlot> old;
    {
      std::lock_guard lock(b_.mu_);
      old.swap(b_.maps_);
    }
    CP_LOG_NOTICE("bankd: ResetStateReq: {} mapping(s) dropped", old.size());
    for (const auto& [slot, c] : old)
      b_.on_mapping_removed({b_.opt_.bank_id, static_cast<uint16_t>(slot)}, c);
  }

  Bankd& b_;
  engine::Reactor& r_;
  RsproConn conn_;
  engine::Reconnector link_;  // keeps conn_ connected to the server, with backoff
};

Bankd::Bankd(BankdOptions options, std::unique_ptr<CardBackend> backend, unsigned cores)
    : opt_(std::move(options)), backend_(std::move(backend)) {
  for (unsigned i = 0; i < cores; ++i) {
    cores_.push_back(std::make_unique<Core>());
    cores_.back()->bankd = this;
    cores_.back()->index = i;
  }
}

Bankd::~Bankd() {
  backend_->stop();
}

Result<void, std::string> Bankd::start_on_core(engine::Reactor& reactor) {
  Core& core = *cores_.at(reactor.core());
  core.reactor = &reactor;
  if (reactor.core() == 0) {
    if (auto ok = backend_->start(reactor, [this](const CardReply& r) { on_card_reply(*this, r); });
        !ok)
      return fail("bankd card backend: " + ok.error());
  }
  if (reactor.core() == 0 || backend_->any_core()) {
    SocketAddress addr = opt_.listen;
    if (reactor.core() != 0 && addr.port() == 0) {
      // Port 0: every reactor listens where reactor 0 bound (SO_REUSEPORT; set up concurrently).
      std::unique_lock lock(bound_mu_);
      if (!bound_cv_.wait_for(lock, std::chrono::seconds(10),
                              [&] { return bound_addr_.port() != 0; }))
        return fail(std::string("bankd: reactor 0 did not bind its listener"));
      addr = bound_addr_;
    }
    // One light connection per SIM slot, often many: each stays on the reactor of the CPU its
    // packets arrive on (engine.steer_connections).
    engine::ListenOptions lo;
    lo.steer = true;
    auto bound = reactor.listen(addr, core, lo);
    if (!bound) return fail("bankd " + opt_.listen.to_string() + ": " + bound.error());
    if (reactor.core() == 0) {
      std::lock_guard lock(bound_mu_);
      bound_addr_ = *bound;
      bound_port_.store(bound->port());
      bound_cv_.notify_all();
    }
  }
  if (reactor.core() == 0) {
    control_ = std::make_unique<Control>(*this, reactor);
    control_->connect();
    CP_LOG_INFO("bankd: bank {} with {} {} slot(s), clients on port {}, server {}", opt_.bank_id,
                backend_->slots(), backend_->name(), bound_port_.load(), opt_.server.to_string());
  }
  return {};
}

void Bankd::on_card_reply(Bankd& b, const CardReply& r) {
  const unsigned core = static_cast<unsigned>(r.cookie >> 24 & 0xFF);
  const uint32_t index = static_cast<uint32_t>(r.cookie & 0xFFFFFF);
  if (r.cookie == 0 || core >= b.cores_.size()) return;
  Core& c = *b.cores_[core];
  if (index >= c.workers.size()) return;
  Worker& w = *c.workers[index];
  if (w.cookie() != r.cookie) return;  // for a connection that is gone
  w.on_card(r);
}

void Bankd::broadcast(void (*fn)(engine::Reactor&, const engine::CrossCoreMessage&), uint64_t a0,
                      uint64_t a1) {
  // Called on reactor 0 (the control link).
  engine::Reactor& here = *cores_[0]->reactor;
  engine::CrossCoreMessage msg;
  msg.fn = fn;
  msg.from_core = here.core();
  msg.args[0] = a0;
  msg.args[1] = a1;
  msg.ptr = this;
  fn(here, msg);
  if (unsent_.size() < cores_.size()) unsent_.resize(cores_.size());
  for (const auto& c : cores_) {
    if (c->index == here.core() || !c->reactor) continue;
    // A full ring (that core is behind): the change waits here, in order, and is sent from a
    // timer — never dropped (a worker would keep serving a card mapped to someone else), and
    // never spun on.
    auto& waiting = unsent_[c->index];
    if (waiting.empty() && here.send_to(c->index, msg)) continue;
    waiting.push_back(msg);  // kept even past the bound: a change is never dropped
    if (waiting.size() == kUnsentMax + 1) {
      // That core has not taken a change for this long: stop taking more from the server
      // rather than queue without bound (the link reconnects with backoff; the server then
      // sends its mappings again).
      CP_LOG_ERROR("bankd: core {} is {} mapping changes behind; dropping the link to the server",
                   c->index, kUnsentMax);
      if (control_) control_->drop();
    }
    if (!unsent_timer_.armed()) {
      unsent_timer_.set_callback(&Bankd::on_unsent_timer, this);
      here.arm_timer(unsent_timer_, kNanosPerMilli);
    }
  }
}

void Bankd::on_unsent_timer(engine::Timer&, void* self) {
  auto* b = static_cast<Bankd*>(self);
  engine::Reactor& here = *b->cores_[0]->reactor;
  bool left = false;
  for (size_t core = 0; core < b->unsent_.size(); ++core) {
    auto& waiting = b->unsent_[core];
    while (!waiting.empty() && here.send_to(static_cast<unsigned>(core), waiting.front()))
      waiting.pop_front();
    left = left || !waiting.empty();
  }
  if (left) here.arm_timer(b->unsent_timer_, kNanosPerMilli);
}

void Bankd::on_mapping_added(ClientSlot client) {
  broadcast(
      [](engine::Reactor& r, const engine::CrossCoreMessage& m) {
        auto* b = static_cast<Bankd*>(m.ptr);
        Core& c = *b->cores_[r.core()];
        const ClientSlot cs = client_of(static_cast<uint32_t>(m.args[0]));
        for (size_t i = 0; i < c.workers.size(); ++i)
          if (c.workers[i]->waits_for(cs)) c.workers[i]->mapping_added();
      },
      key(client), 0);
}

void Bankd::on_mapping_removed(BankSlot bank, ClientSlot client) {
  broadcast(
      [](engine::Reactor& r, const engine::CrossCoreMessage& m) {
        auto* b = static_cast<Bankd*>(m.ptr);
        Core& c = *b->cores_[r.core()];
        const BankSlot bs{static_cast<uint16_t>(m.args[0] >> 16),
                          static_cast<uint16_t>(m.args[0] & 0xFFFF)};
        for (size_t i = 0; i < c.workers.size(); ++i)
          if (c.workers[i]->serves(bs)) c.workers[i]->mapping_removed();
      },
      uint64_t{bank.bank_id} << 16 | bank.slot, key(client));
}

std::vector<std::pair<BankSlot, ClientSlot>> Bankd::mappings() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<BankSlot, ClientSlot>> out;
  for (const auto& [slot, c] : maps_)
    out.push_back({{opt_.bank_id, static_cast<uint16_t>(slot)}, c});
  return out;
}

std::vector<WorkerView> Bankd::workers() const {
  std::vector<WorkerView> out;
  for (const auto& c : cores_) {
    std::lock_guard lock(c->mu);
    for (const auto& w : c->workers) {
      WorkerView v = w->view();
      if (v.state != WorkerState::closing) out.push_back(std::move(v));
    }
  }
  return out;
}

}  // namespace cp::remsim
