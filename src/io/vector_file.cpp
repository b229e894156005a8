#include "vecaccel/vector_file.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "io/bin_format.hpp"
#include "io/hdf5_format.hpp"
#include "io/input_file.hpp"
#include "io/npy_format.hpp"
#include "io/texmex_format.hpp"
#include "io/vector_file_layout.hpp"
#include "io/vector_file_parsing.hpp"
#include "io/vector_file_writer.hpp"
#include "util/atomic_file.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel {
namespace {

namespace fs = std::filesystem;
// The formats' parsers (src/io/*_format.hpp) live in vecaccel::io.
using namespace io;

// ---------------------------------------------------------------------------------------------
// Reader entry points.

template <class Out>
BinTail bin_tail(VectorFileFormat format) {
  return std::is_same_v<Out, std::int32_t> ? bin_tail_for_ids(format) : BinTail::none;
}

template <class Out>
Matrix<Out> parse_any(std::span<const std::byte> bytes, VectorFileFormat format,
                      std::string_view name) {
  if (format == VectorFileFormat::npy) return parse_npy<Out>(bytes, name);
  const Elem elem = format_elem<Out>(format, name);
  if (is_bin(format)) return parse_bin<Out>(bytes, elem, bin_tail<Out>(format), name);
  return parse_texmex<Out>(bytes, elem, name);
}

// Pipes and devices have no size up front. Their header is read and checked first, then at
// most the bytes it promises and one more (which shows a longer input), so a bad header fails
// without waiting for the writer to finish, and /dev/zero or an endless pipe cannot fill memory.

/// A pipe's or device's bytes, header first (see above).
template <class Out>
std::vector<std::byte> read_stream(InputFile& file, VectorFileFormat format, Elem elem,
                                   BinTail tail, std::string_view name) {
  std::vector<std::byte> bytes;
  if (is_texmex(format)) {
    read_texmex_stream(file, bytes, elem, name);
    return bytes;
  }
  const std::uint64_t total = format == VectorFileFormat::npy
                                  ? npy_stream_size<Out>(file, bytes, name)
                                  : bin_stream_size(file, bytes, elem, tail, name);
  check_fits_memory(total, name, "its header promises");
  file.read_up_to(bytes, total + 1);
  return bytes;
}

template <class Out>
Matrix<Out> read_any(const fs::path& path, const ProgressCallback& progress) {
  const auto format = format_from_path(path);
  const std::string name = path.string();
  std::optional<Elem> elem;
  // Check the pairing first so a wrong call fails the same way whether or not the file exists.
  if (format != VectorFileFormat::npy) elem = format_elem<Out>(format, name);
  InputFile file(path);
  if (!file.regular()) {
    file.wait_until_readable(progress);
    const auto bytes =
        read_stream<Out>(file, format, elem.value_or(Elem::f32), bin_tail<Out>(format), name);
    report(progress, bytes.size(), bytes.size());
    return parse_any<Out>(bytes, format, name);
  }
  if (is_texmex(format)) return read_texmex<Out>(file, *elem, name, progress);
  if (is_bin(format)) {
    auto matrix = read_data<Out>(file, read_bin_layout(file, *elem, bin_tail<Out>(format), name),
                                 name, progress);
    report(progress, file.size(), file.size());
    return matrix;
  }
  return read_npy<Out>(file, name, progress);
}

// ---------------------------------------------------------------------------------------------
// Writers.

// Batches small appends (per-row headers) into large writes and reports progress per chunk.
class ChunkWriter {
 public:
  ChunkWriter(detail::AtomicFile& file, std::uint64_t total, const ProgressCallback& progress)
      : file_(file), total_(total), progress_(progress) {
    buffer_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(total, kChunkBytes)));
  }

  void append(std::span<const std::byte> bytes) {
    // Bulk data bypasses the buffer: copying gigabytes through it would only cost time.
    if (buffer_.empty() && bytes.size() >= kChunkBytes) {
      const std::size_t direct = bytes.size() / kChunkBytes * kChunkBytes;
      for (std::size_t i = 0; i < direct; i += kChunkBytes)
        write(bytes.subspan(i, kChunkBytes));
      bytes = bytes.subspan(direct);
    }
    while (!bytes.empty()) {
      const std::size_t room = kChunkBytes - buffer_.size();
      const std::size_t take = std::min(room, bytes.size());
      buffer_.insert(buffer_.end(), bytes.begin(),
                     bytes.begin() + static_cast<std::ptrdiff_t>(take));
      bytes = bytes.subspan(take);
      if (buffer_.size() == kChunkBytes) flush();
    }
  }

  void finish() {
    flush();
    if (done_ != total_) {
      fail(Errc::io_error, file_.target().string(),
           cat("internal: wrote ", done_, " bytes, expected ", total_));
    }
    report(progress_, total_, total_);
  }

 private:
  void flush() {
    if (buffer_.empty()) return;
    write(buffer_);
    buffer_.clear();
  }

  void write(std::span<const std::byte> bytes) {
    file_.write(bytes);
    done_ += bytes.size();
    if (done_ < total_) report(progress_, done_, total_);
  }

  detail::AtomicFile& file_;
  std::uint64_t total_;
  const ProgressCallback& progress_;
  std::vector<std::byte> buffer_;
  std::uint64_t done_ = 0;
};

