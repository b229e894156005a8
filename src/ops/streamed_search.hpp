#pragma once
// Searches over bases the engine does not hold at once: the base is cut into parts (passes of
// a streamed file, chunks of a compact index widened on the GPU), each part is searched
// exactly by KnnEngine, and the parts' top k are merged exactly on the host.
//
// Exact merging: the parts' top k are merged by exact_merge.hpp's merge_exact, the one merge of
// every multi-part search (shards, ranks, passes), which recomputes on the host only the float64
// values of candidates whose float32 values tie across parts (direct_distance: the re-ranking
// kernel's operations in its order, the same bits).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base_upload.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel::detail {

class TopKMerger {
 public:
  /// Returns base row `label` (global) as floats, for tie-breaking.
  using RowFetcher = std::function<std::vector<float>(std::int64_t label)>;

  /// integer_values: every base and query value is an integer of magnitude below 2^16 (compact
  /// bases with integer queries), so l2 and inner-product values are integers computed exactly
  /// and equal float32 values below 2^24 are equal float64 values: no row is fetched for them.
  TopKMerger(std::span<const float> queries, std::size_t dim, std::size_t k, Metric metric,
             bool integer_values, RowFetcher fetch);

  /// Merges a part's result (merge_exact); its labels are part rows, label_offset is the
  /// part's first row.
  void add(const KnnResult& part, std::int64_t label_offset);
  KnnResult take() { return std::move(result_); }

 private:
  std::span<const float> queries_;
  std::size_t dim_;
  std::size_t k_;
  Metric metric_;
  bool integer_values_;
  RowFetcher fetch_;
  KnnResult result_;
  bool first_ = true;
};

/// Whether every value is an integer of magnitude below 2^16 (see TopKMerger).
bool small_integers(std::span<const float> values);

/// Whether `rows` fit `budget` device bytes held whole: their float32 values, norms and (compact
/// rows) bytes within three quarters of it, a quarter left for the engine's working memory.
bool rows_fit_held(std::uint64_t budget, std::size_t dim, ElementType type, std::size_t rows);

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
