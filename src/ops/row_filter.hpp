#pragma once
// A filter as the engine sees it: one bit per row it searches (positions, not ids), built from
// the caller's IdFilter by whoever knows each row's id, and the kernels that apply it — the
// mask (mask_rows.comp: denied rows become the worst value inside the screen, before any
// selection) and the gather (gather_rows.comp: few allowed rows copied into a smaller chunk).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "vecaccel/buffer.hpp"
#include "vecaccel/compute_encoder.hpp"
#include "vecaccel/device.hpp"
#include "vecaccel/id_filter.hpp"

namespace vecaccel::detail {

class RowFilter {
 public:
  RowFilter() = default;
  /// rows rows, none allowed.
  explicit RowFilter(std::size_t rows) : words_((rows + 31) / 32, 0), rows_(rows) {}

  /// Rows [0, rows) whose id is id_of(row) (ids of a FlatIndex, global labels of a share...).
  static RowFilter of_ids(const IdFilter& filter, std::size_t rows,
                          const std::function<std::int64_t(std::size_t)>& id_of);
  /// Rows [0, rows) whose id is first_id + row: an allow-list visits its ids alone.
  static RowFilter of_positions(const IdFilter& filter, std::size_t rows, std::int64_t first_id);

  void allow(std::size_t row) {
    const std::uint32_t bit = 1u << (row % 32);
    allowed_ += (words_[row / 32] & bit) == 0;
    words_[row / 32] |= bit;
  }
  bool allows(std::size_t row) const { return ((words_[row / 32] >> (row % 32)) & 1u) != 0; }
  std::size_t rows() const noexcept { return rows_; }
  std::size_t allowed() const noexcept { return allowed_; }
  /// Bit r of word r / 32: the layout mask_rows.comp reads.
  std::span<const std::uint32_t> words() const noexcept { return words_; }
  /// Rows [first, first + count) as a filter of their own.
  RowFilter slice(std::size_t first, std::size_t count) const;
  /// The allowed rows, ascending.
  std::vector<std::size_t> allowed_rows() const;

 private:
  std::vector<std::uint32_t> words_;
  std::size_t rows_ = 0;
  std::size_t allowed_ = 0;
};

/// Whether a search of `rows` rows gathers the allowed ones (few enough that searching them
/// alone costs less than masking every row) rather than masking.
bool gather_allowed_rows(const RowFilter& filter);

/// mask_rows.comp over `rows` x `cols` values `stride` apart: tile mode (labels invalid) takes
/// column c for row label_offset + c; label mode reads the labels beside the values and sets a
/// denied one to -1.
struct MaskArgs {
  Buffer values;
  Buffer labels;  // label mode; invalid: tile mode
  Buffer allowed;
  std::uint32_t rows = 0, cols = 0, stride = 0, label_offset = 0;
  bool largest = false;
};
void encode_mask_rows(Device& device, ComputeEncoder& encoder, const MaskArgs& args);

/// gather_rows.comp: rows source_rows (a buffer of count uint32) of `source` (width words each)
/// to rows [target_row, target_row + count) of `target`.
void encode_gather_rows(Device& device, ComputeEncoder& encoder, const Buffer& source,
                        const Buffer& target, const Buffer& source_rows, std::uint32_t count,
                        std::uint32_t width, std::uint32_t target_row);

}  // namespace vecaccel::detail
