// Fuzzes the configuration loader on arbitrary text. Beyond "no crash": whatever loads must
// print (to_toml) into TOML that loads back to the same Config, and every error must carry a
// message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ctl/config.h"
#include "daemon/services.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const cp::ctl::ConfigSchema& schema = cp::daemon::config_schema();
  auto config = cp::ctl::load_config_string(text, "fuzz.toml", schema);
  if (!config) {
    if (config.error().message.empty() || config.error().to_string().empty()) std::abort();
    return 0;
  }
  const std::string shown = cp::ctl::to_toml(*config);
  auto again = cp::ctl::load_config_string(shown, "shown.toml", schema);
  if (!again || !(*again == *config)) std::abort();
  return 0;
}
