#pragma once
// MatrixView: rows of vectors with their shape stated, so that a search cannot misread them.
// A flat span is reinterpreted as rows of the index's dimension: 3 queries of 128 floats given
// to a 96-dimensional index read as 4 wrong rows. A MatrixView carries rows and dim; the
// overloads taking one refuse a dim other than the index's (or the base's).
//
// A view: it does not own or copy the elements, which must outlive the call it is passed to.
// Cheap to copy; as thread-safe as the elements it points at.

#include <cstddef>
#include <span>
#include <string_view>
#include <type_traits>

namespace vecaccel {

namespace detail {
/// invalid_argument naming the three numbers unless rows * dim == size (without overflow).
void check_matrix_shape(std::size_t size, std::size_t rows, std::size_t dim);
/// invalid_argument "<what> have dim <dim>, <against> has dim <expected>" unless equal.
void check_same_dim(std::size_t dim, std::size_t expected, std::string_view what,
                    std::string_view against);
}  // namespace detail

/// rows x dim elements of `data`, row-major. T is usually const: MatrixView<const float>.
template <class T>
class MatrixView {
 public:
  /// invalid_argument unless data.size() == rows * dim.
  MatrixView(std::span<T> data, std::size_t rows, std::size_t dim)
      : data_(data), rows_(rows), dim_(dim) {
    detail::check_matrix_shape(data.size(), rows, dim);
  }
  /// A view of mutable elements reads as one of const elements.
  template <class U>
  requires std::is_same_v<const U, T> &&
      (!std::is_same_v<U, T>)MatrixView(const MatrixView<U>& other) noexcept
      : data_(other.data()), rows_(other.rows()), dim_(other.dim()) {}

  std::size_t rows() const noexcept { return rows_; }
  std::size_t dim() const noexcept { return dim_; }
  std::span<T> data() const noexcept { return data_; }
  /// Row i (i < rows(), unchecked).
  std::span<T> row(std::size_t i) const noexcept { return data_.subspan(i * dim_, dim_); }

 private:
  std::span<T> data_;
  std::size_t rows_;
  std::size_t dim_;
};

}  // namespace vecaccel
