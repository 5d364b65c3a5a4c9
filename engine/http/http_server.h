// The HTTP/1.1 server service: an engine Acceptor that parses requests with the proto/http codec,
// routes them to handlers and writes the responses back with the engine's backpressure rules.
// It carries the REST APIs of the remsim server and the modem bridge, the /metrics endpoint
// (engine/http/metrics.h) and, later, the WebSocket upgrade of WSRC (HttpUpgradeHandler).
//
// Behaviour, per connection:
//   - requests are answered one at a time, in order; pipelined requests wait in the engine's
//     receive buffer (reading is paused) until the previous response has been queued whole;
//   - a response is built into a bounded per-connection buffer (response_bytes_max) and handed to
//     Connection::send() in pieces no larger than the send room, resuming in on_writable(), so a
//     response larger than the engine's send buffer (16 KiB) goes out whole and a client that
//     does not read costs no more memory than that buffer;
//   - keep-alive by RFC 9112 §9.3; "Connection: close", HTTP/1.0 without keep-alive, and every
//     malformed request (400/413/414/431/501/505, JSON body) close after the response;
//   - 404 when no route matches the path, 405 (with Allow) when routes match it but not the
//     method, 501 for a method no route uses; HEAD is served by GET routes without the body;
//   - "Expect: 100-continue" is answered with "100 Continue" before the body is read;
//   - a slow client cannot hold a connection for long (slowloris): a request must be complete
//     within request_timeout of its first byte (or of the accept, for the first): a partial one
//     is then answered 408 and closed, a connection that sent nothing is closed; one source
//     address holds at most connections_per_address_max connections (an IPv6 client: its /64);
//     and once three quarters of the connections are in use, responses close their connection
//     instead of keeping it alive, so idle keep-alive clients give their places back;
//   - between requests of a kept-alive connection, idle_timeout closes it when nothing comes.
//
// Threading and lifetime: one HttpServer per reactor that listens (its connection pool is
// touched by that reactor's thread only). Routes are added before listening and never change
// afterwards. The server must outlive every connection it accepted, i.e. the reactor's run().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "engine/buffer_pool.h"
#include "engine/reactor.h"
#include "proto/http/http_request.h"
#include "proto/http/http_response.h"

