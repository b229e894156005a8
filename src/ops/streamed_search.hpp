#pragma once
// Searches over bases the engine does not hold at once: the base is cut into parts (passes of
// a streamed file, chunks of a compact index widened on the GPU), each part is searched
// exactly by KnnEngine, and the parts' top k are merged exactly on the host.
//
// Exact merging: each part's list is ordered by the float64 value then label, but reports
// float32 values (correctly rounded). Lists from different parts are merged by float32 value
// and, where those are equal, by the float64 value recomputed on the host exactly as the
// re-ranking kernel computes it (same operations, same order: the same bits), then by label:
// the merged order is the order of a search over the whole base.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <unordered_map>
#include <vector>

#include "base_upload.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel::detail {

/// The float64 value knn_rerank.comp computes for a query and a base row (unscaled rows give
/// the same cosine bits as the power-of-two scaled rows the GPU holds).
double rerank_value(std::span<const float> query, std::span<const float> row, Metric metric);

class TopKMerger {
 public:
  /// Returns base row `label` (global) as floats, for tie-breaking.
  using RowFetcher = std::function<std::vector<float>(std::int64_t label)>;

  /// integer_values: every base and query value is an integer of magnitude below 2^16 (compact
  /// bases with integer queries), so l2 and inner-product values are integers computed exactly
  /// and equal float32 values below 2^24 are equal float64 values: no row is fetched for them.
  TopKMerger(std::span<const float> queries, std::size_t dim, std::size_t k, Metric metric,
             bool integer_values, RowFetcher fetch);

  /// Merges a part's result; its labels are part rows, label_offset is the part's first row.
  void add(const KnnResult& part, std::int64_t label_offset);
  KnnResult take() { return std::move(result_); }

 private:
  struct Entry {
    float value;
    std::int64_t label;
  };
  bool before(std::size_t query, const Entry& a, const Entry& b);
  double exact(std::size_t query, std::int64_t label);

  std::span<const float> queries_;
  std::size_t dim_;
  std::size_t k_;
  Metric metric_;
  bool integer_values_;
  RowFetcher fetch_;
  KnnResult result_;
  std::vector<Entry> merged_;
  std::unordered_map<std::int64_t, double> exact_cache_;  // one query's recomputed values
  bool first_ = true;
};

/// Whether every value is an integer of magnitude below 2^16 (see TopKMerger).
bool small_integers(std::span<const float> values);

/// Rows per pass of a streamed search within `budget` device bytes: two passes in flight and a
/// quarter of the budget left for the engine's working memory; all rows when they fit in one
/// pass of three quarters. invalid_argument naming both sizes when the budget holds not even
/// one row per pass (a pass of one row at a time crawled for minutes instead of refusing).
std::size_t stream_rows_per_pass(std::uint64_t budget, std::size_t dim, ElementType type,
                                 std::size_t rows);

/// The exact k nearest rows of `source` for each query, the base streamed through the GPU in
/// passes: the next pass is staged and uploaded (another thread) while the GPU searches this
/// one. Labels are source row numbers.
KnnResult streamed_knn(Context& context, const RowSource& source, std::span<const float> queries,
                       std::size_t k, Metric metric, const ops::StreamOptions& options);

}  // namespace vecaccel::detail
