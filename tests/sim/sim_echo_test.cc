// Many connections at once through SimBackend, both directions busy: an echo server on one host,
// clients on another each sending a stream and checking the echo, with tiny buffers, a small
// packet queue and harsh faults. Every connection must finish with an orderly close on both
// sides, after which the network holds nothing but the listener.
#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "engine/sim/sim_backend.h"
#include "engine/sim/sim_gtest.h"
#include "engine/sim/sim_network.h"

namespace cp::sim::echo_test {
namespace {

using engine::IoCompletion;
using engine::IoHandle;
using engine::IoOp;
using engine::kInvalidHandle;

constexpr uint32_t kServerIp = ipv4(10, 0, 1, 1);
constexpr uint32_t kClientIp = ipv4(10, 0, 1, 2);
constexpr uint16_t kPort = 9000;

std::byte stream_byte(size_t stream, uint64_t offset) {
  return static_cast<std::byte>(hash_fold(stream, offset / 8) >> (8 * (offset % 8)));
}

// One end of an echo connection. `pending` holds bytes received and not yet sent back;
// `sending` the bytes of the send in flight (they must stay put until its completion).
struct alignas(8) EchoEnd {
  IoHandle handle = kInvalidHandle;
  size_t index = 0;  // client: which stream
  std::vector<std::byte> pending;
  std::vector<std::byte> sending;
  size_t sent = 0;      // client: bytes of its stream handed to the backend
  size_t received = 0;  // client: echoed bytes checked
  bool send_in_flight = false;
  bool eof = false;
  bool shut = false;
  bool closed = false;
  int error = 0;
};

class EchoRun {
 public:
  EchoRun(SimNetwork& net, size_t clients, size_t stream_bytes)
      : net_(net),
        server_(net, kServerIp, small_pool()),
        client_(net, kClientIp, small_pool()),
        clients_(clients),
        server_ends_(net.config().endpoints_max),
        stream_bytes_(stream_bytes) {
    for (size_t i = 0; i < clients; ++i) clients_[i].index = i;
  }

  static engine::IoBackendOptions small_pool() {
    engine::IoBackendOptions opts = SimBackend::default_options();
    opts.recv_buffer_count = 16;
    opts.recv_buffer_bytes = 512;
    return opts;
  }

  void start() {
    auto listener = server_.listen(SocketAddress::ipv4(kServerIp, kPort), {});
    ASSERT_TRUE(listener.has_value());
    server_.start_accept(*listener, &accept_tag_);
    for (EchoEnd& c : clients_)
      client_.start_connect(SocketAddress::ipv4(kServerIp, kPort), &c, false);
  }

  bool finished() const {
    for (const EchoEnd& c : clients_) {
      if (!c.closed) return false;
    }
    return server_closed_ == clients_.size();
  }
  bool failed() const { return failed_; }

  void round(Nanos step) {
    std::array<IoCompletion, 32> cq;
    size_t n = server_.wait(cq, 0);
    for (size_t i = 0; i < n; ++i) on_server(cq[i]);
    n = client_.wait(cq, 0);
    for (size_t i = 0; i < n; ++i) on_client(cq[i]);
    net_.tick(step);
  }

 private:
  void fail(const char* what, const EchoEnd& end, int error) {
    if (!failed_) ADD_FAILURE() << what << " on handle " << end.handle << ": " << error;
    failed_ = true;
  }

  // Sends the pending bytes (the caller's buffer must stay put until the completion).
  void flush(SimBackend& backend, EchoEnd& end) {
    if (end.send_in_flight || end.pending.empty()) return;
    end.sending.swap(end.pending);
    end.pending.clear();
    end.send_in_flight = true;
    backend.start_send(end.handle, &end, end.sending);
  }
  void on_sent(SimBackend& backend, EchoEnd& end, const IoCompletion& c) {
    end.send_in_flight = false;
    if (c.result < 0) return fail("send", end, -c.result);
    const auto done = static_cast<size_t>(c.result);
    // Unsent bytes go back in front of what arrived meanwhile.
    end.pending.insert(end.pending.begin(), end.sending.begin() + static_cast<ptrdiff_t>(done),
                       end.sending.end());
    end.sending.clear();
    flush(backend, end);
  }

