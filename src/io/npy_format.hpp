#pragma once
// NumPy .npy: magic, version, header length, a Python dict literal, then raw C-order data.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/input_file.hpp"
#include "io/vector_file_layout.hpp"
#include "io/vector_file_parsing.hpp"

namespace vecaccel::io {

constexpr std::string_view kNpyMagic = "\x93NUMPY";
constexpr std::size_t kNpyAlign =
    64;  // numpy aligns data to 64 bytes since 1.x; readers don't care

struct NpyPreamble {
  std::uint64_t header_offset = 0;
  std::uint64_t header_size = 0;
};

// `head` is the first min(total, 12) bytes: enough for magic, version and header length.
NpyPreamble parse_npy_preamble(std::span<const std::byte> head, std::uint64_t total,
                               std::string_view name);

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::uint64_t> shape;
};

// Parses the header dict (`text`, from byte `offset` of the file), e.g. "{'descr': '<f4',
// 'fortran_order': False, 'shape': (2, 3), }". Accepts what Python's literal syntax allows numpy
// writers to vary: key order, quotes, whitespace, trailing commas and Python 2 'L' suffixes.
// Rejects unknown or duplicate keys.
NpyHeader parse_npy_header(std::string_view text, std::uint64_t offset, std::string_view name);

std::string shape_text(const std::vector<std::uint64_t>& shape);

template <class Out>
Elem npy_elem(const std::string& descr, std::string_view name) {
  if constexpr (std::is_same_v<Out, float>) {
    // Byte rows widen exactly, as .u8bin and .i8bin do for the float reader.
    if (descr == "<f4") return Elem::f32;
    if (descr == "|u1") return Elem::u8;
    if (descr == "|i1") return Elem::i8;
    fail(Errc::io_error, name, cat("dtype '", descr, "' unsupported, need '<f4', '|u1' or '|i1'"));
  } else if constexpr (std::is_same_v<Out, std::int32_t>) {
    if (descr == "<i4") return Elem::i32;
    if (descr == "<i8") return Elem::i64;
    fail(Errc::io_error, name, cat("dtype '", descr, "' unsupported, need '<i4' or '<i8'"));
  } else {
    constexpr std::string_view want = std::is_same_v<Out, std::uint8_t> ? "|u1" : "|i1";
    if (descr == want) return std::is_same_v<Out, std::uint8_t> ? Elem::u8 : Elem::i8;
    fail(Errc::io_error, name, cat("dtype '", descr, "' unsupported, need '", want, "'"));
  }
}

// Checks the header against what a Matrix<Out> can hold and the data length against `total`.
template <class Out>
ValuesLayout npy_layout(const NpyHeader& header, std::uint64_t data_offset, std::uint64_t total,
                        std::string_view name) {
  ValuesLayout layout;
  layout.elem = npy_elem<Out>(header.descr, name);
  layout.data_offset = data_offset;
  const auto& shape = header.shape;
  if (shape.empty() || shape.size() > 2) {
    fail(Errc::io_error, name,
         cat("shape ", shape_text(shape), " has ", shape.size(), " dimensions, need 1 or 2"));
  }
  const std::uint64_t rows = shape.size() == 1 ? (shape[0] == 0 ? 0 : 1) : shape[0];
  const std::uint64_t dim = shape.back();
  if (rows > 0 && dim == 0) {
    fail(Errc::io_error, name, cat("shape ", shape_text(shape), " has rows of zero values"));
  }
  // With a single row or column, C and Fortran order lay out the same bytes.
  if (header.fortran_order && rows > 1 && dim > 1) {
    fail(Errc::io_error, name,
         cat("fortran_order True is unsupported for shape ", shape_text(shape), ", need C order"));
  }
  const auto count = checked_mul(rows, dim);
  const auto data_bytes = count ? checked_mul(*count, elem_size(layout.elem)) : std::nullopt;
  if (!data_bytes) {
    fail(Errc::io_error, name, cat("shape ", shape_text(shape), " overflows the data size"));
  }
  const std::uint64_t left = total - data_offset;
  if (left < *data_bytes) {
    fail(Errc::io_error, name,
         cat("truncated at byte ", total, ": shape ", shape_text(shape), " of '", header.descr,
             "' needs ", *data_bytes, " data bytes from byte ", data_offset, ", ", left, " left"));
  }
  if (left > *data_bytes) {
    fail(Errc::io_error, name,
         cat(left - *data_bytes, " trailing bytes after the data: shape ", shape_text(shape),
             " of '", header.descr, "' needs ", *data_bytes, " bytes from byte ", data_offset,
             ", file has ", left));
  }
  layout.rows = static_cast<std::size_t>(rows);
  layout.dim = static_cast<std::size_t>(dim);
  return layout;
}

