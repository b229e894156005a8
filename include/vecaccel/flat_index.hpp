#pragma once
// FlatIndex: exact (brute-force) k-nearest-neighbour search over vectors kept on the GPU.
//
// Vectors stay in device memory between searches; add() appends without re-uploading what is
// there (storage grows in chunks that each fit the device's storage-buffer range). add() checks
// the rows on several threads and uploads them through reused staging buffers, overlapping
// the copies with the checks of the next slice.
//
// Element types: an index stores float32 rows, or (ElementType::uint8 / int8, fixed at
// construction) one byte per element on the GPU, widened to float32 on the GPU a chunk at a
// time as it is searched; results are exact either way (uint8/int8 values are exact in
// float32). Labels are 64-bit ids: add() numbers rows 0, 1, 2, ... in the order they were ever
// added (removed rows and add_with_ids rows count too, so no label add() gives repeats);
// add_with_ids() takes the caller's. remove_ids() removes rows and keeps the others' labels.
// search() results follow KnnResult's rules (sorted, ties by label, padding with -1).
// Thread-safe: searches may run concurrently; add/remove_ids/reset exclude everything else,
// save excludes those. The context must outlive the index.
//
// save()/load(): a versioned little-endian binary file with a checksum, keeping the labels, the
// next label add() gives and the element type (uint8/int8 rows stay one byte each); files of
// the earlier version (float32 rows) still load. A truncated, corrupt or foreign file (also
// one holding a negative id) gives Errc::io_error naming the file and what is wrong.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

#include "vecaccel/context.hpp"
#include "vecaccel/element_type.hpp"
#include "vecaccel/id_filter.hpp"
#include "vecaccel/mapped_vectors.hpp"
#include "vecaccel/matrix_view.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel {

namespace detail {
class FlatIndexImpl;
}

/// Whether a float32 index keeps a float16 copy of its rows beside them (2 bytes an element:
/// +50% device memory). Searches of up to 32 queries stream the copy instead of the rows —
/// half the bytes, about twice as fast where reading the base is what takes the time — and
/// stay exact: the copy only proposes candidates, which the rows re-rank (docs/exactness.md).
/// An l2 index makes its copy about the mean of the first rows added (fixed until reset();
/// 4 more bytes a row for the centred norms): l2 does not change under the shift, and data
/// far from the origin keeps the certificates an uncentred copy would lose.
enum class HalfCopy {
  /// For dimensions that are a multiple of 4, on each chunk of rows made while the chunk with
  /// its copy takes at most half the device memory left (VECACCEL_MEMORY_BUDGET where set).
  automatic,
  always,  ///< invalid_argument for a dimension that is not a multiple of 4
  never,
};

class FlatIndex {
 public:
  /// invalid_argument for dim 0 or above max_dim.
  FlatIndex(Context& context, std::size_t dim, Metric metric);
  /// An index storing rows of `type` (float32 as above; uint8/int8 one byte per element).
  FlatIndex(Context& context, std::size_t dim, Metric metric, ElementType type);
  /// As above, choosing whether float32 rows get a float16 copy (uint8/int8 rows never do).
  FlatIndex(Context& context, std::size_t dim, Metric metric, ElementType type, HalfCopy half_copy);
  FlatIndex(FlatIndex&&) noexcept;
  FlatIndex& operator=(FlatIndex&&) noexcept;
  ~FlatIndex();

  static constexpr std::size_t max_dim = 65536;

