// How a shard's pms.bin reaches the disk. The shard logic (storage/shard.h) is written against
// this interface only, so the same code runs on
//   - a real file opened O_DIRECT, committing through its reactor's io_uring (the daemon) or
//     synchronously (tools, benchmarks, tests without a reactor), and
//   - SimDisk (storage/testing/sim_disk.h), a simulated disk that drops unsynced writes and tears
//     in-flight ones at sector boundaries, for the crash-consistency tests.
//
// Every write is a whole number of 4 KiB blocks at a 4 KiB-aligned offset from a 4 KiB-aligned
// buffer: asserted here, because this kernel accepts misaligned O_DIRECT writes silently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/result.h"
#include "engine/file_commit.h"

namespace cp::storage {

inline constexpr size_t kBlockBytes = 4096;
inline constexpr size_t kRecordsPerBlock = 16;
inline constexpr size_t kRecordsPerMiB = 4096;
inline constexpr size_t kBlocksPerMiB = 256;
inline constexpr size_t kSectorBytes = 512;  // what a device writes atomically (assumed)

using engine::FileWrite;

// Asserts the O_DIRECT alignment of a write.
void assert_aligned(const FileWrite& write);

class CommitListener {
 public:
  virtual ~CommitListener() = default;
  // 0 when every write of the commit is durable, else -errno.
  virtual void on_commit_done(int32_t result) = 0;
};

class ExtendListener {
 public:
  virtual ~ExtendListener() = default;
  // 0 when the zero fill is durable, else -errno.
  virtual void on_extend_done(int32_t result) = 0;
};

class ShardIo {
 public:
  virtual ~ShardIo() = default;
  virtual const std::string& path() const = 0;
  // Current size of the file in bytes.
  virtual Result<uint64_t, std::string> size() = 0;
  // Reads [offset, offset + out.size()) (aligned); bytes past the end of the file read as zero.
  virtual Result<void, std::string> read(uint64_t offset, std::span<std::byte> out) = 0;
  // Writes and makes durable before returning (recovery's repairs, preallocation at open).
  virtual Result<void, std::string> write_durable(std::span<const FileWrite> writes) = 0;
  // Starts a group commit: the writes, then one fdatasync. `listener` hears the result once,
  // possibly before start_commit returns (synchronous implementations). At most one commit is
  // in flight per shard; the bytes stay put until the result.
  virtual void start_commit(std::span<const FileWrite> writes, CommitListener& listener) = 0;
  // Starts extending the zero-filled preallocation: writes of zeros + fdatasync, never in an
  // acknowledged commit's chain. At most one at a time; the writes' bytes stay put until done.
  virtual void start_extend(std::span<const FileWrite> zeros, ExtendListener& listener) = 0;
  // Recovery hints: the range is about to be read sequentially / is no longer needed.
  virtual void prefetch(uint64_t /*offset*/, uint64_t /*bytes*/) {}
  virtual void release_cache() {}
};

// The file under a shard's pms.bin as the system calls see it: a write is volatile until
// datasync(), a new file's directory entry until sync_directory(). PosixShardFile is the real
// one; storage/testing/power_loss_disk.h simulates one that loses, tears, corrupts or misdirects
// what was not synced when the power goes. Every call returns 0 or -errno.
class ShardFile {
 public:
  virtual ~ShardFile() = default;
  virtual const std::string& path() const = 0;
  // The descriptor a reactor commits through asynchronously; -1 when there is none.
  virtual int fd() const { return -1; }
  virtual int size(uint64_t& bytes) = 0;
  // Reads up to out.size() bytes at `offset`; `got` is short only at the end of the file.
  virtual int read(uint64_t offset, std::span<std::byte> out, size_t& got) = 0;
  virtual int write(const FileWrite& write) = 0;  // all of it
  virtual int datasync() = 0;
  virtual int sync_directory() = 0;  // makes the file's directory entry durable
  virtual void prefetch(uint64_t /*offset*/, uint64_t /*bytes*/) {}
  virtual void release_cache() {}
};

// A ShardIo on `file`. Before anything is read, the file is made durable as found (fdatasync):
// records a crashed process wrote but never synced are not adopted by recovery until they are
// durable (a later RWF_DSYNC write would not flush them). A file just `created` gets its
// directory entry synced too. With a committer (which needs file->fd()), commits go through its
// backend (io_uring: linked writes + IORING_FSYNC_DATASYNC) and the result arrives in a later
// loop turn; without, start_commit writes and syncs inline.
Result<std::unique_ptr<ShardIo>, std::string> open_shard_io(std::unique_ptr<ShardFile> file,
                                                            bool created,
                                                            engine::FileCommitter* committer);

// open_shard_io() on `path` opened O_RDWR | O_DIRECT | O_CLOEXEC (created when missing and
// `create`).
Result<std::unique_ptr<ShardIo>, std::string> open_shard_file(const std::string& path, bool create,
                                                              engine::FileCommitter* committer);

// A buffer of `bytes` (a multiple of 4 KiB) aligned to 4 KiB, zero-filled unless `zero` is
// false (for buffers every use fills first: untouched pages then cost nothing).
struct AlignedFree {
  void operator()(std::byte* p) const;
};
using AlignedBuffer = std::unique_ptr<std::byte[], AlignedFree>;
AlignedBuffer make_aligned(size_t bytes, bool zero = true);

}  // namespace cp::storage