std::string_view as_text(std::span<const std::byte> bytes);

template <class Out>
Matrix<Out> parse_npy(std::span<const std::byte> bytes, std::string_view name) {
  const auto preamble =
      parse_npy_preamble(bytes.first(std::min<std::size_t>(bytes.size(), 12)), bytes.size(), name);
  const auto header_bytes = bytes.subspan(preamble.header_offset, preamble.header_size);
  const auto header = parse_npy_header(as_text(header_bytes), preamble.header_offset, name);
  const auto layout =
      npy_layout<Out>(header, preamble.header_offset + preamble.header_size, bytes.size(), name);
  auto matrix = empty_matrix<Out>(layout);
  decode(layout.elem, bytes.subspan(layout.data_offset), matrix.values.data(), 0, layout.dim, name);
  return matrix;
}

/// The header dict of an .npy file and the offset of its data.
std::pair<NpyHeader, std::uint64_t> read_npy_header(InputFile& file, std::string_view name);

template <class Out>
Matrix<Out> read_npy(InputFile& file, std::string_view name, const ProgressCallback& progress) {
  const std::uint64_t total = file.size();
  const auto [header, data_offset] = read_npy_header(file, name);
  const auto layout = npy_layout<Out>(header, data_offset, total, name);
  auto matrix = read_data<Out>(file, layout, name, progress);
  report(progress, total, total);
  return matrix;
}

/// The layout of an .npy of '<f4', '|u1' or '|i1' for mapping.
detail::VectorFileLayout npy_file_layout(InputFile& file, std::string_view name);

/// The size an .npy stream's header promises; reads and checks the header (a pipe or device is
/// read header first: read_stream in vector_file.cpp).
template <class Out>
std::uint64_t npy_stream_size(InputFile& file, std::vector<std::byte>& bytes,
                              std::string_view name) {
  if (!file.read_up_to(bytes, 12)) return bytes.size();  // too short: the parse says so
  const auto preamble = parse_npy_preamble(bytes, std::numeric_limits<std::uint64_t>::max(), name);
  const std::uint64_t data_offset = preamble.header_offset + preamble.header_size;
  if (!file.read_up_to(bytes, data_offset)) return bytes.size();
  const auto header = parse_npy_header(
      as_text(std::span(bytes).subspan(preamble.header_offset, preamble.header_size)),
      preamble.header_offset, name);
  std::uint64_t data = elem_size(npy_elem<Out>(header.descr, name));
  bool sized = true;
  for (const std::uint64_t extent : header.shape) {
    const std::optional<std::uint64_t> product = checked_mul(data, extent);
    sized = sized && product.has_value();
    data = product.value_or(0);
  }
  // Without a size (overflow), npy_layout fails on the shape whatever the total.
  sized = sized && data <= std::numeric_limits<std::uint64_t>::max() - data_offset - 1;
  const std::uint64_t total = sized ? data_offset + data : data_offset;
  (void)npy_layout<Out>(header, data_offset, total, name);
  return total;
}

/// The header of an .npy file of `shape` values of `descr`, padded as numpy pads it.
std::string npy_header(std::string_view descr, const std::vector<std::uint64_t>& shape);

}  // namespace vecaccel::io
