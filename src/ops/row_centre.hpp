#pragma once
// The centre an index's l2 rows are shifted by before their float16 copy is made
// (half_rows_centred.comp). l2 distances do not change under a shift, but the copy's error
// scales with the norms of what it rounds: pixel or count data, all of it far from the
// origin, has norms far above its distances' spread, and centred it keeps most of its
// certificates (docs/exactness.md, "Centred copies"). Any centre is exact; the mean of the
// rows is a good one.

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "vecaccel/buffer.hpp"
#include "vecaccel/context.hpp"

namespace vecaccel::detail {

/// dim floats, on the host and (unchanging, resident) on the GPU. Immutable once made, so
/// chunks and searches share one freely across threads.
struct RowCentre {
  std::vector<float> values;
  Buffer buffer;
  double norm = 0.0;  ///< of `values`, float64
};

/// The float32 rounding of the float64 mean of up to `samples` of `rows` rows (all of them if
/// fewer), spread evenly over them, leaving out rows holding NaN or Inf (their add is refused
/// anyway), rounded to integers where every sampled value is one; `row(i)` gives row i (dim
/// floats). None when no sampled row is finite. The
/// centre's buffer is registered with the context's residency manager.
std::shared_ptr<const RowCentre> make_row_centre(
    Context& context, std::size_t dim, std::size_t rows,
    const std::function<std::vector<float>(std::size_t)>& row, std::size_t samples = 4096);

/// out[i] = row[i] - centre[i] in float32 (the rounding the GPU's subtraction makes); returns
/// the float64 norm of what it wrote (centred_norm), never reading `out` back (it may be
/// write-combined mapped memory).
double centre_row(std::span<const float> row, std::span<const float> centre, float* out);

/// The float64 norm of row - centre as centre_row rounds it: the norm of what the centred
/// copy holds (the certificate's bound needs it).
double centred_norm(std::span<const float> row, std::span<const float> centre);
/// An upper bound of centred_norm for rows of float64 norm at most `norm` (|x - c| <= |x| +
/// |c|, and the float32 rounding): for rows whose centred norms were never computed.
double centred_norm_bound(double norm, const RowCentre& centre);

}  // namespace vecaccel::detail
