#include "knn_result.hpp"

#include <algorithm>
#include <limits>

namespace vecaccel::detail {

KnnResult padded_result(std::size_t rows, std::size_t k, Metric metric) {
  KnnResult r{rows, k, {}, {}};
  const float worst = smaller_is_better(metric) ? std::numeric_limits<float>::infinity()
                                                : -std::numeric_limits<float>::infinity();
  r.distances.assign(rows * k, worst);
  r.labels.assign(rows * k, -1);
  return r;
}

KnnResult widened(const KnnResult& result, std::size_t k, Metric metric) {
  KnnResult wide = padded_result(result.rows, k, metric);
  for (std::size_t r = 0; r < result.rows; ++r) {
    const auto from = static_cast<std::ptrdiff_t>(r * result.k);
    const auto to = static_cast<std::ptrdiff_t>(r * k);
    std::copy_n(result.distances.begin() + from, result.k, wide.distances.begin() + to);
    std::copy_n(result.labels.begin() + from, result.k, wide.labels.begin() + to);
  }
  wide.second_pass_queries = result.second_pass_queries;
  wide.direct_pass_queries = result.direct_pass_queries;
  return wide;
}

}  // namespace vecaccel::detail
