#pragma once
// One query batch's command buffer: the base cut into tiles of the plan's width, the screen
// (distance tiles or the fused kernel, per-tile selection and the running merge of candidates)
// and the exact top k (float64 re-ranking, selection, the certificate's inputs). KnnEngine
// records them between the copies at the batch's edges.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "knn_engine.hpp"
#include "knn_plan.hpp"
#include "vecaccel/compute_encoder.hpp"
#include "vecaccel/device.hpp"
#include "vecaccel/metric.hpp"

namespace vecaccel::detail {

/// Base rows of one chunk that land in a tile from column `column` on.
struct Piece {
  const BaseChunk* chunk;
  std::uint32_t chunk_row;
  std::uint32_t rows;
  std::uint32_t column;
};
/// Consecutive base rows (labels first_label..) that share one selection and one merge.
struct Tile {
  std::size_t first_label = 0;
  std::uint32_t cols = 0;
  std::vector<Piece> pieces;
};

/// Cuts the chunks' rows into tiles of tile_cols columns, the first of first_cols; a tile may
/// span chunks if allowed.
std::vector<Tile> plan_tiles(std::span<const BaseChunk> chunks, std::uint32_t first_cols,
                             std::uint32_t tile_cols, bool span_chunks);

/// What one query batch's command buffer records, beside the copies at its edges.
struct BatchEncoding {
  Device& device;
  const KnnPlan& plan;
  std::span<const BaseChunk> chunks;
  std::span<const std::uint32_t> chunk_labels;  // global label of each chunk's first row
  std::span<const Tile> tiles;
  const KnnScratch& scratch;
  std::uint32_t queries, k, dim;
  Metric metric;
  /// A masked search: scratch.allowed holds the filter's bits (mask_rows.comp).
  bool masked = false;
  /// The centre of the float16 copies this screen reads (l2), or none: scratch.centred_queries
  /// holds the queries minus it, and chunks whose copy is about it are screened centred.
  const RowCentre* centre = nullptr;
};

/// The screen: the best plan.screen_k candidates of each query by float32 value, written to
/// scratch.out_values / out_labels, rows screen_k apart. Starts with the query norms.
void encode_screen(ComputeEncoder& e, const BatchEncoding& b);

/// Re-ranks the screen's candidates by their float64 value from the rows themselves and
/// writes the best k, the exact k-th value and the screen's last value (the certificate's
/// inputs).
void encode_exact_top_k(ComputeEncoder& e, const BatchEncoding& b);

}  // namespace vecaccel::detail
