#include "base/log.h"
#include "engine/io_backend.h"

namespace cp::engine {

Result<IoBackendKind, std::string> parse_backend_kind(std::string_view name) {
  if (name == "uring") return IoBackendKind::io_uring;
  for (size_t i = 0; i < kIoBackendNames.size(); ++i) {
    if (kIoBackendNames[i] == name) return static_cast<IoBackendKind>(i);
  }
  return fail("unknown I/O backend '" + std::string(name) + "' (expected auto, io_uring or epoll)");
}

Result<std::unique_ptr<IoBackend>, std::string> make_backend(IoBackendKind kind,
                                                             const IoBackendOptions& opts) {
  switch (kind) {
    case IoBackendKind::io_uring:
      return make_uring_backend(opts);
    case IoBackendKind::epoll:
      return make_epoll_backend(opts);
    case IoBackendKind::automatic:
      break;
  }
  auto uring = make_uring_backend(opts);
  if (uring) return uring;
  CP_LOG_NOTICE("io_uring unavailable ({}); falling back to the epoll backend", uring.error());
  return make_epoll_backend(opts);
}

}  // namespace cp::engine
