#include "knn_plan.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <string>

#include "kernels.hpp"
#include "select_rows.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::detail {
namespace {

/// Distance tiles: large enough that per-tile costs (a barrier drains the GPU three times per
/// tile) stay small, small enough to leave the device's memory to the data: 1/64 of it,
/// between 64 MiB and 1 GiB.
std::uint64_t tile_budget(const Capabilities& caps) {
  return std::clamp<std::uint64_t>(caps.device_local_memory / 64, 64ull << 20, 1ull << 30);
}

/// Base rows per workgroup of the fused kernel, at most: enough blocks per workgroup that
/// warming its lists up costs little...
constexpr std::uint32_t fused_split = 8192;
/// ...and at least, when a small query batch needs shorter splits to fill the GPU with
/// workgroups (one per split and query block).
constexpr std::uint32_t min_fused_split = 512;
constexpr std::uint64_t fused_workgroups_wanted = 1024;
/// Segments per fused tile: bounds the candidates each merge selects from. The streaming
/// screen's splits are few (about stream_workgroups_wanted a base): a chunk is one tile.
constexpr std::uint32_t fused_segments_per_tile = 64;
constexpr std::uint32_t stream_segments_per_tile = 4096;
/// A single batch of queries is split in two (to overlap its host work with the GPU's) from
/// this size on, each half keeping at least this many queries.
constexpr std::size_t pipelined_min_bytes = std::size_t{1} << 20;
constexpr std::size_t pipelined_min_queries = 256;
/// Blocks of many queries go to tensor cores from this dimension on. Measured on an H200 over
/// one 1,000 x 262,144 distance tile (`bench_knn --phases`): float32 products 1.96 ms at
/// d = 128 and 10.8 ms at d = 768, float16 tensor-core products 3.2 and 7.4 ms (their cost
/// is about 2.4 ms + 0.0066 d, the float32 kernel's 0.014 d): they cross near d = 320, and
/// the tensor-core screen's rare second passes favour the float32 one below.
constexpr std::uint32_t coop_min_dim = 320;
/// Where the base has float16 copies, blocks of many queries screen them (no conversion on
/// load, half the bytes) by default from this dimension on. Measured on an H100
/// (BENCHMARKS.md, session 12): 500k x 1536 ip 26.2 -> 5.4 ms, 1M x 960 38.3 -> 29.6,
/// 2M x 384 cosine 191 -> 165, Fashion-MNIST (d = 784) 47.8 -> 31.7; below, at d <= 128, the
/// copies' second passes cost more than they save (10M x 96: 77 -> 156 ms).
constexpr std::uint32_t half_copies_min_dim = 384;
/// Register-list selection: segments grow from 8,192 to this many columns while the
/// workgroups (one per row and segment) stay at least selection_workgroups_wanted; longer
/// segments spend less on each workgroup's k rounds (measured: 1.68 ms against 1.22 ms over
/// a 1,000 x 262,144 tile at k' = 16).
constexpr std::uint32_t max_select_segment = 32768;
constexpr std::uint64_t selection_workgroups_wanted = 2048;
/// Batches of a few queries (at most few_query_batch) grow their segments to 16,384 columns
/// while 256 workgroups remain: on an H100 (session 18, clock at 1980 MHz) the selection over
/// 1M columns took 102 -> 88 us for 8 rows, 151 -> 134 for 16 and 252 -> 212 for 32 at 16,384
/// against 8,192 (65,536: 155, 173 and 232), and one row over 10M columns 790 -> 670 us; one
/// row over 1M keeps 8,192 (59 us against 64).
constexpr std::size_t few_query_batch = 32;
constexpr std::uint32_t few_query_max_segment = 16384;
constexpr std::uint64_t few_query_workgroups_wanted = 256;
/// Queries per batch at most: bounds the host's staging and the result readback.
constexpr std::size_t max_batch = 4096;

}  // namespace

