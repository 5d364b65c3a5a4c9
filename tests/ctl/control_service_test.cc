// ControlService over a real Unix socket: a Reactor (epoll backend) on its own thread, clients
// through ControlClient (cellctl's code path), raw sockets for pipelining and broken frames, and
// the cellctl binary itself end to end.
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "base/byte_reader.h"
#include "ctl/control_client.h"
#include "ctl/control_server.h"

namespace cp::ctl {
namespace {

constexpr int kTimeoutMs = 5000;

// A Reactor on its own thread running a ControlService; the backend is created on that thread.
class ServiceThread {
 public:
  ServiceThread(const CommandRegistry& registry, ControlServiceOptions options) {
    std::promise<std::string> ready;
    auto started = ready.get_future();
    thread_ = std::thread([&] {
      auto backend = engine::make_backend(engine::IoBackendKind::epoll, {});
      if (!backend) return ready.set_value(backend.error());
      engine::ReactorConfig config;
      config.max_connections = 64;
      reactor_ =
          std::make_unique<engine::Reactor>(config, std::move(*backend), SystemClock::instance());
      service_ = std::make_unique<ControlService>(registry, options);
      auto ok = service_->start(*reactor_);
      ready.set_value(ok ? "" : ok.error());
      if (ok) reactor_->run(kNanosPerSecond);
    });
    error_ = started.get();
  }
  ~ServiceThread() { stop(); }
  const std::string& error() const { return error_; }
  void stop() {
    if (reactor_) reactor_->request_stop();
    if (thread_.joinable()) thread_.join();
    service_.reset();  // unlinks the socket file
  }

 private:
  std::thread thread_;
  std::unique_ptr<engine::Reactor> reactor_;
  std::unique_ptr<ControlService> service_;
  std::string error_;
};

class ControlServiceTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string dir_template = testing::TempDir() + "ctl_service_XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template.data()), nullptr);
    dir_ = dir_template;
    socket_path_ = dir_ + "/cellplane.ctl";
    ASSERT_TRUE(registry_.add("echo", "echo args", [](const ControlRequest& req, JsonWriter& out) {
      out.begin_object();
      for (const ControlArg& a : req.args) out.field(a.key, a.text);
      out.end_object();
      return Result<void, std::string>{};
    }));
    ASSERT_TRUE(
        registry_.add("big", "a large result", [](const ControlRequest& req, JsonWriter& out) {
          auto bytes = req.int_arg("bytes");
          if (!bytes) return Result<void, std::string>(fail(bytes.error()));
          out.string(std::string(static_cast<size_t>(*bytes), 'x'));
          return Result<void, std::string>{};
        }));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ControlServiceOptions options() const {
    ControlServiceOptions o;
    o.socket_path = socket_path_;
    return o;
  }

  int raw_connect() const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path_.c_str());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  }

  std::string dir_;
  std::string socket_path_;
  CommandRegistry registry_;
};

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads one response frame from a blocking socket; nullopt on EOF or timeout.
std::optional<ControlResponse> read_response(int fd, std::string& buffer) {
  for (;;) {
    const auto length = frame_length(as_bytes(buffer));
    if (!length) return std::nullopt;
    if (*length > 0 && *length <= buffer.size()) {
      auto r = decode_response(frame_body(as_bytes(buffer), *length));
      buffer.erase(0, *length);
      if (!r) return std::nullopt;
      return *r;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kTimeoutMs) <= 0) return std::nullopt;
    char chunk[65536];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return std::nullopt;
    buffer.append(chunk, static_cast<size_t>(n));
  }
}

// True when the peer closes the connection within the timeout.
bool closed_by_peer(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, kTimeoutMs) <= 0) return false;
  char c;
  return ::recv(fd, &c, 1, 0) == 0;
}