// The formats a matrix of T is written in, as the message lists them.
template <class T>
std::string_view writable_formats() {
  if constexpr (std::is_same_v<T, float>) return ".fvecs, .fbin or .npy";
  if constexpr (std::is_same_v<T, std::int32_t>) return ".ivecs, .ibin or .npy";
  if constexpr (std::is_same_v<T, std::uint8_t>) return ".u8bin or .bvecs";
  return ".i8bin";
}

template <class T>
bool writable_as(VectorFileFormat format) {
  if (format == VectorFileFormat::npy) {
    return std::is_same_v<T, float> || std::is_same_v<T, std::int32_t>;
  }
  return is_native<T>(stored_elem(format));
}

/// Refuses, before anything is created, what the writer cannot write to `path` exactly.
template <class T>
void check_writable(const fs::path& path, const Matrix<T>& matrix) {
  const auto format = format_from_path(path);
  const std::string name = path.string();
  if (!writable_as<T>(format)) {
    fail(Errc::invalid_argument, name,
         cat("cannot write ", kOutName<T>, " values as .", format_name(format), ", use ",
             writable_formats<T>()));
  }
  const auto count = checked_mul(matrix.rows, matrix.dim);
  if (!count || *count != matrix.values.size()) {
    fail(Errc::invalid_argument, name,
         cat("matrix has ", matrix.values.size(), " values, expected rows x dim = ", matrix.rows,
             " x ", matrix.dim));
  }
  if (matrix.rows > 0 && matrix.dim == 0) {
    fail(Errc::invalid_argument, name, cat("matrix has ", matrix.rows, " rows of dimension 0"));
  }
  if (is_texmex(format) && matrix.rows > 0 &&
      matrix.dim > static_cast<std::size_t>(kMaxTexmexDim)) {
    fail(Errc::invalid_argument, name,
         cat("dimension ", matrix.dim, " exceeds the TEXMEX limit of ", kMaxTexmexDim));
  }
  if (is_bin(format) && (matrix.rows > std::numeric_limits<std::int32_t>::max() ||
                         matrix.dim > static_cast<std::size_t>(kMaxTexmexDim))) {
    fail(Errc::invalid_argument, name,
         cat(matrix.rows, " rows of dimension ", matrix.dim, " exceed the .", format_name(format),
             " header's limits (rows < 2^31, dimension <= ", kMaxTexmexDim, ")"));
  }
}

/// Writes a matrix that check_writable accepted, in the format of the target's extension.
template <class T>
void encode(detail::AtomicFile& file, const Matrix<T>& matrix, const ProgressCallback& progress) {
  constexpr bool kIds = std::is_same_v<T, std::int32_t>;
  const auto data = std::as_bytes(std::span(matrix.values));
  const auto format = format_from_path(file.target());
  if (is_bin(format)) {
    const auto header = bin_header(matrix.rows, matrix.dim);
    ChunkWriter writer(file, header.size() + data.size(), progress);
    writer.append(header);
    writer.append(data);
    writer.finish();
    return;
  }
  if (format == VectorFileFormat::npy) {
    const std::string header = npy_header(kIds ? "<i4" : "<f4", {matrix.rows, matrix.dim});
    ChunkWriter writer(file, header.size() + data.size(), progress);
    writer.append(std::as_bytes(std::span(header)));
    writer.append(data);
    writer.finish();
    return;
  }
  const auto dim = static_cast<std::int32_t>(matrix.dim);
  const auto dim_bytes = std::as_bytes(std::span(&dim, 1));
  ChunkWriter writer(file, matrix.rows * kTexmexDimBytes + data.size(), progress);
  for (std::size_t i = 0; i < matrix.rows; ++i) {
    writer.append(dim_bytes);
    writer.append(std::as_bytes(matrix.row(i)));
  }
  writer.finish();
}

template <class T>
void write_any(const fs::path& path, const Matrix<T>& matrix, const ProgressCallback& progress) {
  check_writable(path, matrix);
  detail::AtomicFile file(path);
  encode(file, matrix, progress);
  file.commit();
}

