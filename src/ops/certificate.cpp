#include "certificate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "vecaccel/error.hpp"

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

/// The bound of the float32 screen (every path's norms and metric are float32).
double float32_bound(Metric metric, std::size_t dim, double query_norm, double max_base_norm) {
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
    case Metric::l1:
    case Metric::linf:  // value_relative_bound
      break;
  }
  return INFINITY;
}

/// The tensor cores' float32 accumulation is not documented as round to nearest (NVIDIA's are
/// reported to truncate, Fasi et al. 2021): twice the unit covers truncation.
double gamma_accumulate(double n) {
  return n * 0x1p-23 / (1.0 - n * 0x1p-23);
}

/// A float16 conversion's relative error, whatever faithful rounding the device applies...
constexpr double half_unit = 0x1p-10;
/// ...and what an element below float16's normal range may lose: tensor cores may flush
/// subnormal inputs to zero.
constexpr double half_flush = 0x1p-14;
/// The three-term screen keeps high parts normal and scales low parts by 2^11, so only what
/// lies below 2^-25 can be lost (plus rounding below it).
constexpr double split_flush = 0x1p-24;
/// Rows are scaled to a norm in [64, 128), so 1/scale < |row| / 32; a row too small for
/// float32's normal range gets 2^60 (1/scale = 2^-60 < 2^-55 / 32).
constexpr double scaled_norm_over_row = 32.0;
constexpr double tiny_norm = 0x1p-55;

/// |q.x - screen product| of a tensor-core screen, from the norms. With a, b the scaled rows
/// and η what an element may lose below float16's normal range: the product errs by
/// relative·|a||b| + 1.01 η √d (|a| + |b|) + η² d. Dividing by the scales turns |a||b| into
/// |q||x| and η √d |a| / (s_q s_x) = η √d |q| / s_x into at most η √d |q||x| / 32.
double coop_product_error(ScreenPrecision precision, double d, double query_norm,
                          double max_base_norm) {
  const double u = half_unit;
  double relative = 0.0;
  double eta = 0.0;
  if (precision == ScreenPrecision::float16) {
    // a.b - hi_a.hi_b = a (b - hi_b) + (a - hi_a) hi_b, then d products accumulated.
    relative = 2.0 * u + u * u + 1.01 * gamma_accumulate(d);
    eta = half_flush;
  } else {
    // a = hi + 2^-11 lo + r, hi truncated (|a - hi| < 2^-10 |a|), |r| <= u |a - hi|: the
    // dropped lo.lo, hi.r and r.b (2^-20 each); the two accumulators (d and 2d products, the
    // second worth 2^-9 of the first) and their float32 sum.
    relative =
        3.2 * 0x1p-20 + 1.01 * gamma_accumulate(d) + 0x1p-9 * gamma_accumulate(2.0 * d) + 0x1p-23;
    eta = split_flush;
  }
  const double q = std::max(query_norm, tiny_norm);
  const double x = std::max(max_base_norm, tiny_norm);
  const double absolute = 2.0 * 1.01 * eta * std::sqrt(d) / scaled_norm_over_row +
                          eta * eta * d / (scaled_norm_over_row * scaled_norm_over_row);
  // 1.01: |a|, |b| slightly above 128 when the float32 norm rounded down.
  return 1.01 * (relative * query_norm * max_base_norm + absolute * q * x) +
         2.0 * flush_error;  // the exact power-of-two unscaling may flush
}

/// |q.x - q.x̃| for the base's float16 copy x̃ (half_rows.comp): each element of a row scaled
/// into [2^14, 2^15) at its largest rounds faithfully (relative 2^-10) in float16's normal
/// range, or the row as a whole as measured (`base_error`); below that range (2^-14 scaled,
/// 2^-28 of the row's largest element or less) an element may flush where it is read, an
/// absolute 2^-14 in scaled units: at most 2^-28 |x| per element, or, for rows whose scale was
/// clamped at 2^100, 2^-114 per element. Summed against q: Cauchy-Schwarz over d elements.
double half_copy_error(double d, double query_norm, double max_base_norm, double base_error) {
  return 1.01 * (copy_relative_error(base_error, static_cast<std::size_t>(d)) * query_norm *
                     max_base_norm +
                 std::sqrt(d) * query_norm * (0x1p-28 * max_base_norm + 0x1p-114));
}

