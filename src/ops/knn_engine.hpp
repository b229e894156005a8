#pragma once
// The GPU kNN machinery shared by ops::knn and FlatIndex: base vectors live in chunks (each
// within the device's storage-buffer range) with their squared norms; a search runs distance
// tiles, per-tile top-k selection and a final merge in one command buffer per query batch.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "vecaccel/buffer_pool.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel::detail {

/// rows x dim floats and their squared norms, resident on the GPU. `capacity` rows fit.
struct BaseChunk {
  Buffer vectors;
  Buffer norms;
  std::size_t rows = 0;
  std::size_t capacity = 0;
};

/// Throws invalid_argument naming the first row holding NaN or Inf (`what`: "query", "base").
void check_finite(std::span<const float> values, std::size_t dim, std::string_view what,
                  std::size_t first_row = 0);

class KnnEngine {
 public:
  KnnEngine(Context& context, std::size_t dim, Metric metric);

  /// Rows per chunk: as many as fit the storage-buffer range (and a sane upper bound).
  std::size_t chunk_rows() const noexcept { return chunk_rows_; }

  /// A new empty chunk with room for chunk_rows() rows (private device memory).
  BaseChunk make_chunk(std::size_t capacity) const;
  /// Appends vectors (n x dim, host) to chunk at its end (uploads through the pool and
  /// computes their norms on the GPU). The chunk must have room.
  void append(BaseChunk& chunk, std::span<const float> vectors) const;
  /// Copies a chunk's rows into a new, larger chunk on the GPU (no host round trip).
  BaseChunk grow(const BaseChunk& chunk, std::size_t new_capacity) const;

  /// The k best base rows for each of the nq queries over all chunks; labels are global row
  /// numbers (chunk i starts at the sum of earlier chunks' rows). Validates the queries.
  /// options.stop is checked between query batches and while waiting (Errc::cancelled);
  /// options.timeout (else the context's default_timeout) bounds the whole call
  /// (Errc::timeout). Work already submitted when either happens finishes on the GPU with
  /// its scratch kept alive; the engine stays usable.
  KnnResult search(std::span<const float> queries, std::span<const BaseChunk> chunks, std::size_t k,
                   const ExecuteOptions& options = {}) const;

  /// Waits for searches that were abandoned (timeout, cancel) to release their scratch.
  ~KnnEngine();
  KnnEngine(const KnnEngine&) = delete;
  KnnEngine& operator=(const KnnEngine&) = delete;

 private:
  /// Device-local working memory of one search: distance tile, candidates, the query batch
  /// and its norms. Kept for reuse (a search waits for its GPU work before it returns); one
  /// set per concurrent search.
  struct Scratch {
    Buffer queries, query_norms, tile, cand_values, cand_labels, out_values, out_labels;
  };
  struct ScratchSizes {
    std::uint64_t queries, query_norms, tile, candidates, results;
  };
  std::unique_ptr<Scratch> take_scratch(const ScratchSizes& sizes) const;
  void give_back(std::unique_ptr<Scratch> scratch) const;
  /// Keeps scratch of an abandoned search until its submission completes.
  void retire(std::unique_ptr<Scratch> scratch, Submission<void> done) const;
  Buffer device_buffer(std::uint64_t bytes, const char* label) const;

  Context& context_;
  std::size_t dim_;
  Metric metric_;
  std::size_t chunk_rows_;
  mutable std::mutex scratch_mutex_;
  mutable std::vector<std::unique_ptr<Scratch>> scratch_;
  struct Retired {
    std::unique_ptr<Scratch> scratch;
    Submission<void> done;
  };
  mutable std::vector<Retired> retired_;
};

}  // namespace vecaccel::detail
