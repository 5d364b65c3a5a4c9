#include "services/smsc/core.h"

#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "services/smsc/client.h"
#include "services/smsc/front.h"
#include "services/smsc/service_impl.h"
#include "services/smsc/shard_owner.h"

namespace cp::smsc {

// ---- cross-core posting -------------------------------------------------------------------------

void SmscService::Impl::post(Reactor& from, unsigned to, CrossCoreMessage::Fn fn, void* ptr,
                             uint64_t a1, uint64_t a2) {
  CrossCoreMessage msg;
  msg.fn = fn;
  msg.from_core = from.core();
  msg.ptr = ptr;
  msg.args[0] = reinterpret_cast<uint64_t>(this);
  msg.args[1] = a1;
  msg.args[2] = a2;
  ShardOwner& here = *core[from.core()];
  if (to == from.core()) {
    // Never re-entered: handled by this core's poller in the same loop turn.
    here.local.push_back(msg);
    from.notify();
    return;
  }
  if (here.overflow.empty() && from.send_to(to, msg)) return;
  here.overflow.push_back({to, msg});
}

// ---- the service ------------------------------------------------------------------------------

SmscService::Impl::Impl(SmscService& s, storage::Store& st, std::shared_ptr<const Numdb> db,
                        unsigned n)
    : svc(s), stats(s.stats_), opt(s.options_), store(st), cores(n), numdb(std::move(db)) {
  snapshots.resize(n);
  for (unsigned c = 0; c < n; ++c) snapshots[c].core = c;  // before each core's first publish
  for (unsigned c = 0; c < n; ++c) core.push_back(std::make_unique<ShardOwner>(*this, c));
  front = std::make_unique<Front>(*this);
  front->in_pool.resize(opt.requests_in_flight_max);
  for (auto& q : front->in_pool) front->give_in(&q);
}

SmscService::SmscService(SmscOptions options, storage::Store& store,
                         std::shared_ptr<const Numdb> numdb, unsigned cores)
    : options_(std::move(options)) {
  impl_ = std::make_unique<Impl>(*this, store, std::move(numdb), cores);
}

SmscService::~SmscService() = default;

Result<void, std::string> SmscService::start_on_core(Reactor& reactor) {
  const unsigned k = reactor.core();
  if (k >= impl_->cores) return fail(std::string("smsc: more reactors than configured cores"));
  ShardOwner& c = *impl_->core[k];
  c.reactor = &reactor;
  c.shard = impl_->store.primary(k);
  if (!c.shard) return fail(fmt::format("smsc: core {} has no store shard", k));
  c.numdb = numdb();
  c.recover();
  // Shards this core adopted from a run with more cores: their active messages stay in the store
  // (smsc-dump shows them) but are not queued — their ids would clash in this core's tables.
  for (unsigned id = k + impl_->cores; id < storage::kShardsMax; id += impl_->cores) {
    if (const storage::Shard* extra = impl_->store.shard(id); extra && extra->active_count() > 0)
      CP_LOG_WARN(
          "smsc core {}: shard {} (left by a run with more cores) holds {} active messages the "
          "SMSC does not queue; run with more cores to deliver them",
          k, id, extra->active_count());
  }
  reactor.add_poller(c);
  reactor.arm_timer(c.tick_timer, kRetryTick);
  if (k != 0) return {};
  Front& f = *impl_->front;
  f.reactor = &reactor;
  f.numdb = c.numdb;
  if (options_.stream_listen) {
    // The simulation transport (tests): the same protocol over a stream, framed by its headers.
    auto bound = reactor.listen(*options_.stream_listen, f);
    if (!bound)
      return fail("smsc listen " + options_.stream_listen->to_string() + ": " + bound.error());
    return {};
  }
  const std::string& path = options_.socket_path;
  auto addr = SocketAddress::parse("unix:" + path);
  if (!addr) return fail("smsc socket " + path + ": " + addr.error());
  // A socket file left by a previous run is replaced; a live one (another daemon answers on
  // it) or anything else at that path is not.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return fail("smsc socket " + path + ": exists and is not a socket; not replacing it");
    if (SmscClient::connect(path))
      return fail("smsc socket " + path + ": another process serves it (a second cellplaned?)");
    ::unlink(path.c_str());
  }
  engine::ListenOptions lo;
  lo.seqpacket = true;
  lo.reuse_port = false;
  auto bound = reactor.listen(*addr, f, lo);
  if (!bound) return fail("smsc socket " + path + ": " + bound.error());
  ::chmod(path.c_str(), options_.socket_mode);
  CP_LOG_INFO("smsc core: local socket {} (SOCK_SEQPACKET, mode {:o})", path, options_.socket_mode);
  return {};
}

void SmscService::set_numdb(std::shared_ptr<const Numdb> numdb) {
  std::lock_guard lock(impl_->numdb_mutex);
  impl_->numdb = std::move(numdb);
  impl_->numdb_generation.fetch_add(1, std::memory_order_release);
}

std::shared_ptr<const Numdb> SmscService::numdb() const {
  std::lock_guard lock(impl_->numdb_mutex);
  return impl_->numdb;
}

void SmscService::control_cancel(uint64_t message_id, CancelDone done) {
  impl_->front->control_request(InReq::Kind::cancel, message_id,
                                [done = std::move(done)](InReq& q) { done(q.status); });
}

void SmscService::control_lookup(uint64_t message_id, LookupDone done) {
  impl_->front->control_request(
      InReq::Kind::lookup, message_id,
      [done = std::move(done)](InReq& q) { done(q.status, q.record, q.state_name); });
}

std::vector<CoreSnapshot> SmscService::queues() const {
  std::lock_guard lock(impl_->snapshot_mutex);
  return impl_->snapshots;
}

std::vector<RoleSnapshot> SmscService::roles() const {
  std::lock_guard lock(impl_->roles_mutex);
  return impl_->role_snapshot;
}

}  // namespace cp::smsc
