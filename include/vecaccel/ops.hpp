#pragma once
// Vector search primitives: pairwise distances, per-row top-k selection and fused exact kNN.
//
// Each op comes in two forms. The host form (distances, top_k, knn) takes host spans, uploads,
// runs one command buffer on the context and returns host results. The encode form
// (encode_*) records into a caller's encoder over GPU buffers, with the barriers it needs, so
// several ops fuse into one command buffer; the caller keeps the buffers alive until the
// submission completes. Matrices are row-major float32. Thread-safe as the context is.
//
// Any k from 1 (to 2^31 - 1): past the rows there are, results are padded. Errors:
// invalid_argument for dimension 0, mismatched sizes, k = 0, NaN or Inf in an input row
// (naming the row), buffers too small (with both sizes).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stop_token>
#include <vector>

#include "vecaccel/buffer.hpp"
#include "vecaccel/compute_encoder.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/id_filter.hpp"
#include "vecaccel/mapped_vectors.hpp"
#include "vecaccel/matrix_view.hpp"
#include "vecaccel/metric.hpp"

namespace vecaccel {

/// rows x k results, row-major. Rows are sorted best first; ties are ordered by label. When
/// fewer than k candidates exist, rows are padded with label -1 and the worst distance
/// (+inf for l2, -inf for similarities).
///
/// kNN results are exact: the ids and their order equal a float64 brute force's (ties by
/// label), and each distance is the float64 value rounded to float32. A fast screen proposes
/// candidates, they are re-ranked in float64, and a per-query certificate proves nothing else
/// can enter the top k (docs/exactness.md); `second_pass_queries` counts the queries whose
/// certificate failed and that were searched again (a more precise screen first), and
/// `direct_pass_queries` those of them that needed the float64 pass over every base row.
struct KnnResult {
  std::size_t rows = 0;
  std::size_t k = 0;
  std::vector<float> distances;
  std::vector<std::int64_t> labels;
  std::size_t second_pass_queries = 0;
  std::size_t direct_pass_queries = 0;
};

/// Range search results, shaped as FAISS's: query q's results are entries [lims[q],
/// lims[q + 1]) of distances and labels (lims has queries + 1 entries), sorted best first, ties
/// by label. l2, l1 and linf keep rows whose distance is below the radius, inner product and
/// cosine rows whose similarity is above it, decided on the exact (float64) value: a kept row's
/// float32 distance may round to the radius itself.
struct RangeResult {
  std::vector<std::int64_t> lims;
  std::vector<float> distances;
  std::vector<std::int64_t> labels;
};

/// The most results a range search returns unless told otherwise.
constexpr std::size_t default_max_range_results = 100'000'000;

namespace ops {

/// queries (nq x dim) against base (nb x dim): the nq x nb matrix of metric values. The spans
/// are reinterpreted as rows of dim; the MatrixView forms state each shape and are checked.
std::vector<float> distances(Context& context, std::span<const float> queries,
                             std::span<const float> base, std::size_t dim, Metric metric);
/// invalid_argument naming both dimensions when queries.dim() != base.dim().
std::vector<float> distances(Context& context, MatrixView<const float> queries,
                             MatrixView<const float> base, Metric metric);

/// Per row of a rows x cols matrix, the k smallest (largest when `largest`) values and their
/// column indices.
KnnResult top_k(Context& context, std::span<const float> values, std::size_t rows, std::size_t cols,
                std::size_t k, bool largest);

/// The k nearest base rows of each query; labels are base row numbers. Never materialises
/// the whole nq x nb distance matrix: it works in tiles and merges per-tile selections.
/// options: as FlatIndex::search (stop between batches, timeout over the whole call).
KnnResult knn(Context& context, std::span<const float> queries, std::span<const float> base,
              std::size_t dim, std::size_t k, Metric metric, const ExecuteOptions& options = {});
/// knn with each shape stated: invalid_argument naming both dimensions when queries.dim() !=
/// base.dim().
KnnResult knn(Context& context, MatrixView<const float> queries, MatrixView<const float> base,
              std::size_t k, Metric metric, const ExecuteOptions& options = {});
/// Filtered knn: the k nearest among the base rows whose row numbers `filter` allows
/// (IdFilter's contract; fewer allowed rows than k: padded with -1).
KnnResult knn(Context& context, std::span<const float> queries, std::span<const float> base,
              std::size_t dim, std::size_t k, Metric metric, const IdFilter& filter,
              const ExecuteOptions& options = {});
KnnResult knn(Context& context, MatrixView<const float> queries, MatrixView<const float> base,
              std::size_t k, Metric metric, const IdFilter& filter,
              const ExecuteOptions& options = {});

/// Options of a search whose base is streamed through the GPU in passes.
struct StreamOptions {
  /// Bounds the whole call (Errc::timeout, naming the limit); no limit when unset (the
  /// context's default_timeout does not apply to searches).
  std::optional<std::chrono::nanoseconds> timeout;
  /// Checked between passes and query batches and while waiting; Errc::cancelled.
  std::stop_token stop;
  /// Called after each pass with (base rows searched so far, base rows); may be empty.
  std::function<void(std::size_t done, std::size_t total)> progress;
  /// Device memory the search may use (base passes and working memory); by default
  /// VECACCEL_MEMORY_BUDGET (<bytes>[K|M|G]) when set, else the device's free memory
  /// (VK_EXT_memory_budget) or its device-local heaps.
  std::optional<std::uint64_t> memory_budget;
  /// Searches base rows [first_row, first_row + row_count) only (row_count: to the end when
  /// unset), e.g. one device's share of a file; labels stay base rows, and progress counts
  /// the range's rows. invalid_argument when the range leaves the base.
  std::size_t first_row = 0;
  std::optional<std::size_t> row_count;
  /// Only the rows whose row numbers (labels) it allows may be returned (IdFilter).
  std::optional<IdFilter> filter;
};

/// The k nearest rows of a mapped base file (float32, uint8 or int8 as stored; never widened
/// or read whole on the host) for each query. A base larger than the budget is streamed
/// through the GPU in passes, the next uploaded while the current one is searched; results
/// equal an in-memory search's bit for bit (exact, ties by label). Labels are file rows.
/// Errors as knn, plus invalid_argument for queries of another dimension and io_error for a
/// TEXMEX row with a wrong header.
KnnResult knn(Context& context, std::span<const float> queries, const MappedVectors& base,
              std::size_t k, Metric metric, const StreamOptions& options = {});
/// The same with the queries' shape stated: invalid_argument naming both dimensions when
/// queries.dim() != base.dim() (the span form reads the queries as rows of base.dim()).
KnnResult knn(Context& context, MatrixView<const float> queries, const MappedVectors& base,
              std::size_t k, Metric metric, const StreamOptions& options = {});
/// knn over uint8 / int8 base rows in memory (n x dim), staged one byte per element and
/// widened on the GPU; exact like the float form.
KnnResult knn(Context& context, std::span<const float> queries, std::span<const std::uint8_t> base,
              std::size_t dim, std::size_t k, Metric metric, const StreamOptions& options = {});
KnnResult knn(Context& context, std::span<const float> queries, std::span<const std::int8_t> base,
              std::size_t dim, std::size_t k, Metric metric, const StreamOptions& options = {});

/// A row-major float32 matrix in a GPU buffer. `row_stride` is in floats (0: cols).
struct MatrixRef {
  Buffer buffer;
  std::uint64_t offset = 0;  ///< bytes
  std::size_t rows = 0;
  std::size_t cols = 0;
};

/// Squared L2 norm of each row of `matrix` into `norms` (rows floats at norms_offset).
void encode_row_norms(Context& context, ComputeEncoder& encoder, const MatrixRef& matrix,
                      const Buffer& norms, std::uint64_t norms_offset = 0);

/// out (nq x nb floats) = metric(queries, base). query_norms/base_norms are squared row norms
/// (from encode_row_norms) for l2 and cosine; ignored for inner_product, l1 and linf.
void encode_distances(Context& context, ComputeEncoder& encoder, const MatrixRef& queries,
                      const MatrixRef& base, const Buffer& query_norms, const Buffer& base_norms,
                      Metric metric, const MatrixRef& out);

/// Per row of `values`, the k best into out_values / out_labels (rows x k floats / int32
/// column indices), sorted best first, ties by index. One workgroup sorts each row in shared
/// memory, so k is at most what it holds (2048 or more: 4096 with 48 KiB); top_k takes any k.
void encode_top_k(Context& context, ComputeEncoder& encoder, const MatrixRef& values, std::size_t k,
                  bool largest, const Buffer& out_values, const Buffer& out_labels);

}  // namespace ops
}  // namespace vecaccel
