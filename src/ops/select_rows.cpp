#include "select_rows.hpp"

#include <algorithm>
#include <bit>
#include <string>

#include "kernels.hpp"
#include "vecaccel/argument_table.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/shader_library.hpp"

namespace vecaccel::detail {
namespace {

/// select_rows.glsl's state: four words, a 2048-bin histogram (and padding) per row, then a
/// tie count per slice.
constexpr std::uint64_t state_words_per_row = 8 + 2048;
/// Workgroups a selection spreads over all its rows: enough to fill a large GPU when the rows
/// are few (one row of a million values gets hundreds), few enough per row that adding each
/// workgroup's histogram to its row's (one atomic per bin in use) stays cheap.
constexpr std::uint64_t row_select_workgroups = 2048;
/// Values per thread of a slice at least: below it a workgroup's histogram costs more than
/// its values.
constexpr std::uint64_t min_values_per_thread = 16;
/// Pairs a sort's workgroup orders in shared memory at most (12 bytes each).
constexpr std::uint32_t max_sort_block = 2048;

std::uint64_t ceil_div(std::uint64_t n, std::uint64_t d) {
  return (n + d - 1) / d;
}

struct Slices {
  std::uint32_t count, length;
};

/// Slices per row and their length: as many as keep row_select_workgroups busy over the rows,
/// each thread at least min_values_per_thread values and at most max_loop_turns.
Slices slices_of(const Capabilities& caps, std::uint32_t rows, std::uint64_t cols) {
  const std::uint64_t threads = KernelShapes::for_device(caps).radix_threads;
  const std::uint64_t n = std::max<std::uint64_t>(cols, 1);
  std::uint64_t count = std::min(ceil_div(n, threads * min_values_per_thread),
                                 std::max<std::uint64_t>(1, row_select_workgroups / rows));
  count = std::max({count, std::uint64_t{1}, ceil_div(n, threads * max_loop_turns)});
  const std::uint64_t length = ceil_div(ceil_div(n, count), threads) * threads;
  return {static_cast<std::uint32_t>(ceil_div(n, length)), static_cast<std::uint32_t>(length)};
}

/// Keys of a row's k-th first-digit bin that pass 1 compacts at most (select_rows.glsl): a
/// sixteenth of the row, four times k, at least 4,096. Normal distances put a few percent of
/// an unbounded tile in the bin; a bounded tile (running candidates first) keeps about 2k keys
/// in all, so 4k lets every later tile compact. Rows with more read the whole row instead.
std::uint32_t compact_capacity(std::uint64_t cols, std::uint32_t k) {
  const std::uint64_t wanted = std::max<std::uint64_t>({4096, cols / 16, 4 * std::uint64_t{k}});
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(std::max<std::uint64_t>(cols, 1), wanted));
}

std::uint32_t sort_block(const Capabilities& caps, std::uint32_t width) {
  std::uint32_t block = max_sort_block;
  while (block > 2 && std::uint64_t{block} * 12 > caps.max_shared_memory_bytes)
    block /= 2;
  return std::min(block, width);
}

}  // namespace

std::uint64_t row_select_state_bytes(const Capabilities& caps, std::uint32_t rows,
                                     std::uint64_t cols, std::uint32_t k) {
  // Fewer rows get more slices each, but never more than row_select_workgroups in all beyond
  // the slices that the loop-turn limit asks of every row.
  const std::uint64_t threads = KernelShapes::for_device(caps).radix_threads;
  const std::uint64_t forced = ceil_div(std::max<std::uint64_t>(cols, 1), threads * max_loop_turns);
  return (std::uint64_t{rows} *
              (state_words_per_row + 1 + forced + 2 * std::uint64_t{compact_capacity(cols, k)}) +
          row_select_workgroups) *
         sizeof(std::uint32_t);
}

