#include "certificate.hpp"

#include <cmath>

namespace vecaccel::detail {
namespace {

constexpr double unit_roundoff = 0x1p-24;  // float32, round to nearest
/// What a flushed denormal can lose per operation.
constexpr double flush_error = 0x1p-126;
/// Covers the rounding of the bound's own float64 arithmetic (relative 2^-50 at most).
constexpr double safety = 1.0 + 0x1p-20;

/// γ_n = n u / (1 - n u): the relative error bound of n chained float32 roundings.
double gamma(double n) {
  return n * unit_roundoff / (1.0 - n * unit_roundoff);
}

}  // namespace

double screen_error_bound(Metric metric, std::size_t dim, double query_norm, double max_base_norm) {
  const auto d = static_cast<double>(dim);
  // Each of the about 3d + 8 operations may flush a denormal result.
  const double flushed = (6.0 * d + 16.0) * flush_error;
  switch (metric) {
    case Metric::l2: {
      // |q|², |x|² and q.x each within γ_d of Σ|.| (<= |q||x| for the dot product), then
      // two more roundings of a sum bounded by (|q| + |x|)².
      const double reach = query_norm + max_base_norm;
      return gamma(d + 3.0) * reach * reach * safety + flushed;
    }
    case Metric::inner_product:
      return gamma(d + 1.0) * query_norm * max_base_norm * safety + flushed;
    case Metric::cosine:
      // q.x within γ_d |q||x|; the denominator sqrt(|q|²) sqrt(|x|²) within γ_d + 3 ulp-sized
      // steps, each of which Vulkan lets be 2.5 ulp (sqrt, division): 20 u covers them. Rows
      // and queries are scaled so |q|, |x| >= 1, which bounds the flushed part by itself.
      return (2.0 * gamma(d) + 20.0 * unit_roundoff) * safety + flushed;
  }
  return INFINITY;
}

bool certified(Metric metric, double kth_exact, double screen_last, double bound) {
  if (std::isnan(bound) || std::isinf(bound)) return false;
  if (smaller_is_better(metric)) return kth_exact < screen_last - bound;
  return kth_exact > screen_last + bound;
}

}  // namespace vecaccel::detail