namespace cp::engine::http {

using proto::http::HttpHeader;
using proto::http::HttpLimits;
using proto::http::HttpMethod;
using proto::http::HttpRequest;
using proto::http::HttpResponseWriter;

// Fills the response of one request: status, content type, headers, body. Runs on the reactor
// thread; must not block. The request's views die when it returns. If the body does not fit in
// response_bytes_max the client gets 500.
using HttpHandler = std::function<void(const HttpRequest&, HttpResponseWriter&)>;

// Memory: connections_max blocks of (parser arena + response_bytes_max), reserved once at
// construction (MAP_NORESERVE) and resident only as far as requests and responses touch them.
struct HttpServerConfig {
  HttpLimits limits;                             // per request (parser arena)
  uint32_t connections_max = 64;                 // per server; more are refused at accept
  uint32_t response_bytes_max = 1024 * 1024;     // one response, head + body
  uint32_t response_head_bytes_max = 4096;       // status line + header fields
  Nanos idle_timeout = 60 * kNanosPerSecond;     // keep-alive wait; 0 = the reactor's default
  Nanos request_timeout = 10 * kNanosPerSecond;  // accept / first byte -> request complete
  uint32_t connections_per_address_max = 16;     // 0 = no limit
};

// Counters written by the owning reactor thread (relaxed), readable from any thread.
struct HttpServerStats {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_refused{0};  // pool full, or the address has its share
  std::atomic<uint64_t> request_timeouts{0};     // closed: no complete request in time
  std::atomic<uint64_t> requests{0};             // complete requests routed
  std::atomic<uint64_t> request_errors{0};       // malformed or over a limit
  std::atomic<uint64_t> not_found{0};
  std::atomic<uint64_t> responses_too_large{0};  // handler output over response_bytes_max
  std::atomic<uint64_t> send_waits{0};           // a response waited for on_writable
  std::atomic<uint64_t> upgrades{0};
  // Largest response (bytes) any connection held at once: never above response_bytes_max.
  std::atomic<uint64_t> response_bytes_held_max{0};
};

// The seam for protocol upgrades (WSRC's WebSocket endpoint); nothing implements it yet.
// For a complete request with request.upgrade set (Upgrade + "Connection: upgrade"), the server
// first asks this handler, before routing:
//   - to take the connection over, it writes the 101 Switching Protocols response into
//     `response` (with its "Upgrade" and "Connection: Upgrade" fields) and returns the handler
//     that owns the connection from then on. The server queues the 101 response and then
//     forwards every later on_data / on_writable / on_close of the connection to that handler,
//     starting with the bytes that followed the request (the first frames). The returned handler
//     must live until its on_close.
//   - to decline, it returns nullptr: the request is routed as an ordinary one (RFC 9110 §7.8
//     lets a server ignore Upgrade).
class HttpUpgradeHandler {
 public:
  virtual ~HttpUpgradeHandler() = default;
  virtual ConnectionHandler* on_upgrade(const HttpRequest& request, HttpResponseWriter& response,
                                        Connection& conn) = 0;
};

// A response held back by its handler (HttpServer::hold_response), to be sent by release().
struct HttpHold {
  uint32_t session = 0;
  uint64_t serial = 0;  // which connection of that session slot
};

class HttpServer final : public Acceptor {
 public:
  explicit HttpServer(const HttpServerConfig& config = {});
  ~HttpServer() override;
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes `method` requests for `pattern` to `handler`. A pattern ending in '*' is a prefix
  // ("/api/backend/v1/banks/*" matches "/api/backend/v1/banks/1"), any other is exact. Paths are
  // compared as received (still percent-encoded). An exact route wins over prefixes, a longer
  // prefix over a shorter one. Call before listening.
  void add_route(HttpMethod method, std::string_view pattern, HttpHandler handler);
  // Optional; see HttpUpgradeHandler. Call before listening.
  void set_upgrade_handler(HttpUpgradeHandler* handler) { upgrade_handler_ = handler; }

  // Inside a handler: the response it writes is finished but held back until release(), for an
  // answer that must wait for something, such as a state file reaching the disk. The connection
  // reads no further request meanwhile, so responses keep their order.
  HttpHold hold_response();
  // Reactor thread: sends a held response. Nothing happens when its connection has closed since.
  void release(HttpHold hold);
  // ... or, instead of it, an error (what it waited for failed).
  void release_as_error(HttpHold hold, int status, std::string_view reason);

  ConnectionHandler* on_accept(Connection& conn) override;

  const HttpServerConfig& config() const { return config_; }
  const HttpServerStats& stats() const { return stats_; }
  size_t connections_in_use() const { return pool_.in_use(); }

 private:
  class Session;
  struct Route {
    HttpMethod method;
    std::string path;  // without the trailing '*' of a prefix pattern
    bool prefix;
    HttpHandler handler;
  };

  void respond(const HttpRequest& request, HttpResponseWriter& response);
  const Route* find_route(HttpMethod method, std::string_view path) const;
  void answer_unrouted(const HttpRequest& request, HttpResponseWriter& response);
  void release(Session& session);
  // Whether responses should close their connection (three quarters of the pool in use).
  bool under_pressure() const { return free_sessions_.size() * 4 < config_.connections_max; }

  HttpServerConfig config_;
  HttpServerStats stats_;
  std::vector<Route> routes_;
  HttpUpgradeHandler* upgrade_handler_ = nullptr;
  size_t parser_arena_bytes_;
  BufferPool pool_;  // one block per connection: parser arena + response buffer
  std::unique_ptr<Session[]> sessions_;
  std::vector<uint32_t> free_sessions_;
  std::unordered_map<uint64_t, uint32_t> per_address_;  // connections by source (address_key)
  Session* handling_ = nullptr;  // the session whose request a handler is answering
  uint64_t next_serial_ = 1;
};

}  // namespace cp::engine::http
