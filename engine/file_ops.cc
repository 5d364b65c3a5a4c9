#include "engine/file_ops.h"

#include <unistd.h>

#include <cerrno>

namespace cp::engine::file_ops {

int commit_sync(int fd, std::span<const FileWrite> writes) {
  for (const FileWrite& w : writes) {
    size_t done = 0;
    while (done < w.bytes.size()) {
      const ssize_t n = ::pwrite(fd, w.bytes.data() + done, w.bytes.size() - done,
                                 static_cast<off_t>(w.offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return -errno;
      if (n == 0) return -EIO;
      done += static_cast<size_t>(n);
    }
  }
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) return -errno;
  }
  return 0;
}

}  // namespace cp::engine::file_ops
