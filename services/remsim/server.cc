// The remsim server: RSPRO peers (banks and clients), the slotmap table and its persistence on
// the blocking worker, the configuration sent to banks and clients. Its REST API is in
// server_rest.cc.
#include "services/remsim/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "base/atomic_file.h"
#include "base/log.h"
#include "base/log_throttle.h"

namespace cp::remsim {

namespace rspro = proto::rspro;
using rspro::MsgType;
using rspro::ResultCode;

namespace {

constexpr uint32_t kConnectClientResTag = 2342;  // what osmo-remsim puts there (PROTOCOLS.md)
constexpr const char* kSoftware = "cellplane-remsim-server";
constexpr const char* kVersion = "0.1.0";

std::string owned(std::string_view s) {
  return std::string(s);
}

PeerIdentity own(const rspro::ComponentIdentity& id) {
  PeerIdentity p{id.type, owned(id.name), owned(id.software), owned(id.sw_version), {}};
  for (size_t i = 0; i < id.hw.size(); ++i)
    if (id.hw[i]) p.hw[i] = owned(*id.hw[i]);
  return p;
}

std::string ip_port_string(const rspro::IpPort& a) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(a.v6 ? AF_INET6 : AF_INET, a.ip.data(), text, sizeof text);
  return a.v6 ? fmt::format("[{}]:{}", text, a.port) : fmt::format("{}:{}", text, a.port);
}

bool same(const rspro::IpPort& a, const rspro::IpPort& b) {
  return a.v6 == b.v6 && a.ip == b.ip && a.port == b.port;
}

}  // namespace

// One RSPRO connection to the server: a bank daemon's or a client's control connection.
class RemsimServer::Peer final : public RsproUser {
 public:
  enum class State : uint8_t {
    init,
    established,      // TCP up, not identified yet
    wait_config_res,  // a client with a ConfigClientBankReq outstanding
    connected_client,
    connected_bankd,
    rejected,
  };
  struct Pending {
    MsgType type;
    uint32_t map_id;
  };

  explicit Peer(RemsimServer& server) : srv(server), conn(*this, server.opt_.rspro) {
    id_timer.set_callback(&Peer::on_id_timeout, this);
  }

  void on_rspro_open(RsproConn& c) override {
    state = State::established;
    remote_addr = c.connection()->peer();
    remote = remote_addr.to_string();
    c.connection()->reactor().arm_timer(id_timer, srv.opt_.id_timeout);
  }
  void on_rspro(RsproConn&, const rspro::Pdu& pdu) override { srv.on_pdu(*this, pdu); }
  void on_rspro_closed(RsproConn&, engine::CloseReason, int) override { srv.on_closed(*this); }

  static void on_id_timeout(engine::Timer&, void* self) {
    auto* p = static_cast<Peer*>(self);
    if (p->state != State::established || !p->conn.open()) return;
    ++p->srv.stats_.id_timeouts;
    // One line per 10 s at most per core: a flood of silent connections does not flood the log.
    thread_local LogThrottle throttle;
    if (uint64_t held = 0; throttle.pass(p->conn.connection()->reactor().clock().now(), held))
      CP_LOG_NOTICE(
          "remsim-server: {} did not identify itself within {} ms; closing ({} more since the "
          "last line)",
          p->remote, p->srv.opt_.id_timeout / kNanosPerMilli, held);
    p->conn.close();
  }

  bool is_bank() const { return state == State::connected_bankd; }
  bool is_client() const {
    return state == State::connected_client || state == State::wait_config_res;
  }
  std::string_view state_name() const {
    switch (state) {
      case State::init:
        return "INIT";
      case State::established:
        return "ESTABLISHED";
      case State::wait_config_res:
        return "WAIT_CONFIG_RES";
      case State::connected_client:
        return "CONNECTED_CLIENT";
      case State::connected_bankd:
        return "CONNECTED_BANKD";
      case State::rejected:
        return "REJECTED";
    }
    return "?";
  }
  std::string label() const {
    if (is_bank()) return fmt::format("B{}", bank_id);
    if (is_client()) return fmt::format("C{}:{}", client.client_id, client.slot);
    return remote;
  }

  RemsimServer& srv;
  RsproConn conn;
  engine::Timer id_timer;
  State state = State::init;
  SocketAddress remote_addr;
  std::string remote;
  PeerIdentity identity;
  uint16_t bank_id = 0, number_of_slots = 0;
  ClientSlot client;
  std::deque<Pending> pending;  // banks: requests awaiting answers, in order
  // Clients: what they were told last (nothing yet: told == false).
  bool told = false;
  BankSlot told_bank;
  rspro::IpPort told_ip;
  uint32_t configs_pending = 0;
};

