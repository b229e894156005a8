// read_id_list: every id a file lists, whatever its rows' lengths or its array's shape (an id
// filter's allow-list is a set, not a matrix).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/input_file.hpp"
#include "io/npy_format.hpp"
#include "io/texmex_format.hpp"
#include "io/vector_file_parsing.hpp"
#include "vecaccel/vector_file.hpp"

namespace vecaccel {
namespace {

namespace fs = std::filesystem;
using namespace io;

/// A file's bytes whole: a regular file in chunks (reporting progress), a pipe or device as far
/// as this machine's memory allows.
std::vector<std::byte> whole_file(const fs::path& path, const ProgressCallback& progress) {
  InputFile file(path);
  std::vector<std::byte> bytes;
  if (!file.regular()) {
    file.wait_until_readable(progress);
    while (file.read_up_to(bytes, bytes.size() + kChunkBytes))
      check_fits_memory(bytes.size() + kChunkBytes, path.string(), "its ids need over");
    return bytes;
  }
  bytes.resize(static_cast<std::size_t>(file.size()));
  for (std::size_t done = 0; done < bytes.size();) {
    const std::size_t size = std::min(kChunkBytes, bytes.size() - done);
    file.read_at(std::span(bytes).subspan(done, size), done);
    done += size;
    if (done < bytes.size()) report(progress, done, bytes.size());
  }
  return bytes;
}

/// .ivecs rows of any lengths (0 included), each its int32 length then its ids.
std::vector<std::int64_t> parse_ivecs_ids(std::span<const std::byte> bytes, std::string_view name) {
  std::vector<std::int64_t> ids;
  ids.reserve(bytes.size() / sizeof(std::int32_t));
  std::size_t row = 0;
  for (std::size_t at = 0; at < bytes.size(); ++row) {
    const std::size_t left = bytes.size() - at;
    if (left < kTexmexDimBytes) {
      truncated_row(name, at, row, kTexmexDimBytes, left, " for its length");
    }
    const auto length = load_le<std::int32_t>(bytes.data() + at);
    if (length < 0 || length > kMaxTexmexDim) {
      fail(Errc::io_error, name,
           cat("row ", row, " has length ", length, ", must be in 0..", kMaxTexmexDim,
               " (a larger value means a corrupt or non-TEXMEX file)"));
    }
    const std::size_t row_bytes = kTexmexDimBytes + static_cast<std::size_t>(length) * 4;
    if (left < row_bytes) truncated_row(name, at, row, row_bytes, left, "");
    for (std::size_t i = kTexmexDimBytes; i < row_bytes; i += 4)
      ids.push_back(load_le<std::int32_t>(bytes.data() + at + i));
    at += row_bytes;
  }
  return ids;
}

/// An .npy of '<i4' or '<i8' of any shape (a scalar too): every element, in storage order.
std::vector<std::int64_t> parse_npy_ids(std::span<const std::byte> bytes, std::string_view name) {
  const auto preamble =
      parse_npy_preamble(bytes.first(std::min<std::size_t>(bytes.size(), 12)), bytes.size(), name);
  const auto header =
      parse_npy_header(as_text(bytes.subspan(preamble.header_offset, preamble.header_size)),
                       preamble.header_offset, name);
  const Elem elem = npy_elem<std::int32_t>(header.descr, name);
  std::optional<std::uint64_t> data_bytes = elem_size(elem);
  for (const std::uint64_t extent : header.shape)
    data_bytes = data_bytes ? checked_mul(*data_bytes, extent) : std::nullopt;
  const std::uint64_t data_offset = preamble.header_offset + preamble.header_size;
  const std::uint64_t left = bytes.size() - data_offset;
  if (!data_bytes || *data_bytes != left) {
    fail(Errc::io_error, name,
         cat("shape ", shape_text(header.shape), " of '", header.descr, "' needs ",
             data_bytes ? cat(*data_bytes) : std::string("more than 2^64"),
             " data bytes from byte ", data_offset, ", the file has ", left));
  }
  std::vector<std::int64_t> ids(static_cast<std::size_t>(left / elem_size(elem)));
  const std::byte* data = bytes.data() + data_offset;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    ids[i] = elem == Elem::i32 ? load_le<std::int32_t>(data + i * 4)
                               : load_le<std::int64_t>(data + i * 8);
  }
  return ids;
}

}  // namespace

std::vector<std::int64_t> read_id_list(const std::filesystem::path& path,
                                       const ProgressCallback& progress) {
  const bool matrix = hdf5_dataset(path) || format_from_path(path) == VectorFileFormat::ibin;
  if (matrix) {
    const Matrix<std::int32_t> ids = read_ids(path, progress);
    return {ids.values.begin(), ids.values.end()};
  }
  const VectorFileFormat format = format_from_path(path);
  const std::string name = path.string();
  if (format != VectorFileFormat::ivecs && format != VectorFileFormat::npy) {
    fail(Errc::invalid_argument, name,
         cat("ids are listed in .ivecs, .ibin, .npy or HDF5, not .", format_name(format)));
  }
  const std::vector<std::byte> bytes = whole_file(path, progress);
  std::vector<std::int64_t> ids =
      format == VectorFileFormat::npy ? parse_npy_ids(bytes, name) : parse_ivecs_ids(bytes, name);
  report(progress, bytes.size(), bytes.size());
  return ids;
}

}  // namespace vecaccel
