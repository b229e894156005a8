#pragma once
// Billion-scale formats (.fbin/.u8bin/.i8bin/.ibin): int32 rows, int32 dim, row-major data.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "io/input_file.hpp"
#include "io/vector_file_parsing.hpp"

namespace vecaccel::io {

// The billion-scale formats' header: int32 rows, int32 dim.
constexpr std::size_t kBinHeaderBytes = 8;

bool is_bin(VectorFileFormat format);

// What may follow the rows x dim values: nothing, or (ground truth) as many float32 distances.
enum class BinTail { none, optional_distances, distances };

// Checks the header (`head`: the first min(total, 8) bytes) and the file size.
ValuesLayout bin_layout(std::span<const std::byte> head, std::uint64_t total, Elem elem,
                        BinTail tail, std::string_view name);

template <class Out>
Matrix<Out> parse_bin(std::span<const std::byte> bytes, Elem elem, BinTail tail,
                      std::string_view name) {
  const auto layout = bin_layout(bytes.first(std::min(bytes.size(), kBinHeaderBytes)), bytes.size(),
                                 elem, tail, name);
  auto matrix = empty_matrix<Out>(layout);
  decode(elem, bytes.subspan(kBinHeaderBytes, matrix.values.size() * elem_size(elem)),
         matrix.values.data(), 0, layout.dim, name);
  return matrix;
}

ValuesLayout read_bin_layout(InputFile& file, Elem elem, BinTail tail, std::string_view name);

BinTail bin_tail_for_ids(VectorFileFormat format);

/// The size a .bin stream's header promises (with distances where they may follow).
std::uint64_t bin_stream_size(InputFile& file, std::vector<std::byte>& bytes, Elem elem,
                              BinTail tail, std::string_view name);

std::array<std::byte, kBinHeaderBytes> bin_header(std::size_t rows, std::size_t dim);

}  // namespace vecaccel::io
