#pragma once
// What the certificate's bound needs of the chunks a screen reads (certificate.hpp), gathered
// once per search: the norms of the rows read as stored or centred, and the measured errors of
// the float16 copies read (docs/exactness.md, "Centred copies", "Measured copy errors").

#include <cstddef>
#include <limits>
#include <span>

#include "certificate.hpp"
#include "knn_engine.hpp"
#include "row_centre.hpp"
#include "vecaccel/metric.hpp"

namespace vecaccel::detail {

/// What the certificate's bound needs of the chunks a screen reads: the largest norm of the
/// rows read as stored, and where an l2 screen reads float16 copies made about a centre
/// (the first chunk's with a copy), that centre and the largest norm of the centred rows;
/// where it reads copies, their largest measured errors.
struct ScreenNorms {
  const RowCentre* centre = nullptr;
  bool any_plain = false;  ///< some rows are read as stored (or through an uncentred copy)
  double max_norm = 0.0;   ///< of those
  double max_centred_norm = 0.0;
  /// The largest measured error of the copies read among the plain rows (none read: -inf),
  /// and whether every plain row is read through a copy.
  double plain_copy_error = -std::numeric_limits<double>::infinity();
  bool plain_all_copied = true;
  double centred_copy_error = 0.0;  ///< of the centred copies

  /// The bound for one query (its norm, and its centred norm where there is a centre) at
  /// the screen's last candidate value; `query_copy_error`: its float16 copy's measured error
  /// (half_copies: of the centred query where there is a centre; else infinite).
  double bound(Metric metric, std::size_t dim, ScreenPrecision precision, double query_norm,
               double centred_query_norm, double screen_value, double query_copy_error) const;
};

/// Which rows a screen of this precision reads how (knn_batch.cpp, piece_distances): through
/// a float16 copy where the chunk has one made about the search's centre (none but for l2),
/// else as stored.
ScreenNorms screen_norms(std::span<const BaseChunk> chunks, Metric metric,
                         ScreenPrecision precision);

}  // namespace vecaccel::detail
