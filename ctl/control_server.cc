// ControlService: the control protocol over a Unix stream socket on one reactor.
#include "ctl/control_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/byte_reader.h"
#include "base/log.h"
#include "base/socket_address.h"

namespace cp::ctl {

namespace {

// Refused sends are retried with this much once the send buffer is full.
constexpr size_t kSendChunkBytes = 4096;
// A session holds at most one incomplete frame plus what arrived with it.
constexpr size_t kSessionRxBytesMax = kFrameHeaderBytes + kFrameBodyBytesMax + 256 * 1024;
// Buffers larger than this are released when a session ends, smaller ones are kept for reuse.
constexpr size_t kKeptBufferBytesMax = 64 * 1024;
constexpr int kListenBacklog = 64;

void release_if_large(std::string& buffer) {
  buffer.clear();
  if (buffer.capacity() > kKeptBufferBytesMax) std::string().swap(buffer);
}

void log_peer(const engine::Connection& conn) {
  ucred cred{};
  socklen_t length = sizeof cred;
  if (conn.handle() >= 0 &&
      getsockopt(conn.handle(), SOL_SOCKET, SO_PEERCRED, &cred, &length) == 0) {
    CP_LOG_INFO("ctl: connection {} from uid {} pid {}", conn.id(), cred.uid, cred.pid);
  } else {
    CP_LOG_INFO("ctl: connection {} (peer credentials unavailable)", conn.id());
  }
}

}  // namespace

// One client connection. Lives as long as the service; in use from on_accept to on_close.
class ControlService::Session final : public engine::ConnectionHandler {
 public:
  explicit Session(ControlService& service) : service_(service) {}

  bool in_use = false;

  size_t on_data(engine::Connection& conn, std::span<const std::byte> data) override;
  void on_writable(engine::Connection& conn) override;
  void on_close(engine::Connection& conn, engine::CloseReason reason, int error) override;

 private:
  bool response_pending() const { return tx_head_ < tx_.size(); }
  // An asynchronous command's answer arrived (control reactor thread).
  void finish_async(uint64_t generation, uint64_t request_id,
                    Result<std::string, std::string> result);
  void process(engine::Connection& conn);
  void answer(std::span<const std::byte> body);
  bool flush(engine::Connection& conn);

