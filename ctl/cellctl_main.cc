// cellctl: the operator's client for a running cellplaned. Sends one control request over the
// Unix control socket (blocking POSIX I/O), prints the result for people (ctl/render.h) or as raw
// JSON (--json), and says in one line why when the daemon cannot be reached.
//
//   cellctl [--socket PATH | --config FILE] [--json] [--timeout-ms N] <words...> [key=value...]
//
// Exit status: 0 ok, 1 the command failed / protocol error / timeout, 2 cellplaned is not
// running, 64 bad usage.
#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

#include "base/cli.h"
#include "base/clock.h"
#include "ctl/config.h"
#include "ctl/control_client.h"
#include "ctl/render.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitNotRunning = 2;
constexpr int kExitUsage = 64;  // EX_USAGE
constexpr int kTimeoutMsDefault = 5000;

constexpr const char* kFooter = R"(
Command words are joined with '.' to form the command; key=value pairs become its arguments:
  cellctl status                   version, uptime, cores, I/O backend, pid
  cellctl stats                    per-core counters
  cellctl config show              the running configuration as TOML
  cellctl log-level [LEVEL]        show or set the log level (trace ... error)
  cellctl shutdown                 stop cellplaned after draining connections
  cellctl help [WORDS...]          every command the daemon knows (or those under WORDS)
  cellctl remsim slotmaps list     a service's command: runs "remsim.slotmaps.list"

Exit status: 0 ok, 1 the command or the protocol failed, 2 cellplaned is not running,
64 bad usage.)";

struct Options {
  std::string socket_path;
  std::string config_path;
  bool json = false;
  int timeout_ms = kTimeoutMsDefault;
  std::vector<std::string> words;
};

int64_t now_ms() {
  return cp::read_clock(CLOCK_MONOTONIC) / cp::kNanosPerMilli;
}

void print_error(std::string_view message) {
  std::fprintf(stderr, "cellctl: %.*s\n", static_cast<int>(message.size()), message.data());
}

// --socket, else the socket of --config, else the default configuration's.
cp::Result<std::string, std::string> socket_path(const Options& options) {
  if (!options.socket_path.empty()) return options.socket_path;
  if (options.config_path.empty()) return cp::ctl::Config{}.control_socket_path();
  // Only the daemon's own keys matter here; the services' sections are the daemon's to check.
  auto config = cp::ctl::load_config_file(options.config_path, cp::ctl::ConfigSchema{},
                                          cp::ctl::UnknownSections::skip);
  if (!config) return cp::fail(config.error().to_string());
  return config->control_socket_path();
}

int exit_code_for(cp::ctl::ClientError::Kind kind) {
  return kind == cp::ctl::ClientError::Kind::not_running ? kExitNotRunning : kExitFailed;
}

int run(const Options& options) {
  auto command = cp::ctl::parse_command_words(options.words);
  if (!command) {
    print_error(command.error());
    return kExitUsage;
  }
  auto path = socket_path(options);
  if (!path) {
    print_error(path.error());
    return kExitFailed;
  }
  const int64_t deadline_ms = now_ms() + options.timeout_ms;
  auto client = cp::ctl::ControlClient::connect(*path, options.timeout_ms);
  if (!client) {
    print_error(client.error().message);
    return exit_code_for(client.error().kind);
  }
  const int left_ms = static_cast<int>(std::max<int64_t>(1, deadline_ms - now_ms()));
  auto response = client->call(command->cmd, command->args, left_ms);
  if (!response) {
    print_error(response.error().message);
    return exit_code_for(response.error().kind);
  }
  if (!response->ok) {
    print_error(fmt::format("{}: {} [{}]", command->cmd, response->error, response->code));
    return kExitFailed;
  }
  if (options.json) {
    std::fwrite(response->result_json.data(), 1, response->result_json.size(), stdout);
    std::fputc('\n', stdout);
    return kExitOk;
  }
  auto text = cp::ctl::render_result(command->cmd, response->result_json);
  if (!text) {
    print_error(text.error());
    return kExitFailed;
  }
  std::fwrite(text->data(), 1, text->size(), stdout);
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  cp::cli::App app{"cellctl: query and steer a running cellplaned over its control socket",
                   "cellctl"};
  app.option("-s,--socket", options.socket_path,
             "control socket path (default: from --config, else state/cellplane.ctl)");
  app.option("-c,--config", options.config_path,
             "cellplaned configuration file to take the socket path from");
  app.flag("--json", options.json, "print the result as raw JSON");
  app.option("--timeout-ms", options.timeout_ms, "give up after this many milliseconds")
      .range(1, 3'600'000)
      .show_default();
  app.option("words", options.words, "command words, then key=value arguments");
  app.footer(kFooter);
  if (const auto status = app.parse(argc, argv)) return *status == 0 ? kExitOk : kExitUsage;
  if (options.words.empty()) {
    std::fputs(app.help().c_str(), stderr);
    return kExitUsage;
  }
  return run(options);
}
