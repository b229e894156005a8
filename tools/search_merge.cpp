#include "search_merge.hpp"

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "vecaccel/search.hpp"

namespace vecaccel::cli {

PartResults part_results(KnnResult&& result, const Base& base, std::int64_t file_offset,
                         const Matrix<float>& queries, Metric metric) {
  std::vector<double> exact =
      exact_values(result, MatrixView<const float>(queries.values, queries.rows, queries.dim),
                   base.whole(), metric, file_offset);
  return {.distances = std::move(result.distances),
          .labels = std::move(result.labels),
          .exact = std::move(exact)};
}

void merge_parts(const PartResults& gathered, std::size_t ranks, std::size_t queries, std::size_t k,
                 Metric metric, Matrix<std::int32_t>& ids, Matrix<float>& distances) {
  const std::size_t slots = queries * k;
  std::vector<KnnResult> parts(ranks);
  std::vector<std::vector<double>> exact(ranks);
  for (std::size_t r = 0; r < ranks; ++r) {
    const auto from = static_cast<std::ptrdiff_t>(r * slots);
    const auto to = static_cast<std::ptrdiff_t>((r + 1) * slots);
    parts[r] = {.rows = queries,
                .k = k,
                .distances = {gathered.distances.begin() + from, gathered.distances.begin() + to},
                .labels = {gathered.labels.begin() + from, gathered.labels.begin() + to}};
    exact[r] = {gathered.exact.begin() + from, gathered.exact.begin() + to};
  }
  to_matrices(merge_exact(parts, exact, metric), ids, distances);
}

}  // namespace vecaccel::cli
