// SimNetwork driven through the SimBackend (IoBackend) API: same seed => same trace, a stream
// arrives intact and in order under drops, duplicates and reordering, partitions stall and heal
// (and time out when long), flow control stops a sender whose peer does not read, connect is
// refused or times out, shutdown gives EOF, resets and recv-buffer exhaustion are reported.
#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/sim/sim_backend.h"
#include "engine/sim/sim_gtest.h"
#include "engine/sim/sim_network.h"

namespace cp::sim {
namespace {

using engine::IoCompletion;
using engine::IoHandle;
using engine::IoOp;
using engine::kInvalidHandle;

constexpr uint32_t kServerIp = ipv4(10, 0, 0, 1);
constexpr uint32_t kClientIp = ipv4(10, 0, 0, 2);
constexpr uint16_t kServerPort = 7000;
constexpr Nanos kStep = 100 * kNanosPerMicro;
constexpr size_t kKiB = 1024;

std::byte pattern_byte(uint64_t offset) {
  return static_cast<std::byte>(hash_fold(0x1234, offset / 8) >> (8 * (offset % 8)));
}

struct alignas(8) Tag {
  char unused = 0;
};

// Two hosts and one connection carrying `total_bytes` from the client to the server, checked
// byte by byte as they arrive. Everything goes through the IoBackend interface; pump() runs
// one round of the test's loop: both hosts' completions, then net.tick(step).
struct StreamHarness {
  StreamHarness(SimNetwork& network, size_t total_bytes,
                const engine::IoBackendOptions& server_opts = SimBackend::default_options())
      : net(network),
        server(network, kServerIp, server_opts),
        client(network, kClientIp),
        source(total_bytes) {
    for (size_t i = 0; i < total_bytes; ++i) source[i] = pattern_byte(i);
  }

  void listen(uint16_t port = kServerPort) {
    auto handle = server.listen(SocketAddress::ipv4(kServerIp, port), {});
    ASSERT_TRUE(handle.has_value());
    listener = *handle;
    server.start_accept(listener, &accept_tag);
  }
  void connect(const SocketAddress& to = SocketAddress::ipv4(kServerIp, kServerPort)) {
    client.start_connect(to, &connect_tag, false);
  }
  void arm_server_recv() {
    server_recv_armed = true;
    server.start_recv(server_conn, &server_recv_tag);
  }
  void arm_client_recv() {
    client_recv_armed = true;
    client.start_recv(client_conn, &client_recv_tag);
  }

  void pump(Nanos step = kStep) {
    drain_server();
    drain_client();
    net.tick(step);
  }
  bool pump_until(const std::function<bool()>& done, size_t rounds_max, Nanos step = kStep) {
    for (size_t i = 0; i < rounds_max; ++i) {
      if (done()) return true;
      pump(step);
    }
    return done();
  }
  void pump_for(Nanos duration, Nanos step = kStep) {
    const Nanos end = net.clock().now() + duration;
    while (net.clock().now() < end) pump(step);
  }
  bool complete() const { return server_eof && received == source.size() && !corrupt; }

  void drain_server() {
    std::array<IoCompletion, 64> cq;
    const size_t n = server.wait(cq, 0);
    for (size_t i = 0; i < n; ++i) on_server(cq[i]);
  }
  void on_server(const IoCompletion& c) {
    if (c.op == IoOp::accept) {
      if (c.result < 0) {
        accept_error = -c.result;
        return;
      }
      server_conn = c.result;
      if (server_reads) arm_server_recv();
      return;
    }
    ASSERT_EQ(c.op, IoOp::recv);
    ASSERT_EQ(c.owner, &server_recv_tag);
    if (c.result > 0) check_arrival(c);
    if (c.more) return;
    server_recv_armed = false;
    if (c.result == -ENOBUFS && recycle) {  // this batch held every buffer; they are back now
      ++recv_rearms;
      arm_server_recv();
      return;
    }
    if (c.result == 0) server_eof = true;
    if (c.result < 0) server_error = -c.result;
  }
  void check_arrival(const IoCompletion& c) {
    const size_t bytes = static_cast<size_t>(c.result);
    if (received + bytes > source.size() ||
        std::memcmp(c.data, source.data() + received, bytes) != 0) {
      if (!corrupt) ADD_FAILURE() << "stream corrupt at offset " << received;
      corrupt = true;
    }
    received += bytes;
    if (recycle) {
      server.recycle_buffer(c.buffer_id);
    } else {
      held_buffers.push_back(c.buffer_id);
    }
  }