RemsimServer::RemsimServer(ServerOptions options) : opt_(std::move(options)) {
  reap_timer_.set_callback(&RemsimServer::on_reap, this);
}

RemsimServer::~RemsimServer() = default;

Result<std::unique_ptr<RemsimServer>, std::string> RemsimServer::create(ServerOptions options) {
  std::unique_ptr<RemsimServer> s(new RemsimServer(std::move(options)));
  if (s->opt_.slotmaps_path.empty()) {
    s->restart_counter_ = 1;  // this start; nothing kept across restarts
    return s;
  }
  auto text = read_small_file(s->opt_.slotmaps_path);
  if (!text) return fail(text.error());
  if (*text) {
    auto maps = Slotmaps::load(**text, s->opt_.slotmaps_path);
    if (!maps) return fail(maps.error());
    s->maps_ = std::move(*maps);
  }
  const std::string counter_path = s->opt_.slotmaps_path + ".restart-counter";
  auto counter = read_small_file(counter_path);
  if (!counter) return fail(counter.error());
  if (*counter) {
    const std::string& c = **counter;
    std::from_chars(c.data(), c.data() + c.size(), s->restart_counter_);
  }
  ++s->restart_counter_;
  if (auto ok = write_file_atomic(counter_path, fmt::format("{}\n", s->restart_counter_)); !ok)
    return fail(ok.error());
  return s;
}

Result<void, std::string> RemsimServer::start(engine::Reactor& reactor) {
  reactor_ = &reactor;
  auto bound = reactor.listen(opt_.listen, *this);
  if (!bound) return fail("remsim-server RSPRO " + opt_.listen.to_string() + ": " + bound.error());
  bound_ = *bound;
  if (opt_.rest_listen) {
    engine::http::HttpServerConfig hc;
    hc.connections_max = 64;
    rest_ = std::make_unique<engine::http::HttpServer>(hc);
    add_rest_routes();
    auto rb = reactor.listen(*opt_.rest_listen, *rest_);
    if (!rb) return fail("remsim-server REST " + opt_.rest_listen->to_string() + ": " + rb.error());
    rest_bound_ = *rb;
  }
  CP_LOG_INFO("remsim-server: RSPRO on {}, REST on {}, {} slotmap(s), restart {}",
              bound_.to_string(), rest_bound_ ? "http://" + rest_bound_->to_string() : "off",
              maps_.all().size(), restart_counter_);
  return {};
}

engine::ConnectionHandler* RemsimServer::on_accept(engine::Connection& conn) {
  if (!opt_.allow.allows(conn.peer())) {
    ++stats_.connections_disallowed;
    if (uint64_t held; disallowed_log_.pass(reactor_->clock().now(), held)) {
      CP_LOG_WARN(
          "remsim-server: refusing {}: not in [remsim_server] allow ({} more refused "
          "since the last line)",
          conn.peer().to_string(), held);
    }
    return nullptr;
  }
  if (peers_.size() >= opt_.connections_max) {
    ++stats_.connections_refused;
    if (uint64_t held; refusal_log_.pass(reactor_->clock().now(), held)) {
      CP_LOG_WARN(
          "remsim-server: {} RSPRO connections open (max_connections); refusing {} ({} "
          "more refused since the last line)",
          peers_.size(), conn.peer().to_string(), held);
    }
    return nullptr;
  }
  ++stats_.connections;
  peers_.push_back(std::make_unique<Peer>(*this));
  return &peers_.back()->conn;
}

void RemsimServer::on_closed(Peer& p) {
  if (reactor_) reactor_->cancel_timer(p.id_timer);
  const bool was_bank = p.is_bank();
  if (p.state != Peer::State::established && p.state != Peer::State::init)
    CP_LOG_INFO("remsim-server: {} ({}) disconnected", p.label(), p.remote);
  p.state = Peer::State::init;
  bury(p);
  if (was_bank) {
    maps_.bank_lost(p.bank_id);
    sync();  // its clients are told their bank is gone
  }
}

void RemsimServer::bury(Peer& p) {
  for (auto it = peers_.begin(); it != peers_.end(); ++it) {
    if (it->get() != &p) continue;
    dead_.push_back(std::move(*it));
    peers_.erase(it);
    break;
  }
  if (reactor_) reactor_->arm_timer(reap_timer_, 0);
}

