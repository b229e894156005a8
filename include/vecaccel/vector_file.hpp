#pragma once
// Vector files: the TEXMEX ANN-benchmark formats (.fvecs, .bvecs, .ivecs), NumPy .npy and the
// billion-scale benchmark formats (.fbin, .u8bin, .i8bin, .ibin: int32 rows, int32 dim, then
// rows x dim little-endian values, row-major).
//
// This is a pure format layer: it checks structure (sizes, dimensions, headers) and
// representability, never content (NaN/Inf pass through; callers validate). Every failure
// is a vecaccel::Error whose message names the file, the row or byte offset and the numbers.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vecaccel/metric.hpp"

namespace vecaccel {

enum class VectorFileFormat { fvecs, bvecs, ivecs, npy, fbin, u8bin, i8bin, ibin };

/// Format from the extension (.fvecs/.bvecs/.ivecs/.npy/.fbin/.u8bin/.i8bin/.ibin,
/// case-insensitive).
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

/// ann-benchmarks HDF5 files (.hdf5 / .h5; read where vecaccel was built with the HDF5 library,
/// else Errc::unsupported): a path names a file and, after a colon, one of its 2-D numeric
/// datasets — "f.hdf5:test" — or none, for the reader's default (read_vectors: `train`;
/// read_ids: `neighbors`). The colon form applies only when no file of the whole name exists.
struct Hdf5Dataset {
  std::filesystem::path file;
  std::string dataset;  ///< empty: the reader's default
};

/// Whether this build reads HDF5 files.
bool hdf5_supported() noexcept;

/// `path` as an HDF5 dataset ("<file>.hdf5" or "<file>.hdf5:<name>", also .h5, any case), or
/// nullopt for any other path.
std::optional<Hdf5Dataset> hdf5_dataset(const std::filesystem::path& path);

/// The metric an ann-benchmarks file's `distance` attribute names: "euclidean" → l2,
/// "angular" → cosine; nullopt without the attribute. invalid_argument naming any other value
/// (e.g. "jaccard"); io_error for a file that is not HDF5.
std::optional<Metric> hdf5_metric(const std::filesystem::path& file);

/// Reads float vectors, format from the extension:
///  - .fvecs and .fbin as is; .bvecs/.u8bin (uint8), .i8bin (int8) and .ivecs/.ibin (int32)
///    converted to float. An int32 with |v| > 2^24 is not exact as float: invalid_argument.
///  - .fbin/.u8bin/.i8bin/.ibin: the header's rows and dim must be >= 0, dim <= 1000000, dim
///    >= 1 when rows > 0, and the file exactly 8 + rows x dim x element-size bytes: else
///    io_error naming the numbers.
///  - .npy: dtype '<f4', or '|u1' / '|i1' widened to float as .u8bin / .i8bin are (read_u8_vectors
///    and read_i8_vectors keep them as stored); C order (fortran_order True only where the
///    layout is the same), 1-D shape (n,) read as 1 x n, 2-D (rows, dim); other dtypes or
///    >2 dims: io_error.
///  - HDF5 (see hdf5_dataset): a 2-D float32 dataset as is, float64 only where every value is
///    exact as float32, integers up to 2^24 in magnitude; else invalid_argument naming the row
///    and column. A missing dataset (naming those the file holds), another rank or a
///    truncated or damaged file: io_error.
/// A TEXMEX file with 0 rows gives rows = dim = 0. Missing/unreadable file or malformed
/// content: io_error. TEXMEX files are parsed while streaming, no whole-file copy.
Matrix<float> read_vectors(const std::filesystem::path& path,
                           const ProgressCallback& progress = {});

/// Reads int32 vectors (e.g. ground-truth ids): .ivecs, .ibin (plain, or a ground-truth file
/// whose distances follow the ids: those are skipped), or .npy '<i4' / '<i8' (each '<i8'
/// value must fit int32, else invalid_argument), or an HDF5 integer dataset (default
/// `neighbors`) whose values fit int32. Float and byte formats: invalid_argument.
Matrix<std::int32_t> read_ids(const std::filesystem::path& path,
                              const ProgressCallback& progress = {});

/// Every id a file lists, in file order, whatever its shape (an id filter's allow-list):
/// .ivecs rows of any lengths (0 too), an .npy '<i4' or '<i8' of any shape (every element, in
/// storage order), an .ibin (its ids; a ground-truth file's distances skipped) or an HDF5
/// integer dataset (read_ids' rules). Format only: negative ids pass through (callers check).
/// Other extensions: invalid_argument; missing, unreadable or malformed: io_error naming the
/// file and the byte or row.
std::vector<std::int64_t> read_id_list(const std::filesystem::path& path,
                                       const ProgressCallback& progress = {});

/// Reads byte vectors as stored, without widening: read_u8_vectors takes .u8bin, .bvecs and
/// .npy '|u1', read_i8_vectors .i8bin and .npy '|i1' (an .npy of another dtype: io_error
/// naming it). Other formats: invalid_argument. Errors as read_vectors.
Matrix<std::uint8_t> read_u8_vectors(const std::filesystem::path& path,
                                     const ProgressCallback& progress = {});
Matrix<std::int8_t> read_i8_vectors(const std::filesystem::path& path,
                                    const ProgressCallback& progress = {});

/// Exact k-NN ground truth in the billion-scale benchmarks' layout (.ibin): int32 n, int32 k,
/// n x k int32 ids, then n x k float32 distances. ids and distances have the same shape.
struct GroundTruth {
  Matrix<std::int32_t> ids;
  Matrix<float> distances;
  bool operator==(const GroundTruth&) const = default;
};

/// Reads a ground-truth .ibin; a plain .ibin (ids only, no distances) or any other size:
/// io_error naming the sizes. Other extensions: invalid_argument.
GroundTruth read_ground_truth(const std::filesystem::path& path,
                              const ProgressCallback& progress = {});

/// In-memory parsers with the same rules as the readers (which share their code);
/// `name` is used in messages. Never allocate more than the input can fill.
Matrix<float> parse_vectors(std::span<const std::byte> bytes, VectorFileFormat format,
                            std::string_view name);
Matrix<std::int32_t> parse_ids(std::span<const std::byte> bytes, VectorFileFormat format,
                               std::string_view name);
/// The bytes of a whole HDF5 file: `dataset` read as read_vectors / read_ids would.
Matrix<float> parse_hdf5_vectors(std::span<const std::byte> bytes, std::string_view dataset,
                                 std::string_view name);
Matrix<std::int32_t> parse_hdf5_ids(std::span<const std::byte> bytes, std::string_view dataset,
                                    std::string_view name);

/// Writers, format from the extension: write_vectors takes .fvecs, .fbin or .npy ('<f4'),
/// its uint8 form .u8bin or .bvecs, its int8 form .i8bin; write_ids .ivecs, .ibin or .npy ('<i4');
/// .npy is always written 2-D (rows, dim). .fbin/.u8bin/.i8bin/.ibin: rows and dim must fit
/// int32 (invalid_argument). Other
/// extensions, values.size() != rows * dim, or (TEXMEX) dim outside 1..1000000 with
/// rows > 0: invalid_argument, nothing touched. The data goes to a temporary file in the
/// target's directory (<name>.tmp-<pid>-<random>), is fsynced, then renamed over the
/// target: on any failure (io_error) the target is unchanged and no temporary is left.
void write_vectors(const std::filesystem::path& path, const Matrix<float>& matrix,
                   const ProgressCallback& progress = {});
void write_vectors(const std::filesystem::path& path, const Matrix<std::uint8_t>& matrix,
                   const ProgressCallback& progress = {});
void write_vectors(const std::filesystem::path& path, const Matrix<std::int8_t>& matrix,
                   const ProgressCallback& progress = {});
void write_ids(const std::filesystem::path& path, const Matrix<std::int32_t>& matrix,
               const ProgressCallback& progress = {});
/// One-dimensional arrays, such as a range search's lims, distances and labels (RangeResult,
/// shaped as FAISS's): .npy only, shape (n,), dtype '<f4' or '<i8'. Other extensions:
/// invalid_argument, nothing touched; written atomically like the writers above.
void write_array(const std::filesystem::path& path, std::span<const float> values,
                 const ProgressCallback& progress = {});
void write_array(const std::filesystem::path& path, std::span<const std::int64_t> values,
                 const ProgressCallback& progress = {});
/// Writes ground truth to an .ibin (other extensions, or ids and distances of different
/// shapes: invalid_argument, nothing touched), atomically like the writers above.
void write_ground_truth(const std::filesystem::path& path, const GroundTruth& truth,
                        const ProgressCallback& progress = {});

}  // namespace vecaccel
