#include "screen_norms.hpp"

#include <algorithm>
#include <cmath>

namespace vecaccel::detail {

double ScreenNorms::bound(Metric metric, std::size_t dim, ScreenPrecision precision,
                          double query_norm, double centred_query_norm, double screen_value,
                          double query_copy_error) const {
  // With a centre, the plain rows are read in float32 and the queries converted by the
  // kernel: the a-priori bounds.
  const CopyErrors plain_copies =
      centre != nullptr ? CopyErrors{}
                        : CopyErrors{.query = query_copy_error,
                                     .base = plain_copy_error >= 0.0 ? plain_copy_error : INFINITY,
                                     .every_row_copied = plain_all_copied};
  const double plain = any_plain ? screen_error_bound(metric, dim, query_norm, max_norm, precision,
                                                      screen_value, plain_copies)
                                 : 0.0;
  if (centre == nullptr) return plain;
  const CopyErrors centred_copies{
      .query = query_copy_error, .base = centred_copy_error, .every_row_copied = true};
  return std::max(plain, centred_screen_error_bound(dim, centred_query_norm, max_centred_norm,
                                                    precision, centred_copies));
}

ScreenNorms screen_norms(std::span<const BaseChunk> chunks, Metric metric,
                         ScreenPrecision precision) {
  ScreenNorms norms;
  const bool reads_copies =
      precision == ScreenPrecision::half_base || precision == ScreenPrecision::half_copies;
  if (metric == Metric::l2 && reads_copies) {
    const auto copy = std::find_if(chunks.begin(), chunks.end(),
                                   [](const BaseChunk& c) { return c.halves.valid(); });
    if (copy != chunks.end()) norms.centre = copy->centre.get();
  }
  for (const BaseChunk& c : chunks) {
    const bool copied = reads_copies && c.halves.valid() && c.centre.get() == norms.centre;
    if (norms.centre != nullptr && copied) {
      norms.max_centred_norm = std::max(norms.max_centred_norm, c.max_centred_norm);
      norms.centred_copy_error = std::max(norms.centred_copy_error, c.max_half_error);
      continue;
    }
    norms.any_plain = true;
    norms.max_norm = std::max(norms.max_norm, c.max_norm);
    if (copied) {
      norms.plain_copy_error = std::max(norms.plain_copy_error, c.max_half_error);
    } else {
      norms.plain_all_copied = false;
    }
  }
  return norms;
}

}  // namespace vecaccel::detail
