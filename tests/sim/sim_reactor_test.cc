// The engine's Reactor running unchanged on the simulator: two hosts, each a Reactor over a
// SimBackend sharing one ManualClock. The server runs the real EchoService; the client opens a
// few connections and sends framed messages (u32 length + payload), checking every echo, then
// closes. The test's loop alternates run_once(0) on both reactors with net.tick(step).
#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "base/byte_reader.h"
#include "engine/echo/echo_service.h"
#include "engine/reactor.h"
#include "engine/sim/sim_backend.h"
#include "engine/sim/sim_gtest.h"
#include "engine/sim/sim_network.h"

namespace cp::sim::reactor_test {
namespace {

using engine::CloseReason;
using engine::Connection;

constexpr uint32_t kServerIp = ipv4(10, 0, 2, 1);
constexpr uint32_t kClientIp = ipv4(10, 0, 2, 2);
constexpr uint16_t kPort = 2775;
constexpr uint32_t kPayloadBytesMax = 1500;
constexpr size_t kFrameHeaderBytes = 4;

engine::ReactorConfig small_reactor_config() {
  engine::ReactorConfig config;
  config.max_connections = 16;
  config.rx_buffer_bytes = 4096;  // above the largest frame: a frame always fits
  config.tx_buffer_bytes = 4096;
  config.service_timers_max = 16;
  config.completions_per_turn = 64;
  return config;
}

engine::IoBackendOptions small_backend_options() {
  engine::IoBackendOptions opts = SimBackend::default_options();
  opts.recv_buffer_count = 32;
  opts.recv_buffer_bytes = 1024;
  return opts;
}

// Message `index` of connection `stream`: its length and payload depend on both.
uint32_t payload_bytes(uint64_t stream, uint64_t index) {
  return 1 + static_cast<uint32_t>(hash_fold(stream, index) % kPayloadBytesMax);
}
std::byte payload_byte(uint64_t stream, uint64_t index, size_t offset) {
  return static_cast<std::byte>(hash_fold(hash_fold(stream, index), offset));
}

// A client connection: sends `count` frames as room allows and checks their echo in order.
class FramedClient final : public engine::ConnectionHandler {
 public:
  FramedClient(uint64_t stream, size_t count) : stream_(stream), count_(count) {}

  void on_open(Connection& conn) override { send_more(conn); }
  void on_writable(Connection& conn) override { send_more(conn); }

  size_t on_data(Connection& conn, std::span<const std::byte> data) override {
    size_t consumed = 0;
    while (echoed_ < count_) {
      ByteReader reader(data.subspan(consumed));
      const auto length = reader.u32();
      if (!length) break;
      if (*length != payload_bytes(stream_, echoed_)) return fail(conn, "frame length");
      const auto body = reader.bytes(*length);
      if (!body) break;  // a partial frame: the reactor offers it again with more bytes
      for (size_t i = 0; i < body->size(); ++i) {
        if ((*body)[i] != payload_byte(stream_, echoed_, i)) return fail(conn, "payload");
      }
      consumed += kFrameHeaderBytes + *length;
      ++echoed_;
    }
    if (echoed_ == count_ && !closing_) {
      closing_ = true;
      conn.close();
    }
    return consumed;
  }

  void on_close(Connection&, CloseReason reason, int error) override {
    closed_ = true;
    close_reason_ = reason;
    close_error_ = error;
  }

  bool closed() const { return closed_; }
  size_t echoed() const { return echoed_; }
  CloseReason close_reason() const { return close_reason_; }
  int close_error() const { return close_error_; }

 private:
  void send_more(Connection& conn) {
    while (sent_ < count_) {
      const uint32_t length = payload_bytes(stream_, sent_);
      frame_.resize(kFrameHeaderBytes + length);
      put_u32(frame_.data(), length);
      for (size_t i = 0; i < length; ++i) {
        frame_[kFrameHeaderBytes + i] = payload_byte(stream_, sent_, i);
      }
      if (!conn.send(frame_)) return;  // on_writable() follows when room comes back
      ++sent_;
    }
  }
  size_t fail(Connection& conn, const char* what) {
    ADD_FAILURE() << "stream " << stream_ << " message " << echoed_ << ": bad " << what;
    conn.abort();
    return 0;
  }

  uint64_t stream_;
  size_t count_;
  size_t sent_ = 0;
  size_t echoed_ = 0;
  bool closing_ = false;
  bool closed_ = false;
  CloseReason close_reason_ = CloseReason::local;
  int close_error_ = 0;
  std::vector<std::byte> frame_;
};

struct EchoRunResult {
  uint64_t trace_hash = 0;
  uint64_t trace_events = 0;
  Nanos finished_ns = 0;
  size_t echoed = 0;
};

// Declared in this order so that the reactors (and their backends) go before the network.
struct TwoReactors {
  TwoReactors(uint64_t seed, const SimFaults& faults, const SimConfig& config = {})
      : net(seed, clock, faults, config),
        dump(net),
        server(small_reactor_config(),
               std::make_unique<SimBackend>(net, kServerIp, small_backend_options()), clock),
        client(small_reactor_config(),
               std::make_unique<SimBackend>(net, kClientIp, small_backend_options()), clock) {}

  void round(Nanos step) {
    server.run_once(0);
    client.run_once(0);
    net.tick(step);
  }

