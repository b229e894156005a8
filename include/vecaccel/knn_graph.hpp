#pragma once
// The exact self-kNN graph of a set of vectors: for each row, its k nearest *other* rows.
//
// knn_graph(devices, base, k, metric) searches the base against itself (search(), so the base
// is held, streamed or sharded over the devices as plan_search decides) for k + 1 neighbours
// and leaves each row out of its own list *by position*: the row's own label is dropped wherever
// it stands (an exact duplicate of the row with a smaller id ranks before it, and one with a
// larger id after it), or, where k + 1 rows tie ahead of it, the first k are kept. Either way a
// row's list is exactly the k best other rows, equal to a float64 brute force over the other
// rows, ties by the smaller label (docs/exactness.md): exact duplicates elsewhere are kept.
// Rows with fewer than k other rows (k >= rows) are padded with label -1 and the metric's worst
// distance (+inf, or -inf for inner product and cosine), as search() pads.
//
// Queries are the base's rows widened to float32: rows in host memory and float32 files whose
// rows lie back to back are read in place; others (uint8/int8 rows, .fvecs) are widened a block
// of rows at a time (each block is one search(), which uploads a held base again).
//
// Thread safety, lifetime and errors as search() (vecaccel/search.hpp); besides:
// invalid_argument for k = 0 and for a FlatIndex base (its labels need not be its rows).

#include <cstddef>
#include <span>

#include "vecaccel/context.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/search.hpp"

namespace vecaccel {

/// The k nearest other rows of every row of `base`: result.knn is rows x k, labelled by base
/// rows (a file range's file rows), best first. plan, passes and times sum the searches run.
SearchResult knn_graph(std::span<Context* const> devices, const SearchBase& base, std::size_t k,
                       Metric metric, const SearchOptions& options = {});
/// On one context.
SearchResult knn_graph(Context& context, const SearchBase& base, std::size_t k, Metric metric,
                       const SearchOptions& options = {});

/// Drops each row's own label from a search of rows against themselves for k + 1 neighbours
/// (row r's own label is first_label + r): the k best others of each row, as knn_graph gives
/// them. Pure; invalid_argument when `self` is not k + 1 wide (naming both).
KnnResult drop_self(const KnnResult& self, std::size_t k, std::size_t first_label);

}  // namespace vecaccel
