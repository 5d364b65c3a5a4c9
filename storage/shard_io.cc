#include "storage/shard_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "base/assert.h"
#include "engine/file_commit.h"
#include "engine/file_ops.h"

namespace cp::storage {
namespace {

std::string errno_text(const std::string& what, const std::string& path, int err) {
  return path + ": " + what + ": " + std::strerror(err);
}

// pms.bin on a real file system. Recovery reads through a second, buffered descriptor so the
// kernel's readahead (and a prefetch of the whole tail) keeps many reads in flight; O_DIRECT
// writes invalidate the cached pages they cover, so these reads always see what was written.
class PosixShardFile final : public ShardFile {
 public:
  PosixShardFile(std::string path, int fd, int read_fd)
      : path_(std::move(path)), fd_(fd), read_fd_(read_fd) {}
  ~PosixShardFile() override {
    ::close(fd_);
    ::close(read_fd_);
  }
  const std::string& path() const override { return path_; }
  int fd() const override { return fd_; }
  int size(uint64_t& bytes) override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return -errno;
    bytes = static_cast<uint64_t>(st.st_size);
    return 0;
  }
  int read(uint64_t offset, std::span<std::byte> out, size_t& got) override {
    got = 0;
    while (got < out.size()) {
      const ssize_t n =
          ::pread(read_fd_, out.data() + got, out.size() - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return -errno;
      if (n == 0) break;  // end of file
      got += static_cast<size_t>(n);
    }
    return 0;
  }
  int write(const FileWrite& w) override { return engine::file_ops::write_all(fd_, w); }
  int datasync() override { return engine::file_ops::datasync(fd_); }
  int sync_directory() override {
    const std::string dir = std::filesystem::path(path_).parent_path().string();
    return engine::file_ops::sync_directory(dir.empty() ? "." : dir.c_str());
  }
  void prefetch(uint64_t offset, uint64_t bytes) override {
    ::posix_fadvise(read_fd_, static_cast<off_t>(offset), static_cast<off_t>(bytes),
                    POSIX_FADV_WILLNEED);
  }
  void release_cache() override { ::posix_fadvise(read_fd_, 0, 0, POSIX_FADV_DONTNEED); }

 private:
  std::string path_;
  int fd_;
  int read_fd_;
};

class FileShardIo final : public ShardIo, public engine::FileCommitHandler {
 public:
  FileShardIo(std::unique_ptr<ShardFile> file, engine::FileCommitter* committer)
      : file_(std::move(file)), committer_(committer) {}
  ~FileShardIo() override {
    // Never destroyed with a commit or an extension in flight.
    CP_ASSERT(listener_ == nullptr && extender_.listener == nullptr);
  }

  const std::string& path() const override { return file_->path(); }

  Result<uint64_t, std::string> size() override {
    uint64_t bytes = 0;
    if (const int rc = file_->size(bytes); rc < 0) return fail(errno_text("fstat", path(), -rc));
    return bytes;
  }

  Result<void, std::string> read(uint64_t offset, std::span<std::byte> out) override {
    assert_aligned(FileWrite{offset, out});
    size_t got = 0;
    if (const int rc = file_->read(offset, out, got); rc < 0)
      return fail(errno_text("read", path(), -rc));
    std::memset(out.data() + got, 0, out.size() - got);
    return {};
  }

  Result<void, std::string> write_durable(std::span<const FileWrite> writes) override {
    for (const FileWrite& w : writes) assert_aligned(w);
    if (const int rc = commit_sync(writes); rc < 0) return fail(errno_text("write", path(), -rc));
    return {};
  }

  void start_commit(std::span<const FileWrite> writes, CommitListener& listener) override {
    CP_ASSERT(listener_ == nullptr);
    for (const FileWrite& w : writes) assert_aligned(w);
    if (committer_ == nullptr) {
      listener.on_commit_done(commit_sync(writes));
      return;
    }
    listener_ = &listener;
    committer_->start_file_commit(file_->fd(), writes, *this);
  }

  void on_file_commit(int32_t result) override {
    CommitListener* l = listener_;
    listener_ = nullptr;
    l->on_commit_done(result);
  }

