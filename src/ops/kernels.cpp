#include "kernels.hpp"

#include <algorithm>
#include <bit>
#include <string>
#include <vector>

#include "knn_plan.hpp"
#include "vecaccel/argument_table.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/shader_library.hpp"

namespace vecaccel::detail {
namespace {

std::uint32_t groups(std::uint32_t n, std::uint32_t per_group) {
  return n / per_group + (n % per_group != 0);
}

}  // namespace

std::uint32_t metric_code(Metric metric) {
  switch (metric) {
    case Metric::l2:
      return 0;
    case Metric::inner_product:
      return 1;
    case Metric::cosine:
      return 2;
    case Metric::l1:
      return 3;
    case Metric::linf:
      return 4;
  }
  return 0;
}

bool has_product_form(Metric metric) {
  return metric != Metric::l1 && metric != Metric::linf;
}

namespace {

/// The SIMT kernels' distance form (shaders/distance_form.glsl's FORM_*): 0 for products.
std::uint32_t form_code(const DistanceArgs& a) {
  if (a.metric == Metric::l1) return 1;
  if (a.metric == Metric::linf) return 2;
  if (a.l2_direct) return 3;
  return 0;
}

/// The tiled kernels' specialization (constant id 3): none for the product form, so those
/// pipelines are the ones they always were.
std::vector<std::uint32_t> distance_form(const DistanceArgs& a) {
  const std::uint32_t form = form_code(a);
  return form == 0 ? std::vector<std::uint32_t>{} : std::vector<std::uint32_t>{form};
}

/// Lanes per base row of the 16-byte streaming kernel (distances_small_vec4.glsl's ROW_LANES):
/// about four words of the row a lane, at least its four rows' finishers; the whole subgroup
/// from 32 lanes on (the kernel's groups are 4, 8 or 16 lanes).
std::uint32_t streaming_row_lanes(const Capabilities& caps, std::uint32_t words) {
  const std::uint32_t lanes = std::max(4u, std::bit_ceil(std::max(1u, words / 4)));
  return lanes >= 32 ? std::max(4u, caps.subgroup_size) : std::min(lanes, caps.subgroup_size);
}

}  // namespace

KernelShapes KernelShapes::for_device(const Capabilities& caps) {
  KernelShapes s{};
  // Large register tiles pay off where the hardware has the registers and shared memory
  // (GPUs with 32-wide subgroups); CPU drivers run each workgroup as a loop and prefer small.
  const bool big = caps.subgroup_size >= 32 && caps.max_shared_memory_bytes >= 48 * 1024 &&
                   caps.max_workgroup_invocations >= 256;
  if (big) {
    s.tile_m = 128, s.tile_n = 128, s.tile_k = 8, s.micro_m = 8, s.micro_n = 8;
  } else {
    s.tile_m = 64, s.tile_n = 64, s.tile_k = 16, s.micro_m = 4, s.micro_n = 4;
  }
  s.block = big ? 128 : 64;
  // A CPU driver switches between a workgroup's subgroups at every barrier, and its caches
  // take scattered rows well.
  s.stage_rows = big;
  s.small_threads = std::min<std::uint32_t>(big ? 128 : 64, caps.max_workgroup_invocations);
  s.radix_threads = std::min<std::uint32_t>(big ? 256 : 128, caps.max_workgroup_invocations);
  s.max_subgroups =
      std::max<std::uint32_t>(1, s.radix_threads / std::max(1u, caps.min_subgroup_size));
  s.max_subgroups =
      std::max(s.max_subgroups, s.small_threads / std::max(1u, caps.min_subgroup_size));
  return s;
}

std::uint32_t max_screen_candidates(const Capabilities& caps) {
  const KernelShapes s = KernelShapes::for_device(caps);
  // select_radix.comp: keys and labels per slot, a 256-bin histogram, four counters and one
  // word per subgroup; knn_exact_select.comp: a double and an id per slot.
  const std::uint64_t radix_fixed = 256 * 4 + 4 * 4 + std::uint64_t{s.max_subgroups} * 4;
  std::uint32_t slots = 2048;
  while (std::uint64_t{slots} * 2 * 8 + radix_fixed <= caps.max_shared_memory_bytes &&
         std::uint64_t{slots} * 2 * 12 <= caps.max_shared_memory_bytes)
    slots *= 2;
  return slots;
}

namespace {

/// Below this many rows (re-rank slots) the row kernels take a subgroup a row on any device:
/// fewer threads than that leave the device mostly idle with a thread a row, while with many
/// rows a CPU driver (which runs a subgroup as one vector) is better served by a thread a row.
constexpr std::uint32_t subgroup_rows_below = 8192;

/// How a row kernel of `threads` a workgroup covers `rows` rows (grid-stride beyond the
/// device's workgroup count; in each of several queries where the dispatch has them): a
/// subgroup a row or a thread a row. GPUs take a subgroup a row at any count: its lanes' loads
/// are coalesced, and row_norms and half_rows split the row's sums into 32 strands
/// (strands.glsl), so a lane's chain is a 32nd of the row (a thread a row took 55 ms for the
/// float16 copy of 200k x 4096 on an H100, its loads scattered over 32 rows). knn_rerank
/// (sums in element order) chooses for itself.
struct RowSpread {
  bool subgroup_rows;
  std::uint32_t workgroups;

