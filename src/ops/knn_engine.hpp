#pragma once
// The GPU kNN machinery shared by ops::knn and FlatIndex: base vectors live in chunks (each
// within the device's storage-buffer range) with their squared norms; a search runs distance
// tiles, per-tile top-k selection and a final merge in one command buffer per query batch.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <string_view>
#include <vector>

#include "knn_plan.hpp"
#include "row_centre.hpp"
#include "row_filter.hpp"
#include "time_limit.hpp"
#include "vecaccel/buffer_pool.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/element_type.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel::detail {

/// rows x dim floats and their squared norms, resident on the GPU. `capacity` rows fit.
struct BaseChunk {
  Buffer vectors;
  Buffer norms;
  /// Optional (valid when made so): the rows' float16 copy, its row scales and the copy's
  /// measured relative error of each row (encode_half_rows), which searches of few queries
  /// stream instead of `vectors`.
  Buffer halves, half_scales, half_errors;
  /// Optional, l2 copies only: the copy is of the rows minus this centre (row_centre.hpp),
  /// and centred_norms holds their float32 squared norms, which the screen reads with it.
  std::shared_ptr<const RowCentre> centre;
  Buffer centred_norms;
  /// Optional, rows of a uint8 / int8 base (byte_type): the rows as stored, one byte an
  /// element (a CompactChunk's buffer, shared: no copy), and their exact squared norms as
  /// uint32 (encode_byte_norms), which the integer screen reads instead of `vectors`.
  Buffer bytes, byte_norms;
  ElementType byte_type = ElementType::float32;
  std::size_t rows = 0;
  std::size_t capacity = 0;
  /// The largest norm of the rows as stored (float64): the certificate's bound needs it.
  double max_norm = 0.0;
  /// With a centre: the largest float64 norm of the centred rows (centred_norm).
  double max_centred_norm = 0.0;
  /// With a copy: the largest of half_errors over the rows (read_half_errors), as the
  /// float32 kernel computed it; infinite until measured (the certificate then assumes the
  /// worst case of every element).
  double max_half_error = INFINITY;

  /// Folds rows' largest norms (plain and centred) into the chunk's.
  void note_norms(double norm, double centred) {
    max_norm = std::max(max_norm, norm);
    max_centred_norm = std::max(max_centred_norm, centred);
  }
};

/// Records the float16 copy of a chunk's rows [first, first + rows) where it keeps one (after
/// a barrier that makes the rows visible to dispatches).
void encode_chunk_halves(Device& device, ComputeEncoder& encoder, const BaseChunk& chunk,
                         std::size_t first, std::size_t rows, std::size_t dim);
/// Folds the copy's measured errors of rows [first, first + rows) into chunk.max_half_error
/// (from first = 0: replaces it), once their encode_chunk_halves has completed (reads them
/// back; nothing without a copy).
void read_half_errors(Context& context, BaseChunk& chunk, std::size_t first, std::size_t rows);

/// One time limit and stop token for a whole search: every wait gets what is left of it.
struct Deadline {
  std::chrono::steady_clock::time_point at;
  std::chrono::nanoseconds limit;
  std::stop_token stop;

  /// A deadline `limit` from now; no limit when the caller gave none (a search never falls
  /// back on the context's default_timeout). nanoseconds::max() (or anything past the clock's
  /// range) never expires.
  static Deadline after(std::optional<std::chrono::nanoseconds> limit, std::stop_token stop);
  /// What is left (no_time_limit when unlimited: never the context's default_timeout).
  WaitOptions wait_options() const;
  /// wait_options() for an execute() of the search's own work.
  ExecuteOptions execute_options() const;
  /// Throws cancelled (naming `progress`) when a stop was requested.
  void check_stop(std::string_view progress) const;
  /// Waits for the submission; a timeout names the whole call's limit.
  void wait(const SubmissionBase& submission, std::string_view what) const;
  /// The timeout error of `what`, naming the whole call's limit.
  Error timeout_error(std::string_view what) const;
};

