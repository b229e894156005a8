#include "vecaccel/matrix_view.hpp"

#include <limits>
#include <string>

#include "vecaccel/error.hpp"

namespace vecaccel::detail {

void check_matrix_shape(std::size_t size, std::size_t rows, std::size_t dim) {
  const std::string shape = std::to_string(rows) + " rows x " + std::to_string(dim);
  const std::string holds = "its data holds " + std::to_string(size) + " elements";
  if (dim != 0 && rows > std::numeric_limits<std::size_t>::max() / dim) {
    throw Error(Errc::invalid_argument, "a matrix of " + shape + " overflows; " + holds);
  }
  if (rows * dim != size) {
    throw Error(Errc::invalid_argument, "a matrix of " + shape + " needs " +
                                            std::to_string(rows * dim) + " elements; " + holds);
  }
}

void check_same_dim(std::size_t dim, std::size_t expected, std::string_view what,
                    std::string_view against) {
  if (dim != expected) {
    throw Error(Errc::invalid_argument, std::string(what) + " have dim " + std::to_string(dim) +
                                            ", " + std::string(against) + " has dim " +
                                            std::to_string(expected));
  }
}

}  // namespace vecaccel::detail
