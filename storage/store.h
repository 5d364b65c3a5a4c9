// The message store on the engine: one shard per reactor core (docs/STORAGE.md, "shards").
//
// Core c owns shard c — its primary, the one its services append to — and any older shard-N
// directory with N % cores == c (left by a run with more cores), so no active message is ever
// orphaned when the core count shrinks. Each shard is opened and recovered on its owning
// reactor's thread and commits through that reactor's io_uring; a poller starts the group commit
// at the end of every loop turn in which records were written.
//
// Threading: open_on_core() and primary()/shard() on the owning core only; shards() and the
// stats from any thread once the engine has started.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "engine/file_commit.h"
#include "storage/shard.h"

namespace cp::storage {

struct StoreOptions {
  std::string dir;     // the store root: shard-0/, shard-1/, ...
  unsigned cores = 1;  // reactor cores; shard N belongs to core N % cores
  ShardOptions shard;  // template: prealloc, batch size, mark interval (shard/dir are set here)
  // Tests: the pms.bin of shard `id` on another file (storage/testing/power_loss_disk.h), with
  // synchronous commits; the shard's directory (lock, base-index, marks) stays real. Null: the
  // real file, committed through the reactor.
  std::function<Result<std::unique_ptr<ShardIo>, std::string>(unsigned id)> open_io;
};

// What a control command shows of a shard (any thread).
struct ShardView {
  unsigned id = 0;
  unsigned core = 0;
  std::string dir;
  const ShardStats* stats = nullptr;
  RecoveryReport recovery;
};

class Store {
 public:
  explicit Store(StoreOptions options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // On `reactor`'s thread before the loop starts (Engine::on_each_core): opens and recovers the
  // shards this core owns and registers their group-commit poller.
  Result<void, std::string> open_on_core(engine::FileCommitter& committer, Clock& clock);

  // The shard `core` appends to (owning thread only).
  Shard* primary(unsigned core) const;
  // Shard `id`, wherever it is owned (owning thread only); null if there is none.
  Shard* shard(unsigned id) const;
  // Every open shard, by id (any thread, after the engine started).
  std::vector<ShardView> shards() const;
  const StoreOptions& options() const { return options_; }

 private:
  struct Slot;
  StoreOptions options_;
  std::vector<std::unique_ptr<Slot>> slots_;  // by shard id, fixed at kShardsMax
};

}  // namespace cp::storage