/// Device-local working memory of one query batch: the queries and their norms, distance
/// tile, candidates, screened top k', their exact values, the results and the certificate's
/// inputs. Kept for reuse; one set per batch in flight.
struct KnnScratch {
  Buffer queries, query_norms, tile, cand_values, cand_labels, out_values, out_labels, exact,
      final_values, final_labels, certificate;
  /// The queries' float16 copy and its measured errors (ScreenPrecision::half_copies).
  Buffer query_halves, query_scales, query_half_errors;
  /// The queries as bytes and their exact squared norms (uint32; ScreenPrecision::integer).
  Buffer query_bytes, query_byte_norms;
  /// The queries minus the centre of the float16 copies a screen reads (l2), and their norms.
  Buffer centred_queries, centred_query_norms;
  /// Many candidates: the row selection's state, the global sort's keys and labels.
  Buffer select_state, sort_keys, sort_labels;
  /// A filtered search's allowed rows (RowFilter::words), copied in at each batch's start.
  Buffer allowed;
  /// The buffers above, committed: each search's command buffer uses this set, so that
  /// scratch for many concurrent searches does not fill the context's set (256 buffers by
  /// default; found by bench/soak: 8 threads' scratch overflowed it).
  std::optional<ResidencySet> residency;
};

class KnnEngine {
 public:
  KnnEngine(Context& context, std::size_t dim, Metric metric);

  /// Rows per chunk: as many as fit the storage-buffer range (and a sane upper bound).
  std::size_t chunk_rows() const noexcept { return chunk_rows_; }

  /// A new empty chunk with room for `capacity` rows (at most chunk_rows(); private device
  /// memory), with a float16 copy of its rows if `half_copy` (the dimension must allow one:
  /// half_copy_supported), made about `centre` if given (l2 only: other metrics change
  /// under a shift, and their copies ignore it).
  BaseChunk make_chunk(std::size_t capacity, bool half_copy = false,
                       std::shared_ptr<const RowCentre> centre = nullptr) const;
  /// Bytes of device memory a chunk of `capacity` rows takes (a centred copy's norms
  /// included).
  std::uint64_t chunk_bytes(std::size_t capacity, bool half_copy) const;
  /// Checks base rows before they are added: NaN/Inf, and (l2, inner product) squared norms
  /// above max_squared_norm, each an invalid_argument naming the row (first_row + i).
  void check_base(std::span<const float> vectors, std::size_t first_row) const;
  /// Appends vectors (n x dim, host, already checked) to chunk at its end (uploads through
  /// the pool and computes their norms on the GPU). The chunk must have room. Cosine rows are
  /// stored scaled by a power of two (largest element in [1, 2)): the cosine is unchanged,
  /// and the screen's float32 norms can neither overflow nor lose the row to underflow.
  void append(BaseChunk& chunk, std::span<const float> vectors) const;
  /// Copies a chunk's rows into a new, larger chunk on the GPU (no host round trip).
  BaseChunk grow(const BaseChunk& chunk, std::size_t new_capacity) const;

  /// The k best base rows for each of the nq queries over all chunks; labels are global row
  /// numbers (chunk i starts at the sum of earlier chunks' rows). Validates the queries.
  /// Exact: queries whose certificate fails after a float16 tensor-core screen are screened
  /// again with three terms, and those still uncertified are searched directly in float64
  /// (docs/exactness.md); result.second_pass_queries counts the first group. options.stop is
  /// checked between query batches and while waiting (Errc::cancelled); options.timeout (no limit
  /// when unset) bounds the whole call (Errc::timeout). Work already submitted when
  /// either happens finishes on the GPU with its scratch kept alive; the engine stays usable.
  /// `filter` (one bit per row of the chunks; none: every row) restricts the rows returned and
  /// certified: few allowed rows are gathered into chunks of their own and searched alone,
  /// many are masked inside the screen (row_filter.hpp).
  KnnResult search(std::span<const float> queries, std::span<const BaseChunk> chunks, std::size_t k,
                   const ExecuteOptions& options = {}, const RowFilter* filter = nullptr) const;

