#include "integer_screen.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "kernels.hpp"
#include "util/settings.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::detail {

bool integer_queries(std::span<const float> values, ElementType type) {
  if (type == ElementType::float32) return false;
  const float lowest = type == ElementType::int8 ? -128.0f : 0.0f;
  const float highest = type == ElementType::int8 ? 127.0f : 255.0f;
  bool all = true;
  for (const float v : values)
    all &= v >= lowest && v <= highest && v == std::nearbyint(v);
  return all;
}

ElementType integer_rows(const Capabilities& caps, std::size_t dim, std::span<const float> queries,
                         std::span<const BaseChunk> chunks) {
  if (!integer_screen_setting() || chunks.empty() || dim > max_integer_product_dim ||
      !int_coop_distances_supported(caps, static_cast<std::uint32_t>(dim)))
    return ElementType::float32;
  const ElementType type = chunks.front().byte_type;
  for (const BaseChunk& c : chunks) {
    if (!c.bytes.valid() || !c.byte_norms.valid() || c.byte_type != type)
      return ElementType::float32;
  }
  return integer_queries(queries, type) ? type : ElementType::float32;
}

void stage_integer_rows(std::span<const float> values, std::size_t dim, std::span<std::byte> out) {
  const std::size_t rows = dim == 0 ? 0 : values.size() / dim;
  const std::size_t norms_at = integer_rows_bytes(rows, dim);
  if (out.size() < norms_at + rows * sizeof(std::uint32_t)) {
    throw Error(Errc::invalid_argument, "staging " + std::to_string(rows) +
                                            " integer rows of dimension " + std::to_string(dim) +
                                            " into " + std::to_string(out.size()) + " bytes");
  }
  for (std::size_t r = 0; r < rows; ++r) {
    std::uint32_t norm = 0;  // at most 255^2 * 65536 < 2^32
    for (std::size_t i = 0; i < dim; ++i) {
      const auto v = static_cast<std::int32_t>(values[r * dim + i]);
      out[r * dim + i] = static_cast<std::byte>(static_cast<std::uint8_t>(v));
      norm += static_cast<std::uint32_t>(v * v);
    }
    std::memcpy(out.data() + norms_at + r * sizeof norm, &norm, sizeof norm);
  }
}

}  // namespace vecaccel::detail
