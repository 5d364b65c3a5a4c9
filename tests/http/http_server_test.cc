// HttpServer end to end over real TCP sockets on 127.0.0.1 (port 0), on the epoll and the
// io_uring backend: /metrics, routing answers (404/405/501), keep-alive and close rules,
// pipelining, malformed requests, responses larger than the engine's send buffer, a client that
// never reads (bounded memory, TCP pushes back), 100-continue, the connection limit, the idle
// timeout, and the upgrade seam.
#include "engine/http/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "engine/http/metrics.h"
#include "http_test_support.h"
#include "proto/http/url.h"

namespace cp::engine::http {
namespace {

using test::HttpClient;
using test::ServerThread;

constexpr size_t kBigBodyBytes = 200 * 1024;  // > the 16 KiB per-connection send buffer

std::string big_body() {
  std::string body(kBigBodyBytes, ' ');
  for (size_t i = 0; i < body.size(); ++i)
    body[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return body;
}

std::string get(std::string_view path, std::string_view extra = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra) + "\r\n";
}

// Echoes bytes back: stands in for a WebSocket session behind the upgrade seam.
class EchoAfterUpgrade final : public ConnectionHandler {
 public:
  size_t on_data(Connection& conn, std::span<const std::byte> data) override {
    return conn.send(data) ? data.size() : 0;
  }
  void on_close(Connection&, CloseReason, int) override { closed = true; }
  std::atomic<bool> closed{false};
};

class TestUpgrade final : public HttpUpgradeHandler {
 public:
  ConnectionHandler* on_upgrade(const HttpRequest& request, HttpResponseWriter& response,
                                Connection&) override {
    if (!request.header_has_token("Upgrade", "echo")) return nullptr;
    response.set_status(101);
    response.add_header("Upgrade", "echo");
    response.add_header("Connection", "Upgrade");
    return &echo;
  }
  EchoAfterUpgrade echo;
};

class HttpServerTest : public test::BackendTest {
 protected:
  void start(HttpServerConfig config = {},
             ReactorConfig reactor = test::ServerThread::small_reactor_config()) {
    server_ = std::make_unique<HttpServer>(config);
    add_routes(*server_);
    thread_ = std::make_unique<ServerThread>(GetParam(), *server_, reactor);
    if (!thread_->error().empty()) {
      const std::string why = thread_->error();
      thread_.reset();
      if (GetParam() == IoBackendKind::io_uring) GTEST_SKIP() << "no io_uring here: " << why;
      FAIL() << why;
    }
    metrics_reactor_.store(&thread_->reactor());
  }
  void TearDown() override {
    if (thread_) thread_->stop();
  }

