// JSON string literals (RFC 8259), shared by the control protocol, pms-tool and whatever else
// writes JSON by hand.
#pragma once

#include <string>
#include <string_view>

namespace cp {

// Appends `text` as a JSON string literal: quoted, '"', '\\' and control characters escaped,
// invalid UTF-8 replaced by U+FFFD, so the output is always valid JSON.
void append_json_string(std::string_view text, std::string& out);

}  // namespace cp
