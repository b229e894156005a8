#pragma once
// Range search on any exact kNN: each query's k nearest, k growing (four times a round) until
// the k-th falls outside the radius. kNN results are exact and sorted by their float64 values,
// so the rows within the radius are a prefix of them; membership is decided on that float64
// value: where the float32 distance cannot tell (it lies within one float32 step of the
// radius), the row's float64 value is computed again on the host.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "vecaccel/flat_index.hpp"
#include "vecaccel/search.hpp"

namespace vecaccel::detail {

struct RangeSource {
  std::size_t queries = 0;
  std::size_t rows = 0;  ///< rows a search can return (no query has more results)
  /// The exact k nearest rows of the listed queries (k <= rows).
  std::function<KnnResult(std::span<const std::size_t> queries, std::size_t k)> knn;
  /// The float64 value of a query against the row of a label.
  std::function<double(std::size_t query, std::int64_t label)> exact;
};

/// invalid_argument (no out_of_range code exists) naming the count when more than max_results
/// results exist, and for a NaN radius.
/// invalid_argument when a FlatIndex base of another metric is searched for `metric`.
void search_index_metric(const FlatIndex& index, Metric metric);

RangeResult range_by_knn(const RangeSource& source, double radius, Metric metric,
                         std::size_t max_results);

}  // namespace vecaccel::detail
