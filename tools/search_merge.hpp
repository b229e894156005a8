#pragma once
// The ranks' parts of an mpirun search merged exactly into one top k (the library's merge).

#include <cstddef>
#include <cstdint>
#include <vector>

#include "search_base.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"
#include "vecaccel/vector_file.hpp"

namespace vecaccel::cli {

/// One part's results (a rank's) for the exact merge: global labels, and each candidate's
/// float64 value from the part's own rows (the merge reads those where float32 values tie).
struct PartResults {
  std::vector<float> distances;
  std::vector<std::int64_t> labels;
  std::vector<double> exact;
};

/// A part's results for the exact merge: `result`'s labels are global rows (-1: none), row
/// label + `file_offset` of `base` (a rank's own file can number its rows from 0).
PartResults part_results(KnnResult&& result, const Base& base, std::int64_t file_offset,
                         const Matrix<float>& queries, Metric metric);

/// The merge of every part's results, gathered back to back, into the final ids and distances.
void merge_parts(const PartResults& gathered, std::size_t ranks, std::size_t queries, std::size_t k,
                 Metric metric, Matrix<std::int32_t>& ids, Matrix<float>& distances);

}  // namespace vecaccel::cli
