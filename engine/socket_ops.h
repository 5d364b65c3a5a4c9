// Socket helpers shared by the OS backends (io_uring and epoll): creating listening and
// connecting sockets with the options every cellplane socket gets.
#pragma once

#include <sys/socket.h>

#include "base/result.h"
#include "base/socket_address.h"
#include "engine/io_backend.h"

namespace cp::engine::socket_ops {

// socket + SO_REUSEADDR (+ SO_REUSEPORT) + bind + listen; non-blocking, close-on-exec.
Result<int, int> open_listener(const SocketAddress& addr, const ListenOptions& opts);
// A non-blocking stream socket for `addr`'s family (connect is issued by the backend).
Result<int, int> open_stream(const SocketAddress& addr, int type = SOCK_STREAM);
// TCP_NODELAY on TCP sockets; a no-op for Unix sockets.
void tune_connected(int fd);
Result<SocketAddress, int> local_address(int fd);
Result<SocketAddress, int> peer_address(int fd);

}  // namespace cp::engine::socket_ops
