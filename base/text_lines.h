// Line-by-line reading of small text files (configuration-like state files): each line without
// its '\n', numbered from 1 for error messages. Start-up and control-plane use.
#pragma once

#include <cstddef>
#include <string_view>

namespace cp {

// Calls fn(line, line_no) for every line of `text`; a last line without '\n' counts, an empty
// text has none.
template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  size_t line_no = 0, start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    const std::string_view line =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? text.size() : end + 1;
    fn(line, ++line_no);
  }
}

}  // namespace cp
