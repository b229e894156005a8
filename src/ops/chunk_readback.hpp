#pragma once
// Reading an index's rows back from its chunked device storage (chunk c holds rows [c *
// chunk_rows, (c + 1) * chunk_rows), every chunk but the last full): for reconstruct, the
// float64 tie-breaks that need a row, and save. Reads go through a host-visible pooled buffer
// of at most read_back_slice_bytes at a time, so large reads need little extra memory.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "vecaccel/buffer.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/element_type.hpp"

namespace vecaccel::detail {

inline constexpr std::uint64_t read_back_slice_bytes = std::uint64_t{16} << 20;

/// The rows at these positions, row_bytes each, back to back in the order given.
std::vector<std::byte> read_back_rows(Context& context, std::span<const Buffer> chunks,
                                      std::size_t chunk_rows, std::uint64_t row_bytes,
                                      std::span<const std::size_t> rows);

/// Rows [0, rows) of one buffer, handed to `sink` slice by slice in order.
void read_back_slices(Context& context, const Buffer& buffer, std::size_t rows,
                      std::uint64_t row_bytes,
                      const std::function<void(std::span<const std::byte>)>& sink);

/// float32 values from bytes of `type` (float32: the bytes reinterpreted; uint8/int8: each
/// byte widened, exactly).
std::vector<float> widen_on_host(ElementType type, std::span<const std::byte> bytes);

}  // namespace vecaccel::detail