std::uint32_t fused_split_length(std::size_t base_rows, std::size_t batch, std::uint32_t block,
                                 std::size_t dim) {
  // A workgroup's turns: per block of rows, one per stage of the product (block 128 loads 8
  // dimensions a stage, 64 loads 16) and up to ~256 of selection; within max_loop_turns in
  // all. A power of two of blocks, at least one.
  const std::uint64_t stage_dims = block == 128 ? 8 : 16;
  const std::uint64_t turns_per_block = (dim + stage_dims - 1) / stage_dims + 256;
  const std::uint64_t longest =
      std::bit_floor(std::max<std::uint64_t>(1, max_loop_turns / turns_per_block)) * block;
  const std::uint64_t query_blocks = (batch + block - 1) / block;
  const std::uint64_t groups = (base_rows + fused_split - 1) / fused_split * query_blocks;
  if (groups >= fused_workgroups_wanted / 4) {
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(fused_split, longest));
  }
  // Too few workgroups: the power of two (measured: other lengths ran up to 5x slower) that
  // brings them near the target.
  const std::uint64_t wanted =
      std::max<std::uint64_t>(1, base_rows * query_blocks / fused_workgroups_wanted);
  return static_cast<std::uint32_t>(std::min(
      std::clamp<std::uint64_t>(std::bit_floor(wanted), min_fused_split, fused_split), longest));
}

std::uint32_t select_segment_length(std::uint32_t kk, std::size_t batch, std::size_t rows,
                                    std::uint64_t tile_bytes) {
  std::uint32_t segment = default_segment_length(kk);
  if (kk > small_k_limit) return segment;
  const auto workgroups = [&](std::uint64_t length) {
    return std::uint64_t{batch} * ((rows + length - 1) / length);
  };
  const bool few = batch <= few_query_batch;
  const std::uint32_t longest = few ? few_query_max_segment : max_select_segment;
  const std::uint64_t wanted = few ? few_query_workgroups_wanted : selection_workgroups_wanted;
  while (segment < longest && workgroups(2ull * segment) >= wanted &&
         std::uint64_t{batch} * 2 * segment * sizeof(float) <= tile_bytes) {
    segment *= 2;
  }
  return segment;
}