  ControlService& service_;
  std::string rx_;  // received bytes; rx_head_ is where the next frame starts
  size_t rx_head_ = 0;
  std::string tx_;  // the response being sent; tx_head_ is how much is queued already
  size_t tx_head_ = 0;
  bool close_after_flush_ = false;
  bool awaiting_ = false;       // an asynchronous command is running: read nothing more
  bool in_async_call_ = false;  // inside the asynchronous handler itself
  bool requested_ = false;      // a request came: the idle timeout is session_idle_timeout
  uint64_t generation_ = 0;     // bumped per connection: a late answer for a closed one is dropped
  engine::Connection* conn_ = nullptr;
  DecodeScratch scratch_;
  JsonWriter result_;
};

size_t ControlService::Session::on_data(engine::Connection& conn, std::span<const std::byte> data) {
  if (close_after_flush_) return data.size();  // the stream is broken: ignore the rest
  if (rx_.size() - rx_head_ + data.size() > kSessionRxBytesMax) {
    CP_LOG_WARN("ctl: connection {} sent more than a frame without waiting; closing", conn.id());
    conn.abort();
    return data.size();
  }
  conn_ = &conn;
  rx_.append(as_chars(data));
  process(conn);
  return data.size();
}

// Answers complete frames, one at a time, until one response cannot be queued whole.
void ControlService::Session::process(engine::Connection& conn) {
  while (!response_pending() && !close_after_flush_ && !awaiting_) {
    const auto bytes = as_bytes(std::string_view(rx_).substr(rx_head_));
    const auto length = frame_length(bytes);
    if (!length) {
      encode_error_response(0, error_code::bad_frame, to_string(length.error()), tx_);
      close_after_flush_ = true;
      CP_LOG_WARN("ctl: connection {}: {}; closing", conn.id(), to_string(length.error()));
    } else if (*length == 0 || *length > bytes.size()) {
      break;  // need more bytes
    } else {
      if (!requested_) {
        requested_ = true;
        conn.set_idle_timeout(service_.options_.session_idle_timeout);
      }
      answer(frame_body(bytes, *length));
      rx_head_ += *length;
    }
    flush(conn);
  }
  if (rx_head_ == rx_.size()) {
    rx_.clear();
    rx_head_ = 0;
  } else if (rx_head_ > kKeptBufferBytesMax) {
    rx_.erase(0, rx_head_);
    rx_head_ = 0;
  }
  if (response_pending() || awaiting_) {
    conn.pause_reading();
  } else if (close_after_flush_) {
    conn.close();
  }
}

void ControlService::Session::answer(std::span<const std::byte> body) {
  tx_.clear();
  tx_head_ = 0;
  ++service_.requests_handled_;
  auto request = decode_request(body, scratch_);
  if (!request) {
    CP_LOG_DEBUG("ctl: bad request: {}", request.error().message);
    encode_error_response(request.error().id, error_code::bad_request, request.error().message,
                          tx_);
    return;
  }
  CP_LOG_DEBUG("ctl: request {} '{}'", request->id, request->cmd);
  const CommandInfo* command = service_.registry_.find(request->cmd);
  if (command && command->async) {
    awaiting_ = true;
    const uint64_t generation = generation_;
    const uint64_t id = request->id;
    in_async_call_ = true;
    command->async(*request, [this, generation, id](Result<std::string, std::string> result) {
      finish_async(generation, id, std::move(result));
    });
    in_async_call_ = false;
    return;
  }
  service_.registry_.dispatch(*request, result_, tx_);
}

void ControlService::Session::finish_async(uint64_t generation, uint64_t request_id,
                                           Result<std::string, std::string> result) {
  if (generation != generation_ || !in_use || !awaiting_ || !conn_) return;  // closed meanwhile
  awaiting_ = false;
  tx_.clear();
  tx_head_ = 0;
  if (result) {
    encode_ok_response(request_id, *result, tx_);
  } else {
    encode_error_response(request_id, error_code::command_failed, result.error(), tx_);
  }
  // Answered at once, inside the handler: process() goes on from here as for any command.
  if (in_async_call_) return;
  engine::Connection& conn = *conn_;
  if (!flush(conn)) return;  // on_writable continues
  process(conn);
  if (!response_pending() && !close_after_flush_ && !awaiting_) conn.resume_reading();
}

// Queues as much of the pending response as the send buffer takes. True when all is queued;
// false when a send was refused (on_writable follows).
bool ControlService::Session::flush(engine::Connection& conn) {
  while (response_pending()) {
    const size_t remaining = tx_.size() - tx_head_;
    const size_t room = conn.send_room();
    const size_t n = std::min(remaining, room > 0 ? room : kSendChunkBytes);
    if (!conn.send(as_bytes(std::string_view(tx_).substr(tx_head_, n)))) return false;
    tx_head_ += n;
  }
  tx_.clear();
  tx_head_ = 0;
  return true;
}

void ControlService::Session::on_writable(engine::Connection& conn) {
  if (!flush(conn)) return;
  if (close_after_flush_) {
    conn.close();
    return;
  }
  process(conn);
  if (!response_pending() && !close_after_flush_ && !awaiting_) conn.resume_reading();
}

void ControlService::Session::on_close(engine::Connection& conn, engine::CloseReason reason,
                                       int error) {
  CP_LOG_DEBUG("ctl: connection {} closed ({}{}{})", conn.id(), engine::to_string(reason),
               error ? ": " : "", error ? std::strerror(error) : "");
  release_if_large(rx_);
  release_if_large(tx_);
  rx_head_ = tx_head_ = 0;
  close_after_flush_ = false;
  awaiting_ = false;
  ++generation_;
  conn_ = nullptr;
  result_.clear();
  requested_ = false;
  in_use = false;
}

// ---- the service ------------------------------------------------------------------------------

ControlService::ControlService(const CommandRegistry& registry, ControlServiceOptions options)
    : registry_(registry), options_(std::move(options)) {
  sessions_.reserve(options_.sessions_max);
  for (uint32_t i = 0; i < options_.sessions_max; ++i) {
    sessions_.push_back(std::make_unique<Session>(*this));
  }
}

ControlService::~ControlService() {
  remove_socket_file();
}

size_t ControlService::sessions_open() const {
  return static_cast<size_t>(
      std::count_if(sessions_.begin(), sessions_.end(), [](const auto& s) { return s->in_use; }));
}

engine::ConnectionHandler* ControlService::on_accept(engine::Connection& conn) {
  const auto free =
      std::find_if(sessions_.begin(), sessions_.end(), [](const auto& s) { return !s->in_use; });
  if (free == sessions_.end()) {
    ++refused_;
    if (uint64_t held = 0; refusal_log_.pass(conn.reactor().clock().now(), held))
      CP_LOG_WARN(
          "ctl: {} control connections open already; refusing another ({} more refused "
          "since the last line)",
          options_.sessions_max, held);
    return nullptr;
  }
  log_peer(conn);
  conn.set_idle_timeout(options_.first_request_timeout > 0 ? options_.first_request_timeout
                                                           : options_.session_idle_timeout);
  (*free)->in_use = true;
  return free->get();
}

Result<void, std::string> ControlService::start(engine::Reactor& reactor) {
  const std::string& path = options_.socket_path;
  if (auto cleared = remove_stale_socket(path); !cleared) return cleared;
  auto address = SocketAddress::parse("unix:" + path);
  if (!address) return fail(address.error());
  engine::ListenOptions listen_options;
  listen_options.backlog = kListenBacklog;
  listen_options.reuse_port = false;
  auto bound = reactor.listen(*address, *this, listen_options);
  if (!bound) return fail(bound.error());
  // bind() created the file with the umask's mode; narrow (or widen) it to the configured one.
  if (::chmod(path.c_str(), options_.socket_mode) != 0) {
    return fail(fmt::format("cannot chmod {:04o} {}: {}", options_.socket_mode, path,
                            std::strerror(errno)));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    socket_created_ = true;
    socket_device_ = st.st_dev;
    socket_inode_ = st.st_ino;
  }
  CP_LOG_NOTICE("ctl: control socket at {} (mode {:04o})", path, options_.socket_mode);
  return {};
}

void ControlService::remove_socket_file() {
  if (!socket_created_) return;
  socket_created_ = false;
  struct stat st {};
  const std::string& path = options_.socket_path;
  if (::lstat(path.c_str(), &st) != 0) return;
  if (st.st_dev != socket_device_ || st.st_ino != socket_inode_) return;  // someone else's now
  ::unlink(path.c_str());
}

Result<void, std::string> remove_stale_socket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return fail(fmt::format("cannot stat {}: {}", path, std::strerror(errno)));
  }
  if (!S_ISSOCK(st.st_mode)) return fail(fmt::format("{} exists and is not a socket", path));
  sockaddr_un address{};
  if (path.size() >= sizeof address.sun_path) {
    return fail(fmt::format("socket path too long: {}", path));
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail(fmt::format("socket(AF_UNIX): {}", std::strerror(errno)));
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int connect_errno = errno;
  ::close(fd);
  if (rc == 0 || connect_errno == EAGAIN) {
    return fail(
        fmt::format("another process answers on {} (is cellplaned running already?)", path));
  }
  if (connect_errno != ECONNREFUSED) {
    return fail(fmt::format("cannot check {}: {}", path, std::strerror(connect_errno)));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return fail(fmt::format("cannot remove stale socket {}: {}", path, std::strerror(errno)));
  }
  CP_LOG_NOTICE("ctl: removed stale control socket {}", path);
  return {};
}

}  // namespace cp::ctl