/// |q.x - screen product| of the tensor-core kernel over float16 copies of both operands
/// (half_rows.comp): q̃.x̃ - q.x = q.δx + δq.x + δq.δx with |δq| <= r_q |q|, |δx| <= r_x |x|
/// (each element faithful, 2^-10, or each row as measured), plus what an element below
/// float16's normal range may lose where the tensor cores read it (2^-28 of its row's largest
/// element; 2^-114 where the row's scale was clamped); the products of the copies are exact in
/// float32 and accumulate over d terms of at most |q̃||x̃|. Where some chunk has no copy, it
/// falls back on the float32-operand kernel: the bound covers both.
double half_copies_product_error(double d, double query_norm, double max_base_norm,
                                 const CopyErrors& copies) {
  const auto n = static_cast<std::size_t>(d);
  const double rq = copy_relative_error(copies.query, n);
  const double rx = copy_relative_error(copies.base, n);
  const double relative = rq + rx + rq * rx + 1.01 * gamma_accumulate(d) * (1.0 + rq) * (1.0 + rx);
  const double flushed = 2.0 * std::sqrt(d) * 0x1p-28 * query_norm * max_base_norm +
                         std::sqrt(d) * 0x1p-114 * (query_norm + max_base_norm);
  const double both = 1.01 * (relative * query_norm * max_base_norm + flushed) +
                      2.0 * flush_error;  // the exact power-of-two unscaling may flush
  if (copies.every_row_copied) return both;
  return std::max(both, coop_product_error(ScreenPrecision::float16, d, query_norm, max_base_norm));
}

/// The product error of a tensor-core screen.
double tensor_product_error(ScreenPrecision precision, double d, double query_norm,
                            double max_base_norm, const CopyErrors& copies) {
  if (precision == ScreenPrecision::half_copies)
    return half_copies_product_error(d, query_norm, max_base_norm, copies);
  return coop_product_error(precision, d, query_norm, max_base_norm);
}

/// l1, linf and l2 in direct form: a row of true value s screens at s̃ with |s̃ - s| <= ρ s + a,
/// so every row screened at S or worse has s >= (S - a) / (1 + ρ) >= S - (ρ S + a): the bound
/// at S. l1 rounds each difference once (relative u) and sums d terms in any order (γ_{d-1},
/// with the difference's rounding γ_d); linf rounds each difference once and the maximum is
/// exact (u). l2 rounds each difference (its square: 2u), each square or fused square-add and
/// each sum (γ_d in any order): γ_{d+3} covers it, and a flushed input moves a difference
/// by 2^-126, its square by 2 |q_i - x_i| 2^-126 <= 2^-100 (q_i - x_i)^2 + 2^-152. a: what
/// flushed subnormals can lose, 2^-126 each: 2d inputs, d differences (or squares) and fewer
/// than 2d + 64 partial sums (padding and the subgroup's joins included).
double value_relative_bound(Metric metric, std::size_t dim, double screen_value) {
  if (!std::isfinite(screen_value) || screen_value < 0.0) return INFINITY;
  const auto d = static_cast<double>(dim);
  const double relative = metric == Metric::l1   ? gamma(d)
                          : metric == Metric::l2 ? gamma(d + 3.0) + 0x1p-99
                                                 : unit_roundoff;
  const double flushed = (5.0 * d + 64.0) * flush_error;
  return (relative * screen_value + flushed) * safety;
}

/// The integer screen (distances_int_coop.glsl): l2 and inner products are exact integers s
/// whose one float32 conversion s̃ is within half an ulp of s (correctly rounded; a whole ulp,
/// 2^-23 |s̃|, covers any rounding direction). A row screened at S or worse rounded to S or
/// worse, so its s lies within an ulp of S at most: the bound at S is 2^-23 |S|. An integer
/// rounding to 0 is 0. Cosine divides the rounded dot product by sqrt(|q|²) sqrt(|x|²) from
/// the rounded exact norms in float32: the float32 screen's cosine bound for one product term.
double integer_bound(Metric metric, double screen_value) {
  if (metric == Metric::cosine) return float32_bound(metric, 1, 1.0, 1.0);
  if (!std::isfinite(screen_value)) return INFINITY;
  return 0x1p-23 * std::fabs(screen_value) * safety;
}

}  // namespace

double copy_relative_error(double measured, std::size_t dim) {
  // The float32 sums of d squares (fused or separate roundings: γ_2d each, the numerator's
  // taken up and the denominator's down), the division and the square root (a few ulp), and
  // what a flushed square can hide (d 2^-126 against a scaled |x|² of at least 2^28).
  if (!(measured >= 0.0)) return half_unit;  // NaN or negative: not measured
  const double d = static_cast<double>(dim);
  const double inflated = measured * (1.0 + (2.0 * d + 32.0) * 0x1p-23) + 0x1p-60;
  return std::min(inflated, half_unit);
}

