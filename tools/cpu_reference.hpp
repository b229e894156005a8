#pragma once
// Exact k-nearest-neighbour search on the CPU in float64: the yardstick the demo checks the
// GPU against at run time. The tests use tests/support/reference instead: the tool cannot
// compile test code (it links GoogleTest). Deliberately simple (no tiling, no norm tricks) so
// that it is obviously right; use it on samples, not whole benchmarks.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vecaccel/metric.hpp"

namespace vecaccel::reference {

/// rows x k, row-major, best first (smallest l2, largest similarity), ties by label; rows
/// with fewer than k base vectors are padded with label -1 and +inf (l2) / -inf.
struct ExactKnn {
  std::size_t rows = 0;
  std::size_t k = 0;
  std::vector<double> distances;
  std::vector<std::int64_t> labels;
};

/// The metric value of a against b in float64: squared Euclidean distance, inner product, or
/// cosine similarity (0 when either vector is zero).
double distance(std::span<const float> a, std::span<const float> b, Metric metric);

/// queries (nq x dim) against base (nb x dim). Labels are base row numbers.
ExactKnn exact_knn(std::span<const float> queries, std::span<const float> base, std::size_t dim,
                   std::size_t k, Metric metric);

}  // namespace vecaccel::reference
