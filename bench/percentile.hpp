#pragma once
// Latency percentiles for the serving benchmarks.

#include <algorithm>
#include <cstddef>
#include <vector>

namespace vecaccel::bench {

/// The value at fraction p (0..1) of the sorted values (nearest rank below); 0 when empty.
/// Reorders values.
inline double percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  const auto at = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(at), values.end());
  return values[at];
}

}  // namespace vecaccel::bench
