// Custody on the deterministic simulation transport (engine/sim), with seeds: the SMSC core on
// one simulated host (its store in real files, committed through the simulated backend), the
// submitter and two GSM MT role handlers on another, over a lossy, reordering, duplicating
// network. The first handler takes every message into its custody and then goes away — it
// disconnects, or declares its service down — at a seeded moment; the core must retake custody
// of all of them, hand them to the second handler, and every message must end delivered exactly
// once. A discharge from the first handler after it lost custody is refused.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <set>

#include "engine/reactor.h"
#include "engine/sim/sim_backend.h"
#include "engine/sim/sim_gtest.h"
#include "engine/sim/sim_random.h"
#include "services/smsc/core.h"
#include "services/smsc/wire.h"
#include "storage/store.h"
#include "tests/services/smsc/smsc_harness.h"

namespace cp::smsc {
namespace {

using engine::CloseReason;
using engine::Connection;
using sim::ipv4;
using sim::SimBackend;
using sim::SimNetwork;
using wire::Status;
using wire::Type;

constexpr uint32_t kCoreIp = ipv4(10, 0, 4, 1);
constexpr uint32_t kPeerIp = ipv4(10, 0, 4, 2);
constexpr uint16_t kPort = 7000;

struct Outcome {
  uint64_t delivered = 0;
  size_t second_handler_got = 0;
  uint64_t trace_hash = 0;
};

Outcome run(uint64_t seed, bool disconnect, size_t messages, const std::string& dir) {
  ManualClock clock;
  sim::SimFaults faults;
  faults.delay_ns_min = 50 * kNanosPerMicro;
  faults.delay_ns_max = 2 * kNanosPerMilli;
  faults.drop_probability = 0.03;
  faults.duplicate_probability = 0.03;
  faults.reorder_probability = 0.1;
  SimNetwork net(seed, clock, faults);
  sim::TraceOnFailure dump(net);
  sim::SimRandom rng(seed ^ 0xc0ffee);
  engine::Reactor core(test::sim_reactor_config(), std::make_unique<SimBackend>(net, kCoreIp),
                       clock);
  engine::Reactor peer(test::sim_reactor_config(), std::make_unique<SimBackend>(net, kPeerIp),
                       clock);

  storage::StoreOptions so;
  so.dir = dir + "/pms";
  so.cores = 1;
  so.shard.prealloc_bytes = 1 << 20;
  storage::Store store(so);
  SmscOptions opt = test::test_options(dir);
  opt.stream_listen = SocketAddress::ipv4(kCoreIp, kPort);
  opt.retry_delay = 50 * kNanosPerMilli;
  SmscService smsc(opt, store, test::test_numdb(), 1);
  EXPECT_TRUE(store.open_on_core(core, clock));
  auto started = smsc.start_on_core(core);
  EXPECT_TRUE(started) << (started ? "" : started.error());

  auto round = [&] {
    core.run_once(0);
    peer.run_once(0);
    net.tick(100 * kNanosPerMicro);
  };
  auto until = [&](auto pred, size_t rounds = 400'000) {
    for (size_t i = 0; i < rounds && !pred(); ++i) round();
    return pred();
  };
  std::byte buf[wire::kMessageMax];
  const SocketAddress at = SocketAddress::ipv4(kCoreIp, kPort);

  // The first GSM handler: takes everything, then goes away after a seeded number of transfers.
  test::EngineClient first;
  size_t first_got = 0;
  std::vector<uint64_t> first_ids;
  const size_t leave_after = 1 + static_cast<size_t>(rng.below(messages));
  bool left = false;
  first.on_message = [&](test::EngineClient& c, const wire::Message& m) {
    if (m.header.response() || left) return;
    EXPECT_EQ(m.header.type, Type::mt_transfer);
    first_ids.push_back(m.submit.record.message_id);
    c.send({buf, wire::encode_response(buf, Type::mt_transfer, m.header.request_id, Status::ok)});
    if (++first_got == leave_after) {
      left = true;
      if (disconnect) {
        c.conn->abort();
      } else {
        c.send({buf, wire::encode_service_state(buf, 900, false)});
      }
    }
  };
  EXPECT_NE(peer.connect(at, first), nullptr);
  first.send({buf, wire::encode_register(buf, 1, {wire::Role::gsm_mt, ""})});
  first.send({buf, wire::encode_service_state(buf, 2, true)});

  // The submitter: every message straight to a SIM (deliver-to-IMSI), acknowledged durably.
  test::EngineClient submitter;
  size_t acked = 0;
  submitter.on_message = [&](test::EngineClient&, const wire::Message& m) {
    EXPECT_EQ(m.header.status, Status::ok);
    ++acked;
  };
  EXPECT_NE(peer.connect(at, submitter), nullptr);
  for (size_t i = 0; i < messages; ++i) {
    auto s = test::make_submit("2125550100", "2125550101", "m" + std::to_string(i),
                               static_cast<uint16_t>(i));
    storage::set_imsi(s.record, "001010000000001");
    s.flags = wire::kSubmitDeliverToImsi;
    submitter.send({buf, wire::encode_submit(buf, 100 + i, s)});
  }
  EXPECT_TRUE(until([&] { return acked == messages && left; })) << acked << " acked";
  // After leaving by service state, its late discharge of a message it no longer holds is
  // refused (custody went back to the core).
  std::optional<Status> late;
  if (!disconnect && !first_ids.empty()) {
    first.on_message = [&](test::EngineClient&, const wire::Message& m) {
      if (m.header.response() &&
          static_cast<uint8_t>(m.header.type) == (static_cast<uint8_t>(Type::mt_discharge) | 0x80))
        late = m.header.status;
    };
    first.send({buf, wire::encode_discharge(
                         buf, 901, {first_ids.front(), storage::Disposition::delivered, 0})});
    EXPECT_TRUE(until([&] { return late.has_value(); }));
  }

  // The second handler: takes and delivers everything it is given.
  test::EngineClient second;
  std::set<uint64_t> second_ids;
  uint64_t rid = 1000;
  second.on_message = [&](test::EngineClient& c, const wire::Message& m) {
    if (m.header.response()) {
      EXPECT_EQ(m.header.status, Status::ok) << "request " << m.header.request_id;
      return;
    }
    EXPECT_EQ(m.header.type, Type::mt_transfer);
    EXPECT_TRUE(second_ids.insert(m.submit.record.message_id).second) << "transferred twice";
    c.send({buf, wire::encode_response(buf, Type::mt_transfer, m.header.request_id, Status::ok)});
    c.send(
        {buf, wire::encode_discharge(
                  buf, ++rid, {m.submit.record.message_id, storage::Disposition::delivered, 0})});
  };
  // With a disconnect the role is free at once; after "down" the first still holds it.
  if (!disconnect) first.conn->close();
  // The core frees the role once it has seen the connection go (a register before that would
  // get role_taken, as it should).
  EXPECT_TRUE(until([&] { return first.closed && smsc.roles().empty(); }));
  EXPECT_NE(peer.connect(at, second), nullptr);
  second.send({buf, wire::encode_register(buf, 3, {wire::Role::gsm_mt, ""})});
  second.send({buf, wire::encode_service_state(buf, 4, true)});
  EXPECT_TRUE(until([&] { return smsc.stats().delivered.load() == messages; }))
      << smsc.stats().delivered.load() << " of " << messages << " delivered";
  if (!disconnect && !first_ids.empty()) {
    EXPECT_EQ(late.value_or(Status::ok), Status::not_in_custody);
  }
  // Nothing more arrives: every message exactly once.
  for (int i = 0; i < 2000; ++i) round();
  EXPECT_EQ(second_ids.size(), messages);
  EXPECT_EQ(smsc.stats().delivered.load(), messages);

  Outcome out{smsc.stats().delivered.load(), second_ids.size(), net.trace_hash()};
  if (second.conn) second.conn->abort();
  if (submitter.conn) submitter.conn->abort();
  for (int i = 0; i < 200; ++i) round();
  return out;
}

TEST(SmscSimCustody, RetakenWhenTheHandlerDisconnects) {
  for (uint64_t base : {0x5c0001ull, 0x5c0002ull, 0x5c0003ull}) {
    CP_SIM_SEED(seed, base);
    cp::test::TempDir tmp;
    run(seed, true, 24, tmp.str());
    if (HasFailure()) return;
  }
}

TEST(SmscSimCustody, RetakenWhenTheHandlerDeclaresServiceDown) {
  for (uint64_t base : {0x5d0001ull, 0x5d0002ull, 0x5d0003ull}) {
    CP_SIM_SEED(seed, base);
    cp::test::TempDir tmp;
    run(seed, false, 24, tmp.str());
    if (HasFailure()) return;
  }
}

TEST(SmscSimCustody, SameSeedSameRun) {
  CP_SIM_SEED(seed, 0x5e0001);
  cp::test::TempDir a, b;
  const Outcome x = run(seed, true, 12, a.str());
  const Outcome y = run(seed, true, 12, b.str());
  EXPECT_EQ(x.trace_hash, y.trace_hash);
}

}  // namespace
}  // namespace cp::smsc