  void on_server(const IoCompletion& c) {
    if (c.op == IoOp::accept) {
      if (c.result < 0) return fail("accept", EchoEnd{}, -c.result);
      EchoEnd& end = server_ends_[static_cast<size_t>(c.result)];
      end = EchoEnd{};
      end.handle = c.result;
      server_.start_recv(end.handle, &end);
      return;
    }
    EchoEnd& end = *static_cast<EchoEnd*>(c.owner);
    if (c.op == IoOp::send) {
      on_sent(server_, end, c);
    } else if (c.result > 0) {
      end.pending.insert(end.pending.end(), c.data, c.data + c.result);
      server_.recycle_buffer(c.buffer_id);
      flush(server_, end);
    } else if (c.result == -ENOBUFS) {
      server_.start_recv(end.handle, &end);
    } else if (!c.more) {
      if (c.result < 0) return fail("server recv", end, -c.result);
      end.eof = true;
    }
    if (end.eof && !end.send_in_flight && end.pending.empty() && !end.closed) {
      server_.shutdown(end.handle);
      server_.close(end.handle);
      end.closed = true;
      ++server_closed_;
    }
  }

  void on_client(const IoCompletion& c) {
    EchoEnd& end = *static_cast<EchoEnd*>(c.owner);
    if (c.op == IoOp::connect) {
      if (c.result < 0) return fail("connect", end, -c.result);
      end.handle = c.result;
      client_.start_recv(end.handle, &end);
      send_more(end);
    } else if (c.op == IoOp::send) {
      on_sent(client_, end, c);
      send_more(end);
    } else if (c.result > 0) {
      check_echo(end, c);
      client_.recycle_buffer(c.buffer_id);
    } else if (c.result == -ENOBUFS) {
      client_.start_recv(end.handle, &end);
    } else if (!c.more) {
      if (c.result < 0) return fail("client recv", end, -c.result);
      if (end.received != stream_bytes_) return fail("early eof", end, 0);
      client_.close(end.handle);
      end.closed = true;
    }
    if (end.received == stream_bytes_ && !end.shut && !end.send_in_flight) {
      end.shut = true;
      client_.shutdown(end.handle);  // the armed recv completes; the server sees EOF
    }
  }
  void send_more(EchoEnd& end) {
    const size_t chunk = std::min<size_t>(700, stream_bytes_ - end.sent);
    for (size_t i = 0; i < chunk; ++i) end.pending.push_back(stream_byte(end.index, end.sent + i));
    end.sent += chunk;
    flush(client_, end);
  }
  void check_echo(EchoEnd& end, const IoCompletion& c) {
    for (int32_t i = 0; i < c.result; ++i) {
      if (end.received >= stream_bytes_ || c.data[i] != stream_byte(end.index, end.received)) {
        return fail("echo corrupt", end, static_cast<int>(end.received));
      }
      ++end.received;
    }
  }

  SimNetwork& net_;
  SimBackend server_;
  SimBackend client_;
  std::vector<EchoEnd> clients_;
  std::vector<EchoEnd> server_ends_;  // indexed by handle
  size_t stream_bytes_;
  size_t server_closed_ = 0;
  bool failed_ = false;
  struct alignas(8) {
    char unused = 0;
  } accept_tag_;
};

struct EchoParams {
  SimFaults faults;
  SimConfig config;
  size_t clients = 8;
  size_t stream_bytes = 32 * 1024;
};

void run_echo(uint64_t seed, const EchoParams& p) {
  ManualClock clock;
  SimNetwork net(seed, clock, p.faults, p.config);
  TraceOnFailure dump(net);
  EchoRun run(net, p.clients, p.stream_bytes);
  run.start();
  for (size_t i = 0; i < 2'000'000 && !run.finished() && !run.failed(); ++i) {
    run.round(200 * kNanosPerMicro);
  }
  ASSERT_TRUE(run.finished());
  EXPECT_TRUE(net.run_until_idle(100'000));
  EXPECT_EQ(net.endpoints_in_use(), 1u);  // the listener
  EXPECT_LE(net.packets_in_flight(), p.config.packets_in_flight_max);
}

TEST(SimEchoTest, ManyConnectionsBothWaysUnderHarshFaultsAndTinyBuffers) {
  CP_SIM_SEED(seed, 0xec40001);
  EchoParams p;
  p.faults.delay_ns_min = 100 * kNanosPerMicro;
  p.faults.delay_ns_max = 3 * kNanosPerMilli;
  p.faults.drop_probability = 0.2;
  p.faults.duplicate_probability = 0.2;
  p.faults.reorder_probability = 0.3;
  p.config.segment_bytes_max = 500;
  p.config.rx_buffer_bytes = 1700;  // not a multiple of the segment size: rings wrap mid-segment
  p.config.tx_buffer_bytes = 1100;
  p.config.out_of_order_ranges_max = 2;
  p.config.packets_in_flight_max = 48;  // small enough to overflow now and then
  run_echo(seed, p);
}

TEST(SimEchoTest, ManyConnectionsBothWaysWithoutFaults) {
  CP_SIM_SEED(seed, 0xec40002);
  EchoParams p;
  p.clients = 16;
  p.stream_bytes = 128 * 1024;
  run_echo(seed, p);
}

}  // namespace
}  // namespace cp::sim::echo_test
