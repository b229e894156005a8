#pragma once
// Vector files: the TEXMEX ANN-benchmark formats (.fvecs, .bvecs, .ivecs) and NumPy .npy.
//
// This is a pure format layer: it checks structure (sizes, dimensions, headers) and
// representability, never content (NaN/Inf pass through; callers validate). Every failure
// is a vecaccel::Error whose message names the file, the row or byte offset and the numbers.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

namespace vecaccel {

enum class VectorFileFormat { fvecs, bvecs, ivecs, npy };

/// Format from the extension (.fvecs/.bvecs/.ivecs/.npy, case-insensitive).
/// Throws invalid_argument for any other extension, naming the path.
VectorFileFormat format_from_path(const std::filesystem::path& path);

/// Row-major matrix of rows x dim values. Invariant: values.size() == rows * dim.
template <class T>
struct Matrix {
  std::size_t rows = 0;
  std::size_t dim = 0;
  std::vector<T> values;

  std::span<const T> row(std::size_t i) const { return {values.data() + i * dim, dim}; }
  std::span<T> row(std::size_t i) { return {values.data() + i * dim, dim}; }
  bool operator==(const Matrix&) const = default;
};

/// Called with (bytes_done, bytes_total) after each chunk while a file is read or written,
/// and once at the end with done == total. May be empty.
using ProgressCallback = std::function<void(std::uint64_t done, std::uint64_t total)>;

/// Reads float vectors, format from the extension:
///  - .fvecs as is; .bvecs (uint8) and .ivecs (int32) converted to float. An int32 with
///    |v| > 2^24 is not exact as float: invalid_argument.
///  - .npy: dtype '<f4', C order (fortran_order True only where the layout is the same),
///    1-D shape (n,) read as 1 x n, 2-D (rows, dim); other dtypes or >2 dims: io_error.
/// A TEXMEX file with 0 rows gives rows = dim = 0. Missing/unreadable file or malformed
/// content: io_error. TEXMEX files are parsed while streaming, no whole-file copy.
Matrix<float> read_vectors(const std::filesystem::path& path,
                           const ProgressCallback& progress = {});

/// Reads int32 vectors (e.g. ground-truth ids): .ivecs, or .npy '<i4' / '<i8' (each '<i8'
/// value must fit int32, else invalid_argument). .fvecs/.bvecs: invalid_argument.
Matrix<std::int32_t> read_ids(const std::filesystem::path& path,
                              const ProgressCallback& progress = {});

/// In-memory parsers with the same rules as the readers (which share their code);
/// `name` is used in messages. Never allocate more than the input can fill.
Matrix<float> parse_vectors(std::span<const std::byte> bytes, VectorFileFormat format,
                            std::string_view name);
Matrix<std::int32_t> parse_ids(std::span<const std::byte> bytes, VectorFileFormat format,
                               std::string_view name);

/// Writers, format from the extension: write_vectors takes .fvecs or .npy ('<f4'),
/// write_ids .ivecs or .npy ('<i4'); .npy is always written 2-D (rows, dim). Other
/// extensions, values.size() != rows * dim, or (TEXMEX) dim outside 1..1000000 with
/// rows > 0: invalid_argument, nothing touched. The data goes to a temporary file in the
/// target's directory (<name>.tmp-<pid>-<random>), is fsynced, then renamed over the
/// target: on any failure (io_error) the target is unchanged and no temporary is left.
void write_vectors(const std::filesystem::path& path, const Matrix<float>& matrix,
                   const ProgressCallback& progress = {});
void write_ids(const std::filesystem::path& path, const Matrix<std::int32_t>& matrix,
               const ProgressCallback& progress = {});

}  // namespace vecaccel
