#pragma once
// Results with fewer neighbours than k: the padding every search path returns (label -1 and the
// metric's worst distance, +inf or -inf), in one place so that they all agree.

#include <cstddef>

#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel::detail {

/// `rows` rows of k padding entries.
KnnResult padded_result(std::size_t rows, std::size_t k, Metric metric);

/// `result` with its rows padded to k >= result.k columns (re-screen counts kept).
KnnResult widened(const KnnResult& result, std::size_t k, Metric metric);

}  // namespace vecaccel::detail
