// The one result type of cellplane. Errors are values on the data path; exceptions are only
// used at start-up (config loading, argument parsing). `tl::expected` comes from Debian's
// libexpected-dev; this alias is the single place to switch to std::expected (C++23) later.
#pragma once

#include <tl/expected.hpp>

namespace cp {

template <typename T, typename E>
using Result = tl::expected<T, E>;

template <typename E>
using Unexpected = tl::unexpected<E>;

template <typename E>
constexpr Unexpected<std::decay_t<E>> fail(E&& e) {
  return Unexpected<std::decay_t<E>>(std::forward<E>(e));
}

}  // namespace cp
