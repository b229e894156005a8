#pragma once
// The kNN planning function: from the shape of a search (base rows, dimension, queries, k,
// metric) and the device, every choice the engine makes — how many candidates the screen
// proposes, which screen kernel, query batch, tile widths, selection method. Pure and
// deterministic, so tests pin its choices without a GPU; kernels never special-case shapes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "certificate.hpp"
#include "vecaccel/device.hpp"
#include "vecaccel/element_type.hpp"
#include "vecaccel/metric.hpp"

namespace vecaccel::detail {

struct KnnShape {
  std::size_t base_rows = 0;
  std::size_t dim = 0;
  std::size_t queries = 0;
  std::size_t k = 0;
  Metric metric = Metric::l2;
  std::size_t chunk_rows = 0;  ///< rows of the largest base chunk the engine may make
  /// The least precise screen allowed: float16 lets the plan use tensor cores where the device
  /// has them; a second try of queries whose certificate failed asks for float16x3, and for
  /// l2 a last one for float32_direct.
  ScreenPrecision least_precise = ScreenPrecision::float16;
  /// Base chunks keep a float16 copy of their rows (KnnEngine::make_chunk): a few queries may
  /// stream it instead of the float32 rows (half the bytes).
  bool half_copy = false;
  /// uint8 / int8: every base chunk keeps its rows as bytes of this type (BaseChunk::bytes)
  /// and every query value is an integer within the type's range (integer_queries), so
  /// blocks of queries may take the exact integer tensor-core screen. float32: they may not.
  ElementType integer_rows = ElementType::float32;
};

struct KnnPlan {
  /// Candidates per query the screen proposes (>= k): the margin past k is what lets the
  /// certificate prove that nothing outside them can enter the top k.
  std::uint32_t screen_k = 0;
  ScreenPrecision precision = ScreenPrecision::float32;  ///< of the screen's products
  bool fused = false;  ///< fused distance + selection screen (else distance tile + select)
  /// The fused screen streams the base for a few queries (encode_knn_stream) rather than
  /// multiplying blocks (encode_knn_fused); segment is its split length.
  bool stream = false;
  bool radix = false;  ///< radix selection (k above the register-list limit)
  /// Radix selection with many workgroups per row in global memory (select_rows.hpp): the
  /// running candidates and each whole tile row, for many candidates (any number).
  bool row_select = false;
  /// The exact selection sorts its candidates in global memory: more than one workgroup's
  /// shared memory holds (max_screen_candidates).
  bool global_sort = false;
  std::uint32_t segment = 0;  ///< base columns per selection segment
  std::size_t batch = 0;      ///< queries per command buffer
  std::uint64_t tile_cols = 0;
  std::uint32_t first_cols = 0;   ///< the first tile's columns (radix: two segments)
  std::uint32_t cand_stride = 0;  ///< candidate slots per query row
  /// Device bytes per batch of scratch.
  std::uint64_t query_bytes = 0, tile_bytes = 0, candidate_bytes = 0, exact_bytes = 0;
  /// Device bytes per batch of the row selection's state and of the global sort's keys (its
  /// labels take half that); 0 where unused.
  std::uint64_t state_bytes = 0, sort_bytes = 0;
};

/// Candidates from which the screen selects with many workgroups per row (row_select).
constexpr std::uint32_t row_select_min_candidates = 256;
/// The largest k a search takes: results and labels are counted in 32 bits on the GPU. Past
/// the base's rows a search pads (label -1).
constexpr std::size_t max_search_k = 0x7fffffff;

/// Screen candidates for k over a base of base_rows rows of dimension dim: a margin that grows
/// with k (the density of distances near the k-th grows with it) and with the screen's error
/// against the distances' spread (which grows with the dimension), rounded to the selection
/// kernels' sizes, never below k nor above the base's rows (unless k is).
std::uint32_t screen_candidates(std::size_t k, std::size_t base_rows, std::size_t dim,
                                ScreenPrecision precision);

/// Base rows per workgroup of the fused screen for a batch of queries of dimension dim: short
/// enough that the splits times the query blocks keep the GPU busy, long enough to amortise
/// each workgroup's start; a power of two from 512 to 8192, shorter for long rows so that a
/// workgroup's loop turns stay within max_loop_turns (at least one block).
std::uint32_t fused_split_length(std::size_t base_rows, std::size_t batch, std::uint32_t block,
                                 std::size_t dim);

/// Columns per workgroup of the selection over a distance tile: the selection kernel's
/// default, doubled for the register-list kernel while batch x segments keeps the GPU full
/// and two rows of a segment fit tile_bytes.
std::uint32_t select_segment_length(std::uint32_t kk, std::size_t batch, std::size_t rows,
                                    std::uint64_t tile_bytes);

/// The one check of k for every search and selection: invalid_argument naming `who`, k and
/// the limits unless 1 <= k <= max_search_k.
void check_k(std::size_t k, std::string_view who);

/// Throws invalid_argument for k outside 1..max_search_k or an empty dimension, and where
/// one query's candidates would not fit the device's storage-buffer range.
KnnPlan plan_knn(const KnnShape& shape, const Capabilities& caps);

/// The screen that queries whose certificate failed after `failed` try next, if any. The
/// float16 screen's error is about 2^-9 |q||x|: where that hid the k-th neighbour's margin,
/// the three-term screen (about float32's error) usually proves it. l2 ends in direct form,
/// whose error follows the distances rather than the norms (data far from the origin); the
/// float64 direct pass takes what is left.
std::optional<ScreenPrecision> more_precise_screen(ScreenPrecision failed, Metric metric);

}  // namespace vecaccel::detail
