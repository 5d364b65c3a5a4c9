#include "ctl/service.h"

#include "engine/engine.h"

#include <filesystem>
#include <fstream>

#include "base/assert.h"
#include "base/log.h"

namespace cp::ctl {

engine::Reactor& ServiceHost::control_reactor() const {
  return engine_.reactor(kControlCore);
}

void ServiceHost::add_command(std::string name, std::string help, CommandHandler handler) {
  auto ok = registry_.add(std::move(name), std::move(help), std::move(handler));
  CP_ASSERT(ok);
}

void ServiceHost::add_async_command(std::string name, std::string help,
                                    AsyncCommandHandler handler) {
  auto ok = registry_.add_async(std::move(name), std::move(help), std::move(handler));
  CP_ASSERT(ok);
}

Result<void, std::string> write_example_file(const std::string& path, std::string_view text,
                                             std::string_view reload_command) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return {};
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) return fail(path + ": cannot write the example file");
  CP_LOG_NOTICE("{} did not exist; wrote an example (edit it, then `{}`)", path, reload_command);
  return {};
}

}  // namespace cp::ctl
