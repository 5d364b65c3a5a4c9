// Blocking file I/O shared by the backends that have no asynchronous file path (epoll, the
// simulator) and by the storage layer's synchronous paths (recovery, tools).
#pragma once

#include <span>

#include "engine/file_commit.h"

namespace cp::engine::file_ops {

// pwrite() one write in full, retrying EINTR and short writes. 0 or -errno (-EIO when it makes
// no progress).
int write_all(int fd, const FileWrite& write);
// fdatasync(), retrying EINTR. 0 or -errno.
int datasync(int fd);
// fsync() of a directory (after creating or renaming an entry in it). 0 or -errno.
int sync_directory(const char* dir);

// pwrite() every write in full (retrying EINTR and short writes), then fdatasync(). Returns 0 or
// -errno (-EIO when a write makes no progress).
int commit_sync(int fd, std::span<const FileWrite> writes);

}  // namespace cp::engine::file_ops