TEST_F(ControlServiceTest, AnswersOverUnixSocketWithMode0600) {
  ServiceThread service(registry_, options());
  ASSERT_EQ(service.error(), "");
  struct stat st {};
  ASSERT_EQ(::lstat(socket_path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  auto client = ControlClient::connect(socket_path_, kTimeoutMs);
  ASSERT_TRUE(client) << client.error().message;
  const std::pair<std::string, std::string> args[] = {{"a", "1"}, {"b", "caf\xc3\xa9\n\""}};
  auto echo = client->call("echo", args, kTimeoutMs);
  ASSERT_TRUE(echo) << echo.error().message;
  EXPECT_TRUE(echo->ok);
  EXPECT_EQ(echo->result_json, "{\"a\":\"1\",\"b\":\"caf\xc3\xa9\\n\\\"\"}");

  auto help = client->call("help", {}, kTimeoutMs);
  ASSERT_TRUE(help);
  EXPECT_TRUE(help->ok);
  EXPECT_NE(help->result_json.find("\"command\":\"big\""), std::string::npos);

  auto unknown = client->call("no.such", {}, kTimeoutMs);
  ASSERT_TRUE(unknown);
  EXPECT_FALSE(unknown->ok);
  EXPECT_EQ(unknown->code, "unknown_command");

  auto failed = client->call("big", {}, kTimeoutMs);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->code, "command_failed");
  EXPECT_EQ(failed->error, "missing argument 'bytes'");
}

// A response far larger than the connection's send buffer goes out in pieces (on_writable).
TEST_F(ControlServiceTest, LargeResponse) {
  ServiceThread service(registry_, options());
  ASSERT_EQ(service.error(), "");
  auto client = ControlClient::connect(socket_path_, kTimeoutMs);
  ASSERT_TRUE(client);
  const size_t bytes = 1'000'000;
  const std::pair<std::string, std::string> args[] = {{"bytes", std::to_string(bytes)}};
  auto r = client->call("big", args, kTimeoutMs);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->ok) << r->error;
  EXPECT_EQ(r->result_json, "\"" + std::string(bytes, 'x') + "\"");

  const std::pair<std::string, std::string> too_big[] = {{"bytes", "1100000"}};
  auto over = client->call("big", too_big, kTimeoutMs);
  ASSERT_TRUE(over);
  EXPECT_EQ(over->code, "result_too_large");
}

// Many requests written at once: answered one at a time, in order, while the session pauses
// reading whenever a response waits for room.
TEST_F(ControlServiceTest, PipelinedRequests) {
  ServiceThread service(registry_, options());
  ASSERT_EQ(service.error(), "");
  const int fd = raw_connect();
  std::string frames;
  constexpr int kRequests = 40;
  const std::pair<std::string, std::string> args[] = {{"bytes", "30000"}};
  for (int i = 1; i <= kRequests; ++i) ASSERT_TRUE(encode_request(i, "big", args, frames));
  std::thread writer([&] { send_all(fd, frames); });
  std::string buffer;
  for (int i = 1; i <= kRequests; ++i) {
    auto r = read_response(fd, buffer);
    ASSERT_TRUE(r) << "response " << i;
    EXPECT_EQ(r->id, static_cast<uint64_t>(i));
    EXPECT_TRUE(r->ok);
    EXPECT_EQ(r->result_json.size(), 30002u);
  }
  writer.join();
  ::close(fd);
}

