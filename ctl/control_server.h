// The daemon side of the control protocol: a registry of named commands that any service adds
// to at start-up, and the ControlService that answers them over a Unix stream socket on one
// reactor (docs/CONTROL.md). cellctl is the usual client; any program speaking the framing works.
//
// Threading: commands are registered before the control reactor starts and the registry is
// read-only afterwards. Handlers run on the control reactor's thread, one request at a time, so
// they must be quick: read counters (ReactorStats are atomics), post cross-core messages, flip
// flags. They must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/log_throttle.h"
#include "base/result.h"
#include "ctl/control_protocol.h"
#include "engine/reactor.h"

namespace cp::ctl {

// Writes the command's result (exactly one JSON value; nothing at all means null) into the
// writer, or returns an error message that is sent back with code "command_failed".
using CommandHandler = std::function<Result<void, std::string>(const ControlRequest&, JsonWriter&)>;

// A command whose answer needs another core first (e.g. the SMSC core that owns a message): the
// handler starts the work and returns; `done` is called later, exactly once, on the control
// reactor's thread, with the result as one JSON value (or an error message). The session waits
// for it before reading its next request. The request's views are valid only during the call.
using AsyncDone = std::function<void(Result<std::string, std::string> json_result)>;
using AsyncCommandHandler = std::function<void(const ControlRequest&, AsyncDone done)>;

struct CommandInfo {
  std::string name;  // dotted: "stats", "config.show", "remsim.slotmaps.list"
  std::string help;  // one line, shown by `cellctl help`
  CommandHandler handler;
  AsyncCommandHandler async;  // set instead of `handler` for asynchronous commands
};

// Lifetime: built at start-up, outlives every ControlService using it. Not copyable (the built-in
// `help` command refers to it).
class CommandRegistry {
 public:
  // Registers the built-in `help` (args: prefix=<dotted name>, optional), whose result is
  // [{"command": name, "help": text}, ...] sorted by name.
  CommandRegistry();
  CommandRegistry(const CommandRegistry&) = delete;
  CommandRegistry& operator=(const CommandRegistry&) = delete;

  // Fails when the name is not a dotted name (letters, digits, '_', '-') or already taken.
  Result<void, std::string> add(std::string name, std::string help, CommandHandler handler);
  Result<void, std::string> add_async(std::string name, std::string help,
                                      AsyncCommandHandler handler);
  const CommandInfo* find(std::string_view name) const;
  // Sorted by name.
  const std::vector<CommandInfo>& commands() const { return commands_; }

  // Runs `request`'s command and appends the whole response frame to `response_frame`.
  // `result_scratch` is cleared and reused for the handler's result.
  void dispatch(const ControlRequest& request, JsonWriter& result_scratch,
                std::string& response_frame) const;

 private:
  Result<void, std::string> help(const ControlRequest& request, JsonWriter& out) const;
  std::vector<CommandInfo> commands_;
};

struct ControlServiceOptions {
  std::string socket_path;      // file-system path of the Unix socket
  uint32_t socket_mode = 0600;  // chmod'ed right after bind
  uint32_t sessions_max = 16;   // concurrent clients; more are closed at once
  // A client must send its first request this soon: one that connects and says nothing does
  // not hold one of the few sessions (a leaked or hostile connection would lock cellctl out).
  Nanos first_request_timeout = 10 * kNanosPerSecond;
  Nanos session_idle_timeout = 300 * kNanosPerSecond;  // between requests, once one came
};

// Accepts control clients on a Unix socket of one reactor and answers their requests from a
// CommandRegistry. Each client gets a session with its own receive and response buffers; a
// session answers one request at a time and stops reading while a response waits for room in
// the send buffer. Frames up to 1 MiB are reassembled by the session itself, so requests do not
// depend on the reactor's receive-buffer size.
//
// Lifetime and thread: constructed at start-up, start() before the reactor runs (or on its
// thread); everything else happens on that reactor's thread. Must outlive the reactor's run().
class ControlService final : public engine::Acceptor {
 public:
  ControlService(const CommandRegistry& registry, ControlServiceOptions options);
  ~ControlService() override;
  ControlService(const ControlService&) = delete;
  ControlService& operator=(const ControlService&) = delete;

  // Removes a stale socket file (one nothing answers on), listens, sets the file mode. Fails if
  // the path exists and is not a socket, or another process answers on it.
  Result<void, std::string> start(engine::Reactor& reactor);
  // Unlinks the socket file if it is still the one start() created (also done by the
  // destructor). The listener itself closes with the reactor.
  void remove_socket_file();

  engine::ConnectionHandler* on_accept(engine::Connection& conn) override;

  const ControlServiceOptions& options() const { return options_; }
  size_t sessions_open() const;
  uint64_t requests_handled() const { return requests_handled_; }
  uint64_t connections_refused() const { return refused_; }  // control reactor thread

 private:
  class Session;

  const CommandRegistry& registry_;
  ControlServiceOptions options_;
  std::vector<std::unique_ptr<Session>> sessions_;
  uint64_t requests_handled_ = 0;
  uint64_t refused_ = 0;
  LogThrottle refusal_log_;  // a refusal line every 10 s at most
  // The socket file start() created, to unlink only that one.
  bool socket_created_ = false;
  uint64_t socket_device_ = 0;
  uint64_t socket_inode_ = 0;
};

// Removes `path` if it is a Unix socket nothing answers on. Ok when the path does not exist.
Result<void, std::string> remove_stale_socket(const std::string& path);

}  // namespace cp::ctl