  void drain_client() {
    std::array<IoCompletion, 64> cq;
    const size_t n = client.wait(cq, 0);
    for (size_t i = 0; i < n; ++i) on_client(cq[i]);
  }
  void on_client(const IoCompletion& c) {
    if (c.op == IoOp::connect) {
      if (c.result < 0) {
        connect_error = -c.result;
        return;
      }
      client_conn = c.result;
      send_next();
    } else if (c.op == IoOp::send) {
      send_in_flight = false;
      ++send_completions;
      if (first_send_result < 0) first_send_result = c.result;
      if (c.result < 0) {
        client_error = -c.result;
        return;
      }
      sent += static_cast<size_t>(c.result);
      send_next();
    } else if (c.op == IoOp::recv && !c.more) {
      client_recv_armed = false;
      if (c.result == 0) client_eof = true;
      if (c.result < 0) client_error = -c.result;
    } else if (c.op == IoOp::recv) {
      client.recycle_buffer(c.buffer_id);
    }
  }
  void send_next() {
    if (sent < source.size()) {
      const size_t bytes = std::min(send_chunk_bytes, source.size() - sent);
      send_in_flight = true;
      client.start_send(client_conn, &send_tag, std::span(source.data() + sent, bytes));
    } else if (shutdown_when_sent && !client_shut) {
      client_shut = true;
      client.shutdown(client_conn);
    }
  }

  SimNetwork& net;
  SimBackend server;
  SimBackend client;
  std::vector<std::byte> source;
  Tag accept_tag, connect_tag, send_tag, server_recv_tag, client_recv_tag;

  IoHandle listener = kInvalidHandle;
  IoHandle server_conn = kInvalidHandle;
  IoHandle client_conn = kInvalidHandle;
  size_t send_chunk_bytes = 16 * kKiB;
  bool server_reads = true;
  bool recycle = true;
  bool shutdown_when_sent = true;

