#pragma once
// FlatIndex: exact (brute-force) k-nearest-neighbour search over vectors kept on the GPU.
//
// Vectors stay in device memory between searches; add() appends without re-uploading what is
// there (storage grows in chunks that each fit the device's storage-buffer range). Labels are
// 64-bit ids: add() numbers rows 0, 1, 2, ...; add_with_ids() takes the caller's. search()
// results follow KnnResult's rules (sorted, ties by label, padding with -1). Thread-safe:
// searches may run concurrently; add/reset/save exclude everything else. The context must
// outlive the index.
//
// save()/load(): a versioned little-endian binary file with a checksum; a truncated, corrupt
// or foreign file (also one holding a negative id) gives Errc::io_error naming the file and
// what is wrong.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "vecaccel/context.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel {

namespace detail {
class FlatIndexImpl;
}

class FlatIndex {
 public:
  /// invalid_argument for dim 0 or above max_dim.
  FlatIndex(Context& context, std::size_t dim, Metric metric);
  FlatIndex(FlatIndex&&) noexcept;
  FlatIndex& operator=(FlatIndex&&) noexcept;
  ~FlatIndex();

  static constexpr std::size_t max_dim = 65536;

  /// vectors holds n x dim floats; NaN/Inf → invalid_argument naming the row.
  void add(std::span<const float> vectors);
  /// One id per row, each >= 0 (-1 labels padding in results): else invalid_argument naming
  /// the row and the id, and nothing is added.
  void add_with_ids(std::span<const float> vectors, std::span<const std::int64_t> ids);
  /// queries holds nq x dim floats; 1 <= k <= ops::max_k. options.stop is checked between
  /// query batches and while waiting (Errc::cancelled); options.timeout (else the context's
  /// default_timeout) bounds the whole call (Errc::timeout; nanoseconds::max(): no limit).
  /// After either, the index stays
  /// usable; GPU work already submitted finishes with its memory kept alive.
  KnnResult search(std::span<const float> queries, std::size_t k,
                   const ExecuteOptions& options = {}) const;

  /// The stored vectors of `rows` (positions in insertion order, each < size()), rows.size() x
  /// dim floats read back from the GPU, in the order given. Cosine indexes store each row scaled
  /// by a power of two (docs/exactness.md): a row comes back with that scale, which changes no
  /// cosine. invalid_argument naming a row out of range. Thread-safe as search is.
  std::vector<float> reconstruct(std::span<const std::size_t> rows) const;

  std::size_t size() const noexcept;
  std::size_t dim() const noexcept;
  Metric metric() const noexcept;
  void reset();

  void save(const std::filesystem::path& path) const;
  static FlatIndex load(Context& context, const std::filesystem::path& path);

 private:
  explicit FlatIndex(std::unique_ptr<detail::FlatIndexImpl> impl) noexcept;
  std::unique_ptr<detail::FlatIndexImpl> impl_;
};

}  // namespace vecaccel