  /// Waits for searches that were abandoned (timeout, cancel) to release their scratch.
  ~KnnEngine();
  KnnEngine(const KnnEngine&) = delete;
  KnnEngine& operator=(const KnnEngine&) = delete;

 private:
  using Scratch = KnnScratch;
  /// A masked search's filter and its bits staged for upload.
  struct Mask {
    const RowFilter& rows;
    BufferToken words;
  };
  /// Scratch for a batch of the plan; `centred`: with room for the centred queries.
  std::unique_ptr<Scratch> take_scratch(const KnnPlan& plan, std::size_t k,
                                        std::uint64_t mask_bytes, bool centred) const;
  /// The search of few allowed rows: gathered (gather), searched alone, labels mapped back.
  KnnResult search_gathered(std::span<const float> queries, std::span<const BaseChunk> chunks,
                            std::size_t k, const ExecuteOptions& options,
                            const RowFilter& filter) const;
  /// Rows `rows` (ascending positions in the chunks) copied back to back into new chunks on
  /// the GPU.
  std::vector<BaseChunk> gather(std::span<const BaseChunk> chunks,
                                std::span<const std::size_t> rows, const Deadline& deadline) const;
  /// Recomputes the rows of `queries` listed in `rows` against every base row in float64 and
  /// writes their exact top k into result (the path of a failed certificate).
  void search_direct(std::span<const float> queries, std::span<const BaseChunk> chunks,
                     std::size_t k, std::span<const std::size_t> rows, KnnResult& result,
                     const Deadline& deadline, const Mask* mask) const;
  /// One screened pass of the plan over `queries` into result's rows; returns the queries
  /// whose certificate failed.
  std::vector<std::size_t> screened_search(std::span<const float> queries,
                                           std::span<const BaseChunk> chunks, std::size_t k,
                                           const KnnPlan& plan, const Deadline& deadline,
                                           KnnResult& result, const Mask* mask) const;
  /// Screens the queries listed in `rows` again at a more precise screen (`precision`: the
  /// three-term float16 products after float16 ones, float32 after the float16 copy),
  /// overwriting their rows of result; returns those whose certificate failed again.
  std::vector<std::size_t> rescreen(std::span<const float> queries,
                                    std::span<const BaseChunk> chunks, std::size_t k,
                                    KnnShape shape, ScreenPrecision precision,
                                    std::span<const std::size_t> rows, const Deadline& deadline,
                                    KnnResult& result, const Mask* mask) const;
  /// A chunk for `rows` gathered rows: a spare one of a finished filtered search where one
  /// holds them, else a new one (of a power-of-two capacity, so that others fit it later).
  BaseChunk take_gather_chunk(std::size_t rows) const;
  /// Keeps a finished filtered search's gathered chunks as spares, up to gather_spare_bytes:
  /// a filtered search would otherwise allocate and free device memory each time.
  void keep_gather_chunks(std::vector<BaseChunk> chunks) const;
  void give_back(std::unique_ptr<Scratch> scratch) const;
  /// Keeps scratch of an abandoned search, and the base buffers its work reads, until its
  /// submission completes (the caller may drop the chunks as the error unwinds).
  void retire(std::unique_ptr<Scratch> scratch, Submission<void> done,
              std::span<const BaseChunk> chunks) const;

  Context& context_;
  std::size_t dim_;
  Metric metric_;
  std::size_t chunk_rows_;
  mutable std::mutex scratch_mutex_;
  mutable std::vector<std::unique_ptr<Scratch>> scratch_;
  struct Retired {
    std::unique_ptr<Scratch> scratch;
    Submission<void> done;
    std::vector<Buffer> base;
  };
  mutable std::vector<Retired> retired_;
  mutable std::vector<BaseChunk> gather_spares_;  // under scratch_mutex_
};

}  // namespace vecaccel::detail