double screen_error_bound(Metric metric, std::size_t dim, double query_norm, double max_base_norm,
                          ScreenPrecision precision, double screen_value,
                          const CopyErrors& copies) {
  if (metric == Metric::l1 || metric == Metric::linf) {
    // No product form: only the SIMT float32 kernels screen them (knn_plan.cpp).
    if (precision != ScreenPrecision::float32) return INFINITY;
    return value_relative_bound(metric, dim, screen_value);
  }
  if (precision == ScreenPrecision::float32_direct) {
    return metric == Metric::l2 ? value_relative_bound(metric, dim, screen_value) : INFINITY;
  }
  if (precision == ScreenPrecision::integer) return integer_bound(metric, screen_value);
  const double float32_part = float32_bound(metric, dim, query_norm, max_base_norm);
  if (precision == ScreenPrecision::float32) return float32_part;
  const auto d = static_cast<double>(dim);
  if (precision == ScreenPrecision::half_base) {
    // The float32 arithmetic over the copy's elements (at most 2^-10 larger than the rows')
    // and the copy's own error.
    const double arithmetic = float32_part * (1.0 + 0x1p-9);
    switch (metric) {
      case Metric::l2:  // |q|² + |x|² (float32, from the rows) - 2 q.x̃
        return arithmetic + 2.0 * half_copy_error(d, query_norm, max_base_norm, copies.base);
      case Metric::inner_product:
        return arithmetic + half_copy_error(d, query_norm, max_base_norm, copies.base);
      case Metric::cosine:
        // Divided by |q||x| >= 1: rows scaled to a largest element in [1, 2) before the copy.
        return arithmetic + 1.01 * half_copy_error(d, 1.0, 1.0, copies.base);
      case Metric::l1:
      case Metric::linf:
        break;
    }
    return INFINITY;
  }
  switch (metric) {
    case Metric::l2:  // |q|² + |x|² - 2 q.x
      return float32_part +
             2.0 * tensor_product_error(precision, d, query_norm, max_base_norm, copies);
    case Metric::inner_product:
      return float32_part + tensor_product_error(precision, d, query_norm, max_base_norm, copies);
    case Metric::cosine:
      // Divided by about |q||x| >= 1 (rows scaled to a largest element in [1, 2)).
      return float32_part + 1.01 * tensor_product_error(precision, d, 1.0, 1.0, copies);
    case Metric::l1:
    case Metric::linf:
      break;
  }
  return INFINITY;
}

double centred_screen_error_bound(std::size_t dim, double query_norm, double max_base_norm,
                                  ScreenPrecision precision, const CopyErrors& copies) {
  const double reach = query_norm + max_base_norm;
  if (reach * reach > max_squared_norm) return INFINITY;
  // q' = fl(q - c) and x' = fl(x - c): e = (q' - x') - (q - x) has |e| <= u (|q - c| + |x - c|)
  // plus, per element of each, a flushed result's 2^-126; |q - c| + |x - c| <= 1.01 reach.
  // Then | |q' - x'|^2 - |q - x|^2 | = |2 (q - x).e + |e|^2| <= (2 |q - x| + |e|) |e|.
  const double e =
      1.01 * unit_roundoff * reach + 2.0 * std::sqrt(static_cast<double>(dim)) * flush_error;
  const double centring = (2.0 * 1.01 * reach + e) * e * safety;
  return screen_error_bound(Metric::l2, dim, query_norm, max_base_norm, precision, INFINITY,
                            copies) +
         centring;
}

bool certified(Metric metric, double kth_exact, double screen_last, double bound) {
  if (std::isnan(bound) || std::isinf(bound)) return false;
  if (smaller_is_better(metric)) return kth_exact < screen_last - bound;
  return kth_exact > screen_last + bound;
}

void check_squared_norm(double norm, Metric metric, std::string_view what, std::size_t row) {
  const double squared = norm * norm;
  if (metric == Metric::cosine || squared <= max_squared_norm) return;
  char value[32];
  std::snprintf(value, sizeof value, "%.6g", squared);
  throw Error(Errc::invalid_argument, std::string(what) + " row " + std::to_string(row) +
                                          " has squared norm " + value +
                                          ", above the 2^124 (2.1e37) for which float32 " +
                                          std::string(to_string(metric)) + " values stay finite");
}

}  // namespace vecaccel::detail
