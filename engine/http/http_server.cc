#include "engine/http/http_server.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <span>

#include "base/assert.h"
#include "base/byte_reader.h"

namespace cp::engine::http {

using proto::http::HttpError;
using proto::http::HttpParseState;
using proto::http::HttpRequestParser;

namespace {

constexpr size_t kBlockAlignBytes = 4096;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

size_t round_up(size_t n, size_t align) {
  return (n + align - 1) / align * align;
}

void bump(std::atomic<uint64_t>& counter) {
  counter.fetch_add(1, std::memory_order_relaxed);
}

// A source address as a key: an IPv4 address, an IPv6 address's /64 (one client's network),
// nullopt for anything else (Unix sockets: not limited).
std::optional<uint64_t> address_key(const SocketAddress& a) {
  if (a.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(a.sa());
    return uint64_t{1} << 32 | in->sin_addr.s_addr;
  }
  if (a.family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a.sa());
    uint64_t prefix = 0;
    std::memcpy(&prefix, in6->sin6_addr.s6_addr, sizeof prefix);
    return prefix;
  }
  return std::nullopt;
}

void raise_to(std::atomic<uint64_t>& high_water, uint64_t value) {
  if (value > high_water.load(std::memory_order_relaxed)) {
    high_water.store(value, std::memory_order_relaxed);
  }
}

}  // namespace

// The per-connection protocol state: a parser over the first part of a pool block and the one
// response in flight in the rest of it. Lives in the server's fixed session table; bound to a
// connection from on_accept to on_close.
class HttpServer::Session final : public ConnectionHandler {
 public:
  void bind(HttpServer& server, uint32_t index) {
    server_ = &server;
    index_ = index;
  }
  uint32_t index() const { return index_; }
  std::byte* block() const { return block_; }
  uint64_t serial() const { return serial_; }
  void hold() { held_ = true; }
  // Sends a held response (HttpServer::release).
  void unhold() {
    if (!held_ || conn_ == nullptr) return;
    held_ = false;
    on_writable(*conn_);
  }
  // Sends an error instead of the held response (HttpServer::release_as_error).
  void unhold_as_error(int status, std::string_view reason) {
    if (!held_ || conn_ == nullptr) return;
    HttpResponseWriter response(response_area(), server_->config_.response_head_bytes_max);
    if (!response.set_error(static_cast<uint16_t>(status), reason)) {
      // A reason too long for the response area (it may quote configured paths): the status
      // alone still fits.
      response = HttpResponseWriter(response_area(), server_->config_.response_head_bytes_max);
      response.set_error(static_cast<uint16_t>(status), "");
    }
    queue(response, close_after_pending_);
    unhold();
  }

  void open(std::byte* block, uint64_t serial, std::optional<uint64_t> address);
  void release();
  std::optional<uint64_t> address() const { return address_; }

  void on_open(Connection& conn) override;
  size_t on_data(Connection& conn, std::span<const std::byte> data) override;
  void on_writable(Connection& conn) override;
  void on_close(Connection& conn, CloseReason reason, int error) override;
  // A client that half-closes after its request still gets the whole response.
  void on_peer_closed(Connection& conn) override {
    if (upgraded_ != nullptr) return upgraded_->on_peer_closed(conn);
    closing_ = true;
    if (pending_.empty()) {
      conn.close();
    } else {
      close_after_pending_ = true;
    }
  }

 private:
  std::span<std::byte> response_area() const {
    return {block_ + server_->parser_arena_bytes_, server_->config_.response_bytes_max};
  }
  void handle_request(Connection& conn);
  bool try_upgrade(Connection& conn, HttpResponseWriter& response);
  void answer_error(const HttpError& error);
  void queue(HttpResponseWriter& response, bool close_after);
  bool pump(Connection& conn);
  void pause(Connection& conn);
  void maybe_send_continue(Connection& conn);

  HttpServer* server_ = nullptr;
  uint32_t index_ = 0;
  uint64_t serial_ = 0;  // per connection: a hold outliving its connection finds another serial
  Connection* conn_ = nullptr;
  std::byte* block_ = nullptr;
  std::optional<HttpRequestParser> parser_;
  std::span<const std::byte> pending_;  // response bytes not yet accepted by Connection::send
  ConnectionHandler* upgraded_ = nullptr;
  bool close_after_pending_ = false;
  bool closing_ = false;  // no further request will be read
  bool paused_ = false;   // this session paused reading and owes a resume_reading()
  bool continue_sent_ = false;
  bool held_ = false;                // pending_ is a response its handler holds back
  Nanos request_started_ = 0;        // the accept, or a request's first byte; 0 between requests
  std::optional<uint64_t> address_;  // the source's key for connections_per_address_max
};