  /// vectors holds n x dim floats; NaN/Inf → invalid_argument naming the row. Rows of a type
  /// other than the index's: invalid_argument naming both types (nothing is widened or
  /// narrowed on the host). A span is reinterpreted as rows of dim() elements (size / dim()
  /// rows), so rows of another dimension whose total happens to be a multiple of dim() are
  /// silently misread: the MatrixView overloads state the shape and are checked.
  void add(std::span<const float> vectors);
  void add(std::initializer_list<float> vectors) { add(std::span<const float>(vectors)); }
  void add(std::span<const std::uint8_t> vectors);
  void add(std::span<const std::int8_t> vectors);
  /// Every row of a mapped file, numbered like add(); its element type must be the index's.
  /// Rows are read from the mapping slice by slice, never copied whole into host memory.
  void add(const MappedVectors& vectors);
  /// As add(span), with the rows' shape stated: invalid_argument naming both dimensions when
  /// vectors.dim() != dim(), and nothing is added.
  void add(MatrixView<const float> vectors);
  void add(MatrixView<const std::uint8_t> vectors);
  void add(MatrixView<const std::int8_t> vectors);
  /// One id per row, each >= 0 (-1 labels padding in results): else invalid_argument naming
  /// the row and the id, and nothing is added.
  void add_with_ids(std::span<const float> vectors, std::span<const std::int64_t> ids);
  void add_with_ids(std::span<const std::uint8_t> vectors, std::span<const std::int64_t> ids);
  void add_with_ids(std::span<const std::int8_t> vectors, std::span<const std::int64_t> ids);
  /// As add_with_ids(span, ids), with the rows' shape stated: invalid_argument naming both
  /// dimensions when vectors.dim() != dim(), and nothing is added.
  void add_with_ids(MatrixView<const float> vectors, std::span<const std::int64_t> ids);
  void add_with_ids(MatrixView<const std::uint8_t> vectors, std::span<const std::int64_t> ids);
  void add_with_ids(MatrixView<const std::int8_t> vectors, std::span<const std::int64_t> ids);
  /// queries holds nq x dim floats; any k >= 1 (past size() rows, results are padded with
  /// label -1 and the worst distance). options.stop is checked between
  /// query batches and while waiting (Errc::cancelled); options.timeout bounds the whole call
  /// (Errc::timeout, naming the limit in seconds). No limit when unset: the context's
  /// default_timeout is for the caller's own execute() calls, not for searches.
  /// After either, the index stays
  /// usable; GPU work already submitted finishes with its memory kept alive.
  /// The span is reinterpreted as rows of dim() floats, as in add().
  KnnResult search(std::span<const float> queries, std::size_t k,
                   const ExecuteOptions& options = {}) const;
  /// As search(span), with the queries' shape stated: invalid_argument naming both dimensions
  /// when queries.dim() != dim().
  KnnResult search(MatrixView<const float> queries, std::size_t k,
                   const ExecuteOptions& options = {}) const;
  /// Filtered search: the exact k nearest rows among those whose labels `filter` allows
  /// (IdFilter's contract: padded with -1 when fewer than k are allowed). Few allowed rows are
  /// gathered on the GPU and searched alone (cost follows them), many are masked in the screen.
  KnnResult search(std::span<const float> queries, std::size_t k, const IdFilter& filter,
                   const ExecuteOptions& options = {}) const;
  KnnResult search(MatrixView<const float> queries, std::size_t k, const IdFilter& filter,
                   const ExecuteOptions& options = {}) const;

  /// Every row within `radius` of each query (RangeResult's rules), exact. More than
  /// max_results results in all: invalid_argument naming the count (vecaccel has no
  /// out_of_range code), nothing returned. options as search().
  RangeResult range_search(MatrixView<const float> queries, double radius,
                           std::size_t max_results = default_max_range_results,
                           const ExecuteOptions& options = {}) const;
  /// As above, among the rows whose labels `filter` allows.
  RangeResult range_search(MatrixView<const float> queries, double radius, const IdFilter& filter,
                           std::size_t max_results = default_max_range_results,
                           const ExecuteOptions& options = {}) const;

  /// Coalescing (serving many threads): concurrent search() calls of up to 32 queries in all
  /// and k <= 256 are merged into one GPU batch, so that one scan of the base serves them all.
  /// A caller alone never waits (no other search of this index running: it runs at once);
  /// while one runs, callers gather until it finishes, the batch is full or `window` passed
  /// since the first of them came, whichever is first. Each caller gets exactly the results
  /// of its own search (its own k, exact, same ties), its own timeout and cancellation (it
  /// leaves the batch; the others go on), and errors for its own bad input alone (checked
  /// before it joins). Filtered searches gather only with searches of an equal filter
  /// (IdFilter::operator==; copies of one filter are equal at once), unfiltered ones with
  /// unfiltered ones. Default 500 us; 0 turns coalescing off; negative: invalid_argument.
  /// Coalesced results report 0 second_pass_queries/direct_pass_queries (the batch's are not
  /// split per caller). Thread-safe.
  void set_coalescing_window(std::chrono::nanoseconds window);
  std::chrono::nanoseconds coalescing_window() const;

  /// Removes every row whose label is in `ids` (any order; labels not in the index, and
  /// repeats, are ignored) and returns how many rows went. The other rows keep their labels
  /// and order; their storage is compacted on the GPU (positions, as reconstruct() takes
  /// them, close up). The next add() numbers on as if nothing had been removed.
  std::size_t remove_ids(std::span<const std::int64_t> ids);

  /// The stored vectors of `rows` (positions in insertion order, each < size()), rows.size() x
  /// dim floats read back from the GPU, in the order given. Cosine indexes store each row scaled
  /// by a power of two (docs/exactness.md): a row comes back with that scale, which changes no
  /// cosine. A uint8/int8 index gives its rows widened to float32 (exact). invalid_argument
  /// naming a row out of range. Thread-safe as search is.
  std::vector<float> reconstruct(std::span<const std::size_t> rows) const;

  std::size_t size() const noexcept;
  std::size_t dim() const noexcept;
  Metric metric() const noexcept;
  ElementType element_type() const noexcept;
  /// Bytes of device memory the index's rows take: the rows as stored (whole chunks, so up to
  /// a chunk's spare capacity beyond size() rows), their norms and any float16 copy. Not the
  /// working memory of searches, which the context's engine keeps and reuses. 0 after reset().
  /// Thread-safe as size().
  std::uint64_t device_bytes() const;
  void reset();

  void save(const std::filesystem::path& path) const;
  static FlatIndex load(Context& context, const std::filesystem::path& path);

 private:
  explicit FlatIndex(std::unique_ptr<detail::FlatIndexImpl> impl) noexcept;
  std::unique_ptr<detail::FlatIndexImpl> impl_;
};

}  // namespace vecaccel
