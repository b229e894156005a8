#pragma once
// Ties by id. The engine labels rows by their position and orders ties by it; an index whose
// rows carry the caller's ids (add_with_ids) must order ties by id (KnnResult's contract),
// also at the k-th place, where a row with a smaller id may have been left out. This turns a
// search labelled by row into one labelled by id with ties by id: a search one row wider
// shows whether the k-th value ties past the k-th place (widened until the ties end), rows
// whose float32 values tie are ordered by their float64 values (read back) and then by id.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel::detail {

/// An index's rows as a search by row label sees them.
struct LabelledRows {
  /// Rows a search can return.
  std::size_t rows = 0;
  /// The caller's id of each row label.
  std::span<const std::int64_t> ids;
  /// Whether ids never descend (ids_ascend): the search's ties by row are then ties by id.
  bool ids_ascending = false;
  /// Exact search of queries for k rows, labelled by row, ties by row.
  std::function<KnnResult(std::span<const float> queries, std::size_t k)> search;
  /// The rows of these labels as the search compared them, labels.size() x dim floats.
  std::function<std::vector<float>(std::span<const std::size_t> labels)> fetch;
  /// Every row label (only when very many rows tie at the k-th place: id_order.cpp).
  std::function<std::vector<std::size_t>()> all_labels;
};

/// "row R has id I; ids must be >= 0 ..." for the first negative id of `ids`, or nothing: -1
/// labels padding in results, and a caller's -1 would be indistinguishable from it.
std::optional<std::string> negative_id_problem(std::span<const std::int64_t> ids);

/// Whether `ids` never descend, given that ids[0, appended_from) did when `ascending_before`:
/// only the appended ids (and the one before them) are read.
bool ids_ascend(std::span<const std::int64_t> ids, std::size_t appended_from,
                bool ascending_before);

/// The exact k nearest rows of each query, labelled by id, ties by id (padded with -1 and the
/// worst value past the rows there are).
KnnResult search_ties_by_id(std::span<const float> queries, std::size_t dim, std::size_t k,
                            Metric metric, const LabelledRows& rows);

}  // namespace vecaccel::detail
