// Small files written whole and renamed into place, so a crash leaves the old content or the new
// one, never a mix: state files (slotmaps, peer index, counters). Start-up and control-plane
// use only; these block.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace cp {

// Writes `content` to path.tmp, fsyncs it, renames it to `path` and fsyncs the directory
// (creating the directory first when missing).
Result<void, std::string> write_file_atomic(const std::string& path, std::string_view content);

// The whole file; nullopt when it does not exist.
Result<std::optional<std::string>, std::string> read_small_file(const std::string& path);

}  // namespace cp