  ManualClock clock;
  SimNetwork net;
  TraceOnFailure dump;
  engine::Reactor server;
  engine::Reactor client;
  engine::EchoService echo;
};

SimFaults lossy() {
  SimFaults f;
  f.delay_ns_min = 100 * kNanosPerMicro;
  f.delay_ns_max = 2 * kNanosPerMilli;
  f.drop_probability = 0.05;
  f.duplicate_probability = 0.05;
  f.reorder_probability = 0.2;
  return f;
}

EchoRunResult run_echo(uint64_t seed, const SimFaults& faults, size_t connections,
                       size_t messages) {
  TwoReactors sim(seed, faults);
  auto bound = sim.server.listen(SocketAddress::ipv4(kServerIp, kPort), sim.echo);
  EXPECT_TRUE(bound.has_value());
  std::vector<std::unique_ptr<FramedClient>> clients;
  for (size_t i = 0; i < connections; ++i) {
    clients.push_back(std::make_unique<FramedClient>(i, messages));
    EXPECT_NE(sim.client.connect(SocketAddress::ipv4(kServerIp, kPort), *clients.back()), nullptr);
  }
  auto all_closed = [&] {
    for (const auto& c : clients) {
      if (!c->closed()) return false;
    }
    return sim.echo.closed() == connections;
  };
  for (size_t i = 0; i < 2'000'000 && !all_closed(); ++i) sim.round(100 * kNanosPerMicro);
  EXPECT_TRUE(all_closed());

  EchoRunResult result{sim.net.trace_hash(), sim.net.trace_events(), sim.clock.now(), 0};
  for (const auto& c : clients) {
    result.echoed += c->echoed();
    EXPECT_EQ(c->echoed(), messages);
    EXPECT_EQ(c->close_reason(), CloseReason::local) << to_string(c->close_reason());
  }
  EXPECT_EQ(sim.echo.last_reason(), CloseReason::peer_closed);
  EXPECT_EQ(sim.server.connection_count(), 0u);
  EXPECT_EQ(sim.client.connection_count(), 0u);
  EXPECT_EQ(sim.server.stats().bytes_received.load(), sim.client.stats().bytes_received.load());
  return result;
}

TEST(SimReactorTest, EchoesFramedMessagesUnderFaults) {
  CP_SIM_SEED(seed, 0x7eac0001);
  const EchoRunResult r = run_echo(seed, lossy(), 4, 300);
  EXPECT_EQ(r.echoed, 4u * 300u);
}

TEST(SimReactorTest, SameSeedGivesSameTrace) {
  CP_SIM_SEED(seed, 0x7eac0002);
  const EchoRunResult first = run_echo(seed, lossy(), 3, 100);
  const EchoRunResult second = run_echo(seed, lossy(), 3, 100);
  EXPECT_EQ(first.trace_hash, second.trace_hash);
  EXPECT_EQ(first.trace_events, second.trace_events);
  EXPECT_EQ(first.finished_ns, second.finished_ns);
  const EchoRunResult other = run_echo(seed + 1, lossy(), 3, 100);
  EXPECT_NE(first.trace_hash, other.trace_hash);
}

TEST(SimReactorTest, ConnectWithoutListenerFails) {
  CP_SIM_SEED(seed, 0x7eac0003);
  TwoReactors sim(seed, lossy());
  FramedClient client(0, 1);
  ASSERT_NE(sim.client.connect(SocketAddress::ipv4(kServerIp, kPort), client), nullptr);
  for (size_t i = 0; i < 100'000 && !client.closed(); ++i) sim.round(100 * kNanosPerMicro);
  ASSERT_TRUE(client.closed());
  EXPECT_EQ(client.close_reason(), CloseReason::connect_failed);
  EXPECT_EQ(client.close_error(), ECONNREFUSED);
}

TEST(SimReactorTest, LongPartitionClosesBothEndsWithIoError) {
  CP_SIM_SEED(seed, 0x7eac0004);
  SimConfig config;
  config.connection_timeout_ns = kNanosPerSecond;
  TwoReactors sim(seed, SimFaults{}, config);
  ASSERT_TRUE(sim.server.listen(SocketAddress::ipv4(kServerIp, kPort), sim.echo).has_value());
  FramedClient client(0, 1'000'000);  // never finishes on its own
  ASSERT_NE(sim.client.connect(SocketAddress::ipv4(kServerIp, kPort), client), nullptr);
  for (size_t i = 0; i < 100'000 && client.echoed() < 100; ++i) sim.round(100 * kNanosPerMicro);
  ASSERT_GE(client.echoed(), 100u);
  ASSERT_TRUE(sim.net.partition(kServerIp, kClientIp));
  for (size_t i = 0; i < 2'000 && !(client.closed() && sim.echo.closed() == 1); ++i) {
    sim.round(kNanosPerMilli);
  }
  ASSERT_TRUE(client.closed());
  EXPECT_EQ(client.close_reason(), CloseReason::io_error);
  EXPECT_EQ(client.close_error(), ETIMEDOUT);
  EXPECT_EQ(sim.echo.closed(), 1u);
  EXPECT_EQ(sim.echo.last_reason(), CloseReason::io_error);
}

}  // namespace
}  // namespace cp::sim::reactor_test