void check_ground_truth(const fs::path& path, const GroundTruth& truth) {
  const std::string name = path.string();
  if (format_from_path(path) != VectorFileFormat::ibin) {
    fail(Errc::invalid_argument, name, "ground truth (ids and distances) is written as .ibin");
  }
  if (truth.ids.rows != truth.distances.rows || truth.ids.dim != truth.distances.dim) {
    fail(Errc::invalid_argument, name,
         cat("ids are ", truth.ids.rows, " x ", truth.ids.dim, " but distances ",
             truth.distances.rows, " x ", truth.distances.dim));
  }
  check_writable(path, truth.ids);
  check_writable(path.parent_path() / (path.stem().string() + ".fbin"), truth.distances);
}

void encode_ground_truth(detail::AtomicFile& file, const GroundTruth& truth,
                         const ProgressCallback& progress) {
  const auto header = bin_header(truth.ids.rows, truth.ids.dim);
  const auto ids = std::as_bytes(std::span(truth.ids.values));
  const auto distances = std::as_bytes(std::span(truth.distances.values));
  ChunkWriter writer(file, header.size() + ids.size() + distances.size(), progress);
  writer.append(header);
  writer.append(ids);
  writer.append(distances);
  writer.finish();
}

/// Refuses, before anything is created, a one-dimensional array's target that is not an .npy.
void check_array_path(const fs::path& path) {
  const auto format = format_from_path(path);
  if (format != VectorFileFormat::npy) {
    fail(Errc::invalid_argument, path.string(),
         cat("a one-dimensional array is written as .npy, not .", format_name(format)));
  }
}

template <class T>
void encode_array(detail::AtomicFile& file, std::span<const T> values,
                  const ProgressCallback& progress) {
  const std::string header = npy_header(std::is_same_v<T, float> ? "<f4" : "<i8", {values.size()});
  const auto data = std::as_bytes(values);
  ChunkWriter writer(file, header.size() + data.size(), progress);
  writer.append(std::as_bytes(std::span(header)));
  writer.append(data);
  writer.finish();
}

template <class T>
void write_array_file(const fs::path& path, std::span<const T> values,
                      const ProgressCallback& progress) {
  check_array_path(path);
  detail::AtomicFile file(path);
  encode_array(file, values, progress);
  file.commit();
}

}  // namespace

VectorFileFormat format_from_path(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".fvecs") return VectorFileFormat::fvecs;
  if (ext == ".bvecs") return VectorFileFormat::bvecs;
  if (ext == ".ivecs") return VectorFileFormat::ivecs;
  if (ext == ".npy") return VectorFileFormat::npy;
  if (ext == ".fbin") return VectorFileFormat::fbin;
  if (ext == ".u8bin") return VectorFileFormat::u8bin;
  if (ext == ".i8bin") return VectorFileFormat::i8bin;
  if (ext == ".ibin") return VectorFileFormat::ibin;
  fail(Errc::invalid_argument, path.string(),
       cat("unknown vector file extension '", ext,
           "', need .fvecs, .bvecs, .ivecs, .npy, .fbin, .u8bin, .i8bin or .ibin"));
}

Matrix<float> read_vectors(const std::filesystem::path& path, const ProgressCallback& progress) {
  if (const auto hdf5 = hdf5_dataset(path)) {
    return detail::read_hdf5_vectors({.path = hdf5->file, .image = {}},
                                     hdf5->dataset.empty() ? "train" : hdf5->dataset);
  }
  if (format_from_path(path) == VectorFileFormat::ibin) {
    fail(Errc::invalid_argument, path.string(),
         "an .ibin holds ground truth (int32 ids, then float32 distances), not vectors: read "
         "it with read_ids or read_ground_truth");
  }
  return read_any<float>(path, progress);
}

Matrix<std::int32_t> read_ids(const std::filesystem::path& path, const ProgressCallback& progress) {
  if (const auto hdf5 = hdf5_dataset(path)) {
    return detail::read_hdf5_ids({.path = hdf5->file, .image = {}},
                                 hdf5->dataset.empty() ? "neighbors" : hdf5->dataset);
  }
  return read_any<std::int32_t>(path, progress);
}

Matrix<std::uint8_t> read_u8_vectors(const std::filesystem::path& path,
                                     const ProgressCallback& progress) {
  return read_any<std::uint8_t>(path, progress);
}

Matrix<std::int8_t> read_i8_vectors(const std::filesystem::path& path,
                                    const ProgressCallback& progress) {
  return read_any<std::int8_t>(path, progress);
}

