#include "search/filtered_search.hpp"

#include <cstddef>
#include <vector>

#include "ops/row_filter.hpp"
#include "search/search_base.hpp"

namespace vecaccel::detail {
namespace {

template <class T>
SearchBase rows_of_type(const std::vector<std::byte>& bytes, std::size_t rows, std::size_t dim) {
  // operator new aligns the bytes for any element type.
  const std::span<const T> values(reinterpret_cast<const T*>(bytes.data()), rows * dim);
  return SearchBase(MatrixView<const T>(values, rows, dim));
}

SearchBase typed_rows(const std::vector<std::byte>& bytes, ElementType type, std::size_t rows,
                      std::size_t dim) {
  switch (type) {
    case ElementType::uint8:
      return rows_of_type<std::uint8_t>(bytes, rows, dim);
    case ElementType::int8:
      return rows_of_type<std::int8_t>(bytes, rows, dim);
    case ElementType::float32:
      break;
  }
  return rows_of_type<float>(bytes, rows, dim);
}

}  // namespace

std::optional<SearchResult> search_gathered(std::span<Context* const> devices,
                                            const SearchBase& base, MatrixView<const float> queries,
                                            std::size_t k, Metric metric,
                                            const SearchOptions& options) {
  const auto first = static_cast<std::int64_t>(base.first_row());
  const RowFilter allowed = RowFilter::of_positions(*options.filter, base.rows(), first);
  // A copy of up to an eighth of the base costs less host memory than it saves device work.
  if (allowed.allowed() * 8 > allowed.rows()) return std::nullopt;
  const RowSource source = row_source(base);
  const std::vector<std::size_t> rows = allowed.allowed_rows();
  const std::size_t row_bytes = source.row_bytes();
  std::vector<std::byte> bytes(rows.size() * row_bytes);
  for (std::size_t i = 0; i < rows.size();) {
    std::size_t run = 1;  // consecutive rows copied at once
    while (i + run < rows.size() && rows[i + run] == rows[i] + run)
      ++run;
    source.copy(base.first_row() + rows[i], run, bytes.data() + i * row_bytes);
    i += run;
  }
  SearchOptions unfiltered = options;
  unfiltered.filter.reset();
  SearchResult out =
      search(devices, typed_rows(bytes, base.element_type(), rows.size(), base.dim()), queries, k,
             metric, unfiltered);
  // Gathered rows keep their order: ties by gathered row are ties by label.
  for (std::int64_t& label : out.knn.labels) {
    if (label >= 0)
      label = first + static_cast<std::int64_t>(rows[static_cast<std::size_t>(label)]);
  }
  return out;
}

}  // namespace vecaccel::detail
