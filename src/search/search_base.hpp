#pragma once
// The host side of a SearchBase: its rows as the streamed engine reads them.

#include "ops/base_upload.hpp"
#include "vecaccel/search.hpp"

namespace vecaccel::detail {

/// The rows of a base in host memory or a mapped file (not a FlatIndex), numbered as the base
/// labels them: a file range's rows keep their file numbers.
RowSource row_source(const SearchBase& base);

}  // namespace vecaccel::detail
