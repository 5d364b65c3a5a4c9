// SmppServer: its shards (one per reactor) started on their cores, the accounts swapped for new
// binds, the snapshots cellctl reads. The parts of a shard are in server_session.cc,
// server_submit.cc and server_delivery.cc (map in server_impl.h).
#include "services/smpp/server.h"

#include <fmt/format.h>

#include <chrono>

#include "base/assert.h"
#include "base/log.h"
#include "services/smpp/server_impl.h"

namespace cp::smpp {

SmppServer::SmppServer(ServerOptions options, std::shared_ptr<const Accounts> accounts,
                       NumdbSource numdb, unsigned cores)
    : shared_(std::make_unique<Shared>(std::move(options), stats_, std::move(numdb), cores)) {
  shared_->accounts = std::move(accounts);
}

SmppServer::~SmppServer() {
  for (Shard* s : shared_->shards) delete s;
}

Result<void, std::string> SmppServer::start_on_core(engine::Reactor& reactor) {
  const unsigned core = reactor.core();
  CP_ASSERT(core < shared_->cores);
  auto* shard = new Shard(*shared_, reactor);
  {
    std::lock_guard lock(shared_->start_mu);
    shared_->shards[core] = shard;
  }
  shard->numdb = shared_->numdb_source();
  smsc::CoreLinkOptions lo;
  lo.name = fmt::format("smpp core link (core {})", core);
  shard->link = std::make_unique<smsc::CoreLink>(reactor, core_address(shared_->opt), lo, *shard);
  shard->link->start();
  SocketAddress addr = shared_->opt.listen;
  if (core != 0 && addr.port() == 0) {
    // Port 0: every reactor listens where reactor 0 bound (its setup runs at the same time).
    std::unique_lock lock(shared_->start_mu);
    if (!shared_->bound_cv.wait_for(lock, std::chrono::seconds(10),
                                    [&] { return shared_->bound.port() != 0; }))
      return fail(std::string("smpp: reactor 0 did not bind its listener"));
    addr = shared_->bound;
  }
  auto bound = reactor.listen(addr, *shard);
  if (!bound) return fail("smpp: listen on " + addr.to_string() + ": " + bound.error());
  if (core == 0) {
    std::lock_guard lock(shared_->start_mu);
    shared_->bound = *bound;
    shared_->bound_cv.notify_all();
    CP_LOG_INFO("smpp: server listening on {}", bound->to_string());
  }
  shard->sweep_timer.set_callback(&Shard::on_sweep, shard);
  reactor.arm_timer(shard->sweep_timer, kServerSweep);
  return {};
}

void SmppServer::set_accounts(std::shared_ptr<const Accounts> accounts) {
  std::lock_guard lock(shared_->accounts_mu);
  shared_->accounts = std::move(accounts);
}

std::shared_ptr<const Accounts> SmppServer::accounts() const {
  std::lock_guard lock(shared_->accounts_mu);
  return shared_->accounts;
}

SocketAddress SmppServer::bound_address() const {
  std::lock_guard lock(shared_->start_mu);
  return shared_->bound;
}

std::vector<BindSnapshot> SmppServer::binds() const {
  std::vector<BindSnapshot> out;
  std::lock_guard lock(shared_->start_mu);
  for (Shard* s : shared_->shards) {
    if (!s) continue;
    std::lock_guard l2(s->snapshot_mu);
    out.insert(out.end(), s->snapshot.begin(), s->snapshot.end());
  }
  return out;
}

}  // namespace cp::smpp