void encode_row_select(Device& device, ComputeEncoder& encoder, const RowSelectArgs& a) {
  const auto& caps = device.capabilities();
  const std::uint64_t cols = std::uint64_t{a.a_cols} + a.b_cols;
  if (a.rows == 0 || a.k == 0) return;
  if (a.bounded && a.a_cols != a.k) {
    throw Error(Errc::invalid_argument, "row select: a bound needs the " + std::to_string(a.k) +
                                            " running candidates, not " + std::to_string(a.a_cols));
  }
  const Slices slices = slices_of(caps, a.rows, cols);
  const std::uint64_t header_words = std::uint64_t{a.rows} * (state_words_per_row + slices.count);
  const std::uint32_t capacity = compact_capacity(cols, a.k);
  const std::uint64_t state_bytes =
      (header_words + 2 * std::uint64_t{a.rows} * capacity) * sizeof(std::uint32_t);
  if (!a.state.valid() || a.state.size() < state_bytes) {
    throw Error(Errc::invalid_argument,
                "row select: " + std::to_string(state_bytes) + " bytes of state needed for " +
                    std::to_string(a.rows) + " rows of " + std::to_string(cols) + " values, " +
                    std::to_string(a.state.valid() ? a.state.size() : 0) + " given");
  }
  if (slices.count > caps.max_workgroup_count[0] || a.rows > caps.max_workgroup_count[1]) {
    throw Error(Errc::invalid_argument, "row select: " + std::to_string(a.rows) + " rows of " +
                                            std::to_string(slices.count) +
                                            " slices exceed the device's workgroup counts");
  }
  const KernelShapes s = KernelShapes::for_device(caps);
  struct {
    std::uint32_t rows, a_cols, a_stride, a_offset, b_cols, b_stride, b_offset, b_label_offset, k,
        largest, out_stride, out_offset, slice_length, state_stride, pass, has_bound,
        compact_offset, compact_capacity;
  } constants{a.rows,
              a.a_cols,
              a.a_stride,
              a.a_offset,
              a.b_cols,
              a.b_stride,
              a.b_offset,
              a.b_label_offset,
              a.k,
              a.largest ? 1u : 0u,
              a.out_stride,
              a.out_offset,
              slices.length,
              static_cast<std::uint32_t>(state_words_per_row + slices.count),
              0,
              a.bounded ? 1u : 0u,
              static_cast<std::uint32_t>(header_words),
              capacity};
  // Without source a the kernels never read bindings 0 and 1; source b keeps the table full.
  const bool has_a = a.a_cols > 0;
  const ArgumentTable table = ArgumentTable()
                                  .set_buffer(0, has_a ? a.a_values : a.b_values)
                                  .set_buffer(1, has_a ? a.a_labels : a.b_values)
                                  .set_buffer(2, a.b_values.valid() ? a.b_values : a.a_values)
                                  .set_buffer(3, a.out_values)
                                  .set_buffer(4, a.out_labels)
                                  .set_buffer(5, a.state);
  const auto pipeline = [&](const char* name, std::vector<std::uint32_t> spec = {}) {
    return device.shaders().pipeline(
        {.name = name, .workgroup_size = {s.radix_threads, 1, 1}, .constants = std::move(spec)});
  };
  const auto between = [&] {
    encoder.barrier({a.state, a.out_values, a.out_labels}, Stage::dispatch, Stage::dispatch);
  };
  const auto run = [&](const ComputePipeline& p, std::uint32_t pass, std::uint32_t x,
                       std::uint32_t y) {
    constants.pass = pass;
    encoder.set_pipeline(p);
    encoder.set_argument_table(table);
    encoder.set_constants(constants);
    encoder.dispatch_threadgroups(x, y);
  };
  encoder.barrier({a.state}, Stage::dispatch, Stage::blit);
  // The rows' counters and histograms start at zero; their compacted keys are written first.
  encoder.fill_buffer(a.state, 0, header_words * sizeof(std::uint32_t), 0);
  encoder.barrier({a.state}, Stage::blit, Stage::dispatch);
  const ComputePipeline histogram = pipeline("select_rows_histogram");
  const ComputePipeline scan = pipeline("select_rows_scan", {s.radix_threads});
  for (std::uint32_t pass = 0; pass < 3; ++pass) {
    if (pass > 0) between();
    run(histogram, pass, slices.count, a.rows);
    between();
    run(scan, pass, a.rows, 1);
  }
  between();
  run(pipeline("select_rows_gather"), 3, slices.count, a.rows);
  between();
  run(pipeline("select_rows_ties", {s.max_subgroups}), 3, slices.count, a.rows);
}

