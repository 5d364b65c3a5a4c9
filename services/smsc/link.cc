#include "services/smsc/link.h"

#include <algorithm>
#include <cstring>

#include "base/assert.h"
#include "base/log.h"

namespace cp::smsc {

namespace {

constexpr size_t kRequestIdOffset = 8;

uint64_t make_rid(uint32_t slot, uint32_t generation) {
  return (uint64_t{generation} << 32) | (uint64_t{slot} + 1);
}

}  // namespace

CoreLink::CoreLink(engine::Reactor& reactor, SocketAddress socket, CoreLinkOptions options,
                   CoreLinkUser& user)
    : reactor_(reactor),
      socket_(std::move(socket)),
      opt_(std::move(options)),
      user_(user),
      // The core's socket is SOCK_SEQPACKET; a test's stream address (the simulation
      // transport) is a stream, framed by the messages' headers all the same.
      link_(reactor, *this, socket_,
            {opt_.reconnect_min, opt_.reconnect_max, reinterpret_cast<uintptr_t>(this),
             engine::ConnectOptions{.seqpacket = socket_.family() == AF_UNIX}}) {
  // Room for the internal requests beside the user's: one RH_REGISTER and one service state at
  // most are in flight (set_service_up coalesces).
  slots_.resize(opt_.in_flight_max + 2);
  free_.reserve(slots_.size());
  for (uint32_t i = static_cast<uint32_t>(slots_.size()); i-- > 0;) free_.push_back(i);
  pending_.reserve(std::min<size_t>(size_t{opt_.queue_max} * 64, 1 << 20));
}

// Its reactor has stopped (or is gone) by now: touching it, or the connection, is not allowed.
CoreLink::~CoreLink() = default;

void CoreLink::start() {
  link_.start();
}

void CoreLink::stop() {
  link_.stop();  // on_close runs now or later; either way it fails what is in flight
}

bool CoreLink::can_send() const {
  return up_ && in_flight_ < opt_.in_flight_max && pending_count_ < opt_.queue_max;
}

bool CoreLink::send(std::span<const std::byte> request, uint64_t cookie) {
  if (!can_send() || request.size() < wire::kHeaderBytes || request.size() > wire::kMessageMax ||
      free_.empty())
    return false;
  const uint32_t index = free_.back();
  free_.pop_back();
  Slot& s = slots_[index];
  s.used = true;
  s.internal = false;
  s.cookie = cookie;
  ++in_flight_;
  return queue(request, make_rid(index, ++s.generation));
}

bool CoreLink::send_internal(std::span<const std::byte> request) {
  if (free_.empty()) return false;
  const uint32_t index = free_.back();
  free_.pop_back();
  Slot& s = slots_[index];
  s.used = true;
  s.internal = true;
  s.cookie = 0;
  const uint64_t rid = make_rid(index, ++s.generation);
  const auto type = static_cast<wire::Type>(request[1]);
  if (type == wire::Type::rh_register) registered_rid_ = index + 1;
  if (type == wire::Type::rh_service_state) state_rid_ = index + 1;
  return queue(request, rid);
}

void CoreLink::respond(std::span<const std::byte> response) {
  if (!connected_) return;
  uint64_t rid;
  std::memcpy(&rid, response.data() + kRequestIdOffset, sizeof rid);
  queue(response, rid);
}

void CoreLink::set_service_up(bool up) {
  service_up_ = up;
  if (!opt_.has_role || !connected_) return;
  send_service_state();
}

void CoreLink::send_service_state() {
  // One in flight at a time: a service that flaps faster than the core answers sends its latest
  // state once the answer is in, not one request per flap.
  if (state_rid_ != 0) {
    state_stale_ = true;
    return;
  }
  state_stale_ = false;
  std::byte buf[wire::kMessageMax];
  send_internal({buf, wire::encode_service_state(buf, 0, service_up_)});
}

bool CoreLink::queue(std::span<const std::byte> bytes, uint64_t request_id) {
  const size_t at = pending_.size();
  pending_.insert(pending_.end(), bytes.begin(), bytes.end());
  std::memcpy(pending_.data() + at + kRequestIdOffset, &request_id, sizeof request_id);
  ++pending_count_;
  flush();
  return true;
}

void CoreLink::flush() {
  if (!conn_ || !connected_) return;
  while (pending_head_ < pending_.size()) {
    const auto h = wire::peek_header({pending_.data() + pending_head_, wire::kHeaderBytes});
    const size_t len = h->length;
    if (conn_->send_queued() + len > kPacketBytes ||
        !conn_->send({pending_.data() + pending_head_, len})) {
      conn_->wait_writable();
      return;
    }
    pending_head_ += len;
    --pending_count_;
  }
  pending_.clear();
  pending_head_ = 0;
}

void CoreLink::on_open(engine::Connection& conn) {
  conn_ = &conn;
  connected_ = true;
  link_.succeeded();
  std::byte buf[wire::kMessageMax];
  if (opt_.has_role) {
    send_internal({buf, wire::encode_register(buf, 0, opt_.role)});
    if (service_up_) send_service_state();
  } else {
    set_up(true);
  }
  flush();
}

size_t CoreLink::on_data(engine::Connection& conn, std::span<const std::byte> data) {
  size_t used = 0;
  while (data.size() - used >= wire::kHeaderBytes) {
    const auto h = wire::peek_header(data.subspan(used));
    if (h->length < wire::kHeaderBytes || h->length > wire::kMessageMax) {
      CP_LOG_ERROR("{}: the SMSC core sent a message of length {}; reconnecting", opt_.name,
                   h->length);
      conn.abort();
      return data.size();
    }
    if (data.size() - used < h->length) break;
    wire::Message m;
    const auto st = wire::decode(data.subspan(used, h->length), m);
    used += h->length;
    if (st != wire::Status::ok) {
      CP_LOG_WARN("{}: undecodable message from the SMSC core ({}); ignored", opt_.name,
                  wire::to_string(st));
      continue;
    }
    if (!m.header.response()) {
      user_.on_core_request(m);
      continue;
    }
    const uint64_t rid = m.header.request_id;
    const uint32_t index = static_cast<uint32_t>(rid & 0xFFFFFFFFu) - 1;
    if (index >= slots_.size() || !slots_[index].used ||
        slots_[index].generation != static_cast<uint32_t>(rid >> 32)) {
      CP_LOG_WARN("{}: a response to no request of ours (id {:#x}); ignored", opt_.name, rid);
      continue;
    }
    Slot& s = slots_[index];
    s.used = false;
    free_.push_back(index);
    if (s.internal) {
      if (registered_rid_ == index + 1) {
        registered_rid_ = 0;
        if (m.header.status == wire::Status::ok) {
          CP_LOG_INFO("{}: registered as {} handler{}", opt_.name, wire::to_string(opt_.role.role),
                      opt_.role.peer.empty() ? std::string() : " for peer " + opt_.role.peer);
          set_up(true);
        } else {
          // role_taken is the normal standby of a second holder (another core's SMPP binds of
          // the same peer): worth a debug line only.
          if (m.header.status == wire::Status::role_taken)
            CP_LOG_DEBUG("{}: role held elsewhere; retrying", opt_.name);
          else
            CP_LOG_WARN("{}: the SMSC core refused the role: {}; retrying", opt_.name,
                        wire::to_string(m.header.status));
          conn.abort();
          return data.size();
        }
      } else if (state_rid_ == index + 1) {
        state_rid_ = 0;
        if (m.header.status != wire::Status::ok)
          CP_LOG_WARN("{}: service state refused: {}", opt_.name, wire::to_string(m.header.status));
        if (state_stale_) send_service_state();
      }
      continue;
    }
    --in_flight_;
    user_.on_core_response(m, s.cookie);
  }
  return used;
}

void CoreLink::on_writable(engine::Connection&) {
  flush();
}

void CoreLink::set_up(bool up) {
  if (up_ == up) return;
  up_ = up;
  user_.on_core_link(up);
}

void CoreLink::fail_all() {
  pending_.clear();
  pending_head_ = 0;
  pending_count_ = 0;
  registered_rid_ = 0;
  state_rid_ = 0;
  state_stale_ = false;
  wire::Message lost;
  lost.header.status = wire::Status::temporary_failure;
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (!s.used) continue;
    s.used = false;
    free_.push_back(i);
    if (s.internal) continue;
    --in_flight_;
    lost.header.request_id = make_rid(i, s.generation);
    user_.on_core_response(lost, s.cookie);
  }
}

void CoreLink::on_close(engine::Connection&, engine::CloseReason reason, int error) {
  const bool was_connected = connected_;
  conn_ = nullptr;
  connected_ = false;
  set_up(false);
  fail_all();
  if (!link_.closed(reason)) return;  // stopped, or the reactor is stopping
  if (was_connected && reason == engine::CloseReason::local)
    CP_LOG_DEBUG("{}: connection to the SMSC core closed; reconnecting", opt_.name);
  else if (was_connected)
    CP_LOG_WARN("{}: connection to the SMSC core lost ({}{}{}); reconnecting", opt_.name,
                engine::to_string(reason), error ? ": " : "", error ? std::strerror(error) : "");
  else
    CP_LOG_DEBUG("{}: cannot reach the SMSC core at {} ({})", opt_.name, socket_.to_string(),
                 error ? std::strerror(error) : engine::to_string(reason));
}

}  // namespace cp::smsc