  size_t sent = 0;
  size_t received = 0;
  size_t send_completions = 0;
  size_t recv_rearms = 0;
  int32_t first_send_result = -1;
  bool send_in_flight = false;
  bool server_recv_armed = false;
  bool client_recv_armed = false;
  bool server_eof = false;
  bool client_eof = false;
  bool client_shut = false;
  bool corrupt = false;
  int accept_error = 0;
  int connect_error = 0;
  int server_error = 0;
  int client_error = 0;
  std::vector<uint16_t> held_buffers;
};

SimFaults lossy_faults(double drop, double duplicate, double reorder) {
  SimFaults f;
  f.delay_ns_min = 200 * kNanosPerMicro;
  f.delay_ns_max = 2 * kNanosPerMilli;
  f.drop_probability = drop;
  f.duplicate_probability = duplicate;
  f.reorder_probability = reorder;
  f.reorder_delay_ns_max = 5 * kNanosPerMilli;
  return f;
}

struct RunOutcome {
  uint64_t trace_hash = 0;
  uint64_t trace_events = 0;
  std::string trace_text;
  Nanos finished_ns = 0;
};

// One whole transfer with `seed`; the test fails (printing seed and trace) unless it completes.
RunOutcome run_transfer(uint64_t seed, const SimFaults& faults, size_t bytes) {
  ManualClock clock;
  SimNetwork net(seed, clock, faults);
  TraceOnFailure dump(net);
  StreamHarness h(net, bytes);
  h.listen();
  h.connect();
  EXPECT_TRUE(h.pump_until([&] { return h.complete(); }, 400'000)) << "received " << h.received;
  return {net.trace_hash(), net.trace_events(), net.trace_text(), clock.now()};
}

TEST(SimNetworkTest, SameSeedGivesSameTrace) {
  CP_SIM_SEED(seed, 0x5eed0001);
  const SimFaults faults = lossy_faults(0.05, 0.05, 0.2);
  const RunOutcome first = run_transfer(seed, faults, 256 * kKiB);
  const RunOutcome second = run_transfer(seed, faults, 256 * kKiB);
  EXPECT_EQ(first.trace_hash, second.trace_hash);
  EXPECT_EQ(first.trace_events, second.trace_events);
  EXPECT_EQ(first.trace_text, second.trace_text);
  EXPECT_EQ(first.finished_ns, second.finished_ns);
  EXPECT_GT(first.trace_events, 500u);
}

TEST(SimNetworkTest, DifferentSeedsGiveDifferentTraces) {
  CP_SIM_SEED(seed, 0x5eed0002);
  const SimFaults faults = lossy_faults(0.05, 0.05, 0.2);
  const RunOutcome a = run_transfer(seed, faults, 64 * kKiB);
  const RunOutcome b = run_transfer(seed + 1, faults, 64 * kKiB);
  EXPECT_NE(a.trace_hash, b.trace_hash);
}

TEST(SimNetworkTest, MebibyteArrivesIntactUnderDropDuplicateReorder) {
  CP_SIM_SEED(seed, 0x5eed0003);
  ManualClock clock;
  SimNetwork net(seed, clock, lossy_faults(0.1, 0.1, 0.3));
  TraceOnFailure dump(net);
  StreamHarness h(net, 1024 * kKiB);
  h.listen();
  h.connect();
  ASSERT_TRUE(h.pump_until([&] { return h.complete(); }, 1'000'000)) << "received " << h.received;
  EXPECT_EQ(h.server_error, 0);
  EXPECT_EQ(h.client_error, 0);
  const SimStats& s = net.stats();
  EXPECT_GT(s.packets_dropped, 0u);
  EXPECT_GT(s.packets_duplicated, 0u);
  EXPECT_GT(s.retransmit_timeouts + s.fast_retransmits, 0u);
  EXPECT_EQ(s.packets_queue_full, 0u);
}

TEST(SimNetworkTest, PartitionStallsDeliveryAndHealingResumesIt) {
  CP_SIM_SEED(seed, 0x5eed0004);
  ManualClock clock;
  SimNetwork net(seed, clock, lossy_faults(0.02, 0.02, 0.1));
  TraceOnFailure dump(net);
  StreamHarness h(net, 512 * kKiB);
  h.listen();
  h.connect();
  ASSERT_TRUE(h.pump_until([&] { return h.received >= 64 * kKiB; }, 100'000));
  ASSERT_TRUE(net.partition(kServerIp, kClientIp));
  h.pump_for(50 * kNanosPerMilli);  // what was already through reaches the application
  const size_t stalled_at = h.received;
  h.pump_for(2 * kNanosPerSecond, kNanosPerMilli);
  EXPECT_EQ(h.received, stalled_at);
  EXPECT_LT(h.received, h.source.size());
  EXPECT_GT(net.stats().packets_partitioned, 0u);
  net.heal();
  ASSERT_TRUE(h.pump_until([&] { return h.complete(); }, 400'000)) << "received " << h.received;
  EXPECT_EQ(h.server_error, 0);
  EXPECT_EQ(h.client_error, 0);
}

TEST(SimNetworkTest, LongPartitionTimesConnectionsOut) {
  CP_SIM_SEED(seed, 0x5eed0005);
  ManualClock clock;
  SimConfig config;
  config.connection_timeout_ns = kNanosPerSecond;
  SimNetwork net(seed, clock, SimFaults{}, config);
  TraceOnFailure dump(net);
  StreamHarness h(net, 8 * 1024 * kKiB);
  h.listen();
  h.connect();
  ASSERT_TRUE(h.pump_until([&] { return h.received >= 64 * kKiB; }, 100'000));
  ASSERT_TRUE(net.partition(kServerIp, kClientIp));
  h.pump_for(1500 * kNanosPerMilli, kNanosPerMilli);
  EXPECT_EQ(h.server_error, ETIMEDOUT);  // the armed recv ends
  EXPECT_EQ(h.client_error, ETIMEDOUT);  // the send waiting for room ends
  EXPECT_EQ(net.error(h.server_conn), ETIMEDOUT);
  EXPECT_EQ(net.stats().connections_timed_out, 2u);
}

TEST(SimNetworkTest, ReceiverThatDoesNotReadStopsTheSender) {
  CP_SIM_SEED(seed, 0x5eed0006);
  ManualClock clock;
  SimConfig config;
  config.rx_buffer_bytes = 16 * kKiB;
  config.tx_buffer_bytes = 8 * kKiB;
  SimNetwork net(seed, clock, SimFaults{}, config);
  TraceOnFailure dump(net);
  StreamHarness h(net, 256 * kKiB);
  h.server_reads = false;
  h.send_chunk_bytes = 64 * kKiB;
  h.listen();
  h.connect();
  h.pump_for(500 * kNanosPerMilli, kNanosPerMilli);
  ASSERT_NE(h.server_conn, kInvalidHandle);
  EXPECT_EQ(h.first_send_result, static_cast<int32_t>(config.tx_buffer_bytes));  // short send
  // Exactly the receive window plus the send buffer left the application; the rest waits.
  EXPECT_EQ(h.sent, size_t{config.rx_buffer_bytes} + config.tx_buffer_bytes);
  EXPECT_TRUE(h.send_in_flight);
  EXPECT_EQ(net.send_queued(h.client_conn), config.tx_buffer_bytes);
  EXPECT_EQ(h.received, 0u);
  const size_t completions = h.send_completions;
  h.pump_for(kNanosPerSecond, kNanosPerMilli);
  EXPECT_EQ(h.send_completions, completions);
  EXPECT_LE(net.packets_in_flight(), 4u);  // only window probes and their ACKs
  EXPECT_GT(net.stats().window_probes, 0u);
  EXPECT_EQ(net.stats().connections_timed_out, 0u);  // answered probes are not silence

  h.arm_server_recv();
  ASSERT_TRUE(h.pump_until([&] { return h.complete(); }, 400'000)) << "received " << h.received;
}

TEST(SimNetworkTest, ConnectWithoutListenerIsRefusedAfterARoundTrip) {
  CP_SIM_SEED(seed, 0x5eed0007);
  ManualClock clock;
  SimFaults faults;
  faults.delay_ns_min = kNanosPerMilli;
  faults.delay_ns_max = 2 * kNanosPerMilli;
  SimNetwork net(seed, clock, faults);
  TraceOnFailure dump(net);
  StreamHarness h(net, 0);
  const Nanos start = clock.now();
  h.connect();
  ASSERT_TRUE(h.pump_until([&] { return h.connect_error != 0; }, 10'000));
  EXPECT_EQ(h.connect_error, ECONNREFUSED);
  EXPECT_GE(clock.now() - start, 2 * faults.delay_ns_min);
  EXPECT_EQ(net.endpoints_in_use(), 0u);
}

TEST(SimNetworkTest, ConnectToMissingHostTimesOut) {
  CP_SIM_SEED(seed, 0x5eed0008);
  ManualClock clock;
  SimConfig config;
  config.connect_timeout_ns = 500 * kNanosPerMilli;
  SimNetwork net(seed, clock, SimFaults{}, config);
  TraceOnFailure dump(net);
  StreamHarness h(net, 0);
  const Nanos start = clock.now();
  h.connect(SocketAddress::ipv4(ipv4(10, 0, 0, 99), kServerPort));
  ASSERT_TRUE(h.pump_until([&] { return h.connect_error != 0; }, 100'000, kNanosPerMilli));
  EXPECT_EQ(h.connect_error, ETIMEDOUT);
  EXPECT_GE(clock.now() - start, config.connect_timeout_ns);
}

TEST(SimNetworkTest, ShutdownGivesThePeerEofAndCompletesArmedRecv) {
  CP_SIM_SEED(seed, 0x5eed0009);
  ManualClock clock;
  SimNetwork net(seed, clock, lossy_faults(0.1, 0.1, 0.2));
  TraceOnFailure dump(net);
  StreamHarness h(net, 5);
  h.shutdown_when_sent = false;
  h.listen();
  h.connect();
  ASSERT_TRUE(h.pump_until([&] { return h.received == 5; }, 100'000));
  EXPECT_FALSE(h.server_eof);
  h.arm_client_recv();
  h.client.shutdown(h.client_conn);
  ASSERT_TRUE(h.pump_until([&] { return h.server_eof && h.client_eof; }, 100'000));
  EXPECT_EQ(h.server_error, 0);
  EXPECT_FALSE(h.client_recv_armed);

  // Both close; once the FINs are acknowledged only the listener is left.
  h.server.close(h.server_conn);
  h.client.close(h.client_conn);
  EXPECT_TRUE(net.run_until_idle(100'000));
  EXPECT_EQ(net.endpoints_in_use(), 1u);
}

TEST(SimNetworkTest, ResetReachesBothEnds) {
  CP_SIM_SEED(seed, 0x5eed000a);
  ManualClock clock;
  SimNetwork net(seed, clock, SimFaults{});
  TraceOnFailure dump(net);
  StreamHarness h(net, 4 * kKiB);
  h.shutdown_when_sent = false;
  h.listen();
  h.connect();
  ASSERT_TRUE(h.pump_until([&] { return h.received == h.source.size(); }, 100'000));
  h.arm_client_recv();
  h.pump();
  ASSERT_TRUE(net.reset_connection(h.client_conn));
  ASSERT_TRUE(h.pump_until([&] { return h.server_error != 0 && h.client_error != 0; }, 100));
  EXPECT_EQ(h.server_error, ECONNRESET);
  EXPECT_EQ(h.client_error, ECONNRESET);
}

TEST(SimNetworkTest, CloseWithUnreadInputResetsThePeer) {
  CP_SIM_SEED(seed, 0x5eed000b);
  ManualClock clock;
  SimNetwork net(seed, clock, SimFaults{});
  TraceOnFailure dump(net);
  StreamHarness h(net, 4 * kKiB);
  h.server_reads = false;
  h.shutdown_when_sent = false;
  h.listen();
  h.connect();
  ASSERT_TRUE(
      h.pump_until([&] { return h.server_conn != kInvalidHandle && h.sent == 4 * kKiB; }, 100'000));
  h.pump_for(20 * kNanosPerMilli);
  h.arm_client_recv();
  h.server.close(h.server_conn);
  ASSERT_TRUE(h.pump_until([&] { return h.client_error != 0; }, 100'000));
  EXPECT_EQ(h.client_error, ECONNRESET);
}

TEST(SimNetworkTest, MultishotRecvEndsWithEnobufsWhenBuffersRunOut) {
  CP_SIM_SEED(seed, 0x5eed000c);
  ManualClock clock;
  SimNetwork net(seed, clock, SimFaults{});
  TraceOnFailure dump(net);
  engine::IoBackendOptions opts = SimBackend::default_options();
  opts.recv_buffer_count = 4;
  opts.recv_buffer_bytes = 1024;
  StreamHarness h(net, 16 * kKiB, opts);
  h.recycle = false;
  h.listen();
  h.connect();
  ASSERT_TRUE(h.pump_until([&] { return h.server_error != 0; }, 100'000));
  EXPECT_EQ(h.server_error, ENOBUFS);
  EXPECT_EQ(h.held_buffers.size(), 4u);
  EXPECT_EQ(h.server.stats().recv_buffer_exhausted, 1u);
  EXPECT_EQ(h.server.recv_buffers_free(), 0u);

  for (uint16_t id : h.held_buffers) h.server.recycle_buffer(id);
  h.held_buffers.clear();
  h.recycle = true;
  h.server_error = 0;
  h.arm_server_recv();
  ASSERT_TRUE(h.pump_until([&] { return h.complete(); }, 100'000))
      << "received " << h.received << " error " << h.server_error << " eof " << h.server_eof
      << " armed " << h.server_recv_armed;
  EXPECT_EQ(h.server.recv_buffers_free(), 4u);
  EXPECT_GT(h.recv_rearms, 0u);  // 4 buffers per batch: the multishot keeps running dry
}

TEST(SimNetworkTest, StopRecvEndsTheMultishotWithEcanceled) {
  CP_SIM_SEED(seed, 0x5eed000d);
  ManualClock clock;
  SimNetwork net(seed, clock, SimFaults{});
  TraceOnFailure dump(net);
  StreamHarness h(net, 0);
  h.shutdown_when_sent = false;
  h.listen();
  h.connect();
  ASSERT_TRUE(h.pump_until([&] { return h.server_recv_armed; }, 100'000));
  h.server.stop_recv(h.server_conn, &h.server_recv_tag);
  h.pump();
  EXPECT_FALSE(h.server_recv_armed);
  EXPECT_EQ(h.server_error, ECANCELED);
}

TEST(SimNetworkTest, AddressesOfListenerAndBothEnds) {
  CP_SIM_SEED(seed, 0x5eed000e);
  ManualClock clock;
  SimNetwork net(seed, clock, SimFaults{});
  TraceOnFailure dump(net);
  StreamHarness h(net, 0);
  h.shutdown_when_sent = false;
  h.listen(0);
  auto bound = h.server.local_address(h.listener);
  ASSERT_TRUE(bound.has_value());
  EXPECT_GE(bound->port(), 49152);
  EXPECT_EQ(bound->to_string(), "10.0.0.1:" + std::to_string(bound->port()));
  EXPECT_EQ(h.server.name(), "sim");
  h.connect(*bound);
  ASSERT_TRUE(h.pump_until([&] { return h.client_conn >= 0 && h.server_conn >= 0; }, 100'000));
  auto client_local = h.client.local_address(h.client_conn);
  auto client_peer = h.client.peer_address(h.client_conn);
  auto server_peer = h.server.peer_address(h.server_conn);
  ASSERT_TRUE(client_local && client_peer && server_peer);
  EXPECT_EQ(client_peer->to_string(), bound->to_string());
  EXPECT_EQ(server_peer->to_string(), client_local->to_string());
  EXPECT_FALSE(h.server.local_address(h.client_conn).has_value());  // another host's handle
  EXPECT_EQ(h.client.listen(SocketAddress::ipv4(kServerIp, 1), {}).error(), EADDRNOTAVAIL);
}

TEST(SimNetworkTest, SeedFromEnvironment) {
  ::unsetenv("CP_SIM_SEED");
  EXPECT_EQ(seed_from_env(42), 42u);
  ::setenv("CP_SIM_SEED", "0x10", 1);
  EXPECT_EQ(seed_from_env(42), 16u);
  ::setenv("CP_SIM_SEED", "junk", 1);
  EXPECT_EQ(seed_from_env(42), 42u);
  ::unsetenv("CP_SIM_SEED");
  EXPECT_NE(seed_message(0x2a).find("CP_SIM_SEED=0x2a"), std::string::npos);
}

}  // namespace
}  // namespace cp::sim