TEST_F(ControlServiceTest, AsynchronousCommandsAnswerLaterInOrder) {
  // "now" answers from inside its handler; "later" keeps its completion until "release" (on
  // another connection) calls it. A session waits for its answer before the next request.
  AsyncDone held;
  ASSERT_TRUE(
      registry_.add_async("now", "answers at once", [](const ControlRequest& req, AsyncDone done) {
        if (req.has("fail")) return done(fail(std::string("no")));
        done(std::string("\"now\""));
      }));
  ASSERT_TRUE(registry_.add_async(
      "later", "answers on release",
      [&held](const ControlRequest&, AsyncDone done) { held = std::move(done); }));
  ASSERT_TRUE(registry_.add("release", "answers the held one",
                            [&held](const ControlRequest&, JsonWriter& out) {
                              if (held) {
                                auto d = std::move(held);
                                held = nullptr;
                                d(std::string("\"released\""));
                              }
                              out.boolean(true);
                              return Result<void, std::string>{};
                            }));
  ServiceThread service(registry_, options());
  ASSERT_EQ(service.error(), "");
  // Pipelined on one connection: now, now (failing), later, echo — answered in order, the echo
  // only after "later" was released.
  const int fd = raw_connect();
  std::string frames;
  const std::pair<std::string, std::string> failing[] = {{"fail", "1"}};
  ASSERT_TRUE(encode_request(1, "now", {}, frames));
  ASSERT_TRUE(encode_request(2, "now", failing, frames));
  ASSERT_TRUE(encode_request(3, "later", {}, frames));
  ASSERT_TRUE(encode_request(4, "echo", {}, frames));
  ASSERT_TRUE(send_all(fd, frames));
  std::string buffer;
  auto r1 = read_response(fd, buffer);
  ASSERT_TRUE(r1);
  EXPECT_TRUE(r1->ok);
  EXPECT_EQ(r1->result_json, "\"now\"");
  auto r2 = read_response(fd, buffer);
  ASSERT_TRUE(r2);
  EXPECT_FALSE(r2->ok);
  EXPECT_EQ(r2->id, 2u);
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 200), 0) << "answered before the command completed";
  auto other = ControlClient::connect(socket_path_, kTimeoutMs);
  ASSERT_TRUE(other);
  ASSERT_TRUE(other->call("release", {}, kTimeoutMs));
  auto r3 = read_response(fd, buffer);
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->id, 3u);
  EXPECT_EQ(r3->result_json, "\"released\"");
  auto r4 = read_response(fd, buffer);
  ASSERT_TRUE(r4);
  EXPECT_EQ(r4->id, 4u);
  // A connection that closes while its command runs: the late completion is dropped.
  std::string one;
  ASSERT_TRUE(encode_request(5, "later", {}, one));
  ASSERT_TRUE(send_all(fd, one));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(other->call("release", {}, kTimeoutMs));
  EXPECT_TRUE(other->call("echo", {}, kTimeoutMs));
}

TEST_F(ControlServiceTest, BadJsonIsAnsweredAndTheConnectionStays) {
  ServiceThread service(registry_, options());
  ASSERT_EQ(service.error(), "");
  const int fd = raw_connect();
  std::string frame(4, '\0');
  const std::string body = R"({"id":5,"cmd":"echo","args":[]})";
  put_u32(reinterpret_cast<std::byte*>(frame.data()), static_cast<uint32_t>(body.size()));
  ASSERT_TRUE(send_all(fd, frame + body));
  std::string buffer;
  auto r = read_response(fd, buffer);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, 5u);
  EXPECT_EQ(r->code, "bad_request");
  std::string next;
  ASSERT_TRUE(encode_request(6, "help", {}, next));
  ASSERT_TRUE(send_all(fd, next));
  r = read_response(fd, buffer);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok);
  ::close(fd);
}

TEST_F(ControlServiceTest, OversizeFrameIsAnsweredThenClosed) {
  ServiceThread service(registry_, options());
  ASSERT_EQ(service.error(), "");
  const int fd = raw_connect();
  ASSERT_TRUE(send_all(fd, std::string("\x00\x20\x00\x00", 4)));  // 2 MiB
  std::string buffer;
  auto r = read_response(fd, buffer);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, 0u);
  EXPECT_EQ(r->code, "bad_frame");
  EXPECT_TRUE(closed_by_peer(fd));
  ::close(fd);
}

TEST_F(ControlServiceTest, SessionLimit) {
  ControlServiceOptions o = options();
  o.sessions_max = 2;
  ServiceThread service(registry_, o);
  ASSERT_EQ(service.error(), "");
  auto first = ControlClient::connect(socket_path_, kTimeoutMs);
  auto second = ControlClient::connect(socket_path_, kTimeoutMs);
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->call("help", {}, kTimeoutMs));  // both sessions are accepted by now
  ASSERT_TRUE(second->call("help", {}, kTimeoutMs));
  const int third = raw_connect();
  EXPECT_TRUE(closed_by_peer(third));
  ::close(third);
}

// Connections that never send a request do not hold the few sessions (issue 15): they are closed
// after first_request_timeout, and the refusals meanwhile are not logged one by one. Before,
// 3,000 silent connections to the daemon's socket locked cellctl out for the 300 s idle timeout
// and wrote a warning per refused connection.
TEST_F(ControlServiceTest, SilentConnectionsAreClosedAndCellctlGetsIn) {
  ControlServiceOptions o = options();
  o.sessions_max = 4;
  o.first_request_timeout = 300 * kNanosPerMilli;
  ServiceThread service(registry_, o);
  ASSERT_EQ(service.error(), "");
  std::vector<int> silent;
  for (int i = 0; i < 4; ++i) silent.push_back(raw_connect());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // all four accepted
  const int refused = raw_connect();
  EXPECT_TRUE(closed_by_peer(refused));
  ::close(refused);
  // The reactor sweeps idle connections once a second.
  for (int fd : silent) {
    EXPECT_TRUE(closed_by_peer(fd));
    ::close(fd);
  }
  auto client = ControlClient::connect(socket_path_, kTimeoutMs);
  ASSERT_TRUE(client);
  EXPECT_TRUE(client->call("help", {}, kTimeoutMs));
  // Once it has asked something, a client is not cut off after the first-request timeout.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_TRUE(client->call("help", {}, kTimeoutMs));
}