  void start_extend(std::span<const FileWrite> zeros, ExtendListener& listener) override {
    CP_ASSERT(extender_.listener == nullptr);
    for (const FileWrite& w : zeros) assert_aligned(w);
    if (committer_ == nullptr) {
      listener.on_extend_done(commit_sync(zeros));
      return;
    }
    extender_.writes.assign(zeros.begin(), zeros.end());
    extender_.listener = &listener;
    committer_->start_file_commit(file_->fd(), extender_.writes, extender_);
  }

  void prefetch(uint64_t offset, uint64_t bytes) override { file_->prefetch(offset, bytes); }
  void release_cache() override { file_->release_cache(); }

 private:
  struct Extender final : engine::FileCommitHandler {
    std::vector<FileWrite> writes;
    ExtendListener* listener = nullptr;
    void on_file_commit(int32_t result) override {
      ExtendListener* l = listener;
      listener = nullptr;
      l->on_extend_done(result);
    }
  };

  // The synchronous commit: every write, then one fdatasync.
  int commit_sync(std::span<const FileWrite> writes) {
    for (const FileWrite& w : writes) {
      if (const int rc = file_->write(w); rc < 0) return rc;
    }
    return file_->datasync();
  }

  std::unique_ptr<ShardFile> file_;
  engine::FileCommitter* committer_;
  CommitListener* listener_ = nullptr;
  Extender extender_;
};

}  // namespace

void assert_aligned(const FileWrite& write) {
  CP_ASSERT(write.offset % kBlockBytes == 0);
  CP_ASSERT(write.bytes.size() % kBlockBytes == 0);
  CP_ASSERT(reinterpret_cast<uintptr_t>(write.bytes.data()) % kBlockBytes == 0);
}

Result<std::unique_ptr<ShardIo>, std::string> open_shard_io(std::unique_ptr<ShardFile> file,
                                                            bool created,
                                                            engine::FileCommitter* committer) {
  CP_ASSERT(committer == nullptr || file->fd() >= 0);
  if (const int rc = file->datasync(); rc < 0)
    return fail(errno_text("fdatasync at open", file->path(), -rc));
  if (created) {
    if (const int rc = file->sync_directory(); rc < 0)
      return fail(errno_text("fsync of its directory", file->path(), -rc));
  }
  return std::unique_ptr<ShardIo>(new FileShardIo(std::move(file), committer));
}

Result<std::unique_ptr<ShardIo>, std::string> open_shard_file(const std::string& path, bool create,
                                                              engine::FileCommitter* committer) {
  const int base_flags = O_RDWR | O_DIRECT | O_CLOEXEC;
  int fd = ::open(path.c_str(), base_flags);
  bool created = false;
  if (fd < 0 && errno == ENOENT && create) {
    fd = ::open(path.c_str(), base_flags | O_CREAT | O_EXCL, 0640);
    if (fd < 0 && errno == EEXIST)
      fd = ::open(path.c_str(), base_flags);  // raced: it exists
    else
      created = fd >= 0;
  }
  if (fd < 0) {
    if (errno == EINVAL)
      return fail(path +
                  ": this file system does not support O_DIRECT (tmpfs?); put the store "
                  "on a disk file system");
    return fail(errno_text("open", path, errno));
  }
  const int read_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (read_fd < 0) {
    const int err = errno;
    ::close(fd);
    return fail(path + ": open: " + std::strerror(err));
  }
  return open_shard_io(std::make_unique<PosixShardFile>(path, fd, read_fd), created, committer);
}

void AlignedFree::operator()(std::byte* p) const {
  std::free(p);
}

AlignedBuffer make_aligned(size_t bytes, bool zero) {
  CP_ASSERT(bytes % kBlockBytes == 0 && bytes > 0);
  auto* p = static_cast<std::byte*>(std::aligned_alloc(kBlockBytes, bytes));
  CP_ASSERT(p != nullptr);
  if (zero) std::memset(p, 0, bytes);
  return AlignedBuffer(p);
}

}  // namespace cp::storage
