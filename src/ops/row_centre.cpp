#include "row_centre.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace vecaccel::detail {

std::shared_ptr<const RowCentre> make_row_centre(
    Context& context, std::size_t dim, std::size_t rows,
    const std::function<std::vector<float>(std::size_t)>& row, std::size_t samples) {
  const std::size_t taken = std::min(rows, samples);
  std::vector<double> sum(dim, 0.0);
  std::size_t finite_rows = 0;
  bool integers = true;
  for (std::size_t s = 0; s < taken; ++s) {
    // Evenly spread: rows are often sorted or grouped (by class, by time), and the first
    // rows alone would centre on one group.
    const std::vector<float> values = row(s * rows / taken);
    if (!std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); }))
      continue;
    for (std::size_t i = 0; i < dim; ++i) {
      sum[i] += values[i];
      integers = integers && values[i] == std::nearbyint(values[i]);
    }
    ++finite_rows;
  }
  if (finite_rows == 0) return nullptr;
  auto centre = std::make_shared<RowCentre>();
  centre->values.resize(dim);
  for (std::size_t i = 0; i < dim; ++i) {
    const double mean = sum[i] / static_cast<double>(finite_rows);
    // Integer rows stay integers about an integer centre: their centred copies are exact
    // wherever the centred values fit float16's 11 bits (pixels: all of them).
    centre->values[i] = static_cast<float>(integers ? std::nearbyint(mean) : mean);
  }
  double squares = 0.0;
  for (const float v : centre->values)
    squares += static_cast<double>(v) * static_cast<double>(v);
  centre->norm = std::sqrt(squares);
  const std::size_t bytes = dim * sizeof(float);
  centre->buffer = context.buffer_factory().make_buffer(
      {.size = bytes, .storage = StorageMode::shared, .label = "l2 row centre"});
  std::memcpy(centre->buffer.mapped().data(), centre->values.data(), bytes);
  context.residency_manager().register_buffer(centre->buffer, ResidencyMode::persistent);
  context.residency_manager().commit();
  return centre;
}

double centre_row(std::span<const float> row, std::span<const float> centre, float* out) {
  double sum = 0.0;
  for (std::size_t i = 0; i < row.size(); ++i) {
    const float v = row[i] - centre[i];
    out[i] = v;
    sum += static_cast<double>(v) * v;
  }
  return std::sqrt(sum);
}

double centred_norm(std::span<const float> row, std::span<const float> centre) {
  double sum = 0.0;
  for (std::size_t i = 0; i < row.size(); ++i) {
    const auto v = static_cast<double>(row[i] - centre[i]);
    sum += v * v;
  }
  return std::sqrt(sum);
}

double centred_norm_bound(double norm, const RowCentre& centre) {
  // Each element's float32 subtraction rounds by at most 2^-24 of its result.
  return (norm + centre.norm) * (1.0 + 0x1p-23);
}

}  // namespace vecaccel::detail