TEST_F(ControlServiceTest, StaleSocketIsReplacedLiveOneIsNot) {
  {
    // A socket file nothing listens on, as a crashed daemon leaves behind.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path_.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  ServiceThread service(registry_, options());
  ASSERT_EQ(service.error(), "");
  // A second daemon must not steal the live socket.
  ServiceThread second(registry_, options());
  EXPECT_NE(second.error().find("another process answers"), std::string::npos) << second.error();
  auto client = ControlClient::connect(socket_path_, kTimeoutMs);
  ASSERT_TRUE(client);
  EXPECT_TRUE(client->call("help", {}, kTimeoutMs));
  service.stop();
  EXPECT_FALSE(std::filesystem::exists(socket_path_));  // removed on the way out
}

TEST_F(ControlServiceTest, RefusesAPathThatIsNotASocket) {
  {
    std::FILE* f = std::fopen(socket_path_.c_str(), "w");
    std::fclose(f);
  }
  ServiceThread service(registry_, options());
  EXPECT_NE(service.error().find("is not a socket"), std::string::npos) << service.error();
  EXPECT_TRUE(std::filesystem::is_regular_file(socket_path_));
}

TEST_F(ControlServiceTest, ClientSaysNotRunning) {
  auto missing = ControlClient::connect(socket_path_, kTimeoutMs);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ClientError::Kind::not_running);
  EXPECT_EQ(missing.error().message,
            "cellplaned is not running (no control socket at " + socket_path_ + ")");
}

// ---- the cellctl binary -----------------------------------------------------------------------

struct CellctlRun {
  int exit_code = -1;
  std::string out;  // stdout and stderr
};

CellctlRun run_cellctl(const std::string& arguments) {
  CellctlRun run;
  const std::string command = std::string(CELLCTL_PATH) + " " + arguments + " 2>&1";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return run;
  char chunk[4096];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, pipe)) > 0) run.out.append(chunk, n);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

TEST_F(ControlServiceTest, CellctlEndToEnd) {
  const std::string socket = "--socket " + socket_path_;
  CellctlRun not_running = run_cellctl(socket + " status");
  EXPECT_EQ(not_running.exit_code, 2);
  EXPECT_EQ(not_running.out,
            "cellctl: cellplaned is not running (no control socket at " + socket_path_ + ")\n");

  ASSERT_TRUE(registry_.add("status", "daemon status", [](const ControlRequest&, JsonWriter& out) {
    out.begin_object().field("version", "0.1.0").field("uptime_s", 61).end_object();
    return Result<void, std::string>{};
  }));
  ServiceThread service(registry_, options());
  ASSERT_EQ(service.error(), "");
  CellctlRun status = run_cellctl(socket + " status");
  EXPECT_EQ(status.exit_code, 0) << status.out;
  EXPECT_EQ(status.out, "version:  0.1.0\nuptime_s: 61 (1m 1s)\n");

  CellctlRun json = run_cellctl(socket + " --json echo k=v");
  EXPECT_EQ(json.exit_code, 0) << json.out;
  EXPECT_EQ(json.out, "{\"k\":\"v\"}\n");

  CellctlRun help = run_cellctl(socket + " help echo");
  EXPECT_EQ(help.exit_code, 0) << help.out;
  EXPECT_EQ(help.out, "COMMAND  HELP\necho     echo args\n");

  CellctlRun unknown = run_cellctl(socket + " remsim slotmaps list");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.out,
            "cellctl: remsim.slotmaps.list: unknown command 'remsim.slotmaps.list' (cellctl help "
            "lists them) [unknown_command]\n");
}

}  // namespace
}  // namespace cp::ctl