void HttpServer::Session::open(std::byte* block, uint64_t serial, std::optional<uint64_t> address) {
  block_ = block;
  serial_ = serial;
  address_ = address;
  held_ = false;
  parser_.emplace(server_->config_.limits,
                  std::span<std::byte>(block_, server_->parser_arena_bytes_));
  pending_ = {};
  upgraded_ = nullptr;
  close_after_pending_ = false;
  closing_ = false;
  paused_ = false;
  continue_sent_ = false;
}

void HttpServer::Session::release() {
  parser_ = std::nullopt;
  conn_ = nullptr;
  held_ = false;
  pending_ = {};
  upgraded_ = nullptr;
  block_ = nullptr;
}

void HttpServer::Session::on_open(Connection& conn) {
  conn_ = &conn;
  // The first request is due within request_timeout: a connection that sends nothing is closed.
  request_started_ = conn.reactor().clock().now();
  const Nanos wait = server_->config_.request_timeout > 0 ? server_->config_.request_timeout
                                                          : server_->config_.idle_timeout;
  if (wait > 0) conn.set_idle_timeout(wait);
}

size_t HttpServer::Session::on_data(Connection& conn, std::span<const std::byte> data) {
  if (closing_) return data.size();  // answering an error or "close": the rest is not read
  if (!pending_.empty()) {
    pause(conn);
    return 0;
  }
  if (upgraded_ != nullptr) return upgraded_->on_data(conn, data);
  const Nanos request_timeout = server_->config_.request_timeout;
  size_t consumed = 0;
  while (consumed < data.size()) {
    if (request_started_ == 0) {  // a request begins: due within request_timeout
      request_started_ = conn.reactor().clock().now();
      if (request_timeout > 0) conn.set_idle_timeout(request_timeout);
    }
    const auto result = parser_->feed(data.subspan(consumed));
    consumed += result.consumed_bytes;
    if (result.state == HttpParseState::need_more) {
      // A client dripping its request byte by byte is cut off all the same (slowloris).
      if (request_timeout > 0 &&
          conn.reactor().clock().now() - request_started_ > request_timeout) {
        bump(server_->stats_.request_timeouts);
        answer_error(HttpError{408, "request timeout"});
        pump(conn);
        return data.size();
      }
      maybe_send_continue(conn);
      return consumed;
    }
    if (result.state == HttpParseState::error) {
      answer_error(parser_->error());
      pump(conn);
      return data.size();
    }
    handle_request(conn);
    if (!pump(conn)) {
      // The rest (pipelined requests) stays in the engine's receive buffer until the response
      // is out.
      pause(conn);
      return consumed;
    }
    if (closing_) return data.size();
    if (upgraded_ != nullptr) {
      // The bytes after the upgrade request are the new protocol's first frames.
      const auto rest = data.subspan(consumed);
      return rest.empty() ? consumed : consumed + upgraded_->on_data(conn, rest);
    }
  }
  return consumed;
}

void HttpServer::Session::on_writable(Connection& conn) {
  if (pending_.empty()) {
    if (upgraded_ != nullptr) upgraded_->on_writable(conn);
    return;
  }
  if (!pump(conn) || closing_) return;
  if (paused_) {
    paused_ = false;
    conn.resume_reading();  // offers the kept pipelined bytes again
  }
}

void HttpServer::Session::on_close(Connection& conn, CloseReason reason, int error) {
  ConnectionHandler* upgraded = upgraded_;
  server_->release(*this);
  if (upgraded != nullptr) upgraded->on_close(conn, reason, error);
}

void HttpServer::Session::pause(Connection& conn) {
  if (paused_) return;
  paused_ = true;
  conn.pause_reading();
}

void HttpServer::Session::maybe_send_continue(Connection& conn) {
  if (continue_sent_ || !parser_->awaiting_body()) return;
  continue_sent_ = true;
  // If there is no room the client sends its body anyway after its own short wait.
  conn.send(as_bytes(kContinue));
}

