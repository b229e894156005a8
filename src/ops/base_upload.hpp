#pragma once
// Ingestion of base rows into the kNN engine's chunks: host rows (memory or a mapped file;
// float32, uint8 or int8) are checked and staged by several threads into reused host-visible
// staging buffers (device-local where the device offers it), and copied to the GPU while the
// next slice is staged. Compact (uint8/int8) rows stay one byte per element on the GPU in a
// CompactChunk and are widened to float32 on the GPU when searched.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "knn_engine.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/element_type.hpp"
#include "vecaccel/mapped_vectors.hpp"
#include "vecaccel/metric.hpp"
#include "work_crew.hpp"

namespace vecaccel::detail {

/// Base rows on the host: back-to-back rows in memory, or a mapped file.
struct RowSource {
  ElementType type = ElementType::float32;
  std::size_t dim = 0;
  std::span<const std::byte> bytes;  ///< rows back to back (when mapped is null)
  const MappedVectors* mapped = nullptr;

  std::size_t rows() const;
  std::size_t row_bytes() const { return dim * element_size(type); }
  /// Rows [first, first + count) in place when they lie back to back; else empty.
  std::span<const std::byte> view(std::size_t first, std::size_t count) const;
  /// Copies rows [first, first + count) packed into out (checks TEXMEX row headers).
  void copy(std::size_t first, std::size_t count, std::byte* out) const;
  /// Row i widened to float (exact).
  std::vector<float> row(std::size_t i) const;
};

/// uint8/int8 rows on the GPU, one byte per element. `capacity` rows fit.
struct CompactChunk {
  Buffer bytes;
  std::size_t rows = 0;
  std::size_t capacity = 0;
  double max_norm = 0.0;  ///< largest float64 norm of the rows
};

/// Where an uploader's time went, in seconds summed over its uploads (bench_ingest reports
/// it: host staging, waits for the GPU, submissions, staging allocations).
struct UploadTimes {
  double stage = 0;
  double wait = 0;
  double submit = 0;
  double allocate = 0;
  std::uint64_t bytes = 0;  ///< staged
};

/// Checks float rows (n x dim) as BaseUploader::append does — NaN/Inf, and for l2 and inner
/// product squared norms the float32 screen could overflow — on up to 32 threads; the error
/// names row first_label + i, the first bad one.
void check_float_rows(std::span<const float> rows, std::size_t dim, Metric metric,
                      std::size_t first_label);

/// A row's float64 norms as staged: plain, and about its chunk's centre (0 without one).
struct RowNorms {
  double norm = 0.0;
  double centred = 0.0;
};
/// Each norm's larger.
inline RowNorms max(const RowNorms& a, const RowNorms& b) {
  return {std::max(a.norm, b.norm), std::max(a.centred, b.centred)};
}

class BaseUploader {
 public:
  /// Large enough that a slice's GPU copy amortises its submission, small enough that three
  /// of them (one staged, one copying, one waiting) cost little memory.
  static constexpr std::uint64_t default_slice_bytes = std::uint64_t{64} << 20;

  /// Where staging buffers live: `host` is the context's shared memory (host-cached system
  /// memory on a discrete GPU, which the GPU's copy reads over the bus); `device` is
  /// device-local memory the host maps (resizable BAR) where the device has it, else as
  /// `host`. `host` is the default: on an H200 (PCIe 5) the host staged into it at 39 GB/s,
  /// into the BAR at 27 GB/s (BENCHMARKS.md, "Ingestion").
  enum class Staging { device, host };

  /// Stages slices of up to slice_bytes (three staging buffers of that size at most).
  BaseUploader(Context& context, std::size_t dim, Metric metric, std::size_t chunk_rows,
               std::uint64_t slice_bytes = default_slice_bytes, Staging staging = Staging::host);

  /// Appends rows [first, first + count) of source (float32, or compact rows widened on the
  /// GPU) to chunk's end, checking them as KnnEngine::check_base does, messages naming row
  /// first_label + i. The chunk must have room. On an error, rows before the failing slice
  /// may have been written past chunk.rows, which stays unchanged.
  void append(BaseChunk& chunk, const RowSource& source, std::size_t first, std::size_t count,
              std::size_t first_label);
  /// Appends compact rows (source.type uint8/int8) as bytes to a CompactChunk, likewise.
  void append(CompactChunk& chunk, const RowSource& source, std::size_t first, std::size_t count);

  /// A new empty CompactChunk with room for `capacity` rows (at most chunk_rows).
  CompactChunk make_compact_chunk(std::size_t capacity) const;
  UploadTimes times() const;
  /// Records the widening of compact's rows into out's vectors and their norms into out's
  /// norms (out must have room), and where out has byte_norms (keep_integer_rows) the rows'
  /// exact squared norms into them; the caller then sets out from compact (attach_widened)
  /// once it completes.
  void encode_widen(ComputeEncoder& encoder, const CompactChunk& compact, ElementType type,
                    const BaseChunk& out) const;
  /// Gives a chunk that widened compact rows will fill room for their exact squared norms
  /// (BaseChunk::byte_norms, 4 bytes a row) where the device runs the integer screen at this
  /// dimension (int_coop_distances_supported): the screen then reads the compact bytes
  /// themselves (shared, not copied) beside them. Elsewhere it leaves the chunk unchanged.
  void keep_integer_rows(BaseChunk& chunk) const;

 private:
  /// Stages rows into the next staging buffer (waiting until its last copy completed) and
  /// submits `record` to move them to the GPU. Returns the staged rows' largest norms.
  template <class StageRows, class Record>
  RowNorms upload(std::size_t first, std::size_t count, std::size_t row_stage_bytes,
                  StageRows&& stage, Record&& record);
  /// invalid_argument unless source has this dimension and a fitting type and count rows
  /// fit a chunk of `rows` of `capacity`.
  void check_append(const RowSource& source, bool type_fits, std::size_t count, std::size_t rows,
                    std::size_t capacity) const;
  Buffer& staging_for(std::uint64_t bytes);
  void wait_all();

  Context& context_;
  std::size_t dim_;
  Metric metric_;
  std::size_t chunk_rows_;
  std::uint64_t slice_bytes_;
  Staging staging_;
  std::mutex mutex_;  // one upload at a time per uploader (they share the staging ring)
  struct Slot {
    Buffer buffer;
    std::optional<Submission<void>> copied;
  };
  std::vector<Slot> ring_;
  std::size_t next_ = 0;
  UploadTimes times_;
};

/// Sets a chunk widened from compact (encode_widen, completed) to its rows: their count and
/// largest norm, and where it keeps integer rows (keep_integer_rows) compact's bytes.
void attach_widened(BaseChunk& chunk, const CompactChunk& compact, ElementType type);

/// Device-memory bytes the engine may use: VECACCEL_MEMORY_BUDGET (<bytes>[K|M|G]) when set,
/// else the device-local budget left (VK_EXT_memory_budget) or the device-local heaps' size.
/// A malformed variable: invalid_argument naming it.
std::uint64_t device_memory_budget(Context& context);

}  // namespace vecaccel::detail
