#pragma once
// Exact merging of top-k lists searched over disjoint parts of one base (the shards of a
// ShardedIndex, the ranks of an MPI search).
//
// Each part's list is exact for its rows: ordered by the float64 direct-form value, ties by
// label, each distance that value rounded to float32. Rounding is monotone, so candidates of
// different parts are ordered by their float32 distances, except where those are equal: two
// float64 values may round to one float32. Only there the float64 values decide (then the
// label), and only for candidates of different parts (a part already ordered its own). The
// merge therefore asks for float64 values of those slots alone; its result equals one search
// over the whole base bit for bit. Labels are the global row numbers (a search orders ties by
// row); callers map them to ids afterwards.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel::detail {

/// The float64 direct-form value the engine ranks by (shaders/knn_rerank.comp): Σ(qᵢ − xᵢ)²,
/// Σ qᵢxᵢ, Σ qᵢxᵢ / (sqrt(Σqᵢ²) sqrt(Σxᵢ²)) (0 for a zero vector), Σ|qᵢ − xᵢ| or max |qᵢ − xᵢ|,
/// summed in order.
double direct_distance(std::span<const float> query, std::span<const float> row, Metric metric);

/// For each part, the slots (query * k + j) whose float64 value merge_exact needs: candidates
/// whose float32 distance equals that of another part's candidate, where that value can still
/// reach the top k. Parts must have the same rows and k.
std::vector<std::vector<std::size_t>> slots_needing_exact(std::span<const KnnResult> parts,
                                                          Metric metric);

/// The top k over all parts (rows padded with label -1 and the worst distance when they hold
/// fewer than k candidates). exact[p][slot] is read only for the slots slots_needing_exact
/// named (an empty exact[p] is fine for a part that has none). second_pass_queries is the sum
/// of the parts'. invalid_argument when the parts' shapes differ or a part's distances are out
/// of its metric's order (both functions).
KnnResult merge_exact(std::span<const KnnResult> parts, std::span<const std::vector<double>> exact,
                      Metric metric);

/// Part p's rows with these labels, widened to float, back to back.
using PartRows =
    std::function<std::vector<float>(std::size_t part, std::span<const std::int64_t> labels)>;

/// merge_exact, the float64 values it needs computed here (direct_distance) from the rows that
/// `rows` reads back: the merge of parts searched on one host (shards, devices of a search).
/// queries: the parts' queries, rows of dim.
KnnResult merge_exact_reading_rows(std::span<const KnnResult> parts, std::span<const float> queries,
                                   std::size_t dim, Metric metric, const PartRows& rows);

}  // namespace vecaccel::detail