void RemsimServer::on_reap(engine::Timer&, void* self) {
  static_cast<RemsimServer*>(self)->dead_.clear();
}

RemsimServer::Peer* RemsimServer::bank(uint16_t bank_id) const {
  for (const auto& p : peers_)
    if (p->is_bank() && p->bank_id == bank_id) return p.get();
  return nullptr;
}

void RemsimServer::on_pdu(Peer& p, const rspro::Pdu& pdu) {
  switch (pdu.type) {
    case MsgType::connect_bank_req:
      if (p.state == Peer::State::established) return on_connect_bank(p, pdu);
      break;
    case MsgType::connect_client_req:
      if (p.state == Peer::State::established) return on_connect_client(p, pdu);
      break;
    case MsgType::create_mapping_res:
    case MsgType::remove_mapping_res:
      if (p.is_bank()) return on_bank_response(p, pdu);
      break;
    case MsgType::config_client_bank_res:
      if (p.is_client()) {
        if (pdu.result != ResultCode::ok)
          CP_LOG_WARN("remsim-server: {} refused its bank configuration (result {})", p.label(),
                      static_cast<int>(pdu.result));
        if (p.configs_pending > 0 && --p.configs_pending == 0)
          p.state = Peer::State::connected_client;
        return;
      }
      break;
    case MsgType::reset_state_res:
    case MsgType::config_client_id_res:
      return;  // answers to requests we send only on demand
    case MsgType::error_ind:
      CP_LOG_WARN("remsim-server: {} reports error {} (severity {}){}{}", p.label(), pdu.error.code,
                  pdu.error.severity, pdu.error.error_string ? ": " : "",
                  pdu.error.error_string.value_or(""));
      return;
    default:
      break;
  }
  ++stats_.protocol_errors;
  CP_LOG_WARN("remsim-server: unexpected {} from {} in state {}; ignored",
              rspro::to_string(pdu.type), p.label(), p.state_name());
}

void RemsimServer::on_connect_bank(Peer& p, const rspro::Pdu& pdu) {
  rspro::Pdu res;
  res.type = MsgType::connect_bank_res;
  res.identity = {rspro::ComponentType::server, opt_.name, kSoftware, kVersion, {}};
  if (pdu.version != rspro::kVersion) {
    ++stats_.protocol_errors;
    CP_LOG_WARN("remsim-server: bank {} from {} refused: RSPRO version {} (we speak {})",
                pdu.bank_id, p.remote, pdu.version, rspro::kVersion);
    res.result = ResultCode::unsupported_protocol_version;
    p.conn.send(res);
    p.state = Peer::State::rejected;
    p.conn.close();
    return;
  }
  if (bank(pdu.bank_id)) {
    ++stats_.identity_in_use;
    CP_LOG_WARN("remsim-server: bank {} from {} refused: that bank id is connected already",
                pdu.bank_id, p.remote);
    res.result = ResultCode::identity_in_use;
    p.conn.send(res);
    p.state = Peer::State::rejected;
    p.conn.close();
    return;
  }
  reactor_->cancel_timer(p.id_timer);
  p.identity = own(pdu.identity);
  p.bank_id = pdu.bank_id;
  p.number_of_slots = pdu.number_of_slots;
  p.state = Peer::State::connected_bankd;
  res.result = ResultCode::ok;
  p.conn.send(res);
  CP_LOG_INFO("remsim-server: bank {} ({} slots, {} {}) connected from {}", p.bank_id,
              p.number_of_slots, p.identity.software, p.identity.sw_version, p.remote);
  sync();
}

