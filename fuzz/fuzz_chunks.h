// The session fuzzers' input format: a sequence of chunks, each a 2-byte little-endian length
// then that many bytes (a length past the end takes the rest) — one stream, cut where the
// fuzzer chose, so the peer's bytes arrive in any split.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>

namespace cp::fuzz {

// Takes the next chunk off the front of `input` (empty once `input` is).
inline std::span<const std::byte> next_chunk(std::span<const std::byte>& input) {
  size_t n = input.size() >= 2
                 ? (static_cast<size_t>(input[0]) | static_cast<size_t>(input[1]) << 8)
                 : input.size();
  input = input.subspan(std::min<size_t>(2, input.size()));
  n = std::min(n, input.size());
  const auto chunk = input.first(n);
  input = input.subspan(n);
  return chunk;
}

}  // namespace cp::fuzz
