#pragma once
// Internal: where a vector file's values lie, read from its header alone (MappedVectors maps
// the file and reads rows in place from this).

#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "vecaccel/element_type.hpp"

namespace vecaccel::detail {

struct VectorFileLayout {
  ElementType type = ElementType::float32;
  std::size_t rows = 0;
  std::size_t dim = 0;
  std::uint64_t data_offset = 0;  ///< byte of row 0's first element
  std::uint64_t row_stride = 0;   ///< bytes from one row's first element to the next's
  bool row_headers = false;       ///< TEXMEX: each row starts with its int32 dimension
  std::uint64_t file_size = 0;
};

/// The layout of a .fvecs/.bvecs/.fbin/.u8bin/.i8bin file or an .npy of '<f4', '|u1' or '|i1',
/// with the same checks of the header and the size as the readers (TEXMEX rows' own headers
/// are left to whoever reads the rows). Other formats: invalid_argument; malformed: io_error.
VectorFileLayout probe_vector_file(const std::filesystem::path& path);

}  // namespace vecaccel::detail