void RemsimServer::on_connect_client(Peer& p, const rspro::Pdu& pdu) {
  rspro::Pdu res;
  res.type = MsgType::connect_client_res;
  res.tag = kConnectClientResTag;
  res.identity = {rspro::ComponentType::server, opt_.name, kSoftware, kVersion, {}};
  auto refuse = [&](ResultCode code, std::string_view why) {
    CP_LOG_WARN("remsim-server: client from {} refused: {}", p.remote, why);
    res.result = code;
    p.conn.send(res);
    p.state = Peer::State::rejected;
    p.conn.close();
  };
  if (pdu.version != rspro::kVersion) {
    ++stats_.protocol_errors;
    return refuse(ResultCode::unsupported_protocol_version,
                  fmt::format("RSPRO version {} (we speak {})", pdu.version, rspro::kVersion));
  }
  if (!pdu.client_slot) return refuse(ResultCode::illegal_client_id, "no client slot given");
  for (const auto& other : peers_) {
    if (other.get() != &p && other->is_client() && other->client == *pdu.client_slot) {
      ++stats_.identity_in_use;
      return refuse(ResultCode::identity_in_use,
                    fmt::format("client slot {}:{} is connected already",
                                pdu.client_slot->client_id, pdu.client_slot->slot));
    }
  }
  reactor_->cancel_timer(p.id_timer);
  p.identity = own(pdu.identity);
  p.client = *pdu.client_slot;
  p.state = Peer::State::connected_client;
  res.result = ResultCode::ok;
  p.conn.send(res);
  CP_LOG_INFO("remsim-server: client {}:{} ({} {}) connected from {}", p.client.client_id,
              p.client.slot, p.identity.software, p.identity.sw_version, p.remote);
  configure_client(p);
}

void RemsimServer::on_bank_response(Peer& p, const rspro::Pdu& pdu) {
  const MsgType expected = pdu.type == MsgType::create_mapping_res ? MsgType::create_mapping_req
                                                                   : MsgType::remove_mapping_req;
  if (p.pending.empty() || p.pending.front().type != expected) {
    ++stats_.protocol_errors;
    CP_LOG_WARN("remsim-server: bank {} sent {} with no such request outstanding; ignored",
                p.bank_id, rspro::to_string(pdu.type));
    return;
  }
  const uint32_t id = p.pending.front().map_id;
  p.pending.pop_front();
  if (pdu.type == MsgType::create_mapping_res) {
    if (pdu.result != ResultCode::ok) {
      CP_LOG_WARN(
          "remsim-server: bank {} refused slotmap {} (result {}); it stays "
          "UNACKNOWLEDGED",
          p.bank_id, id, static_cast<int>(pdu.result));
      return;
    }
    maps_.create_acked(id);
  } else {
    // unknownSlotmap: the bank did not hold it, which is just as good.
    if (pdu.result != ResultCode::ok && pdu.result != ResultCode::unknown_slotmap)
      CP_LOG_WARN("remsim-server: bank {} answered the removal of slotmap {} with result {}",
                  p.bank_id, id, static_cast<int>(pdu.result));
    if (maps_.remove_acked(id)) save();
  }
  sync();
}

rspro::IpPort RemsimServer::advertised_bankd(const Peer& bank) const {
  rspro::IpPort ip;
  const SocketAddress& a = opt_.bankd_advertise ? *opt_.bankd_advertise : bank.remote_addr;
  const sockaddr* sa = a.sa();
  if (sa->sa_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(sa);
    ip.v6 = true;
    std::memcpy(ip.ip.data(), &s6->sin6_addr, 16);
  } else if (sa->sa_family == AF_INET) {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(sa);
    std::memcpy(ip.ip.data(), &s4->sin_addr, 4);
  }
  ip.port = opt_.bankd_advertise ? a.port() : opt_.bankd_port;
  return ip;
}

void RemsimServer::configure_client(Peer& c) {
  const Slotmap* m = maps_.by_client(c.client);
  BankSlot want_bank{};
  rspro::IpPort want_ip{};
  if (m) {
    want_bank = m->bank;
    if (m->state == SlotmapState::active)
      if (const Peer* b = bank(m->bank.bank_id)) want_ip = advertised_bankd(*b);
  }
  if (!c.told && want_ip.port == 0) return;  // nothing to say yet
  if (c.told && c.told_bank == want_bank && same(c.told_ip, want_ip)) return;
  if (c.told && c.told_ip.port == 0 && want_ip.port == 0) return;  // still no bank
  rspro::Pdu req;
  req.type = MsgType::config_client_bank_req;
  req.bank = want_bank;
  req.bankd = want_ip;
  if (!c.conn.send(req)) return;
  c.told = true;
  c.told_bank = want_bank;
  c.told_ip = want_ip;
  ++c.configs_pending;
  c.state = Peer::State::wait_config_res;
  CP_LOG_INFO("remsim-server: client {} told bank {}:{} at {}", c.label(), want_bank.bank_id,
              want_bank.slot, ip_port_string(want_ip));
}

