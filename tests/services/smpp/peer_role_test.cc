// The peer role's link sessions (services/smpp/server_impl.h, white-box): a delivery the role
// handed to another core's bind, bounced back after the role's link went (its last local bind
// closed, so the core took the message back), must be dropped — not queued on the released
// role and delivered again once a bind comes back (issue 15: a duplicate deliver_sm).
#include <gtest/gtest.h>

#include <memory>

#include "engine/reactor.h"
#include "engine/sim/sim_backend.h"
#include "services/smpp/server_impl.h"

namespace cp::smpp {
namespace {

TEST(SmppPeerRole, AForwardBouncedAfterTheRoleLinkWentIsTheCoresAgain) {
  ManualClock clock;
  sim::SimNetwork net(1, clock, sim::SimFaults{});
  engine::ReactorConfig rc;
  rc.max_connections = 8;
  engine::Reactor reactor(rc, std::make_unique<sim::SimBackend>(net, sim::ipv4(10, 0, 8, 1)),
                          clock);
  ServerStats stats;
  ServerOptions o;
  o.core_socket = "/nonexistent/smsc.sock";  // the role link never comes up: not needed here
  SmppServer::Shared shared(
      o, stats, [] { return std::shared_ptr<const smsc::Numdb>(); }, 2);
  SmppServer::Shard holder(shared, reactor);
  shared.shards = {&holder, &holder};
  auto accounts = Accounts::parse("acme system_id=acme password=pw\n", "accounts");
  ASSERT_TRUE(accounts);
  auto bind = [&](Session& s) {
    s.shard = &holder;
    s.state = Session::State::bound;
    s.bind_type = kBindTrx;
    s.accounts = *accounts;
    s.account = (*accounts)->find("acme");
    s.peer_known = true;
    s.peer_index = 0;
    holder.bound(s);
  };
  Session first;
  bind(first);
  ASSERT_EQ(holder.roles.count(0), 1u);
  PeerRole& role = *holder.roles[0];

  // A delivery of the core, handed to a bind on core 1 (here: only its Forward)...
  wire::Message m;
  m.header.type = wire::Type::deliver_to_peer;
  m.header.request_id = 42;
  auto* f = new Forward{m, 0, 1, 0};
  f->epoch = role.epoch;
  f->status = wire::Status::busy;  // ...which had no room: bounced back
  role.forwarded.assign(2, 0);
  role.forwarded[1] = 1;
  // Meanwhile the last bind here went: the role's link stops, the core takes the message back.
  first.state = Session::State::closed;
  holder.unbound(first);
  ASSERT_TRUE(role.link->stopped());
  engine::CrossCoreMessage msg;
  msg.ptr = f;
  msg.args[0] = reinterpret_cast<uintptr_t>(&holder);
  SmppServer::Shard::on_forward_done(reactor, msg);  // deletes f
  EXPECT_TRUE(role.waiting.empty()) << "a delivery the core took back was kept for delivery";
  EXPECT_EQ(role.forwarded[1], 0u);

  // A bind comes back: nothing of the earlier session goes out from here.
  Session second;
  bind(second);
  EXPECT_TRUE(role.waiting.empty());
  EXPECT_EQ(second.delivers_in_flight(), 0u);
  second.state = Session::State::closed;
  holder.unbound(second);
}

}  // namespace
}  // namespace cp::smpp