  void add_routes(HttpServer& server) {
    server.add_route(HttpMethod::get, "/hello", [](const HttpRequest&, HttpResponseWriter& w) {
      w.set_content_type("text/plain");
      w.append("hello");
    });
    server.add_route(HttpMethod::post, "/echo", [](const HttpRequest& r, HttpResponseWriter& w) {
      w.set_content_type("text/plain");
      w.append(r.body);
    });
    server.add_route(HttpMethod::get, "/big",
                     [](const HttpRequest&, HttpResponseWriter& w) { w.append(big_body()); });
    server.add_route(HttpMethod::get, "/huge", [](const HttpRequest&, HttpResponseWriter& w) {
      for (int i = 0; i < 2000; ++i) w.append(std::string(1024, 'h'));
    });
    server.add_route(HttpMethod::get, "/bye", [](const HttpRequest&, HttpResponseWriter& w) {
      w.set_keep_alive(false);
      w.append("bye");
    });
    server.add_route(HttpMethod::get, "/api/banks/*",
                     [](const HttpRequest& r, HttpResponseWriter& w) {
                       char id[64];
                       auto decoded = proto::http::percent_decode(r.path.substr(11), id);
                       if (!decoded) {
                         w.set_error(400, "bad bank id");
                         return;
                       }
                       w.set_json(200, "{\"bank\":\"" + std::string(*decoded) + "\"}");
                     });
    server.add_route(HttpMethod::delete_, "/api/banks/*",
                     [](const HttpRequest&, HttpResponseWriter& w) { w.set_status(204); });
    add_metrics_route(server, [this](PrometheusWriter& out) {
      const Reactor* reactors[] = {metrics_reactor_.load()};
      append_reactor_metrics(out, reactors);
    });
    // Held back until a timer on the reactor releases it (as a state file's fsync would).
    server.add_route(HttpMethod::get, "/held", [this](const HttpRequest&, HttpResponseWriter& w) {
      w.set_content_type("text/plain");
      w.append("held");
      held_ = server_->hold_response();
      release_timer_.set_callback(
          [](Timer&, void* self) {
            auto* t = static_cast<HttpServerTest*>(self);
            t->server_->release(t->held_);
            t->released_.store(true);
          },
          this);
      thread_->reactor().arm_timer(release_timer_, hold_for_);
    });
    server.set_upgrade_handler(&upgrade_);
  }

  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<ServerThread> thread_;
  std::atomic<const Reactor*> metrics_reactor_{nullptr};
  TestUpgrade upgrade_;
  HttpHold held_;
  Timer release_timer_;
  Nanos hold_for_ = 300 * kNanosPerMilli;
  std::atomic<bool> released_{false};
};

TEST_P(HttpServerTest, ServesMetrics) {
  start();
  HttpClient client(thread_->address());
  ASSERT_TRUE(client.connected());
  auto reply = client.request(get("/metrics"));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(reply->header("Connection"), "keep-alive");
  const std::string& body = reply->body;
  EXPECT_NE(body.find("# TYPE cellplane_connections_accepted counter\n"), std::string::npos);
  EXPECT_NE(body.find("cellplane_connections_accepted{core=\"0\"} 1\n"), std::string::npos);
  EXPECT_NE(body.find("# TYPE cellplane_connections_open gauge\n"), std::string::npos);
  EXPECT_NE(body.find("cellplane_connections_open{core=\"0\"} 1\n"), std::string::npos);
  const std::string backend(thread_->reactor().backend().name());
  EXPECT_NE(body.find("cellplane_backend_info{core=\"0\",backend=\"" + backend + "\"} 1\n"),
            std::string::npos)
      << body;
  // A second scrape on the same connection sees the bytes the first one moved.
  auto again = client.request(get("/metrics"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body.find("cellplane_bytes_sent{core=\"0\"} 0\n"), std::string::npos);
}

TEST_P(HttpServerTest, RoutesAndAnswersUnroutedRequests) {
  start();
  HttpClient client(thread_->address());
  auto r = client.request(get("/hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  r = client.request(get("/api/banks/a%20b"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "{\"bank\":\"a b\"}");
  EXPECT_EQ(r->header("content-type"), "application/json");
  r = client.request("DELETE /api/banks/7 HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->header("Content-Length"), "");
  r = client.request(get("/nowhere"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "{\"error\":\"not found\"}");
  r = client.request("POST /hello HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("Allow"), "GET, HEAD");
  r = client.request("PUT /hello HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 501);
  r = client.request("PROPFIND /hello HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 501);
  r = client.request(get("/huge"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, "{\"error\":\"response too large\"}");
  // Still usable after all of these.
  r = client.request(get("/hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(server_->stats().not_found.load(), 1u);
  EXPECT_EQ(server_->stats().responses_too_large.load(), 1u);
}

TEST_P(HttpServerTest, KeepAliveAndCloseRules) {
  start();
  {
    HttpClient client(thread_->address());
    auto r = client.request(get("/hello", "Connection: close\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("Connection"), "close");
    EXPECT_TRUE(client.closed_by_peer());
  }
  {
    HttpClient client(thread_->address());
    auto r = client.request("GET /hello HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("Connection"), "close");
    EXPECT_TRUE(client.closed_by_peer());
  }
  {
    HttpClient client(thread_->address());
    auto r = client.request("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("Connection"), "keep-alive");
    r = client.request(get("/bye"));  // the handler asks to close
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("Connection"), "close");
    EXPECT_TRUE(client.closed_by_peer());
  }
}

TEST_P(HttpServerTest, PipelinedRequestsAnsweredInOrder) {
  start();
  HttpClient client(thread_->address());
  const std::string stream = get("/hello") +
                             "POST /echo HTTP/1.1\r\nContent-Length: 4\r\n\r\nping" + get("/big") +
                             get("/api/banks/3") + get("/nowhere") +
                             get("/hello", "Connection: close\r\n") + get("/hello");
  ASSERT_TRUE(client.send(stream));
  const std::pair<int, std::string> expected[] = {{200, "hello"},
                                                  {200, "ping"},
                                                  {200, big_body()},
                                                  {200, "{\"bank\":\"3\"}"},
                                                  {404, "{\"error\":\"not found\"}"},
                                                  {200, "hello"}};
  for (const auto& [status, body] : expected) {
    auto r = client.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status);
    EXPECT_EQ(r->body.size(), body.size());
    EXPECT_TRUE(r->body == body);
  }
  // The request after "Connection: close" is never answered.
  EXPECT_TRUE(client.closed_by_peer());
  EXPECT_EQ(client.buffered_bytes(), 0u);
}

TEST_P(HttpServerTest, HeldResponseWaitsForItsReleaseAndKeepsTheOrder) {
  start();
  HttpClient client(thread_->address());
  // The held response, then a pipelined request: nothing arrives before the release, then both
  // in order.
  ASSERT_TRUE(client.send(get("/held") + get("/hello")));
  auto first = client.read_reply(false, 5000);
  ASSERT_TRUE(first);
  EXPECT_TRUE(released_.load()) << "the held response went out before its release";
  EXPECT_EQ(first->body, "held");
  auto second = client.read_reply(false, 5000);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "hello");
  // A client that leaves while its response is held: the release finds its connection gone and
  // the next connection of that session slot is not disturbed.
  released_ = false;
  {
    HttpClient gone(thread_->address());
    ASSERT_TRUE(gone.send(get("/held")));
  }
  HttpClient next(thread_->address());
  auto hello = next.request(get("/hello"));
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->body, "hello");
  EXPECT_TRUE(cp::test::eventually([&] { return released_.load(); }));
  auto again = next.request(get("/hello"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body, "hello");
  EXPECT_EQ(next.buffered_bytes(), 0u);
}

TEST_P(HttpServerTest, MalformedAndOversizeRequestsCloseWithAStatus) {
  start();
  const std::pair<std::string, int> cases[] = {
      {"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400},
      {"GET /" + std::string(9000, 'u') + " HTTP/1.1\r\n\r\n", 414},
      {"GET / HTTP/1.1\r\nX: " + std::string(17000, 'v') + "\r\n\r\n", 431},
      {"POST /echo HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", 413},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 501},
  };
  for (const auto& [text, status] : cases) {
    HttpClient client(thread_->address());
    ASSERT_TRUE(client.send(text));
    auto r = client.read_reply();
    ASSERT_TRUE(r) << status;
    EXPECT_EQ(r->status, status);
    EXPECT_EQ(r->header("Connection"), "close");
    EXPECT_TRUE(r->body.starts_with("{\"error\":\"")) << r->body;
    EXPECT_TRUE(client.closed_by_peer());
  }
  EXPECT_EQ(server_->stats().request_errors.load(), std::size(cases));
}

TEST_P(HttpServerTest, LargeResponsesArriveWhole) {
  start();
  HttpClient client(thread_->address());
  for (int i = 0; i < 3; ++i) {
    auto r = client.request(get("/big"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("Content-Length"), std::to_string(kBigBodyBytes));
    EXPECT_TRUE(r->body == big_body());
  }
  EXPECT_GT(server_->stats().send_waits.load(), 0u);  // it did go out in pieces
  // HEAD: the length of the GET body, no body.
  ASSERT_TRUE(client.send("HEAD /big HTTP/1.1\r\n\r\n"));
  auto head = client.read_reply(/*head_only=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->header("Content-Length"), std::to_string(kBigBodyBytes));
  auto r = client.request(get("/hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello");
}

// A client that sends requests and never reads: the server holds one response (bounded by
// response_bytes_max), stops reading, and TCP pushes back on the client; nothing grows.
TEST_P(HttpServerTest, NonReadingClientIsBounded) {
  HttpServerConfig config;
  config.response_bytes_max = 256 * 1024;
  start(config);
  HttpClient client(thread_->address());
  ASSERT_TRUE(client.connected());
  const int flags = ::fcntl(client.fd(), F_GETFL);
  ASSERT_EQ(::fcntl(client.fd(), F_SETFL, flags | O_NONBLOCK), 0);
  const std::string request = get("/big", "X-Pad: " + std::string(4000, 'p') + "\r\n");
  size_t sent_requests = 0;
  bool pushed_back = false;
  size_t offset = 0;
  for (size_t sent_bytes = 0; sent_bytes < 64u * 1024 * 1024 && !pushed_back;) {
    const ssize_t n =
        ::send(client.fd(), request.data() + offset, request.size() - offset, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Give the server a moment; if it still does not take more, TCP is pushing back.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      pollfd pfd{client.fd(), POLLOUT, 0};
      pushed_back = ::poll(&pfd, 1, 300) == 0;
      continue;
    }
    ASSERT_GT(n, 0) << std::strerror(errno);
    sent_bytes += static_cast<size_t>(n);
    offset += static_cast<size_t>(n);
    if (offset == request.size()) {
      offset = 0;
      ++sent_requests;
    }
  }
  ASSERT_TRUE(pushed_back) << "the server kept reading from a client that never reads";
  const uint64_t handled = server_->stats().requests.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(server_->stats().requests.load(), handled);  // it stopped taking requests
  EXPECT_LT(handled, sent_requests);
  EXPECT_LE(server_->stats().response_bytes_held_max.load(), config.response_bytes_max);
  EXPECT_GE(thread_->reactor().stats().recv_pauses.load(), 1u);
  EXPECT_EQ(server_->connections_in_use(), 1u);
  // Reading resumes the flow: the responses come in order and whole.
  ASSERT_EQ(::fcntl(client.fd(), F_SETFL, flags), 0);
  for (int i = 0; i < 3; ++i) {
    auto r = client.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->body == big_body());
  }
  // Going away with unread responses resets the connection; the server lets go of it.
  client.close();
  EXPECT_TRUE(test::eventually([&] { return server_->connections_in_use() == 0; }));
}

TEST_P(HttpServerTest, ExpectContinue) {
  start();
  HttpClient client(thread_->address());
  ASSERT_TRUE(
      client.send("POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  auto interim = client.read_reply(/*head_only=*/true);
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  auto r = client.request("hello");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
}

TEST_P(HttpServerTest, ConnectionLimitRefusesTheNext) {
  HttpServerConfig config;
  config.connections_max = 2;
  start(config);
  HttpClient a(thread_->address());
  HttpClient b(thread_->address());
  ASSERT_TRUE(test::eventually([&] { return server_->stats().connections_accepted.load() == 2; }));
  HttpClient c(thread_->address());
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_EQ(server_->stats().connections_refused.load(), 1u);
  // Served, but with every place taken the connection is not kept (see below).
  auto r = a.request(get("/hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Connection"), "close");
  r = b.request(get("/hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Connection"), "close");
}

// Slow clients cannot hold the server (slowloris, issue 15): connections that send nothing, or
// drip a request, are cut off after request_timeout; one address holds only its share; and with
// three quarters of the places taken, responses give their connection back. Before, idle
// connections from one address held every place for the 60 s idle timeout.
TEST_P(HttpServerTest, SlowClientsCannotHoldTheServer) {
  HttpServerConfig config;
  config.connections_max = 8;
  config.connections_per_address_max = 4;
  config.request_timeout = 300 * kNanosPerMilli;
  start(config);
  std::vector<std::unique_ptr<HttpClient>> idle;
  for (int i = 0; i < 6; ++i) idle.push_back(std::make_unique<HttpClient>(thread_->address()));
  // 127.0.0.1 has its four; the fifth and sixth are refused.
  EXPECT_TRUE(idle[4]->closed_by_peer());
  EXPECT_TRUE(idle[5]->closed_by_peer());
  EXPECT_TRUE(test::eventually([&] { return server_->stats().connections_refused.load() == 2; }));
  // Another client is served meanwhile.
  {
    HttpClient other(thread_->address(), "127.0.0.2");
    ASSERT_TRUE(other.connected());
    auto r = other.request(get("/hello"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  // The silent ones are closed after request_timeout (the reactor sweeps once a second).
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(idle[i]->closed_by_peer(5000)) << i;
  // A request dripped byte by byte is answered 408 once it is overdue.
  HttpClient drip(thread_->address());
  ASSERT_TRUE(drip.send("GET /hello HTTP/1.1\r\n"));
  const std::string header = "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  for (char ch : header) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!drip.send(std::string_view(&ch, 1))) break;
  }
  const auto timed_out = drip.read_reply();
  ASSERT_TRUE(timed_out);
  EXPECT_EQ(timed_out->status, 408);
  EXPECT_TRUE(drip.closed_by_peer());
  EXPECT_GE(server_->stats().request_timeouts.load(), 1u);
}

// With three quarters of the places in use, a response closes its connection instead of keeping
// it alive: idle keep-alive clients give their places back to new ones.
TEST_P(HttpServerTest, KeepAliveEndsUnderPressure) {
  HttpServerConfig config;
  config.connections_max = 8;
  start(config);
  HttpClient first(thread_->address());
  auto r = first.request(get("/hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Connection"), "keep-alive");  // 1 of 8 in use
  std::vector<std::unique_ptr<HttpClient>> others;
  for (int i = 0; i < 6; ++i) {
    others.push_back(std::make_unique<HttpClient>(thread_->address()));
    ASSERT_TRUE(others.back()->request(get("/hello")));  // each accepted and served
  }
  r = first.request(get("/hello"));  // 7 of 8 in use
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_TRUE(first.closed_by_peer());
}

TEST_P(HttpServerTest, IdleConnectionsAreClosed) {
  HttpServerConfig config;
  config.idle_timeout = 100 * kNanosPerMilli;
  start(config);
  HttpClient client(thread_->address());
  ASSERT_TRUE(client.request(get("/hello")));
  // The reactor sweeps idle connections once a second.
  EXPECT_TRUE(client.closed_by_peer(5000));
  EXPECT_TRUE(
      test::eventually([&] { return thread_->reactor().stats().idle_timeouts.load() >= 1; }));
}

// idle_timeout 0 means the reactor's: a kept-alive connection waits that long for its next
// request, not the request timeout the connection started with.
TEST_P(HttpServerTest, KeepAliveWaitIsTheReactorsWhenIdleTimeoutIsZero) {
  HttpServerConfig config;
  config.idle_timeout = 0;
  config.request_timeout = 30 * kNanosPerSecond;
  ReactorConfig reactor = test::ServerThread::small_reactor_config();
  reactor.idle_timeout = 100 * kNanosPerMilli;
  start(config, reactor);
  HttpClient client(thread_->address());
  auto r = client.request(get("/hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Connection"), "keep-alive");
  EXPECT_TRUE(client.closed_by_peer(5000));  // the reactor sweeps idle connections each second
}

TEST_P(HttpServerTest, UpgradeHandsTheConnectionOver) {
  start();
  HttpClient client(thread_->address());
  ASSERT_TRUE(
      client.send("GET /chan HTTP/1.1\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nping"));
  auto r = client.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 101);
  EXPECT_EQ(r->header("Upgrade"), "echo");
  EXPECT_EQ(r->header("Content-Length"), "");
  ASSERT_TRUE(client.send("pong"));
  ASSERT_TRUE(test::eventually([&] {
    client.closed_by_peer(50);  // moves what arrived into the buffer
    return client.buffered_bytes() >= 8;
  }));
  EXPECT_EQ(client.buffered(), "pingpong");
  // A declined upgrade is routed as a plain request.
  HttpClient plain(thread_->address());
  auto hello = plain.request(get("/hello", "Upgrade: h2c\r\nConnection: Upgrade\r\n"));
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->status, 200);
  ::shutdown(client.fd(), SHUT_RDWR);
  EXPECT_TRUE(test::eventually([&] { return upgrade_.echo.closed.load(); }));
  EXPECT_EQ(server_->stats().upgrades.load(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, HttpServerTest,
                         ::testing::Values(IoBackendKind::epoll, IoBackendKind::io_uring),
                         test::BackendName());

}  // namespace
}  // namespace cp::engine::http
