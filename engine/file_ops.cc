#include "engine/file_ops.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace cp::engine::file_ops {

int write_all(int fd, const FileWrite& w) {
  size_t done = 0;
  while (done < w.bytes.size()) {
    const ssize_t n = ::pwrite(fd, w.bytes.data() + done, w.bytes.size() - done,
                               static_cast<off_t>(w.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return -EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

int datasync(int fd) {
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) return -errno;
  }
  return 0;
}

int sync_directory(const char* dir) {
  const int dfd = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -errno;
  int rc = 0;
  while (::fsync(dfd) != 0) {
    if (errno != EINTR) {
      rc = -errno;
      break;
    }
  }
  ::close(dfd);
  return rc;
}

int commit_sync(int fd, std::span<const FileWrite> writes) {
  for (const FileWrite& w : writes) {
    if (const int rc = write_all(fd, w); rc < 0) return rc;
  }
  return datasync(fd);
}

}  // namespace cp::engine::file_ops