void HttpServer::Session::handle_request(Connection& conn) {
  const HttpRequest& request = parser_->request();
  bump(server_->stats_.requests);
  HttpResponseWriter response(response_area(), server_->config_.response_head_bytes_max);
  if (request.upgrade && try_upgrade(conn, response)) {
    parser_->reset();
    return;
  }
  response.set_keep_alive(request.keep_alive);
  response.set_omit_body(request.method == HttpMethod::head);
  server_->handling_ = this;
  server_->respond(request, response);
  server_->handling_ = nullptr;
  request_started_ = 0;
  // Under pressure a connection is not kept for a next request: its place goes to another.
  const bool keep_alive = request.keep_alive && response.keep_alive() && !server_->under_pressure();
  if (keep_alive)  // the wait for the next request: idle_timeout, or the reactor's
    conn.set_idle_timeout(server_->config_.idle_timeout > 0 ? server_->config_.idle_timeout
                                                            : conn.reactor().config().idle_timeout);
  if (response.failed()) {
    const bool too_large = response.body().overflowed();
    if (too_large) bump(server_->stats_.responses_too_large);
    response.reset();
    response.set_error(500, too_large ? "response too large" : "invalid response");
  }
  response.set_keep_alive(keep_alive);
  queue(response, !keep_alive);
  parser_->reset();
  continue_sent_ = false;
}

bool HttpServer::Session::try_upgrade(Connection& conn, HttpResponseWriter& response) {
  if (server_->upgrade_handler_ == nullptr) return false;
  upgraded_ = server_->upgrade_handler_->on_upgrade(parser_->request(), response, conn);
  if (upgraded_ == nullptr) {
    response.reset();
    return false;
  }
  bump(server_->stats_.upgrades);
  if (response.failed()) {
    // The upgrade handler still owns the connection and gets its on_close.
    response.reset();
    response.set_error(500, "invalid upgrade response");
    queue(response, true);
    return true;
  }
  queue(response, false);
  return true;
}

void HttpServer::Session::answer_error(const HttpError& error) {
  bump(server_->stats_.request_errors);
  HttpResponseWriter response(response_area(), server_->config_.response_head_bytes_max);
  response.set_error(error.status, error.reason);
  response.set_keep_alive(false);
  queue(response, true);
}

// Finishes `response` into pending_. Every response built here fits (the error texts are short
// and the writer's failures were turned into 500 before), so a failure is a bug.
void HttpServer::Session::queue(HttpResponseWriter& response, bool close_after) {
  auto bytes = response.finish();
  CP_ASSERT(bytes.has_value());
  pending_ = *bytes;
  close_after_pending_ = close_after;
  if (close_after) closing_ = true;
  raise_to(server_->stats_.response_bytes_held_max, pending_.size());
}

// Hands pending_ to the connection in pieces that fit its send room. Returns true when all of it
// is queued; false when waiting for on_writable().
bool HttpServer::Session::pump(Connection& conn) {
  if (held_) return false;  // unhold() pumps
  while (!pending_.empty()) {
    size_t n = std::min(pending_.size(), conn.send_room());
    // No room: this send is refused, which is what arms on_writable().
    if (n == 0) n = pending_.size();
    if (!conn.send(pending_.first(n))) {
      bump(server_->stats_.send_waits);
      return false;
    }
    pending_ = pending_.subspan(n);
  }
  if (close_after_pending_) {
    close_after_pending_ = false;
    conn.close();  // after everything queued has been sent
  }
  return true;
}

HttpServer::HttpServer(const HttpServerConfig& config)
    : config_(config),
      parser_arena_bytes_(round_up(HttpRequestParser::arena_bytes(config.limits), 64)),
      pool_(config.connections_max,
            round_up(parser_arena_bytes_ + config.response_bytes_max, kBlockAlignBytes)),
      sessions_(std::make_unique<Session[]>(config.connections_max)) {
  CP_ASSERT(config_.response_head_bytes_max >= HttpResponseWriter::kFixedHeadBytesMax + 2);
  CP_ASSERT(config_.response_bytes_max > config_.response_head_bytes_max + 1024);
  free_sessions_.reserve(config_.connections_max);
  for (uint32_t i = config_.connections_max; i-- > 0;) {
    sessions_[i].bind(*this, i);
    free_sessions_.push_back(i);
  }
}

HttpServer::~HttpServer() = default;

