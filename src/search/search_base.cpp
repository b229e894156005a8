#include "search/search_base.hpp"

#include <string>

#include "vecaccel/error.hpp"
#include "vecaccel/flat_index.hpp"
#include "vecaccel/mapped_vectors.hpp"

namespace vecaccel {

SearchBase::SearchBase(MatrixView<const float> rows) noexcept
    : bytes_(std::as_bytes(rows.data())), rows_(rows.rows()), dim_(rows.dim()) {}

SearchBase::SearchBase(MatrixView<const std::uint8_t> rows) noexcept
    : bytes_(std::as_bytes(rows.data())),
      rows_(rows.rows()),
      dim_(rows.dim()),
      type_(ElementType::uint8) {}

SearchBase::SearchBase(MatrixView<const std::int8_t> rows) noexcept
    : bytes_(std::as_bytes(rows.data())),
      rows_(rows.rows()),
      dim_(rows.dim()),
      type_(ElementType::int8) {}

SearchBase::SearchBase(const MappedVectors& file) noexcept
    : file_(&file), rows_(file.rows()), dim_(file.dim()), type_(file.element_type()) {}

SearchBase::SearchBase(const MappedVectors& file, std::size_t first_row, std::size_t rows)
    : SearchBase(file) {
  if (first_row > file.rows() || rows > file.rows() - first_row) {
    throw Error(Errc::invalid_argument, file.path().string() + ": rows " +
                                            std::to_string(first_row) + " to " +
                                            std::to_string(first_row + rows) + " asked of its " +
                                            std::to_string(file.rows()) + " rows");
  }
  first_row_ = first_row;
  rows_ = rows;
}

SearchBase::SearchBase(const FlatIndex& index) noexcept
    : index_(&index), rows_(index.size()), dim_(index.dim()), type_(index.element_type()) {}

std::vector<float> SearchBase::row(std::size_t label) const {
  if (label < first_row_ || label - first_row_ >= rows_) {
    throw Error(Errc::invalid_argument,
                "search base: row " + std::to_string(label) + " is not one of its rows " +
                    std::to_string(first_row_) + " to " + std::to_string(first_row_ + rows_));
  }
  if (index_ != nullptr) return index_->reconstruct(std::span(&label, 1));
  return detail::row_source(*this).row(label);
}

namespace detail {

RowSource row_source(const SearchBase& base) {
  return {
      .type = base.element_type(), .dim = base.dim(), .bytes = base.bytes(), .mapped = base.file()};
}

}  // namespace detail
}  // namespace vecaccel
