// The narrow part of the runtime the message store (storage/) is written against: commit a
// file asynchronously on the owning core's backend, and be polled once per loop turn to start a
// group commit. engine::Reactor implements it; storage/ includes this header and never the
// reactor's (scripts/check_layers.py enforces that), so the store can be driven by a reactor, a
// tool's synchronous loop or a test without pulling in connections, timers and listeners.
#pragma once

#include <cstdint>
#include <span>

namespace cp::engine {

// One write of a file commit: caller-owned bytes that stay put until the completion. With an
// O_DIRECT file the offset, length and address must be aligned to the device's block size.
struct FileWrite {
  uint64_t offset = 0;
  std::span<const std::byte> bytes;
};

// The owner of a file commit started through FileCommitter::start_file_commit: hears its result
// once, on the committer's thread.
class FileCommitHandler {
 public:
  virtual ~FileCommitHandler() = default;
  // 0 once every write landed and fdatasync returned, else -errno.
  virtual void on_file_commit(int32_t result) = 0;
};

// Something a reactor drains every loop turn: a cross-core inbox, a hardware-thread result ring,
// a shard's group commit. Producers on other threads push, then call Reactor::notify() so a
// sleeping reactor wakes up.
class Poller {
 public:
  virtual ~Poller() = default;
  // Processes pending work; returns true if any was done.
  virtual bool poll() = 0;
  // Whether work is pending (checked before the reactor goes to sleep).
  virtual bool has_work() const = 0;
};

// One core's file-commit service. Used from that core's thread only.
class FileCommitter {
 public:
  // The core (reactor index) this committer runs on.
  virtual unsigned core() const = 0;
  // Group commit to a regular file (io_uring: linked writes + IORING_FSYNC_DATASYNC; elsewhere
  // synchronous inside the call, the result still delivered later). `writes` stays put until
  // `handler` hears the result.
  virtual void start_file_commit(int fd, std::span<const FileWrite> writes,
                                 FileCommitHandler& handler) = 0;
  // Registers a poller drained every loop turn (owned by the caller, outlives the committer).
  virtual void add_poller(Poller& poller) = 0;

 protected:
  ~FileCommitter() = default;
};

}  // namespace cp::engine
