#pragma once
// Filtered search over host or file rows: few allowed rows are copied out of the base and
// searched alone (the cost follows them); more are left to each device's mask.

#include <optional>

#include "vecaccel/search.hpp"

namespace vecaccel::detail {

/// The search of options.filter's allowed rows of `base` (host rows or a mapped file), gathered
/// into host memory, when they are few enough for that (at most an eighth of the rows); else
/// nullopt (the caller searches every row with the filter).
std::optional<SearchResult> search_gathered(std::span<Context* const> devices,
                                            const SearchBase& base, MatrixView<const float> queries,
                                            std::size_t k, Metric metric,
                                            const SearchOptions& options);

}  // namespace vecaccel::detail
