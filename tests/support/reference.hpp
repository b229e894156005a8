#pragma once
// Float64 CPU references for the vector-search tests, and the checks that compare with them.

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "vecaccel/id_filter.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel::testing {

/// n x dim floats from a standard normal distribution.
std::vector<float> normal_data(std::size_t n, std::size_t dim, std::uint32_t seed);
/// n x dim floats around `clusters` centres (tight clusters: many near-equal distances).
std::vector<float> clustered_data(std::size_t n, std::size_t dim, std::size_t clusters,
                                  std::uint32_t seed);

/// The metric in float64.
double reference_metric(const float* a, const float* b, std::size_t dim, Metric metric);

/// The float64 brute force: rows x k, row-major, best first (smallest l2, largest similarity),
/// ties by base row; rows with fewer than k base vectors padded with label -1 and the worst
/// value (+inf for l2, -inf otherwise).
struct ExactKnn {
  std::size_t rows = 0;
  std::size_t k = 0;
  std::vector<double> distances;
  std::vector<std::int64_t> labels;
};
ExactKnn exact_knn(const std::vector<float>& queries, const std::vector<float>& base,
                   std::size_t dim, std::size_t k, Metric metric);

/// Checks a KnnResult is exact: the labels of a float64 brute force in its order (ties by
/// label), each distance the float64 value rounded to float32 (within one ulp), padding (-1,
/// worst value) exactly where fewer than k base rows exist. Returns "" when all holds, else
/// the first difference.
std::string check_knn(const KnnResult& result, const std::vector<float>& queries,
                      const std::vector<float>& base, std::size_t dim, std::size_t k,
                      Metric metric);

/// The float64 self-kNN graph: for each base row, the k best *other* rows (the row itself left
/// out by position, exact duplicates elsewhere kept), ties by row, padded as exact_knn pads.
ExactKnn exact_knn_graph(const std::vector<float>& base, std::size_t dim, std::size_t k,
                         Metric metric);

/// check_knn for a graph (knn_graph): compared with exact_knn_graph.
std::string check_knn_graph(const KnnResult& result, const std::vector<float>& base,
                            std::size_t dim, std::size_t k, Metric metric);

/// The float64 brute force of a range search (RangeResult's rules): the rows on the kept side
/// of the radius (l2, l1, linf: below; similarities: above) by their float64 values, best
/// first, ties by row; distances the float64 values rounded to float32.
RangeResult exact_range(const std::vector<float>& queries, const std::vector<float>& base,
                        std::size_t dim, double radius, Metric metric);

/// The rows a filter allows (labels: base rows), as a base of their own, and their labels.
struct AllowedRows {
  std::vector<float> rows;
  std::vector<std::int64_t> labels;  // ascending
};
AllowedRows allowed_rows(const std::vector<float>& base, std::size_t dim, const IdFilter& filter);

/// check_knn for a filtered search: equal to the float64 brute force over the allowed rows
/// alone (labels: base rows); a denied label is a difference.
std::string check_filtered_knn(KnnResult result, const std::vector<float>& queries,
                               const std::vector<float>& base, std::size_t dim,
                               const IdFilter& filter, std::size_t k, Metric metric);

}  // namespace vecaccel::testing
