#include "storage/shard_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/assert.h"
#include "engine/file_commit.h"
#include "engine/file_ops.h"

namespace cp::storage {
namespace {

std::string errno_text(const std::string& what, const std::string& path, int err) {
  return path + ": " + what + ": " + std::strerror(err);
}

class FileShardIo final : public ShardIo, public engine::FileCommitHandler {
 public:
  FileShardIo(std::string path, int fd, int read_fd, engine::FileCommitter* committer)
      : path_(std::move(path)), fd_(fd), read_fd_(read_fd), committer_(committer) {}
  ~FileShardIo() override {
    // Never destroyed with a commit or an extension in flight.
    CP_ASSERT(listener_ == nullptr && extender_.listener == nullptr);
    ::close(fd_);
    ::close(read_fd_);
  }

  const std::string& path() const override { return path_; }

  Result<uint64_t, std::string> size() override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return fail(errno_text("fstat", path_, errno));
    return static_cast<uint64_t>(st.st_size);
  }

  // Recovery reads through a second, buffered descriptor so the kernel's readahead (and a
  // prefetch of the whole tail) keeps many reads in flight; O_DIRECT writes invalidate the
  // cached pages they cover, so these reads always see what was written.
  Result<void, std::string> read(uint64_t offset, std::span<std::byte> out) override {
    assert_aligned(FileWrite{offset, out});
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::pread(read_fd_, out.data() + done, out.size() - done,
                                static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(errno_text("read", path_, errno));
      if (n == 0) break;  // end of file
      done += static_cast<size_t>(n);
    }
    std::memset(out.data() + done, 0, out.size() - done);
    return {};
  }

  Result<void, std::string> write_durable(std::span<const FileWrite> writes) override {
    for (const FileWrite& w : writes) assert_aligned(w);
    const int rc = engine::file_ops::commit_sync(fd_, writes);
    if (rc < 0) return fail(errno_text("write", path_, -rc));
    return {};
  }

  void start_commit(std::span<const FileWrite> writes, CommitListener& listener) override {
    CP_ASSERT(listener_ == nullptr);
    for (const FileWrite& w : writes) assert_aligned(w);
    if (committer_ == nullptr) {
      listener.on_commit_done(engine::file_ops::commit_sync(fd_, writes));
      return;
    }
    listener_ = &listener;
    committer_->start_file_commit(fd_, writes, *this);
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
      listener.on_extend_done(engine::file_ops::commit_sync(fd_, zeros));
      return;
    }
    extender_.writes.assign(zeros.begin(), zeros.end());
    extender_.listener = &listener;
    committer_->start_file_commit(fd_, extender_.writes, extender_);
  }

  void prefetch(uint64_t offset, uint64_t bytes) override {
    ::posix_fadvise(read_fd_, static_cast<off_t>(offset), static_cast<off_t>(bytes),
                    POSIX_FADV_WILLNEED);
  }
  void release_cache() override { ::posix_fadvise(read_fd_, 0, 0, POSIX_FADV_DONTNEED); }

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

  std::string path_;
  int fd_;
  int read_fd_;
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

Result<std::unique_ptr<ShardIo>, std::string> open_shard_file(const std::string& path, bool create,
                                                              engine::FileCommitter* committer) {
  int flags = O_RDWR | O_DIRECT | O_CLOEXEC;
  if (create) flags |= O_CREAT;
  const int fd = ::open(path.c_str(), flags, 0640);
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
  return std::unique_ptr<ShardIo>(new FileShardIo(path, fd, read_fd, committer));
}

void AlignedFree::operator()(std::byte* p) const {
  std::free(p);
}

AlignedBuffer make_aligned(size_t bytes) {
  CP_ASSERT(bytes % kBlockBytes == 0 && bytes > 0);
  auto* p = static_cast<std::byte*>(std::aligned_alloc(kBlockBytes, bytes));
  CP_ASSERT(p != nullptr);
  std::memset(p, 0, bytes);
  return AlignedBuffer(p);
}

}  // namespace cp::storage
