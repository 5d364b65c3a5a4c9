// The median of a benchmark's repeated runs (the figure docs/BENCHMARKS.md reports).
#pragma once

#include <algorithm>
#include <vector>

namespace cp::bench {

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace cp::bench
