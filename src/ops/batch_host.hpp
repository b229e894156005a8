#pragma once
// The host side of a screened batch (KnnEngine::screened_search): its queries staged into
// mapped memory, and its results grown while the GPU runs it and copied out of the readback.
// Large batches take several threads (WorkCrew): on the H100 machine, Fashion-MNIST's 4,096 x
// 784 queries took 6-7 ms to stage on one, and k = 10,000's 10 million results a batch took
// tens of milliseconds of page faults and copies (BENCHMARKS.md, session 15).

#include <cstddef>
#include <span>

#include "row_centre.hpp"
#include "vecaccel/buffer_pool.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel::detail {

/// An empty result with room for rows x k entries, to grow batch by batch (grow_result).
KnnResult reserved_result(std::size_t rows, std::size_t k);

/// Stages a batch's queries (and, about `centre`, their centred copy after them) into mapped
/// memory with their norms. A bad value throws for the first row that holds one, as one
/// thread would.
void stage_queries(std::span<const float> queries, std::span<std::byte> mapped, std::size_t dim,
                   Metric metric, std::size_t first_query, const RowCentre* centre,
                   std::span<double> query_norms, std::span<double> centred_norms);

/// Grows a reserved result to `entries` (zeroed), populating the new pages first: called while
/// the GPU runs the batch, so that a large result's first touch overlaps the search.
void grow_result(KnnResult& result, std::size_t entries);

/// Copies a batch's n values and n labels (float32, then int32, at the start of readback)
/// straight from the mapped buffer to entry `first` on; the result holds first + n entries.
void copy_results(const BufferToken& readback, std::size_t n, std::size_t first, KnnResult& result);

}  // namespace vecaccel::detail
