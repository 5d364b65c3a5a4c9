// Byte vectors written as integer lists in tests: bytes_of({0x00, 0x1F, ...}).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <vector>

namespace cp::test {

inline std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  out.reserve(values.size());
  for (int b : values) out.push_back(static_cast<std::byte>(b));
  return out;
}

}  // namespace cp::test
