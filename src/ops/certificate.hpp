#pragma once
// The exactness certificate of a screened kNN search (docs/exactness.md derives it).
//
// The screen ranks every base row by a float32 value s̃ (expanded form: |q|² + |x|² - 2 q.x, or
// q.x, or the cosine from them) whose error against the true value is at most
// screen_error_bound(...). Its best `screen_k` rows become candidates and are re-ranked
// exactly. If the exact k-th best T among the candidates is strictly better than anything a
// row outside them can be — its screened value is no better than the screen's last candidate
// S, so its true value is no better than S ∓ bound — the candidates' exact top k is the top k
// of the whole base, ties by label included.

#include <cmath>
#include <cstddef>
#include <string_view>

#include "vecaccel/metric.hpp"

namespace vecaccel::detail {

/// The arithmetic of the screen's products: float32 (SIMT kernels), or tensor cores with each
/// row scaled by a power of two to a norm below 1 and rounded to float16 (float16x3: plus its
/// float16 remainder, three products per pair), accumulated in float32; or float32 queries
/// against the base's float16 copy (half_base: rows scaled by powers of two, half_rows.comp),
/// accumulated in float32 by the streaming kernel; or tensor cores over float16 copies of both
/// (half_copies: the queries' copy made like the base's), accumulated in float32; or l2 in
/// direct form, (q - x)^2 summed in float32 by the SIMT kernels (float32_direct: an error
/// relative to the distance, where the others' is relative to the norms); or integer tensor
/// cores over uint8/int8 rows and integer queries (integer: exact products and norms, only the
/// float32 rounding of the value written; distances_int_coop.glsl).
enum class ScreenPrecision {
  float32,
  float16,
  float16x3,
  half_base,
  half_copies,
  float32_direct,
  integer
};

/// Rows and queries whose squared norm exceeds this are refused for l2 and inner product:
/// the screen's float32 values (|q|² + |x|² + 2|q||x| at most) must stay finite.
inline constexpr double max_squared_norm = 0x1p124;

/// Throws invalid_argument, "<what> row <row> has squared norm ...", where an l2 or inner
/// product row of float64 norm `norm` is above max_squared_norm. Cosine rows are scaled
/// before the screen reads them and never overflow.
void check_squared_norm(double norm, Metric metric, std::string_view what, std::size_t row);

/// What the float16 copies a screen reads (half_base: the base's; half_copies: the query's and
/// the base's) measured of their own rounding (half_rows.glsl): the largest relative error
/// |x~ - x| / |x| of a row, as the kernel computed it in float32. Infinite where unknown: the
/// worst case of every element (2^-10) holds. Most data rounds to far less (about 2^-12 a row
/// against 2^-10), and the bound shrinks with it.
struct CopyErrors {
  double query = INFINITY;
  double base = INFINITY;
  /// Every base row the half_copies screen reads has a copy (none falls back on the
  /// float32-operand tensor-core kernel, whose own conversion is bounded a priori).
  bool every_row_copied = false;
};

/// A rigorous bound on a copy's relative error from what half_rows.glsl measured of a row of
/// `dim` elements in float32 (`measured`): its own rounding covered. Never above 2^-10, the
/// worst case of faithful rounding of every element, which holds in any case; NaN (not
/// measured) gives that.
double copy_relative_error(double measured, std::size_t dim);

/// A rigorous bound on |s̃ - s| for one query against any base row of the search, from the
/// query's norm and the largest base norm (both of the vectors the screen read; cosine
/// screens read rows scaled to a largest element in [1, 2)). Covers float32 rounding with
/// any summation order and FMA contraction, and flushed denormals.
/// Tensor-core screens add their products' error (docs/exactness.md, "Tensor-core screens").
/// The integer screen's l2 and inner-product values are exact integers rounded once to
/// float32: their bound is relative to the value, at `screen_value` (docs/exactness.md,
/// "Integer screens"). `copies` tightens the bounds of screens reading float16 copies.
///
/// l1, linf and l2 in direct form (float32 screens only; infinite for any other) err relative
/// to the value itself, not to the norms: for them the bound holds for every row screened at
/// `screen_value` or worse (pass the screen's last candidate value), s >= s̃ - bound there
/// (docs/exactness.md, "l1 and linf"). Left out, it is infinite: nothing is certified.
double screen_error_bound(Metric metric, std::size_t dim, double query_norm, double max_base_norm,
                          ScreenPrecision precision = ScreenPrecision::float32,
                          double screen_value = INFINITY, const CopyErrors& copies = {});

/// The bound of an l2 screen that reads rows and queries minus a centre c (float16 copies made
/// about it, row_centre.hpp): screen_error_bound of the centred vectors (their float64 norms
/// as rounded to float32, `query_norm` and `max_base_norm`), plus what the float32 rounding
/// (or flushing) of each centred element changes in the distance (docs/exactness.md,
/// "Centred copies"). Infinite where the centred screen's float32 values could overflow.
double centred_screen_error_bound(std::size_t dim, double query_norm, double max_base_norm,
                                  ScreenPrecision precision, const CopyErrors& copies = {});

/// Whether no row outside the candidates can enter the top k: `kth_exact` is the exact k-th
/// best candidate value, `screen_last` the screen's value of its last candidate.
bool certified(Metric metric, double kth_exact, double screen_last, double bound);

}  // namespace vecaccel::detail
