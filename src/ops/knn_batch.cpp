#include "knn_batch.hpp"

#include <algorithm>

#include "kernels.hpp"
#include "row_filter.hpp"
#include "select_rows.hpp"

namespace vecaccel::detail {

/// Cuts the chunks' rows into tiles of tile_cols columns, the first of first_cols; a tile may
/// span chunks if allowed.
std::vector<Tile> plan_tiles(std::span<const BaseChunk> chunks, std::uint32_t first_cols,
                             std::uint32_t tile_cols, bool span_chunks) {
  std::vector<Tile> tiles;
  Tile current;
  std::size_t label = 0;
  const auto capacity = [&] { return tiles.empty() ? first_cols : tile_cols; };
  const auto flush = [&] {
    if (current.cols > 0) tiles.push_back(std::move(current));
    current = Tile{label, 0, {}};
  };
  for (const BaseChunk& chunk : chunks) {
    for (std::size_t r = 0; r < chunk.rows;) {
      const auto take = static_cast<std::uint32_t>(
          std::min<std::size_t>(chunk.rows - r, capacity() - current.cols));
      current.pieces.push_back({&chunk, static_cast<std::uint32_t>(r), take, current.cols});
      current.cols += take;
      r += take;
      label += take;
      if (current.cols == capacity()) flush();
    }
    if (!span_chunks) flush();
  }
  flush();
  return tiles;
}

namespace {

/// The distance kernel's arguments for one piece of a tile.
DistanceArgs piece_distances(const BatchEncoding& b, const Piece& piece) {
  const KnnScratch& s = b.scratch;
  const bool half_copies = b.plan.precision == ScreenPrecision::half_copies;
  // Chunks without a float16 copy (or with one about another centre) are read in float32,
  // which errs less than the copy.
  const bool half = (b.plan.precision == ScreenPrecision::half_base || half_copies) &&
                    piece.chunk->halves.valid() && piece.chunk->centre.get() == b.centre;
  const bool centred = half && b.centre != nullptr;
  const Buffer& queries = centred ? s.centred_queries : s.queries;
  return DistanceArgs{.queries = half && half_copies ? s.query_halves : queries,
                      .base = half ? piece.chunk->halves : piece.chunk->vectors,
                      .query_norms = centred ? s.centred_query_norms : s.query_norms,
                      .base_norms = centred ? piece.chunk->centred_norms : piece.chunk->norms,
                      .out = s.tile,
                      .base_scales = half ? piece.chunk->half_scales : Buffer{},
                      .query_scales = half && half_copies ? s.query_scales : Buffer{},
                      .num_queries = b.queries,
                      .num_base = piece.rows,
                      .dim = b.dim,
                      .query_offset = 0,
                      .base_offset = piece.chunk_row,
                      .out_stride = static_cast<std::uint32_t>(b.plan.tile_cols),
                      .out_offset = piece.column,
                      .metric = b.metric,
                      .l2_direct = b.plan.precision == ScreenPrecision::float32_direct};
}

/// The integer screen's arguments for one piece: the queries' and the chunk's bytes and their
/// exact norms (the plan takes it only where every chunk keeps them).
DistanceArgs integer_piece_distances(const BatchEncoding& b, const Piece& piece) {
  DistanceArgs args = piece_distances(b, piece);
  args.queries = b.scratch.query_bytes;
  args.query_norms = b.scratch.query_byte_norms;
  args.base = piece.chunk->bytes;
  args.base_norms = piece.chunk->byte_norms;
  return args;
}

/// The distance tile of one tile's pieces, followed by the barrier its selection needs.
void encode_tile_distances(ComputeEncoder& e, const BatchEncoding& b, const Tile& tile) {
  for (const Piece& piece : tile.pieces) {
    if (b.plan.precision == ScreenPrecision::integer) {
      encode_distances_int_coop(b.device, e, integer_piece_distances(b, piece),
                                piece.chunk->byte_type);
      continue;
    }
    const DistanceArgs args = piece_distances(b, piece);
    if (b.plan.precision == ScreenPrecision::float32 ||
        b.plan.precision == ScreenPrecision::float32_direct ||
        b.plan.precision == ScreenPrecision::half_base) {
      encode_distances(b.device, e, args);
    } else if (args.query_scales.valid()) {
      encode_distances_half_coop(b.device, e, args, half_coop_shape(b.queries));
    } else {
      encode_distances_coop(
          b.device, e, args,
          b.plan.precision == ScreenPrecision::float16x3 ? CoopTerms::three : CoopTerms::one);
    }
  }
  e.barrier({b.scratch.tile}, Stage::dispatch, Stage::dispatch);
  if (!b.masked) return;
  // Denied rows become the worst value before any selection reads the tile.
  encode_mask_rows(b.device, e,
                   {.values = b.scratch.tile,
                    .allowed = b.scratch.allowed,
                    .rows = b.queries,
                    .cols = tile.cols,
                    .stride = static_cast<std::uint32_t>(b.plan.tile_cols),
                    .label_offset = static_cast<std::uint32_t>(tile.first_label),
                    .largest = !smaller_is_better(b.metric)});
  e.barrier({b.scratch.tile}, Stage::dispatch, Stage::dispatch);
}

/// With fewer allowed rows than screen candidates, denied rows fill the last candidate slots
/// at the worst value: they become missing candidates (label -1), which the re-ranking skips
/// and the exact selection pads with.
void encode_unmask_candidates(ComputeEncoder& e, const BatchEncoding& b) {
  if (!b.masked) return;
  encode_mask_rows(b.device, e,
                   {.values = b.scratch.out_values,
                    .labels = b.scratch.out_labels,
                    .allowed = b.scratch.allowed,
                    .rows = b.queries,
                    .cols = b.plan.screen_k,
                    .stride = b.plan.screen_k,
                    .largest = !smaller_is_better(b.metric)});
  e.barrier({b.scratch.out_values, b.scratch.out_labels}, Stage::dispatch, Stage::dispatch);
}

/// The screen of plan.row_select: per tile, the best kk of the running candidates and the
/// whole tile row, selected with many workgroups per row. The tiles alternate between two
/// candidate buffers so that the last one writes out_values / out_labels.
void encode_row_selected_screen(ComputeEncoder& e, const BatchEncoding& b) {
  const KnnScratch& s = b.scratch;
  const std::uint32_t kk = b.plan.screen_k;
  const std::size_t tiles = b.tiles.size();
  const auto target = [&](std::size_t t) {
    const bool out = (tiles - 1 - t) % 2 == 0;
    return std::pair{out ? s.out_values : s.cand_values, out ? s.out_labels : s.cand_labels};
  };
  for (std::size_t t = 0; t < tiles; ++t) {
    const Tile& tile = b.tiles[t];
    encode_tile_distances(e, b, tile);
    const auto [values, labels] = target(t);
    const auto [running_values, running_labels] =
        t == 0 ? std::pair{Buffer{}, Buffer{}} : target(t - 1);
    encode_row_select(b.device, e,
                      {.a_values = running_values,
                       .a_labels = running_labels,
                       .a_cols = t == 0 ? 0 : kk,
                       .a_stride = kk,
                       .b_values = s.tile,
                       .b_cols = tile.cols,
                       .b_stride = static_cast<std::uint32_t>(b.plan.tile_cols),
                       .b_label_offset = static_cast<std::uint32_t>(tile.first_label),
                       .rows = b.queries,
                       .k = kk,
                       .largest = !smaller_is_better(b.metric),
                       .bounded = t > 0,
                       .out_values = values,
                       .out_labels = labels,
                       .out_stride = kk,
                       .state = s.select_state});
    e.barrier({s.tile, s.cand_values, s.cand_labels, s.out_values, s.out_labels, s.select_state},
              Stage::dispatch, Stage::dispatch);
  }
}

}  // namespace

/// The screen: the best plan.screen_k candidates of each query by float32 value, written to
/// scratch.out_values / out_labels, rows screen_k apart. Starts with the query norms.
void encode_screen(ComputeEncoder& e, const BatchEncoding& b) {
  const KnnScratch& s = b.scratch;
  const KnnPlan& plan = b.plan;
  const std::uint32_t kk = plan.screen_k;
  const bool largest = !smaller_is_better(b.metric);
  const auto tile_cols = static_cast<std::uint32_t>(plan.tile_cols);
  encode_row_norms(b.device, e, s.queries, 0, b.queries, b.dim, s.query_norms, 0);
  if (b.centre != nullptr) {
    encode_row_norms(b.device, e, s.centred_queries, 0, b.queries, b.dim, s.centred_query_norms, 0);
  }
  if (plan.precision == ScreenPrecision::half_copies) {
    // The queries' copy goes with the chunks' copies: centred where they are.
    encode_half_rows(b.device, e, b.centre != nullptr ? s.centred_queries : s.queries, 0, b.queries,
                     b.dim, {s.query_halves, s.query_scales, s.query_half_errors});
  }
  e.barrier({s.query_norms, s.centred_query_norms, s.query_halves, s.query_scales}, Stage::dispatch,
            Stage::dispatch);
  if (plan.row_select) {
    encode_row_selected_screen(e, b);
    encode_unmask_candidates(e, b);
    return;
  }
  for (std::size_t t = 0; t < b.tiles.size(); ++t) {
    const Tile& tile = b.tiles[t];
    const auto first_label = static_cast<std::uint32_t>(tile.first_label);
    // Each row's candidate slots: the running best kk (from the second tile on), then kk per
    // segment of this tile. Every slot a merge reads has been written.
    const std::uint32_t running = t == 0 ? 0 : kk;
    // The running kk-th best: later tiles keep only what can still beat it.
    const Buffer bound = t == 0 ? Buffer{} : s.cand_values;
    std::uint32_t segs = 0;
    if (plan.fused) {
      for (const Piece& piece : tile.pieces) {
        const auto encode = plan.stream ? encode_knn_stream : encode_knn_fused;
        segs += encode(b.device, e,
                       {.distances = piece_distances(b, piece),
                        .split_length = plan.segment,
                        .k = kk,
                        .largest = largest,
                        .label_offset = first_label + piece.column,
                        .out_values = s.cand_values,
                        .out_labels = s.cand_labels,
                        .out_stride = plan.cand_stride,
                        .out_offset = running + kk * segs,
                        .bound = bound,
                        .bound_offset = kk - 1,
                        .bound_stride = plan.cand_stride,
                        .allowed = b.masked ? s.allowed : Buffer{}});
      }
    } else {
      encode_tile_distances(e, b, tile);
      segs = encode_select(b.device, e,
                           {.values = s.tile,
                            .rows = b.queries,
                            .cols = tile.cols,
                            .in_stride = tile_cols,
                            .in_offset = 0,
                            .segment_length = plan.segment,
                            .k = kk,
                            .largest = largest,
                            .label_offset = first_label,
                            .out_values = s.cand_values,
                            .out_labels = s.cand_labels,
                            .out_stride = plan.cand_stride,
                            .out_offset = running,
                            .bound = bound,
                            .bound_offset = kk - 1,
                            .bound_stride = plan.cand_stride});
    }
    e.barrier({s.tile, s.cand_values, s.cand_labels}, Stage::dispatch, Stage::dispatch);
    // Running merge: the best kk so far sit in each row's first kk slots; the last merge
    // writes rows of exactly kk apart for the re-ranking.
    const bool last = t + 1 == b.tiles.size();
    encode_select(b.device, e,
                  {.values = s.cand_values,
                   .labels = s.cand_labels,
                   .rows = b.queries,
                   .cols = running + segs * kk,
                   .in_stride = plan.cand_stride,
                   .in_offset = 0,
                   .segment_length = 0,
                   .k = kk,
                   .largest = largest,
                   .out_values = last ? s.out_values : s.cand_values,
                   .out_labels = last ? s.out_labels : s.cand_labels,
                   .out_stride = last ? kk : plan.cand_stride,
                   .out_offset = 0});
    e.barrier({s.cand_values, s.cand_labels}, Stage::dispatch, Stage::dispatch);
  }
  e.barrier({s.out_values, s.out_labels}, Stage::dispatch, Stage::dispatch);
  encode_unmask_candidates(e, b);
}

/// Re-ranks the screen's candidates by their float64 value from the rows themselves and
/// writes the best k, the exact k-th value and the screen's last value (the certificate's
/// inputs).
void encode_exact_top_k(ComputeEncoder& e, const BatchEncoding& b) {
  const KnnScratch& s = b.scratch;
  const std::uint32_t kk = b.plan.screen_k;
  for (std::size_t c = 0; c < b.chunks.size(); ++c) {
    encode_rerank(b.device, e,
                  {.queries = s.queries,
                   .base = b.chunks[c].vectors,
                   .labels = s.out_labels,
                   .exact = s.exact,
                   .num_queries = b.queries,
                   .slots = kk,
                   .dim = b.dim,
                   .label_begin = b.chunk_labels[c],
                   .chunk_rows = static_cast<std::uint32_t>(b.chunks[c].rows),
                   .stride = kk,
                   .metric = b.metric});
  }
  e.barrier({s.exact}, Stage::dispatch, Stage::dispatch);
  if (b.plan.global_sort) {
    encode_sort_pairs(b.device, e,
                      {.keys = s.exact,
                       .labels = s.out_labels,
                       .rows = b.queries,
                       .count = kk,
                       .stride = kk,
                       .k = b.k,
                       .largest = !smaller_is_better(b.metric),
                       .sort_keys = s.sort_keys,
                       .sort_labels = s.sort_labels,
                       .out_values = s.final_values,
                       .out_labels = s.final_labels,
                       .screen = s.out_values,
                       .certificate = s.certificate});
    return;
  }
  encode_exact_select(b.device, e,
                      {.exact = s.exact,
                       .labels = s.out_labels,
                       .screen = s.out_values,
                       .out_values = s.final_values,
                       .out_labels = s.final_labels,
                       .certificate = s.certificate,
                       .num_queries = b.queries,
                       .candidates = kk,
                       .k = b.k,
                       .stride = kk,
                       .largest = !smaller_is_better(b.metric)});
}

}  // namespace vecaccel::detail
