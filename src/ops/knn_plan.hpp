#pragma once
// The kNN planning function: from the shape of a search (base rows, dimension, queries, k,
// metric) and the device, every choice the engine makes — how many candidates the screen
// proposes, which screen kernel, query batch, tile widths, selection method. Pure and
// deterministic, so tests pin its choices without a GPU; kernels never special-case shapes.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "certificate.hpp"
#include "vecaccel/device.hpp"
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
  /// has them; a second try of queries whose certificate failed asks for float16x3.
  ScreenPrecision least_precise = ScreenPrecision::float16;
  /// Base chunks keep a float16 copy of their rows (KnnEngine::make_chunk): a few queries may
  /// stream it instead of the float32 rows (half the bytes).
  bool half_copy = false;
};

struct KnnPlan {
  /// Candidates per query the screen proposes (>= k): the margin past k is what lets the
  /// certificate prove that nothing outside them can enter the top k.
  std::uint32_t screen_k = 0;
  ScreenPrecision precision = ScreenPrecision::float32;  ///< of the screen's products
  bool fused = false;         ///< fused distance + selection screen (else distance tile + select)
  bool radix = false;         ///< radix selection (k above the register-list limit)
  std::uint32_t segment = 0;  ///< base columns per selection segment
  std::size_t batch = 0;      ///< queries per command buffer
  std::uint64_t tile_cols = 0;
  std::uint32_t first_cols = 0;   ///< the first tile's columns (radix: two segments)
  std::uint32_t cand_stride = 0;  ///< candidate slots per query row
  /// Device bytes per batch of scratch.
  std::uint64_t query_bytes = 0, tile_bytes = 0, candidate_bytes = 0, exact_bytes = 0;
};

/// Screen candidates for k over a base of base_rows rows of dimension dim: a margin that grows
/// with k (the density of distances near the k-th grows with it) and with the screen's error
/// against the distances' spread (which grows with the dimension), rounded to the selection
/// kernels' sizes, never above `limit` (max_screen_candidates of the device) nor below k.
std::uint32_t screen_candidates(std::size_t k, std::size_t base_rows, std::size_t dim,
                                ScreenPrecision precision, std::uint32_t limit);

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
/// the limits unless 1 <= k <= ops::max_k.
void check_k(std::size_t k, std::string_view who);

/// Throws invalid_argument for k outside 1..ops::max_k or an empty dimension.
KnnPlan plan_knn(const KnnShape& shape, const Capabilities& caps);

}  // namespace vecaccel::detail
