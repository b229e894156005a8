#pragma once
// The vector-search kernels as encoder calls: each picks its shape for the device (from
// capabilities, never from the device's name), binds its buffers and dispatches. Callers
// place the barriers between them.

#include <cstddef>
#include <cstdint>
#include <optional>

#include "vecaccel/buffer.hpp"
#include "vecaccel/compute_encoder.hpp"
#include "vecaccel/device.hpp"
#include "vecaccel/element_type.hpp"
#include "vecaccel/metric.hpp"

namespace vecaccel::detail {

/// A float32 matrix region: `rows` rows of `stride` floats from element `offset`.
struct MatrixSlice {
  Buffer buffer;
  std::uint32_t offset = 0;
  std::uint32_t rows = 0;
  std::uint32_t stride = 0;
};

/// Selection with k up to this keeps per-thread register lists (one pass over the values);
/// above, radix select, which a bound (SelectArgs::bound) spares most of its passes. Lists of
/// 32 lost to radix select (H100: 3.0-5.3 ms for a tile that radix selected 160 of in 0.8-3.3):
/// their k rounds of workgroup-wide pops cost more than the scan.
constexpr std::uint32_t small_k_limit = 16;

/// Query blocks up to this stream the base as matrix-vector products (no empty tile rows).
constexpr std::uint32_t small_query_limit = 8;
/// Up to this many queries, the streaming kernel runs once per slice of small_query_limit
/// queries: reading the base that many times costs less than a register-tiled GEMM whose
/// 128-row blocks would be mostly empty.
constexpr std::uint32_t streamed_query_limit = 32;

/// Shapes chosen per device.
/// Loop turns one invocation may take, its outermost loop and the loops within it together.
/// llvmpipe (lavapipe) ends a loop after 65535 turns (its guard against endless loops) and
/// the kernel then computes garbage, so dispatches are sized to stay well below that on
/// every device.
constexpr std::uint32_t max_loop_turns = 32768;

struct KernelShapes {
  std::uint32_t tile_m, tile_n, tile_k, micro_m, micro_n;  // distances (two compiled shapes)
  std::uint32_t block;          // 16-byte-load distance and fused kernels: block rows, 128 or 64
  std::uint32_t small_threads;  // select_small workgroup
  std::uint32_t radix_threads;  // select_radix workgroup
  std::uint32_t max_subgroups;
  bool stage_rows;  // scattered rows are read through shared memory by a workgroup
  static KernelShapes for_device(const Capabilities& caps);
};

/// norms[norms_offset + i] = |row i|^2 for rows of `dim` floats from element matrix_offset.
void encode_row_norms(Device& device, ComputeEncoder& encoder, const Buffer& matrix,
                      std::uint32_t matrix_offset, std::uint32_t rows, std::uint32_t dim,
                      const Buffer& norms, std::uint32_t norms_offset);

/// Whether rows of this dimension can have a float16 copy (half_rows.comp: 8-byte loads).
bool half_copy_supported(const Capabilities& caps, std::uint32_t dim);
/// A centre subtracted from every row before its float16 copy is made: `values` (dim floats)
/// and where the centred rows' float32 squared norms go (one float a row). Empty: no centre.
struct HalfRowsCentre {
  Buffer values;
  Buffer norms;
};
/// Where a float16 copy goes, the same rows of each: `halves` (2 bytes an element), `scales`
/// (one float a row: what undoes the row's scaling) and `errors` (one float a row: the copy's
/// measured relative error, |x~ - x| / |x| in float32, which certificate.cpp inflates by its
/// own rounding; 0 for a zero row).
struct HalfRowsOut {
  Buffer halves;
  Buffer scales;
  Buffer errors;
};
/// Records the float16 copy of rows [first_row, first_row + rows) of `matrix` (float32 rows
/// of dim): every row (minus the centre, if any) scaled by a power of two that keeps its
/// largest element in [2^14, 2^15), then rounded.
void encode_half_rows(Device& device, ComputeEncoder& encoder, const Buffer& matrix,
                      std::uint32_t first_row, std::uint32_t rows, std::uint32_t dim,
                      const HalfRowsOut& out, const HalfRowsCentre& centre = {});

struct DistanceArgs {
  Buffer queries, base, query_norms, base_norms, out;
  /// Valid: `base` is a float16 copy (encode_half_rows) with these row scales; only the
  /// streaming kernel (up to streamed_query_limit queries) and the tensor-core kernel over
  /// float16 copies read one.
  Buffer base_scales;
  /// Valid: `queries` is a float16 copy too (the tensor-core kernel over float16 copies).
  Buffer query_scales;
  std::uint32_t num_queries = 0, num_base = 0, dim = 0;
  std::uint32_t query_offset = 0;  // first query row
  std::uint32_t base_offset = 0;   // first base row
  std::uint32_t out_stride = 0, out_offset = 0;
  Metric metric = Metric::l2;
  /// l2 accumulated as (q - x)^2 by the SIMT kernels (distance_form.glsl): an error relative
  /// to the distance, not to the norms, at the cost of a subtraction per element pair and of
  /// the GEMM form's 16-byte tiles. Not with a float16 copy.
  bool l2_direct = false;
};
/// Picks the tiled kernel (its 16-byte-load GEMM form where the dimension allows and the
/// metric has a product form), or the streaming one (in slices) for up to
/// streamed_query_limit queries.
void encode_distances(Device& device, ComputeEncoder& encoder, const DistanceArgs& args);
void encode_distances_small(Device& device, ComputeEncoder& encoder, const DistanceArgs& args);

/// How the tensor-core kernel rounds the operands of its products: one float16 copy, or a
/// float16 copy and a float16 copy of its remainder (three products per pair).
enum class CoopTerms : std::uint32_t { one = 1, three = 3 };
/// Whether encode_distances_coop runs on this device for this dimension.
bool coop_distances_supported(const Capabilities& caps, std::uint32_t dim);
/// encode_distances through cooperative matrices (float16 operands scaled per row, float32
/// accumulation): same arguments and output, a larger error (certificate.hpp bounds it).
void encode_distances_coop(Device& device, ComputeEncoder& encoder, const DistanceArgs& args,
                           CoopTerms terms);

/// Block shapes of the tensor-core kernel over float16 copies (distances_half_coop_*.comp):
/// queries x base rows per workgroup, and the dimensions of one shared-memory stage.
/// Block shapes of the tensor-core kernel over float16 copies (queries x base rows); `_wide`:
/// the 16-byte-store epilogue (distances_half_coop.glsl, WIDE_EPILOGUE).
enum class HalfCoopShape {
  q128_b128,
  q128_b256,
  q128_b256_k16,
  q256_b128,
  q32_b256,
  q128_b128_wide,
  q128_b256_wide,
  q32_b256_wide
};
/// The block shape for a batch of this many queries.
HalfCoopShape half_coop_shape(std::uint32_t queries);
/// Whether encode_distances_half_coop runs on this device for this dimension.
bool half_coop_distances_supported(const Capabilities& caps, std::uint32_t dim);
/// encode_distances with both operands float16 copies (encode_half_rows; args.query_scales
/// and args.base_scales valid) through cooperative matrices, float32 accumulation: no
/// conversion on load, half the bytes of encode_distances_coop's float32 operands.
void encode_distances_half_coop(Device& device, ComputeEncoder& encoder, const DistanceArgs& args,
                                HalfCoopShape shape);

/// The largest dimension whose integer dot products cannot overflow the integer tensor-core
/// kernel's 32-bit accumulators: uint8 products (at most 255^2) accumulate in uint32,
/// 255^2 d < 2^32; int8 ones (magnitude 2^14 at most) in int32, 2^14 d < 2^31. Every dimension
/// a search takes (FlatIndex::max_dim, 65536) is below both, so the K loop is never split.
constexpr std::uint32_t max_integer_product_dim = 66051;
/// Whether encode_distances_int_coop runs on this device for rows of this dimension (16-byte
/// loads of sixteen elements; a product form: l2, inner product, cosine).
bool int_coop_distances_supported(const Capabilities& caps, std::uint32_t dim);
/// encode_distances over uint8 / int8 rows (`type`) through integer cooperative matrices
/// (distances_int_coop.glsl): args.queries and args.base hold one byte an element, rows dim
/// bytes apart; args.query_norms and args.base_norms their exact squared norms as uint32
/// (encode_byte_norms). The products are exact; every value written is the float32 rounding of
/// the exact l2 or inner product (cosine: float32 arithmetic on the rounded dot product and
/// norms), which certificate.hpp bounds (ScreenPrecision::integer).
void encode_distances_int_coop(Device& device, ComputeEncoder& encoder, const DistanceArgs& args,
                               ElementType type);
/// norms[i] = the exact squared norm (uint32) of row i of `rows` rows of dim uint8 / int8
/// elements (`type`) from the start of `bytes`; dim a multiple of 16.
void encode_byte_norms(Device& device, ComputeEncoder& encoder, const Buffer& bytes,
                       std::uint32_t rows, std::uint32_t dim, ElementType type,
                       const Buffer& norms);

/// The fused distance + top-k kernel takes k up to this.
constexpr std::uint32_t fused_k_limit = 16;
/// Whether encode_knn_fused runs this search (k, dimension) on this device.
bool fused_knn_supported(const Capabilities& caps, std::uint32_t k, std::uint32_t dim);

struct FusedKnnArgs {
  DistanceArgs distances;      // out unused; the candidates go to out_values/out_labels
  std::uint32_t split_length;  // base rows per segment, a multiple of 128
  std::uint32_t k = 0;
  bool largest = false;
  std::uint32_t label_offset = 0;  // label of base row 0 of the slice
  Buffer out_values, out_labels;
  std::uint32_t out_stride = 0, out_offset = 0;
  /// Optional: bound[bound_offset + row * bound_stride] is no better than the row's final
  /// k-th best (a running merge's k-th); values worse than it are never kept.
  Buffer bound;
  std::uint32_t bound_offset = 0, bound_stride = 0;
  /// Optional: a filtered search's bits (RowFilter::words, bit = global label); rows it
  /// denies are never candidates.
  Buffer allowed;
};
/// Per query row and segment of split_length base rows, the k best (value, label) pairs at
/// out[row * out_stride + out_offset + segment * k + i], as encode_select writes them.
/// Returns the number of segments.
std::uint32_t encode_knn_fused(Device& device, ComputeEncoder& encoder, const FusedKnnArgs& args);

/// The fused streaming screen (knn_stream.glsl): up to stream_query_limit queries and k up to
/// small_k_limit, over float32 rows or a float16 copy, the dimension a multiple of 4.
struct StreamShape {
  std::uint32_t threads = 0;     // a workgroup
  std::uint32_t queries = 0;     // at most (small_query_limit or stream_query_limit)
  std::uint32_t group_rows = 0;  // rows a row group takes a turn (stream_rows.glsl ROWS)
  std::uint32_t row_lanes = 0;   // lanes a base row (stream_rows.glsl ROW_LANES)
  std::uint32_t turns = 0;       // turns of each subgroup a block
  std::uint32_t block_rows = 0;  // base rows a block
  std::uint32_t capacity = 0;    // candidates a query's room in shared memory holds
  std::uint32_t max_blocks = 0;  // a workgroup's blocks at most (max_loop_turns)
};
/// The streaming screen takes up to this many queries in one pass (its second variant, from
/// small_query_limit + 1 on).
constexpr std::uint32_t stream_query_limit = 16;
/// The kernel's shape for `queries` queries (1..stream_query_limit) and rows of dimension dim
/// on this device; nullopt where it cannot run (dimension not a multiple of 4, subgroups
/// under 8 lanes, too little shared memory) or where it is slower than the scan and selection
/// it fuses (GPUs: kernels.cpp).
std::optional<StreamShape> stream_shape(const Capabilities& caps, std::uint32_t queries,
                                        std::uint32_t dim);
/// Base rows per workgroup of the streaming screen over `rows` base rows: enough workgroups
/// to fill the device, a whole number of blocks each.
std::uint32_t stream_split_length(const StreamShape& shape, std::size_t rows);
/// As encode_knn_fused, by the streaming kernel (args.distances.num_queries <=
/// stream_query_limit, args.k <= small_k_limit, args.split_length a multiple of the shape's
/// block_rows, a bound only in args.out_values); args.distances.base_scales valid: the base
/// is a float16 copy.
std::uint32_t encode_knn_stream(Device& device, ComputeEncoder& encoder, const FusedKnnArgs& args);

struct SelectArgs {
  Buffer values;
  Buffer labels;  // empty: labels are label_offset + column
  std::uint32_t rows = 0, cols = 0, in_stride = 0, in_offset = 0;
  std::uint32_t segment_length = 0;  // 0: the whole row
  std::uint32_t k = 0;
  bool largest = false;
  std::uint32_t label_offset = 0;
  Buffer out_values, out_labels;
  std::uint32_t out_stride = 0, out_offset = 0;
  /// Optional, for k above 32: values[bound_offset + row * bound_stride] is a value no
  /// better than the row's final k-th best (a running merge's k-th); the kernel may then drop
  /// worse values, so a segment reports fewer than k (padded as usual).
  Buffer bound;
  std::uint32_t bound_offset = 0, bound_stride = 0;
};
/// Per row and segment, the k best (value, label) pairs at out[row * out_stride + segment *
/// k + i]. Returns the number of segments per row.
std::uint32_t encode_select(Device& device, ComputeEncoder& encoder, const SelectArgs& args);
/// The segment length encode_select uses for this k when asked to choose (0).
std::uint32_t default_segment_length(std::uint32_t k);

/// How knn_rerank takes its slots: a thread each, a subgroup each, or a thread each with the
/// rows read through shared memory. `automatic` chooses by slot count and device; tests pin
/// each (they give the same bits).
enum class RerankSlots { automatic, thread, subgroup, staged };

struct RerankArgs {
  Buffer queries, base, labels, exact;
  std::uint32_t num_queries = 0;
  std::uint32_t slots = 0;  // candidates per query; direct: the chunk's rows
  std::uint32_t dim = 0;
  std::uint32_t label_begin = 0;  // global label of the chunk's first row
  std::uint32_t chunk_rows = 0;
  std::uint32_t stride = 0;  // labels and exact: elements per query
  bool direct = false;       // every row of the chunk instead of the labelled candidates
  Metric metric = Metric::l2;
  RerankSlots slots_by = RerankSlots::automatic;
};
/// exact[q * stride + j] (float64) = the direct-form metric of query q and its candidate j
/// (labels[q * stride + j]) where that label lies in this chunk; direct: of chunk row j.
void encode_rerank(Device& device, ComputeEncoder& encoder, const RerankArgs& args);

struct ExactSelectArgs {
  Buffer exact, labels, screen;  // per query `stride` elements; screen: the screen's values
  Buffer out_values, out_labels, certificate;
  std::uint32_t num_queries = 0, candidates = 0, k = 0, stride = 0;
  std::uint32_t out_offset = 0;  // first output row
  bool largest = false;
};
/// Per query: the k best candidates by exact value (ties by label) as float32 values and
/// int32 labels at out[(out_offset + q) * k + i]; certificate[2 (out_offset + q)] = the exact
/// k-th value, [.. + 1] = the screen's value of the last candidate.
void encode_exact_select(Device& device, ComputeEncoder& encoder, const ExactSelectArgs& args);
/// Candidates per query that one workgroup sorts in shared memory on this device: what both
/// encode_select (its radix kernel sorts 8 bytes a slot) and encode_exact_select (12 bytes a
/// slot) take, a power of two. 4096 on 48 KiB of shared memory (NVIDIA), 2048 on 32 KiB
/// (lavapipe). More candidates are selected and sorted in global memory (select_rows.hpp).
/// Never below 2048, the kernels' guaranteed size (24 KiB).
std::uint32_t max_screen_candidates(const Capabilities& caps);

/// The kernels' metric code (metric.glsl).
std::uint32_t metric_code(Metric metric);
/// Whether the metric is computed from dot products (l2, inner product, cosine): the GEMM,
/// tensor-core, fused and float16-copy kernels compute only those. l1 and linf are screened by
/// the SIMT float32 kernels alone (encode_distances picks them).
bool has_product_form(Metric metric);

}  // namespace vecaccel::detail
