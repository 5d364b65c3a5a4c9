// CommandRegistry (declared in ctl/control_server.h): the named commands of the control protocol
// and their dispatch. Kept apart from the socket service so that code and tests needing only the
// registry do not link the reactor.
#include <fmt/format.h>

#include <algorithm>

#include "base/log.h"
#include "ctl/control_server.h"

namespace cp::ctl {

CommandRegistry::CommandRegistry() {
  auto added =
      add("help", "list commands (prefix=NAME: only NAME and its sub-commands)",
          [this](const ControlRequest& request, JsonWriter& out) { return help(request, out); });
  CP_ASSERT(added.has_value());
}

Result<void, std::string> CommandRegistry::add_async(std::string name, std::string help,
                                                     AsyncCommandHandler handler) {
  if (!handler) return fail(fmt::format("command '{}' has no handler", name));
  // Registered with a placeholder synchronous handler (never called: dispatch_async runs it).
  auto ok = add(name, std::move(help),
                [](const ControlRequest&, JsonWriter&) { return Result<void, std::string>{}; });
  if (!ok) return ok;
  const auto at = std::find_if(commands_.begin(), commands_.end(),
                               [&](const CommandInfo& c) { return c.name == name; });
  at->async = std::move(handler);
  return {};
}

Result<void, std::string> CommandRegistry::add(std::string name, std::string help,
                                               CommandHandler handler) {
  if (!valid_command_name(name)) {
    return fail(fmt::format("'{}' is not a valid command name", name));
  }
  if (!handler) return fail(fmt::format("command '{}' has no handler", name));
  const auto at =
      std::lower_bound(commands_.begin(), commands_.end(), name,
                       [](const CommandInfo& c, const std::string& n) { return c.name < n; });
  if (at != commands_.end() && at->name == name) {
    return fail(fmt::format("command '{}' is already registered", name));
  }
  commands_.insert(at, CommandInfo{std::move(name), std::move(help), std::move(handler), {}});
  return {};
}

const CommandInfo* CommandRegistry::find(std::string_view name) const {
  const auto at =
      std::lower_bound(commands_.begin(), commands_.end(), name,
                       [](const CommandInfo& c, std::string_view n) { return c.name < n; });
  return at != commands_.end() && at->name == name ? &*at : nullptr;
}

Result<void, std::string> CommandRegistry::help(const ControlRequest& request,
                                                JsonWriter& out) const {
  std::string_view prefix;
  if (request.has("prefix")) {
    auto p = request.string_arg("prefix");
    if (!p) return fail(p.error());
    prefix = *p;
  }
  const auto matches = [prefix](std::string_view name) {
    if (prefix.empty() || name == prefix) return true;
    return name.size() > prefix.size() && name.starts_with(prefix) && name[prefix.size()] == '.';
  };
  const bool any = std::any_of(commands_.begin(), commands_.end(),
                               [&](const CommandInfo& c) { return matches(c.name); });
  if (!any) return fail(fmt::format("no command matches '{}'", prefix));
  out.begin_array();
  for (const CommandInfo& c : commands_) {
    if (!matches(c.name)) continue;
    out.begin_object().field("command", c.name).field("help", c.help).end_object();
  }
  out.end_array();
  return {};
}

void CommandRegistry::dispatch(const ControlRequest& request, JsonWriter& result_scratch,
                               std::string& response_frame) const {
  result_scratch.clear();
  const CommandInfo* command = find(request.cmd);
  if (!command) {
    encode_error_response(
        request.id, error_code::unknown_command,
        fmt::format("unknown command '{}' (cellctl help lists them)", request.cmd), response_frame);
    return;
  }
  auto done = command->handler(request, result_scratch);
  if (!done) {
    encode_error_response(request.id, error_code::command_failed, done.error(), response_frame);
    return;
  }
  if (!result_scratch.empty() && !result_scratch.complete()) {
    CP_LOG_ERROR("ctl: command '{}' wrote an incomplete JSON result", request.cmd);
    encode_error_response(request.id, error_code::internal,
                          "the command wrote an incomplete result", response_frame);
    return;
  }
  encode_ok_response(request.id, result_scratch.view(), response_frame);
}

}  // namespace cp::ctl