  static RowSpread of(const Capabilities& caps, std::uint64_t rows, std::uint32_t threads,
                      bool subgroups) {
    const std::uint32_t rows_per_group =
        subgroups ? std::max(1u, threads / std::max(1u, caps.subgroup_size)) : threads;
    const std::uint64_t wanted = (rows + rows_per_group - 1) / rows_per_group;
    return {subgroups, static_cast<std::uint32_t>(
                           std::min<std::uint64_t>(wanted, caps.max_workgroup_count[0]))};
  }
  /// The strand-summed row kernels (row_norms, half_rows): strands.glsl's slots need subgroups
  /// of 8 lanes or more.
  static RowSpread of(const Capabilities& caps, std::uint64_t rows, std::uint32_t threads) {
    const std::uint32_t narrowest =
        caps.min_subgroup_size != 0 ? caps.min_subgroup_size : caps.subgroup_size;
    const bool any_count = KernelShapes::for_device(caps).stage_rows;
    return of(caps, rows, threads, narrowest >= 8 && (any_count || rows < subgroup_rows_below));
  }
  std::vector<std::uint32_t> constants() const { return {subgroup_rows ? 1u : 0u}; }
};

}  // namespace

void encode_row_norms(Device& device, ComputeEncoder& encoder, const Buffer& matrix,
                      std::uint32_t matrix_offset, std::uint32_t rows, std::uint32_t dim,
                      const Buffer& norms, std::uint32_t norms_offset) {
  if (rows == 0) return;
  struct {
    std::uint32_t rows, dim, matrix_offset, norms_offset;
  } constants{rows, dim, matrix_offset, norms_offset};
  constexpr std::uint32_t threads = 64;
  const RowSpread spread = RowSpread::of(device.capabilities(), rows, threads);
  encoder.set_pipeline(device.shaders().pipeline(
      {.name = "row_norms", .workgroup_size = {threads, 1, 1}, .constants = spread.constants()}));
  encoder.set_argument_table(ArgumentTable().set_buffer(0, matrix).set_buffer(1, norms));
  encoder.set_constants(constants);
  encoder.dispatch_threadgroups(spread.workgroups);
}

namespace {

/// Bindings 0-3 of every distance kernel: queries, base and their squared norms.
ArgumentTable operand_table(const DistanceArgs& a) {
  return ArgumentTable()
      .set_buffer(0, a.queries)
      .set_buffer(1, a.base)
      .set_buffer(2, a.query_norms)
      .set_buffer(3, a.base_norms);
}

/// shaders/distance_args.glsl's DISTANCE_OPERANDS, field for field.
struct DistanceOperands {
  std::uint32_t num_queries, num_base, dim, metric, query_offset, base_offset;
  static DistanceOperands of(const DistanceArgs& a) {
    return {a.num_queries, a.num_base, a.dim, metric_code(a.metric), a.query_offset, a.base_offset};
  }
};
/// distance_args.glsl's push constants of the distance kernels.
struct DistanceConstants {
  DistanceOperands operands;
  std::uint32_t out_stride, out_offset;
};
static_assert(sizeof(DistanceConstants) == 8 * sizeof(std::uint32_t));
/// knn_fused.glsl's push constants.
struct FusedConstants {
  DistanceOperands operands;
  std::uint32_t split_length, k, largest, label_offset, out_stride, out_offset, has_bound,
      bound_offset, bound_stride;

