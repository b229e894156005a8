#pragma once
// A held share of a search: its rows uploaded into a FlatIndex once, then searched a batch of
// queries at a time.

#include <cstddef>
#include <functional>

#include "ops/knn_engine.hpp"
#include "vecaccel/flat_index.hpp"
#include "vecaccel/search.hpp"

namespace vecaccel::detail {

/// Called with the rows (or queries) done so far.
using Advance = std::function<void(std::size_t done)>;

/// Adds `rows` rows of `base` from base row `first` (counted from base.first_row()) to `index`,
/// in slices of about 256 MiB, checking `deadline` between them. Errors naming a bad row name
/// it as the base labels it.
void upload_rows(FlatIndex& index, const SearchBase& base, std::size_t first, std::size_t rows,
                 const Deadline& deadline, const Advance& advance);

/// Waits for all the work submitted to `context` so far (errors ignored: a lost device runs
/// nothing), before buffers that work may read are freed.
void drain(Context& context) noexcept;

/// index.search over the queries, query_batch at a time, within `deadline`, filtered when
/// `filter` is set; labels as the index gives them.
KnnResult search_in_batches(const FlatIndex& index, MatrixView<const float> queries, std::size_t k,
                            std::size_t query_batch, const Deadline& deadline,
                            const Advance& advance, const IdFilter* filter = nullptr);

}  // namespace vecaccel::detail
