// What the SMSC core's parts share (SmscService::Impl): the options and counters, the store, one
// ShardOwner per reactor, the Front on reactor 0, the number database handed to the cores, and
// the snapshots cellctl reads. Internal to services/smsc: front.h and shard_owner.h include it.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/reactor.h"
#include "services/smsc/core.h"

namespace cp::smsc {

using engine::Connection;
using engine::CrossCoreMessage;
using engine::Reactor;
using storage::Disposition;
using storage::SmeClass;
using storage::SmRecord;
using wire::Status;
using wire::Type;

struct ShardOwner;
struct Front;

struct SmscService::Impl {
  SmscService& svc;
  SmscStats& stats;
  const SmscOptions& opt;
  storage::Store& store;
  unsigned cores;
  std::vector<std::unique_ptr<ShardOwner>> core;  // by core number
  std::unique_ptr<Front> front;
  mutable std::mutex numdb_mutex;
  std::shared_ptr<const Numdb> numdb;
  std::atomic<uint64_t> numdb_generation{0};
  mutable std::mutex snapshot_mutex;
  std::vector<CoreSnapshot> snapshots;
  mutable std::mutex roles_mutex;
  std::vector<RoleSnapshot> role_snapshot;

  Impl(SmscService& s, storage::Store& st, std::shared_ptr<const Numdb> db, unsigned n);

  unsigned owner_of_shard(unsigned shard) const { return shard % cores; }

  // Runs fn(target, msg) on core `to`: directly when already there, else over the ring (kept
  // in an overflow list while the ring is full).
  void post(Reactor& from, unsigned to, CrossCoreMessage::Fn fn, void* ptr, uint64_t a1 = 0,
            uint64_t a2 = 0);
};

// The front's hooks the owners call (front.cc): a new number database, and the periodic sweep.
void set_front_numdb(SmscService::Impl& impl, std::shared_ptr<const Numdb> db);
void front_tick(SmscService::Impl& impl);

}  // namespace cp::smsc
