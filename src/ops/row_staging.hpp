#pragma once
// Rows of floats as the screen and the re-ranking read them: checked (finite, norms within
// range), cosine rows scaled by a power of two, l2 rows optionally centred, and their float64
// norms, which the certificate's bound needs.

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "row_centre.hpp"
#include "vecaccel/metric.hpp"

namespace vecaccel::detail {

/// The float64 norm of a row.
double row_norm(std::span<const float> row);

/// The power of two by which cosine rows (base and queries) are stored: it brings the row's
/// largest magnitude into [1, 2), so the screen's float32 norms neither overflow nor lose the
/// row to underflow; 1 for a zero or non-finite row. A double: for a row whose largest
/// magnitude is below 2^-127 (subnormal) it is beyond float's range. row[i] * scale is exact
/// in double, and rounds to float as a float product would.
double cosine_row_scale(std::span<const float> row);

/// Throws invalid_argument naming the first row holding NaN or Inf (`what`: "query", "base").
void check_finite(std::span<const float> values, std::size_t dim, std::string_view what,
                  std::size_t first_row = 0);

/// Copies rows of `dim` floats into mapped memory as the screen and the re-ranking read them
/// (cosine: each row scaled by cosine_row_scale, which changes no cosine), checking them in the
/// same pass; returns each staged row's float64 norm. Throws like check_finite and, for l2 and
/// inner product, for a squared norm above max_squared_norm.
std::vector<double> stage_rows(std::span<const float> values, std::span<std::byte> out,
                               std::size_t dim, Metric metric, std::string_view what,
                               std::size_t first_row);

/// Copies rows minus the centre (centre_row) into mapped memory; returns their float64 norms.
std::vector<double> stage_centred_rows(std::span<const float> values, std::span<std::byte> out,
                                       std::size_t dim, const RowCentre& centre);

}  // namespace vecaccel::detail
