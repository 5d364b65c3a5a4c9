// Comparing secrets (passwords, tokens) without leaking where they differ through timing.
#pragma once

#include <string_view>

namespace cp {

// a == b, taking the same time for any contents of the same lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace cp