  static FusedConstants of(const FusedKnnArgs& f) {
    return {DistanceOperands::of(f.distances),
            f.split_length,
            f.k,
            f.largest ? 1u : 0u,
            f.label_offset,
            f.out_stride,
            f.out_offset,
            f.bound.valid() ? 1u : 0u,
            f.bound_offset,
            f.bound_stride};
  }
};
static_assert(sizeof(FusedConstants) == 15 * sizeof(std::uint32_t));

/// Every distance kernel takes distance_args.glsl's bindings and push constants; a float16
/// base copy its row scales at binding 5.
void bind_distance_arguments(ComputeEncoder& encoder, const DistanceArgs& a) {
  ArgumentTable table = operand_table(a).set_buffer(4, a.out);
  if (a.base_scales.valid()) table.set_buffer(5, a.base_scales);
  encoder.set_argument_table(table);
  encoder.set_constants(DistanceConstants{DistanceOperands::of(a), a.out_stride, a.out_offset});
}

}  // namespace

void encode_distances(Device& device, ComputeEncoder& encoder, const DistanceArgs& a) {
  if (a.num_queries == 0 || a.num_base == 0) return;
  if (a.num_queries <= streamed_query_limit) {
    for (std::uint32_t q0 = 0; q0 < a.num_queries; q0 += small_query_limit) {
      DistanceArgs slice = a;
      slice.query_offset = a.query_offset + q0;
      slice.num_queries = std::min(small_query_limit, a.num_queries - q0);
      slice.out_offset = a.out_offset + q0 * a.out_stride;  // the kernel's rows start at 0
      encode_distances_small(device, encoder, slice);
    }
    return;
  }
  const KernelShapes s = KernelShapes::for_device(device.capabilities());
  if (a.dim % 4 == 0 && has_product_form(a.metric) && !a.l2_direct) {
    // 16-byte loads need every row to start on a 16-byte boundary.
    encoder.set_pipeline(device.shaders().pipeline(
        {.name = s.block == 128 ? "distances_gemm_large" : "distances_gemm_small",
         .workgroup_size = {16, 16, 1}}));
    bind_distance_arguments(encoder, a);
    encoder.dispatch_threadgroups(groups(a.num_base, s.block), groups(a.num_queries, s.block));
    return;
  }
  const std::uint32_t tx = s.tile_n / s.micro_n;
  const std::uint32_t ty = s.tile_m / s.micro_m;
  const bool large = s.tile_m == 128;
  encoder.set_pipeline(
      device.shaders().pipeline({.name = large ? "distances_tiled_large" : "distances_tiled_small",
                                 .workgroup_size = {tx, ty, 1},
                                 .constants = distance_form(a)}));
  bind_distance_arguments(encoder, a);
  encoder.dispatch_threadgroups(groups(a.num_base, s.tile_n), groups(a.num_queries, s.tile_m));
}

bool coop_distances_supported(const Capabilities& caps, std::uint32_t dim) {
  // The kernel's 16-byte loads need rows on 16-byte boundaries; its workgroup is 8 subgroups
  // of 32 (device_info checks the subgroup size with the matrix shape).
  return caps.cooperative_matrix && caps.shader_float16 && dim % 4 == 0 &&
         caps.max_shared_memory_bytes >= 42 * 1024;
}

void encode_distances_coop(Device& device, ComputeEncoder& encoder, const DistanceArgs& a,
                           CoopTerms terms) {
  if (a.num_queries == 0 || a.num_base == 0) return;
  constexpr std::uint32_t block = 128;  // distances_coop.glsl's BM and BN
  encoder.set_pipeline(device.shaders().pipeline(
      {.name = terms == CoopTerms::one ? "distances_coop1" : "distances_coop3",
       .workgroup_size = {256, 1, 1}}));
  bind_distance_arguments(encoder, a);
  encoder.dispatch_threadgroups(groups(a.num_base, block), groups(a.num_queries, block));
}

HalfCoopShape half_coop_shape(std::uint32_t queries) {
  // Measured on an H100 (BENCHMARKS.md, session 14): a few queries in 32-row blocks (32 x 100k
  // x 1024: 0.118 ms against 0.263 in 128-row ones), more in 128 x 128 blocks, which beat
  // 128 x 256 ones at every kNN shape (4096 x 2M x 384: 79.9 TFLOP/s against 39.2; 1000 x 1M x
  // 960: 105.7 against 70.4; 4096 x 1M x 128: 44.9 against 37.9), each with the 16-byte-store
  // epilogue (5-16% more: 87.8, 111.3 and 55.1 TFLOP/s; 20% for a few queries).
  return queries <= 32 ? HalfCoopShape::q32_b256_wide : HalfCoopShape::q128_b128_wide;
}

bool half_coop_distances_supported(const Capabilities& caps, std::uint32_t dim) {
  // 16-byte loads of eight float16 elements; the double-buffered 128 x 128 shape takes 43 KiB
  // of shared memory.
  return caps.cooperative_matrix && caps.shader_float16 && dim % 8 == 0 &&
         caps.max_shared_memory_bytes >= 44 * 1024;
}

void encode_distances_half_coop(Device& device, ComputeEncoder& encoder, const DistanceArgs& a,
                                HalfCoopShape shape) {
  if (a.num_queries == 0 || a.num_base == 0) return;
  struct Variant {
    const char* name;
    std::uint32_t queries, base;
  };
  static constexpr Variant variants[] = {
      {"distances_half_coop_128x128", 128, 128},    {"distances_half_coop_128x256", 128, 256},
      {"distances_half_coop_128x256k16", 128, 256}, {"distances_half_coop_256x128", 256, 128},
      {"distances_half_coop_32x256", 32, 256},      {"distances_half_coop_128x128w", 128, 128},
      {"distances_half_coop_128x256w", 128, 256},   {"distances_half_coop_32x256w", 32, 256}};
  const Variant& v = variants[static_cast<std::size_t>(shape)];
  encoder.set_pipeline(device.shaders().pipeline({.name = v.name, .workgroup_size = {256, 1, 1}}));
  encoder.set_argument_table(operand_table(a)
                                 .set_buffer(4, a.out)
                                 .set_buffer(5, a.query_scales)
                                 .set_buffer(6, a.base_scales));
  encoder.set_constants(DistanceConstants{DistanceOperands::of(a), a.out_stride, a.out_offset});
  encoder.dispatch_threadgroups(groups(a.num_base, v.base), groups(a.num_queries, v.queries));
}

bool int_coop_distances_supported(const Capabilities& caps, std::uint32_t dim) {
  // 16-byte loads of sixteen elements; the double-buffered 128 x 128 blocks of 64 bytes a row
  // take 41 KiB of shared memory.
  return caps.integer_cooperative_matrix && dim % 16 == 0 && dim <= max_integer_product_dim &&
         caps.max_shared_memory_bytes >= 42 * 1024;
}

void encode_distances_int_coop(Device& device, ComputeEncoder& encoder, const DistanceArgs& a,
                               ElementType type) {
  if (a.num_queries == 0 || a.num_base == 0) return;
  if (type == ElementType::float32 || !int_coop_distances_supported(device.capabilities(), a.dim) ||
      !has_product_form(a.metric)) {
    throw Error(Errc::invalid_argument,
                "integer tensor-core distances over " + std::string(to_string(type)) +
                    " rows of dimension " + std::to_string(a.dim) + " for " +
                    std::string(to_string(a.metric)) +
                    ": they need uint8 or int8 rows, a dimension divisible by 16 up to " +
                    std::to_string(max_integer_product_dim) +
                    ", a metric of products and integer cooperative matrices");
  }
  constexpr std::uint32_t block = 128;  // distances_int_coop_*.comp's BM and BN
  encoder.set_pipeline(device.shaders().pipeline(
      {.name = type == ElementType::int8 ? "distances_int_coop_s8" : "distances_int_coop_u8",
       .workgroup_size = {256, 1, 1}}));
  bind_distance_arguments(encoder, a);
  encoder.dispatch_threadgroups(groups(a.num_base, block), groups(a.num_queries, block));
}

void encode_byte_norms(Device& device, ComputeEncoder& encoder, const Buffer& bytes,
                       std::uint32_t rows, std::uint32_t dim, ElementType type,
                       const Buffer& norms) {
  if (rows == 0) return;
  struct {
    std::uint32_t rows, dim, is_signed;
  } constants{rows, dim, type == ElementType::int8 ? 1u : 0u};
  constexpr std::uint32_t threads = 64;
  const std::uint32_t max_groups = device.capabilities().max_workgroup_count[0];
  encoder.set_pipeline(
      device.shaders().pipeline({.name = "byte_norms", .workgroup_size = {threads, 1, 1}}));
  encoder.set_argument_table(ArgumentTable().set_buffer(0, bytes).set_buffer(1, norms));
  encoder.set_constants(constants);
  encoder.dispatch_threadgroups(std::min(groups(rows, threads), max_groups));
}

void encode_distances_small(Device& device, ComputeEncoder& encoder, const DistanceArgs& a) {
  constexpr std::uint32_t threads = 256;
  const auto& caps = device.capabilities();
  const std::uint32_t subgroups = threads / std::max(1u, caps.subgroup_size);
  // 16-byte loads need every row to start on a 16-byte boundary; its lanes 0-3 finish the
  // subgroup's four rows.
  const bool vec4 = a.dim % 4 == 0 && caps.subgroup_size >= 4;
  const bool half = a.base_scales.valid();
  if (half && (!half_copy_supported(caps, a.dim) || !has_product_form(a.metric) || a.l2_direct)) {
    // l2_direct reads float32 rows only: the copy's rounding would be relative to the norms again.
    throw Error(Errc::invalid_argument,
                "a float16 base copy of dimension " + std::to_string(a.dim) + " for " +
                    std::string(to_string(a.metric)) +
                    ": it needs a dimension divisible by 4, subgroups of 4 or more and a metric "
                    "of products (l2, inner product, cosine)");
  }
  const std::uint32_t words = vec4 ? a.dim / 4 : a.dim;
  const std::uint32_t row_lanes = vec4 ? streaming_row_lanes(caps, words) : caps.subgroup_size;
  encoder.set_pipeline(device.shaders().pipeline({
      .name = half ? "distances_small_half" : (vec4 ? "distances_small_vec4" : "distances_small"),
      .workgroup_size = {threads, 1, 1},
      .constants = vec4 ? std::vector<std::uint32_t>{form_code(a), row_lanes} : distance_form(a),
  }));
  // Enough workgroups to fill the device, each subgroup striding over 32 rows or more (8 turns
  // of the kernel's 4 rows a group): fewer, longer-lived workgroups stream better than one
  // turn each. Long rows take fewer, so that a subgroup's turns over its rows and their
  // elements stay within max_loop_turns; base slices of their own dispatch where the
  // workgroup count runs out.
  const std::uint32_t rows_per_turn = vec4 ? 4 * std::max(1u, caps.subgroup_size / row_lanes) : 1;
  const std::uint32_t turns_per_row = groups(words, std::max(1u, row_lanes)) + 1;
  const std::uint32_t rows_per_subgroup =
      rows_per_turn *
      std::clamp(max_loop_turns / turns_per_row, 1u, std::max(1u, 32u / rows_per_turn));
  const std::uint32_t rows_per_group = std::max(1u, subgroups) * rows_per_subgroup;
  const std::uint64_t rows_per_dispatch =
      std::uint64_t{rows_per_group} * caps.max_workgroup_count[0];
  for (std::uint64_t first = 0; first < a.num_base; first += rows_per_dispatch) {
    DistanceArgs slice = a;
    slice.base_offset = a.base_offset + static_cast<std::uint32_t>(first);
    slice.num_base =
        static_cast<std::uint32_t>(std::min<std::uint64_t>(rows_per_dispatch, a.num_base - first));
    slice.out_offset = a.out_offset + static_cast<std::uint32_t>(first);
    bind_distance_arguments(encoder, slice);
    encoder.dispatch_threadgroups(groups(slice.num_base, rows_per_group));
  }
}

bool half_copy_supported(const Capabilities& caps, std::uint32_t dim) {
  return dim % 4 == 0 && caps.subgroup_size >= 4;
}

void encode_half_rows(Device& device, ComputeEncoder& encoder, const Buffer& matrix,
                      std::uint32_t first_row, std::uint32_t rows, std::uint32_t dim,
                      const HalfRowsOut& out, const HalfRowsCentre& centre) {
  if (rows == 0) return;
  struct {
    std::uint32_t rows, dim, first_row;
  } constants{rows, dim, first_row};
  constexpr std::uint32_t threads = 64;
  const bool centred = centre.values.valid();
  const RowSpread spread = RowSpread::of(device.capabilities(), rows, threads);
  encoder.set_pipeline(
      device.shaders().pipeline({.name = centred ? "half_rows_centred" : "half_rows",
                                 .workgroup_size = {threads, 1, 1},
                                 .constants = spread.constants()}));
  ArgumentTable table;
  table.set_buffer(0, matrix).set_buffer(1, out.halves).set_buffer(2, out.scales);
  table.set_buffer(5, out.errors);
  if (centred) table.set_buffer(3, centre.values).set_buffer(4, centre.norms);
  encoder.set_argument_table(table);
  encoder.set_constants(constants);
  encoder.dispatch_threadgroups(spread.workgroups);
}

bool fused_knn_supported(const Capabilities& caps, std::uint32_t k, std::uint32_t dim) {
  // Shared memory of knn_fused_*: double-buffered operands plus the per-row lists.
  const std::uint32_t block = KernelShapes::for_device(caps).block;
  const std::uint32_t stage_dims = block == 128 ? 8 : 16;
  const std::uint32_t shared_bytes =
      2 * 2 * stage_dims * (block / 4 + 1) * 16 + block * fused_k_limit * 8 + 8;
  return k >= 1 && k <= fused_k_limit && dim % 4 == 0 &&
         caps.max_shared_memory_bytes >= shared_bytes && caps.max_workgroup_invocations >= 256;
}

std::uint32_t encode_knn_fused(Device& device, ComputeEncoder& encoder, const FusedKnnArgs& f) {
  const DistanceArgs& a = f.distances;
  const std::uint32_t splits = std::max(1u, groups(a.num_base, f.split_length));
  if (a.num_queries == 0) return splits;
  const KernelShapes s = KernelShapes::for_device(device.capabilities());
  const FusedConstants constants = FusedConstants::of(f);
  const bool masked = f.allowed.valid();
  encoder.set_pipeline(device.shaders().pipeline(
      {.name = s.block == 128 ? "knn_fused_large" : "knn_fused_small",
       .workgroup_size = {16, 16, 1},
       .constants = masked ? std::vector<std::uint32_t>{1} : std::vector<std::uint32_t>{}}));
  // Without a bound (a mask) the kernel never reads binding 6 (7); the queries keep the table
  // complete.
  encoder.set_argument_table(operand_table(a)
                                 .set_buffer(4, f.out_values)
                                 .set_buffer(5, f.out_labels)
                                 .set_buffer(6, f.bound.valid() ? f.bound : a.queries)
                                 .set_buffer(7, masked ? f.allowed : a.queries));
  encoder.set_constants(constants);
  encoder.dispatch_threadgroups(splits, groups(a.num_queries, s.block));
  return splits;
}

namespace {

/// knn_stream's workgroup and the shared memory besides the queries' rooms: counts, limits
/// and the compaction's k best (knn_stream.glsl). It runs on CPU drivers only (stream_shape
/// says why), which run a workgroup's subgroups in turn and switch between all of them at
/// every barrier (two a block): 64 threads (lavapipe, 4 queries over 3,000 rows: 5.1 -> 1.2-2.3
/// ms against 256).
constexpr std::uint32_t stream_threads = 64;
constexpr std::uint32_t word_bytes = sizeof(std::uint32_t);
constexpr std::uint32_t stream_fixed_shared_words_a_query = 3 + 2 * small_k_limit;
/// Shared memory a workgroup takes at most: four workgroups an SM where an SM has
/// 228 KiB (an H100's), ...
constexpr std::uint32_t stream_room_budget = 48 * 1024;
/// ...and base rows a block at most: between blocks (two barriers) a query whose room could
/// not take another block is compacted, so a room of about twice a block compacts rarely.
constexpr std::uint32_t stream_block_target = 512;
/// Workgroups a base wants (a whole number of blocks each).
constexpr std::uint64_t stream_workgroups_wanted = 1024;

}  // namespace

std::optional<StreamShape> stream_shape(const Capabilities& caps, std::uint32_t queries,
                                        std::uint32_t dim) {
  // On a GPU the fused kernel was slower than the scan and select_small16 it fuses (H100,
  // session 17, GPU time: one query over 1M x 128 227 us + 75 of merge against 131 + 58 for
  // the scan and its selection; 16 queries 978 + 75 against 195 + 151 on tensor cores; 10M
  // rows 5.9 ms against 3.3): its rooms and barriers cost more than the rows it saves writing.
  if (KernelShapes::for_device(caps).stage_rows) return std::nullopt;
  const std::uint32_t lanes = caps.subgroup_size;
  StreamShape s;
  s.threads = stream_threads;
  if (queries == 0 || queries > stream_query_limit || dim % 4 != 0 || lanes < 8 ||
      s.threads % lanes != 0) {
    return std::nullopt;
  }
  // The 16-query variant takes two rows a group a turn, the other four.
  const bool wide = queries > small_query_limit;
  s.queries = wide ? stream_query_limit : small_query_limit;
  s.group_rows = wide ? 2 : 4;
  const std::uint32_t shared = std::min(caps.max_shared_memory_bytes, stream_room_budget);
  const std::uint32_t fixed = s.queries * stream_fixed_shared_words_a_query * word_bytes;
  if (shared <= fixed) return std::nullopt;
  s.row_lanes = streaming_row_lanes(caps, dim / 4);
  s.capacity = (shared - fixed) / (s.queries * 2 * word_bytes);
  const std::uint32_t turn_rows = (s.threads / lanes) * s.group_rows * (lanes / s.row_lanes);
  const std::uint32_t target = std::min(
      stream_block_target, s.capacity > small_k_limit ? (s.capacity - small_k_limit) / 2 : 0);
  s.turns = std::bit_floor(std::max(1u, target / turn_rows));
  s.block_rows = s.turns * turn_rows;
  if (s.capacity < s.block_rows + small_k_limit) return std::nullopt;
  // A block's loop turns: each subgroup's turns over its rows' words, and a compaction's
  // rounds over the rooms, within max_loop_turns over the workgroup's blocks.
  const std::uint32_t turns_per_block =
      s.turns * (groups(dim / 4, s.row_lanes) + 1) + small_k_limit * groups(s.capacity, 4 * lanes);
  s.max_blocks = std::max(1u, max_loop_turns / turns_per_block);
  return s;
}

std::uint32_t stream_split_length(const StreamShape& shape, std::size_t rows) {
  const std::uint64_t wanted = stream_workgroups_wanted;
  // Powers of two (as the blocks are): a power-of-two chunk is whole splits.
  const std::uint64_t blocks =
      std::bit_ceil((rows + wanted * shape.block_rows - 1) / (wanted * shape.block_rows));
  return shape.block_rows * static_cast<std::uint32_t>(std::clamp<std::uint64_t>(
                                blocks, 1, std::bit_floor(std::uint64_t{shape.max_blocks})));
}

std::uint32_t encode_knn_stream(Device& device, ComputeEncoder& encoder, const FusedKnnArgs& f) {
  const DistanceArgs& a = f.distances;
  const std::uint32_t splits = std::max(1u, groups(a.num_base, f.split_length));
  if (a.num_queries == 0) return splits;
  const auto& caps = device.capabilities();
  const std::optional<StreamShape> shape = stream_shape(caps, a.num_queries, a.dim);
  if (!shape || f.k == 0 || f.k > small_k_limit || f.split_length % shape->block_rows != 0 ||
      splits > caps.max_workgroup_count[0] || (f.bound.valid() && !(f.bound == f.out_values))) {
    throw Error(Errc::invalid_argument,
                "the streaming kNN screen takes up to " + std::to_string(stream_query_limit) +
                    " queries, k up to " + std::to_string(small_k_limit) +
                    " and dimensions divisible by 4, its bound in its output buffer (asked: " +
                    std::to_string(a.num_queries) + " queries, k = " + std::to_string(f.k) +
                    ", d = " + std::to_string(a.dim) + ")");
  }
  const FusedConstants constants = FusedConstants::of(f);
  const bool masked = f.allowed.valid();
  encoder.set_pipeline(device.shaders().pipeline(
      {.name = std::string(a.base_scales.valid() ? "knn_stream_half" : "knn_stream_vec4") +
               (shape->queries > small_query_limit ? "_16" : ""),
       .workgroup_size = {shape->threads, 1, 1},
       .constants = {form_code(a), shape->row_lanes, masked ? 1u : 0u, shape->turns,
                     shape->capacity}}));
  // Without a mask (a float16 copy) the kernel never reads binding 7 (5); the queries keep
  // the table complete.
  encoder.set_argument_table(operand_table(a)
                                 .set_buffer(4, f.out_values)
                                 .set_buffer(5, a.base_scales.valid() ? a.base_scales : a.queries)
                                 .set_buffer(6, f.out_labels)
                                 .set_buffer(7, masked ? f.allowed : a.queries));
  encoder.set_constants(constants);
  encoder.dispatch_threadgroups(splits);
  return splits;
}

std::uint32_t default_segment_length(std::uint32_t k) {
  const std::uint32_t cap = std::bit_ceil(std::max(k, 32u));
  return k <= small_k_limit ? 8192 : std::max(8192u, 4 * cap);
}

std::uint32_t encode_select(Device& device, ComputeEncoder& encoder, const SelectArgs& a) {
  if (a.k == 0 || a.k > max_screen_candidates(device.capabilities())) {
    throw Error(Errc::invalid_argument,
                "select: k = " + std::to_string(a.k) + " is outside 1.." +
                    std::to_string(max_screen_candidates(device.capabilities())) +
                    " (this device's shared memory sorts at most that many)");
  }
  const std::uint32_t segment = a.segment_length == 0 ? std::max(a.cols, 1u) : a.segment_length;
  const std::uint32_t segments = std::max(1u, groups(a.cols, segment));
  if (a.rows == 0) return segments;
  const KernelShapes s = KernelShapes::for_device(device.capabilities());
  struct {
    std::uint32_t rows, cols, in_stride, in_offset, segment_length, k, largest, has_labels,
        label_offset, out_stride, out_offset, has_bound, bound_offset, bound_stride;
  } constants{a.rows,         a.cols,        a.in_stride,         a.in_offset,
              segment,        a.k,           a.largest ? 1u : 0u, a.labels.valid() ? 1u : 0u,
              a.label_offset, a.out_stride,  a.out_offset,        a.bound.valid() ? 1u : 0u,
              a.bound_offset, a.bound_stride};
  if (a.k <= small_k_limit) {
    encoder.set_pipeline(device.shaders().pipeline({.name = "select_small16",
                                                    .workgroup_size = {s.small_threads, 1, 1},
                                                    .constants = {s.max_subgroups}}));
  } else {
    const std::uint32_t cap = std::bit_ceil(std::max(a.k, 32u));
    encoder.set_pipeline(device.shaders().pipeline({.name = "select_radix",
                                                    .workgroup_size = {s.radix_threads, 1, 1},
                                                    .constants = {cap, s.max_subgroups}}));
  }
  // Without labels (bound) the shader never reads binding 1 (4); bind the values there to
  // keep the table complete.
  encoder.set_argument_table(ArgumentTable()
                                 .set_buffer(0, a.values)
                                 .set_buffer(1, a.labels.valid() ? a.labels : a.values)
                                 .set_buffer(2, a.out_values)
                                 .set_buffer(3, a.out_labels)
                                 .set_buffer(4, a.bound.valid() ? a.bound : a.values));
  encoder.set_constants(constants);
  encoder.dispatch_threadgroups(segments, a.rows);
  return segments;
}

namespace {

RerankSlots rerank_slots(const Capabilities& caps, const RerankArgs& a) {
  if (a.slots_by != RerankSlots::automatic) return a.slots_by;
  // Direct mode's slots are a chunk's rows: never a subgroup each.
  const std::uint64_t slots_in_all =
      a.direct ? std::uint64_t{subgroup_rows_below} : std::uint64_t{a.slots} * a.num_queries;
  if (slots_in_all < subgroup_rows_below) return RerankSlots::subgroup;
  return KernelShapes::for_device(caps).stage_rows ? RerankSlots::staged : RerankSlots::thread;
}

}  // namespace

void encode_rerank(Device& device, ComputeEncoder& encoder, const RerankArgs& a) {
  if (a.num_queries == 0 || a.slots == 0) return;
  struct {
    std::uint32_t num_queries, slots, dim, metric, label_begin, chunk_rows, stride, direct;
  } constants{a.num_queries, a.slots,      a.dim,    metric_code(a.metric),
              a.label_begin, a.chunk_rows, a.stride, a.direct ? 1u : 0u};
  constexpr std::uint32_t threads = 64;  // knn_rerank.comp's STAGE_SLOTS
  const Capabilities& caps = device.capabilities();
  const RerankSlots mode = rerank_slots(caps, a);
  const bool subgroups = mode == RerankSlots::subgroup;
  const RowSpread spread = RowSpread::of(caps, a.slots, threads, subgroups);
  // knn_rerank.comp's SLOT_MODE: 0 a thread a slot, 1 a subgroup a slot, 2 staged.
  const std::uint32_t slot_mode = subgroups ? 1 : mode == RerankSlots::staged ? 2 : 0;
  encoder.set_pipeline(device.shaders().pipeline(
      {.name = "knn_rerank", .workgroup_size = {threads, 1, 1}, .constants = {slot_mode}}));
  // Direct mode reads no labels; the exact buffer keeps the table complete.
  encoder.set_argument_table(ArgumentTable()
                                 .set_buffer(0, a.queries)
                                 .set_buffer(1, a.base)
                                 .set_buffer(2, a.direct ? a.exact : a.labels)
                                 .set_buffer(3, a.exact));
  encoder.set_constants(constants);
  encoder.dispatch_threadgroups(spread.workgroups, a.num_queries);
}

void encode_exact_select(Device& device, ComputeEncoder& encoder, const ExactSelectArgs& a) {
  if (a.num_queries == 0) return;
  const std::uint32_t limit = max_screen_candidates(device.capabilities());
  if (a.candidates < a.k || a.candidates > limit) {
    throw Error(Errc::invalid_argument, "exact select: " + std::to_string(a.candidates) +
                                            " candidates for k = " + std::to_string(a.k) +
                                            " (at most " + std::to_string(limit) + ")");
  }
  struct {
    std::uint32_t num_queries, candidates, k, largest, stride, out_offset;
  } constants{a.num_queries, a.candidates, a.k, a.largest ? 1u : 0u, a.stride, a.out_offset};
  const KernelShapes s = KernelShapes::for_device(device.capabilities());
  const std::uint32_t slots = std::bit_ceil(std::max(a.candidates, 32u));
  encoder.set_pipeline(device.shaders().pipeline({.name = "knn_exact_select",
                                                  .workgroup_size = {s.radix_threads, 1, 1},
                                                  .constants = {slots}}));
  encoder.set_argument_table(ArgumentTable()
                                 .set_buffer(0, a.exact)
                                 .set_buffer(1, a.labels)
                                 .set_buffer(2, a.screen)
                                 .set_buffer(3, a.out_values)
                                 .set_buffer(4, a.out_labels)
                                 .set_buffer(5, a.certificate));
  encoder.set_constants(constants);
  encoder.dispatch_threadgroups(a.num_queries);
}

}  // namespace vecaccel::detail
