#pragma once
// The host side of the integer screen (ScreenPrecision::integer): which queries may take it
// and how they are staged. A uint8 / int8 base searched with queries whose every value is an
// integer within the base's type is screened on integer tensor cores with exact products
// (distances_int_coop.glsl); any other query batch takes the float screens.

#include <cstddef>
#include <span>

#include "knn_engine.hpp"
#include "vecaccel/device.hpp"
#include "vecaccel/element_type.hpp"

namespace vecaccel::detail {

/// Whether every value is an integer within `type`'s range (uint8: 0..255, int8: -128..127);
/// false for float32 and for any NaN. One branch-free pass (vectorised), once per search.
bool integer_queries(std::span<const float> values, ElementType type);

/// The type of the chunks' bytes where the integer screen is on (integer_screen_setting) and the
/// device runs it at this dimension,
/// every chunk keeps its bytes (BaseChunk::bytes, byte_norms) and every query value fits their
/// type (integer_queries); else float32.
ElementType integer_rows(const Capabilities& caps, std::size_t dim, std::span<const float> queries,
                         std::span<const BaseChunk> chunks);

/// Bytes stage_integer_rows writes for `rows` rows of `dim` before their norms.
inline std::size_t integer_rows_bytes(std::size_t rows, std::size_t dim) {
  return rows * dim;
}

/// Writes rows of dim integer values (integer_queries holds) into `out` as one byte each (the
/// two's complement byte for int8), then each row's exact squared norm as a uint32 at
/// integer_rows_bytes(rows, dim) (4-byte aligned when dim is a multiple of 4). `out` must hold
/// both.
void stage_integer_rows(std::span<const float> values, std::size_t dim, std::span<std::byte> out);

}  // namespace vecaccel::detail
