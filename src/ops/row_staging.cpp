#include "row_staging.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>

#include "certificate.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::detail {

double row_norm(std::span<const float> row) {
  double sum = 0.0;
  for (const float v : row)
    sum += static_cast<double>(v) * static_cast<double>(v);
  return std::sqrt(sum);
}

void check_finite(std::span<const float> values, std::size_t dim, std::string_view what,
                  std::size_t first_row) {
  // An exponent of all ones marks Inf and NaN; OR-ing that test over the values vectorises,
  // so the common all-finite case costs a fraction of a branch per value.
  std::uint32_t any = 0;
  for (const float v : values)
    any |=
        static_cast<std::uint32_t>((std::bit_cast<std::uint32_t>(v) & 0x7f800000u) == 0x7f800000u);
  if (any == 0) return;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      throw Error(Errc::invalid_argument, std::string(what) + " row " +
                                              std::to_string(first_row + i / dim) + " holds " +
                                              std::to_string(values[i]) + " at dimension " +
                                              std::to_string(i % dim) + ": values must be finite");
    }
  }
}

double cosine_row_scale(std::span<const float> row) {
  float largest = 0.0f;
  for (const float v : row)
    largest = std::max(largest, std::fabs(v));
  return largest > 0.0f && std::isfinite(largest) ? std::ldexp(1.0, -std::ilogb(largest)) : 1.0;
}

std::vector<double> stage_rows(std::span<const float> values, std::span<std::byte> out,
                               std::size_t dim, Metric metric, std::string_view what,
                               std::size_t first_row) {
  if (out.size() < values.size_bytes()) {
    throw Error(Errc::invalid_argument, "staging " + std::to_string(values.size_bytes()) +
                                            " bytes of " + std::string(what) + " rows into " +
                                            std::to_string(out.size()) + " mapped bytes");
  }
  check_finite(values, dim, what, first_row);
  float* target = reinterpret_cast<float*>(out.data());  // mapped memory: aligned for floats
  const std::size_t rows = values.size() / dim;
  std::vector<double> norms(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    const auto row = values.subspan(r * dim, dim);
    float* staged = target + r * dim;
    if (metric == Metric::cosine) {
      const double scale = cosine_row_scale(row);
      for (std::size_t i = 0; i < dim; ++i)
        staged[i] = static_cast<float>(row[i] * scale);
      norms[r] = row_norm({staged, dim});
      continue;
    }
    std::copy(row.begin(), row.end(), staged);
    norms[r] = row_norm(row);
    check_squared_norm(norms[r], metric, what, first_row + r);
  }
  return norms;
}

std::vector<double> stage_centred_rows(std::span<const float> values, std::span<std::byte> out,
                                       std::size_t dim, const RowCentre& centre) {
  const std::size_t rows = values.size() / dim;
  auto* target = reinterpret_cast<float*>(out.data());
  std::vector<double> norms(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    const auto row = values.subspan(r * dim, dim);
    norms[r] = centre_row(row, centre.values, target + r * dim);
  }
  return norms;
}

}  // namespace vecaccel::detail
