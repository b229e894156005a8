#pragma once
// Selection and sorting for any k, in global memory: what the kNN screen uses for many
// candidates per query (radix selection with many workgroups per row) and what orders
// candidate sets beyond one workgroup's shared memory (a bitonic sort over global memory).

#include <cstdint>

#include "vecaccel/buffer.hpp"
#include "vecaccel/compute_encoder.hpp"
#include "vecaccel/device.hpp"

namespace vecaccel::detail {

/// Each row of a selection: `a_cols` candidates with labels (the running best of earlier
/// tiles; may be none), then `b_cols` values labelled b_label_offset + column.
struct RowSelectArgs {
  Buffer a_values, a_labels;
  std::uint32_t a_cols = 0, a_stride = 0, a_offset = 0;
  Buffer b_values;
  std::uint32_t b_cols = 0, b_stride = 0, b_offset = 0, b_label_offset = 0;
  std::uint32_t rows = 0, k = 0;
  bool largest = false;
  /// Source a holds exactly k candidates written by an earlier encode_row_select: its worst
  /// (slot k - 1) bounds the row, and values worse than it are skipped.
  bool bounded = false;
  Buffer out_values, out_labels;
  std::uint32_t out_stride = 0, out_offset = 0;
  /// Working memory: row_select_state_bytes(rows, a_cols + b_cols, k) at least.
  Buffer state;
};

/// Bytes of RowSelectArgs::state a selection of k of `cols` values in each of `rows` rows
/// needs (no more for fewer rows, values or k).
std::uint64_t row_select_state_bytes(const Capabilities& caps, std::uint32_t rows,
                                     std::uint64_t cols, std::uint32_t k);

/// Per row, the k best (value, label) pairs at out[out_offset + row * out_stride + i], i < k,
/// in no particular order except that slot k - 1 holds a value equal to the k-th best (the
/// worst selected); of values equal to it the first in column order are taken; rows with
/// fewer than k values are padded with label -1 and the worst value. Records its own barriers
/// between passes; the caller places one before reading the outputs.
void encode_row_select(Device& device, ComputeEncoder& encoder, const RowSelectArgs& args);

/// Sorted pairs per row of a sort over `count` entries: a power of two.
std::uint32_t sorted_width(std::uint32_t count);

struct PairSortArgs {
  /// Per row, `count` entries `stride` apart: keys (float64, or float32 when float_keys) and
  /// labels (-1: no entry).
  Buffer keys, labels;
  bool float_keys = false;
  std::uint32_t rows = 0, count = 0, stride = 0, k = 0;
  bool largest = false;
  /// Working memory: rows * sorted_width(count) float64 keys and uint32 labels.
  Buffer sort_keys, sort_labels;
  Buffer out_values, out_labels;
  std::uint32_t out_offset = 0;  // first output row
  /// Optional (with `screen`, the screen's values of the entries): certificate[2 row] = the
  /// k-th best key's value, [2 row + 1] = screen[row * stride + count - 1].
  Buffer screen, certificate;
};

/// Per row, the k best entries by key, ties by label, as float32 values (bits of the float64
/// value rounded to nearest; float keys as given) and int32 labels at out[(out_offset + row)
/// * k + i]; entries past `count` are label -1 and the worst value. Any count; records its
/// own barriers, the caller one before reading the outputs.
void encode_sort_pairs(Device& device, ComputeEncoder& encoder, const PairSortArgs& args);

}  // namespace vecaccel::detail