void RemsimServer::sync() {
  for (const auto& [id, m] : maps_.all()) {
    Peer* b = bank(m.bank.bank_id);
    if (!b) continue;
    rspro::Pdu req;
    req.bank = m.bank;
    req.client = m.client;
    if (m.state == SlotmapState::fresh) {
      req.type = MsgType::create_mapping_req;
      if (!b->conn.send(req)) continue;
      maps_.create_sent(id);
      b->pending.push_back({MsgType::create_mapping_req, id});
    } else if (m.state == SlotmapState::delete_req) {
      req.type = MsgType::remove_mapping_req;
      if (!b->conn.send(req)) continue;
      maps_.remove_sent(id);
      b->pending.push_back({MsgType::remove_mapping_req, id});
    }
  }
  for (const auto& p : peers_)
    if (p->is_client()) configure_client(*p);
}

void RemsimServer::save() {
  if (opt_.slotmaps_path.empty()) return;
  ++saves_asked_;
  if (!save_running_) start_save();
}

void RemsimServer::start_save() {
  save_running_ = true;
  ++stats_.saves;
  const uint64_t generation = saves_asked_;
  auto error = std::make_shared<std::string>();
  reactor_->run_blocking(
      [path = opt_.slotmaps_path, text = maps_.save(), error] {
        if (auto ok = write_file_atomic(path, text); !ok) *error = ok.error();
      },
      [this, generation, error] {
        save_running_ = false;
        saves_done_ = generation;
        if (!error->empty()) {
          ++stats_.save_errors;
          CP_LOG_ERROR("remsim-server: slotmaps not saved: {}", *error);
        }
        if (saves_asked_ > saves_done_) start_save();
        // Callbacks may add more (a REST answer never does); take the ready ones first.
        std::vector<std::function<void(const std::string&)>> ready;
        std::erase_if(after_saved_, [&](auto& w) {
          if (w.first > saves_done_) return false;
          ready.push_back(std::move(w.second));
          return true;
        });
        for (auto& fn : ready) fn(*error);
      });
}

void RemsimServer::after_saved(std::function<void(const std::string&)> fn) {
  if (saves_asked_ == saves_done_) return fn({});
  after_saved_.emplace_back(saves_asked_, std::move(fn));
}

Result<const Slotmap*, std::string> RemsimServer::add_slotmap(BankSlot bank_slot,
                                                              ClientSlot client) {
  // numberOfSlots tops out at 1023 (RSPRO's SlotNumber): 1023 stands for "0..1023".
  if (const Peer* b = bank(bank_slot.bank_id);
      b && bank_slot.slot >= b->number_of_slots && b->number_of_slots < 1023)
    return fail(fmt::format("bank {} has {} slots (0..{})", bank_slot.bank_id, b->number_of_slots,
                            b->number_of_slots == 0 ? 0 : b->number_of_slots - 1));
  auto r = maps_.add(bank_slot, client);
  if (!r) return fail(std::string(to_string(r.error())));
  const uint32_t id = (*r)->id();
  CP_LOG_INFO("remsim-server: slotmap {} added: bank {}:{} -> client {}:{}", id, bank_slot.bank_id,
              bank_slot.slot, client.client_id, client.slot);
  save();
  sync();
  return maps_.by_id(id);
}

Result<void, std::string> RemsimServer::delete_slotmap(uint32_t id) {
  bool removed = false;
  if (auto r = maps_.request_delete(id, &removed); !r)
    return fail(std::string(to_string(r.error())));
  CP_LOG_INFO("remsim-server: slotmap {} {}", id,
              removed ? "deleted" : "to be deleted once its bank acknowledges");
  save();
  sync();
  return {};
}

void RemsimServer::global_reset() {
  CP_LOG_NOTICE("remsim-server: global reset: every slotmap deleted");
  std::vector<uint32_t> ids;
  for (const auto& [id, m] : maps_.all()) ids.push_back(id);
  for (uint32_t id : ids) (void)maps_.request_delete(id);
  save();
  sync();
}

std::vector<PeerView> RemsimServer::banks() const {
  std::vector<PeerView> out;
  for (const auto& p : peers_)
    if (p->is_bank())
      out.push_back({p->label(),
                     std::string(p->state_name()),
                     p->remote,
                     p->identity,
                     p->bank_id,
                     p->number_of_slots,
                     {},
                     {}});
  return out;
}

std::vector<PeerView> RemsimServer::clients() const {
  std::vector<PeerView> out;
  for (const auto& p : peers_)
    if (p->is_client())
      out.push_back({p->label(), std::string(p->state_name()), p->remote, p->identity, 0, 0,
                     p->client, p->told ? ip_port_string(p->told_ip) : ""});
  return out;
}

}  // namespace cp::remsim
