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

IoBackendKind resolve_backend_kind(IoBackendKind kind, const IoBackendOptions& opts) {
  if (kind != IoBackendKind::automatic) return kind;
  auto probe = make_uring_backend(opts);
  if (probe) return IoBackendKind::io_uring;
  CP_LOG_NOTICE("io_uring unavailable ({}); using the epoll backend", probe.error());
  return IoBackendKind::epoll;
}

Result<std::unique_ptr<IoBackend>, std::string> make_backend(IoBackendKind kind,
                                                             const IoBackendOptions& opts) {
  switch (resolve_backend_kind(kind, opts)) {
    case IoBackendKind::io_uring:
      return make_uring_backend(opts);
    case IoBackendKind::epoll:
    case IoBackendKind::automatic:  // resolved above
      break;
  }
  return make_epoll_backend(opts);
}

}  // namespace cp::engine