namespace {

/// The relative error of a screen's products, |s̃ - s| / (|q||x|), to first order: operand
/// rounding (float16: 2^-10 each) plus accumulation over d terms (certificate.cpp has the
/// rigorous form).
double screen_relative_error(ScreenPrecision precision, std::size_t dim) {
  const auto d = static_cast<double>(dim);
  switch (precision) {
    case ScreenPrecision::float16:
    case ScreenPrecision::half_copies:
      return 0x1p-9 + d * 0x1p-23;
    case ScreenPrecision::float16x3:
      return 0x1p-18 + d * 0x1p-23;
    case ScreenPrecision::half_base:
      return 0x1p-10 + d * 0x1p-24;
    case ScreenPrecision::float32:
    case ScreenPrecision::float32_direct:
      return d * 0x1p-24;
    case ScreenPrecision::integer:
      return 0x1p-23;  // exact products, one rounding of the value
  }
  return 1.0;
}

/// Candidates a certificate needs, from a model of the distances near the k-th: over N rows
/// whose values are spread like a normal tail, the k-th best lies z = sqrt(2 ln(N / k))
/// deviations out, and the gap from rank k to rank k' is about ln(k' / k) / z deviations. A
/// screen error of β deviations (β = ε sqrt(d): products spread over about |q||x| / sqrt(d))
/// needs that gap above β; 1.5 β is what the measured failure rates asked for (H200, normal
/// data: d = 768, k = 10 over 1M rows left 0.3% uncertified at k' = 16; d = 4096, k = 20 over
/// 200k left 59 of 64 at k' = 32, which this makes 64).
std::size_t modelled_candidates(std::size_t k, std::size_t base_rows, std::size_t dim,
                                ScreenPrecision precision) {
  const double ratio = static_cast<double>(base_rows) / static_cast<double>(k);
  if (ratio <= 1.0) return k;
  const double z = std::sqrt(2.0 * std::log(ratio));
  const double beta = screen_relative_error(precision, dim) * std::sqrt(static_cast<double>(dim));
  const double wanted = std::ceil(static_cast<double>(k) * std::exp(1.5 * z * beta));
  return wanted >= 1e9 ? std::size_t{1'000'000'000} : static_cast<std::size_t>(wanted);
}

}  // namespace

std::uint32_t screen_candidates(std::size_t k, std::size_t base_rows, std::size_t dim,
                                ScreenPrecision precision) {
  std::size_t wanted = 0;
  const bool float32 = precision == ScreenPrecision::float32 ||
                       precision == ScreenPrecision::float32_direct ||
                       precision == ScreenPrecision::integer;
  if (!float32 && k > 24) {
    // Tensor-core screens err about 2^-8 |q||x|, far above float32: a wider margin keeps the
    // certificate's failures rare (on an H200, normal data at d = 768, k = 100: 116 candidates
    // left 48% of the queries uncertified, 160 none, and the search took 16 ms instead of 23).
    wanted = k + std::max<std::size_t>(32, k / 2);
  } else if (k <= 10) {
    wanted = fused_k_limit;  // the fused kernel's list length
  } else if (k <= 24) {
    wanted = 32;
  } else {
    wanted = k + std::max<std::size_t>(16, k / 8);
  }
  // Long rows widen the screen's error against the spread of the distances: more candidates.
  // (For k <= 10 this moves float16 screens off the 16-wide selection only where the model
  // asks for it: more candidates than 16 take radix selection, slower at d = 128.)
  wanted = std::max(wanted, modelled_candidates(k, base_rows, dim, precision));
  wanted = (wanted + 15) / 16 * 16;
  // A base with fewer rows than that: every row is a candidate.
  wanted = std::max(k, std::min(wanted, base_rows));
  return static_cast<std::uint32_t>(wanted);
}

void check_k(std::size_t k, std::string_view who) {
  if (k >= 1 && k <= max_search_k) return;
  throw Error(Errc::invalid_argument, std::string(who) + ": k = " + std::to_string(k) +
                                          " is outside 1.." + std::to_string(max_search_k));
}

KnnPlan plan_knn(const KnnShape& shape, const Capabilities& caps) {
  check_k(shape.k, "kNN search");
  if (shape.dim == 0) throw Error(Errc::invalid_argument, "dimension must be at least 1");
  KnnPlan p;
  const auto dim = static_cast<std::uint32_t>(shape.dim);
  // Tensor cores where the device has them (their distance tile feeds the selection
  // kernels): from a few queries on, where mostly empty 128-row blocks of float16 products
  // still cost less than the streaming kernel's float32 FMAs (measured: 0.22 against 0.44 ms
  // for 32 queries at d = 96), and for larger batches from coop_min_dim on. Else fused
  // distance + selection where the kernel takes this k; a few queries stream the base instead
  // (a block would be almost all empty rows).
  const bool blocked = shape.queries > streamed_query_limit;
  // l1 and linf have no product form: the SIMT float32 kernels alone screen them.
  const bool products = has_product_form(shape.metric);
  const bool fusable =
      blocked && products &&
      fused_knn_supported(
          caps, screen_candidates(shape.k, shape.base_rows, shape.dim, ScreenPrecision::float32),
          dim);
  // half_copies is the least precise of all: it allows every screen below it too.
  const ScreenPrecision least = shape.least_precise;
  const bool all_allowed = least == ScreenPrecision::half_copies;
  const bool tensor_cores_allowed = products && (all_allowed || least == ScreenPrecision::float16 ||
                                                 least == ScreenPrecision::float16x3);
  const bool half_copy_allowed = products && (all_allowed || least == ScreenPrecision::float16 ||
                                              least == ScreenPrecision::half_base);
  // The copies by default from half_copies_min_dim on, and for a few queries (up to
  // streamed_query_limit: 32-row blocks) at any dimension; else only when asked for. Measured
  // on an H100 (session 14): 1M x 128, 16 queries, 4.76 ms over float32 rows in 128-row blocks;
  // the 32-row blocks over the copies compute the same products in 0.64 ms.
  const bool copies_preferred = all_allowed || (least == ScreenPrecision::float16 &&
                                                (dim >= half_copies_min_dim || !blocked));
  // Integer rows and queries: exact products on integer tensor cores, whatever screen was
  // allowed (it errs less than any), except the direct form a failed l2 certificate asks for.
  const bool integer =
      shape.integer_rows != ElementType::float32 && least != ScreenPrecision::float32_direct &&
      shape.queries > small_query_limit && products && int_coop_distances_supported(caps, dim);
  // Up to stream_query_limit queries stream the base once and select as they go (knn_stream)
  // where the candidates they keep are enough: tensor-core blocks would be mostly empty rows
  // and write distance rows for a selection pass to read back.
  const std::optional<StreamShape> stream = stream_shape(
      caps, static_cast<std::uint32_t>(std::min<std::size_t>(shape.queries, 1u << 16)), dim);
  const bool streamed =
      stream.has_value() && screen_candidates(shape.k, shape.base_rows, shape.dim,
                                              ScreenPrecision::half_base) <= small_k_limit;
  const bool tensor_batch = shape.queries > small_query_limit && !streamed;
  if (integer) {
    p.precision = ScreenPrecision::integer;
  } else if (tensor_batch && shape.half_copy && products && copies_preferred &&
             half_coop_distances_supported(caps, dim)) {
    // Tensor cores over the base's float16 copy and the queries': no conversion on load, half
    // the bytes, at every dimension.
    p.precision = ScreenPrecision::half_copies;
  } else if (tensor_batch && tensor_cores_allowed && coop_distances_supported(caps, dim) &&
             (!blocked || dim >= coop_min_dim)) {
    p.precision = all_allowed ? ScreenPrecision::float16 : least;
  } else if (!blocked && shape.half_copy && half_copy_allowed && half_copy_supported(caps, dim)) {
    // The streaming kernel reads the base's float16 copy: half the bytes of its rows.
    p.precision = ScreenPrecision::half_base;
  } else if (least == ScreenPrecision::float32_direct && shape.metric == Metric::l2) {
    // The SIMT kernels in direct form: what a failed float32 certificate escalates to.
    p.precision = ScreenPrecision::float32_direct;
  }
  p.screen_k = screen_candidates(shape.k, shape.base_rows, shape.dim, p.precision);
  const std::uint32_t kk = p.screen_k;
  const bool streaming_precision = p.precision == ScreenPrecision::float32 ||
                                   p.precision == ScreenPrecision::float32_direct ||
                                   p.precision == ScreenPrecision::half_base;
  p.stream = streaming_precision && stream.has_value() && kk <= small_k_limit;
  p.fused = (p.precision == ScreenPrecision::float32 && fusable) || p.stream;
  p.row_select = !p.fused && kk >= row_select_min_candidates;
  p.radix = !p.fused && !p.row_select && kk > small_k_limit;
  p.global_sort = kk > max_screen_candidates(caps);
  // Row selection: tiles at least as wide as the candidates, so that from the second tile on
  // the running candidates are all real rows (they bound what a tile can add).
  p.segment = p.row_select ? std::max(8192u, std::bit_ceil(kk)) : default_segment_length(kk);
  const std::uint64_t range = caps.max_storage_buffer_range;
  const std::uint64_t sort_row_bytes =
      p.global_sort ? std::uint64_t{sorted_width(kk)} * sizeof(double) : 0;
  if (std::uint64_t{kk} * sizeof(double) > range || sort_row_bytes > range) {
    throw Error(Errc::invalid_argument,
                "kNN search: k = " + std::to_string(shape.k) + " needs " + std::to_string(kk) +
                    " candidates a query, whose float64 values (" +
                    std::to_string(std::max<std::uint64_t>(kk * 8ull, sort_row_bytes)) +
                    " bytes) exceed the device's storage-buffer range of " + std::to_string(range) +
                    " bytes");
  }
  const std::uint64_t tile_bytes = std::min(range, tile_budget(caps));
  const std::size_t rows = std::max<std::size_t>(shape.base_rows, 1);

  // Query batches: as many as leave a distance tile at least one segment wide.
  std::size_t batch =
      std::min<std::size_t>({shape.queries, max_batch, range / (shape.dim * sizeof(float))});
  if (!p.fused) batch = std::min<std::size_t>(batch, tile_bytes / (p.segment * sizeof(float)));
  // Two batches at least once the queries are large: the second is staged while the GPU runs
  // the first, and the first read back while it runs the second.
  if (batch == shape.queries && shape.queries >= 2 * pipelined_min_queries &&
      shape.queries * shape.dim * sizeof(float) >= pipelined_min_bytes) {
    batch = (shape.queries + 1) / 2;
  }
  batch = std::max<std::size_t>(batch, 1);
  if (p.stream) {
    p.segment = stream_split_length(*stream, rows);
  } else if (p.fused) {
    p.segment = fused_split_length(rows, batch, KernelShapes::for_device(caps).block, shape.dim);
  } else if (!p.row_select) {
    p.segment = select_segment_length(kk, batch, rows, tile_bytes);
  }
  // Tile columns: a multiple of the segment length, within the tile budget (the fused kernel
  // keeps its distances on chip and is limited by its candidate count instead).
  std::uint64_t tile_cols =
      p.fused
          ? std::uint64_t{p.stream ? stream_segments_per_tile : fused_segments_per_tile} * p.segment
          : tile_bytes / (batch * sizeof(float)) / p.segment * p.segment;
  tile_cols = std::clamp<std::uint64_t>(
      tile_cols, p.segment, p.fused ? std::max<std::size_t>(shape.chunk_rows, 1) : rows);
  const auto segments_per_tile = (tile_cols + p.segment - 1) / p.segment;
  // The row selection keeps only the running candidates; the others kk per segment too.
  const std::uint64_t cand_stride = p.row_select ? kk : (1 + segments_per_tile) * kk;
  // Candidates, the exact values (float64) and the sort's keys of a batch within one storage
  // buffer each.
  batch = std::min<std::size_t>(batch, std::max<std::uint64_t>(1, range / (cand_stride * 4)));
  batch = std::min<std::size_t>(batch, std::max<std::uint64_t>(1, range / (kk * 8ull)));
  if (p.global_sort) batch = std::min<std::size_t>(batch, range / sort_row_bytes);
  if (p.row_select) {
    while (batch > 1 && row_select_state_bytes(caps, static_cast<std::uint32_t>(batch),
                                               kk + tile_cols, kk) > range)
      batch /= 2;
  }
  // Radix selection in later tiles drops what cannot beat the running k-th best, so only the
  // first tile pays for a full one: keep it at two segments.
  p.first_cols = static_cast<std::uint32_t>(
      p.radix ? std::min<std::uint64_t>(tile_cols, 2 * std::uint64_t{p.segment}) : tile_cols);
  p.batch = batch;
  p.tile_cols = tile_cols;
  p.cand_stride = static_cast<std::uint32_t>(cand_stride);
  p.query_bytes = std::uint64_t{batch} * shape.dim * sizeof(float);
  p.tile_bytes = p.fused ? sizeof(float) : std::uint64_t{batch} * tile_cols * sizeof(float);
  p.candidate_bytes = std::uint64_t{batch} * cand_stride * sizeof(float);
  p.exact_bytes = std::uint64_t{batch} * kk * sizeof(double);
  p.state_bytes = p.row_select ? row_select_state_bytes(caps, static_cast<std::uint32_t>(batch),
                                                        kk + tile_cols, kk)
                               : 0;
  p.sort_bytes = std::uint64_t{batch} * sort_row_bytes;
  return p;
}

std::optional<ScreenPrecision> more_precise_screen(ScreenPrecision failed, Metric metric) {
  const bool l2 = metric == Metric::l2;
  switch (failed) {
    case ScreenPrecision::float16:
    case ScreenPrecision::half_copies:
      return ScreenPrecision::float16x3;
    case ScreenPrecision::half_base:
      return l2 ? ScreenPrecision::float32_direct : ScreenPrecision::float32;
    case ScreenPrecision::float16x3:
    case ScreenPrecision::float32:
      if (l2) return ScreenPrecision::float32_direct;
      return std::nullopt;
    case ScreenPrecision::float32_direct:
    case ScreenPrecision::integer:  // exact products: what is left is ties, for the direct pass
      break;
  }
  return std::nullopt;
}

}  // namespace vecaccel::detail