GroundTruth read_ground_truth(const std::filesystem::path& path, const ProgressCallback& progress) {
  const std::string name = path.string();
  if (format_from_path(path) != VectorFileFormat::ibin) {
    fail(Errc::invalid_argument, name, "ground truth (ids and distances) is read from .ibin");
  }
  InputFile file(path);
  if (!file.regular()) {
    file.wait_until_readable(progress);
    const auto bytes = read_stream<std::int32_t>(file, VectorFileFormat::ibin, Elem::i32,
                                                 BinTail::distances, name);
    report(progress, bytes.size(), bytes.size());
    GroundTruth truth{parse_bin<std::int32_t>(bytes, Elem::i32, BinTail::distances, name), {}};
    const std::size_t ids_bytes = truth.ids.values.size() * 4;
    auto layout = bin_layout(std::span(bytes).first(kBinHeaderBytes), bytes.size(), Elem::f32,
                             BinTail::distances, name);
    truth.distances = empty_matrix<float>(layout);
    decode(Elem::f32, std::span(bytes).subspan(kBinHeaderBytes + ids_bytes, ids_bytes),
           truth.distances.values.data(), 0, layout.dim, name);
    return truth;
  }
  auto layout = read_bin_layout(file, Elem::i32, BinTail::distances, name);
  GroundTruth truth;
  truth.ids = read_data<std::int32_t>(file, layout, name, progress);
  layout.elem = Elem::f32;
  layout.data_offset += truth.ids.values.size() * 4;
  truth.distances = read_data<float>(file, layout, name, progress);
  report(progress, file.size(), file.size());
  return truth;
}

Matrix<float> parse_vectors(std::span<const std::byte> bytes, VectorFileFormat format,
                            std::string_view name) {
  return parse_any<float>(bytes, format, name);
}

Matrix<std::int32_t> parse_ids(std::span<const std::byte> bytes, VectorFileFormat format,
                               std::string_view name) {
  return parse_any<std::int32_t>(bytes, format, name);
}

void write_vectors(const std::filesystem::path& path, const Matrix<float>& matrix,
                   const ProgressCallback& progress) {
  write_any(path, matrix, progress);
}

void write_vectors(const std::filesystem::path& path, const Matrix<std::uint8_t>& matrix,
                   const ProgressCallback& progress) {
  write_any(path, matrix, progress);
}

void write_vectors(const std::filesystem::path& path, const Matrix<std::int8_t>& matrix,
                   const ProgressCallback& progress) {
  write_any(path, matrix, progress);
}

void write_ids(const std::filesystem::path& path, const Matrix<std::int32_t>& matrix,
               const ProgressCallback& progress) {
  write_any(path, matrix, progress);
}

void write_array(const std::filesystem::path& path, std::span<const float> values,
                 const ProgressCallback& progress) {
  write_array_file(path, values, progress);
}

void write_array(const std::filesystem::path& path, std::span<const std::int64_t> values,
                 const ProgressCallback& progress) {
  write_array_file(path, values, progress);
}

void write_ground_truth(const std::filesystem::path& path, const GroundTruth& truth,
                        const ProgressCallback& progress) {
  check_ground_truth(path, truth);
  detail::AtomicFile file(path);
  encode_ground_truth(file, truth, progress);
  file.commit();
}

namespace detail {

VectorFileLayout probe_vector_file(const std::filesystem::path& path) {
  const auto format = format_from_path(path);
  const std::string name = path.string();
  if (format == VectorFileFormat::ivecs || format == VectorFileFormat::ibin) {
    fail(Errc::invalid_argument, name,
         cat("a base is mapped from .fvecs, .bvecs, .fbin, .u8bin, .i8bin or .npy, not .",
             format_name(format)));
  }
  InputFile file(path);
  if (!file.regular()) fail(Errc::invalid_argument, name, "cannot map: not a regular file");
  if (format == VectorFileFormat::npy) return npy_file_layout(file, name);
  const Elem elem = stored_elem(format);
  if (is_texmex(format)) return texmex_file_layout(file, elem, name);
  const ValuesLayout bin = read_bin_layout(file, elem, BinTail::none, name);
  return {.type = element_type_of(elem),
          .rows = bin.rows,
          .dim = bin.dim,
          .data_offset = bin.data_offset,
          .row_stride = bin.dim * elem_size(elem),
          .file_size = file.size()};
}

void write_vectors_to(AtomicFile& file, const Matrix<float>& matrix,
                      const ProgressCallback& progress) {
  check_writable(file.target(), matrix);
  encode(file, matrix, progress);
}

void write_ids_to(AtomicFile& file, const Matrix<std::int32_t>& matrix,
                  const ProgressCallback& progress) {
  check_writable(file.target(), matrix);
  encode(file, matrix, progress);
}

void write_array_to(AtomicFile& file, std::span<const float> values,
                    const ProgressCallback& progress) {
  check_array_path(file.target());
  encode_array(file, values, progress);
}

void write_array_to(AtomicFile& file, std::span<const std::int64_t> values,
                    const ProgressCallback& progress) {
  check_array_path(file.target());
  encode_array(file, values, progress);
}

void write_ground_truth_to(AtomicFile& file, const GroundTruth& truth,
                           const ProgressCallback& progress) {
  check_ground_truth(file.target(), truth);
  encode_ground_truth(file, truth, progress);
}

}  // namespace detail

}  // namespace vecaccel