std::uint32_t sorted_width(std::uint32_t count) {
  return std::bit_ceil(std::max(count, 1u));
}

void encode_sort_pairs(Device& device, ComputeEncoder& encoder, const PairSortArgs& a) {
  if (a.rows == 0 || a.k == 0) return;
  const auto& caps = device.capabilities();
  const std::uint32_t width = sorted_width(a.count);
  if (a.k > width) {
    throw Error(Errc::invalid_argument, "sort: k = " + std::to_string(a.k) + " of " +
                                            std::to_string(a.count) + " entries a row");
  }
  const std::uint32_t block = sort_block(caps, width);
  const KernelShapes s = KernelShapes::for_device(caps);
  const std::uint32_t threads = s.radix_threads;
  struct {
    std::uint32_t rows, count, stride, padded, block, size, distance, mode, float_keys, largest, k,
        out_offset, has_certificate;
  } constants{a.rows,
              a.count,
              a.stride,
              width,
              block,
              0,
              0,
              0,
              a.float_keys ? 1u : 0u,
              a.largest ? 1u : 0u,
              a.k,
              a.out_offset,
              a.certificate.valid() ? 1u : 0u};
  // Without a certificate the kernel never reads the screen or writes binding 7.
  encoder.set_pipeline(device.shaders().pipeline(
      {.name = "sort_pairs", .workgroup_size = {threads, 1, 1}, .constants = {max_sort_block}}));
  encoder.set_argument_table(
      ArgumentTable()
          .set_buffer(0, a.keys)
          .set_buffer(1, a.labels)
          .set_buffer(2, a.screen.valid() ? a.screen : a.keys)
          .set_buffer(3, a.sort_keys)
          .set_buffer(4, a.sort_labels)
          .set_buffer(5, a.out_values)
          .set_buffer(6, a.out_labels)
          .set_buffer(7, a.certificate.valid() ? a.certificate : a.sort_keys));
  const auto run = [&](std::uint32_t mode, std::uint32_t size, std::uint32_t distance,
                       std::uint32_t x) {
    if (mode != 0) {
      encoder.barrier({a.sort_keys, a.sort_labels}, Stage::dispatch, Stage::dispatch);
    }
    constants.mode = mode;
    constants.size = size;
    constants.distance = distance;
    encoder.set_constants(constants);
    encoder.dispatch_threadgroups(x, a.rows);
  };
  const std::uint32_t blocks = width / block;
  const std::uint32_t max_groups = caps.max_workgroup_count[0];
  if (blocks > max_groups || a.rows > caps.max_workgroup_count[1]) {
    throw Error(Errc::invalid_argument,
                "sort: " + std::to_string(a.rows) + " rows of " + std::to_string(width) +
                    " pairs take " + std::to_string(blocks) +
                    " workgroups a row, above the device's " + std::to_string(max_groups));
  }
  // The global steps and the output stride over the row where it outnumbers the groups.
  const auto pair_groups =
      static_cast<std::uint32_t>(std::min<std::uint64_t>(ceil_div(width / 2, threads), max_groups));
  run(0, 0, 0, blocks);
  for (std::uint32_t size = 2 * block; size <= width; size *= 2) {
    for (std::uint32_t distance = size / 2; distance >= block; distance /= 2)
      run(2, size, distance, pair_groups);
    run(1, size, 0, blocks);
  }
  run(3, 0, 0,
      static_cast<std::uint32_t>(std::min<std::uint64_t>(ceil_div(a.k, threads), max_groups)));
}

}  // namespace vecaccel::detail
