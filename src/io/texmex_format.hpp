#pragma once
// TEXMEX (.fvecs / .bvecs / .ivecs): every row is its int32 dimension, then its values.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "io/input_file.hpp"
#include "io/vector_file_layout.hpp"
#include "io/vector_file_parsing.hpp"

namespace vecaccel::io {

constexpr std::size_t kTexmexDimBytes = 4;

bool is_texmex(VectorFileFormat format);

[[noreturn]] void truncated_row(std::string_view name, std::uint64_t offset, std::size_t row,
                                std::uint64_t needed, std::uint64_t left, std::string_view what);

// Validates the dimension header of row `row`, stored in the first 4 bytes of `at`.
std::size_t texmex_dim(std::span<const std::byte> at, std::size_t row, std::string_view name);

// Learns the dimension from the first row and sizes the matrix for total / row_bytes rows, so
// the allocation never exceeds what the input's bytes can fill. `head` is the first
// min(total, 4) bytes.
template <class Out>
Matrix<Out> start_texmex(std::span<const std::byte> head, std::uint64_t total, Elem elem,
                         std::string_view name) {
  Matrix<Out> matrix;
  if (total == 0) return matrix;
  if (total < kTexmexDimBytes) {
    truncated_row(name, 0, 0, kTexmexDimBytes, total, " for its dimension");
  }
  matrix.dim = texmex_dim(head, 0, name);
  const std::uint64_t row_bytes = kTexmexDimBytes + matrix.dim * elem_size(elem);
  matrix.values.resize((total / row_bytes) * matrix.dim);
  return matrix;
}

// Chunks hold whole rows, so this only fires on a bug; it guards the span accesses regardless.
void require_in_chunk(std::size_t in_chunk, std::size_t needed, std::size_t row,
                      std::string_view name);

// Parses the rows of `chunk`, which holds the file's bytes from `offset` on, starting at a row
// boundary and ending at one or at the end of the file (`total` bytes). Appends to `matrix`.
template <class Out>
void parse_texmex_rows(std::span<const std::byte> chunk, std::uint64_t offset, std::uint64_t total,
                       Elem elem, Matrix<Out>& matrix, std::string_view name) {
  const std::size_t dim = matrix.dim;
  const std::size_t row_bytes = kTexmexDimBytes + dim * elem_size(elem);
  std::size_t pos = 0;
  while (pos < chunk.size()) {
    const std::uint64_t at = offset + pos;
    const std::uint64_t left = total - at;
    const std::size_t row = matrix.rows;
    if (left < kTexmexDimBytes) {
      truncated_row(name, at, row, kTexmexDimBytes, left, " for its dimension");
    }
    require_in_chunk(chunk.size() - pos, kTexmexDimBytes, row, name);
    const std::size_t row_dim = texmex_dim(chunk.subspan(pos), row, name);
    if (row_dim != dim) {
      fail(Errc::io_error, name,
           cat("row ", row, " has dimension ", row_dim, ", expected ", dim, " (from row 0)"));
    }
    if (left < row_bytes) truncated_row(name, at, row, row_bytes, left, "");
    require_in_chunk(chunk.size() - pos, row_bytes, row, name);
    decode(elem, chunk.subspan(pos + kTexmexDimBytes, row_bytes - kTexmexDimBytes),
           matrix.values.data() + row * dim, row * dim, dim, name);
    ++matrix.rows;
    pos += row_bytes;
  }
}

template <class Out>
Matrix<Out> parse_texmex(std::span<const std::byte> bytes, Elem elem, std::string_view name) {
  auto matrix = start_texmex<Out>(bytes.first(std::min(bytes.size(), kTexmexDimBytes)),
                                  bytes.size(), elem, name);
  if (matrix.dim != 0) parse_texmex_rows(bytes, 0, bytes.size(), elem, matrix, name);
  return matrix;
}

template <class Out>
Matrix<Out> read_texmex(InputFile& file, Elem elem, std::string_view name,
                        const ProgressCallback& progress) {
  const std::uint64_t total = file.size();
  std::array<std::byte, kTexmexDimBytes> head{};
  const std::size_t head_size =
      static_cast<std::size_t>(std::min<std::uint64_t>(total, kTexmexDimBytes));
  file.read_at(std::span(head).first(head_size), 0);
  auto matrix = start_texmex<Out>(std::span(head).first(head_size), total, elem, name);
  if (matrix.dim != 0) {
    const std::size_t row_bytes = kTexmexDimBytes + matrix.dim * elem_size(elem);
    const std::size_t chunk_rows = std::max<std::size_t>(1, kChunkBytes / row_bytes);
    std::vector<std::byte> chunk(
        static_cast<std::size_t>(std::min<std::uint64_t>(total, chunk_rows * row_bytes)));
    for (std::uint64_t offset = 0; offset < total;) {
      const auto size =
          static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), total - offset));
      const auto bytes = std::span(chunk).first(size);
      file.read_at(bytes, offset);
      parse_texmex_rows<Out>(bytes, offset, total, elem, matrix, name);
      offset += size;
      if (offset < total) report(progress, offset, total);
    }
  }
  report(progress, total, total);
  return matrix;
}

/// The layout of a TEXMEX file for mapping; a file of the wrong size names a row of another
/// dimension where one of its first rows has it, else the truncated last row.
detail::VectorFileLayout texmex_file_layout(InputFile& file, Elem elem, std::string_view name);

/// Reads TEXMEX rows, checking each row's dimension as it arrives; at most the host's memory.
void read_texmex_stream(InputFile& file, std::vector<std::byte>& bytes, Elem elem,
                        std::string_view name);

}  // namespace vecaccel::io