void HttpServer::add_route(HttpMethod method, std::string_view pattern, HttpHandler handler) {
  CP_ASSERT(handler != nullptr && !pattern.empty());
  const bool prefix = pattern.back() == '*';
  if (prefix) pattern.remove_suffix(1);
  routes_.push_back(Route{method, std::string(pattern), prefix, std::move(handler)});
}

ConnectionHandler* HttpServer::on_accept(Connection& conn) {
  if (free_sessions_.empty()) {
    bump(stats_.connections_refused);
    return nullptr;
  }
  const std::optional<uint64_t> address = address_key(conn.peer());
  if (address && config_.connections_per_address_max > 0) {
    uint32_t& n = per_address_[*address];
    if (n >= config_.connections_per_address_max) {
      bump(stats_.connections_refused);
      return nullptr;
    }
    ++n;
  }
  std::byte* block = pool_.acquire();
  CP_ASSERT(block != nullptr);  // one block per session
  Session& session = sessions_[free_sessions_.back()];
  free_sessions_.pop_back();
  session.open(block, next_serial_++,
               config_.connections_per_address_max > 0 ? address : std::nullopt);
  // on_open() comes next and sets the request timeout.
  bump(stats_.connections_accepted);
  return &session;
}

HttpHold HttpServer::hold_response() {
  CP_ASSERT(handling_ != nullptr);  // only inside a handler
  handling_->hold();
  return {handling_->index(), handling_->serial()};
}

void HttpServer::release(HttpHold hold) {
  if (hold.session >= config_.connections_max) return;
  Session& session = sessions_[hold.session];
  if (session.serial() == hold.serial) session.unhold();
}

void HttpServer::release_as_error(HttpHold hold, int status, std::string_view reason) {
  if (hold.session >= config_.connections_max) return;
  Session& session = sessions_[hold.session];
  if (session.serial() == hold.serial) session.unhold_as_error(status, reason);
}

void HttpServer::release(Session& session) {
  if (const auto address = session.address()) {
    const auto it = per_address_.find(*address);
    if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  }
  pool_.release(session.block());
  session.release();
  free_sessions_.push_back(session.index());
}

const HttpServer::Route* HttpServer::find_route(HttpMethod method, std::string_view path) const {
  const Route* best = nullptr;
  for (const Route& route : routes_) {
    if (route.method != method) continue;
    if (!route.prefix) {
      if (route.path == path) return &route;
      continue;
    }
    if (path.starts_with(route.path) &&
        (best == nullptr || route.path.size() > best->path.size())) {
      best = &route;
    }
  }
  return best;
}

void HttpServer::respond(const HttpRequest& request, HttpResponseWriter& response) {
  const Route* route = find_route(request.method, request.path);
  if (route == nullptr && request.method == HttpMethod::head) {
    route = find_route(HttpMethod::get, request.path);
  }
  if (route == nullptr) {
    answer_unrouted(request, response);
    return;
  }
  route->handler(request, response);
}

// 501 for a method no route uses, 405 (with Allow) when other methods serve the path, else 404.
void HttpServer::answer_unrouted(const HttpRequest& request, HttpResponseWriter& response) {
  const HttpMethod as = request.method == HttpMethod::head ? HttpMethod::get : request.method;
  const bool implemented =
      as != HttpMethod::other &&
      std::any_of(routes_.begin(), routes_.end(), [as](const Route& r) { return r.method == as; });
  if (!implemented) {
    response.set_error(501, "method not implemented");
    return;
  }
  bool allowed[static_cast<size_t>(HttpMethod::connect) + 1] = {};
  for (const Route& r : routes_) {
    const bool matches = r.prefix ? request.path.starts_with(r.path) : request.path == r.path;
    if (matches) allowed[static_cast<size_t>(r.method)] = true;
  }
  allowed[static_cast<size_t>(HttpMethod::head)] |= allowed[static_cast<size_t>(HttpMethod::get)];
  char allow[96];
  proto::http::SpanWriter allow_list(allow);
  for (size_t m = 0; m < std::size(allowed); ++m) {
    if (!allowed[m]) continue;
    if (allow_list.size() > 0) allow_list.append(", ");
    allow_list.append(proto::http::to_string(static_cast<HttpMethod>(m)));
  }
  if (allow_list.size() == 0) {
    bump(stats_.not_found);
    response.set_error(404, "not found");
    return;
  }
  response.set_error(405, "method not allowed");
  response.add_header("Allow", allow_list.view());
}

}  // namespace cp::engine::http
