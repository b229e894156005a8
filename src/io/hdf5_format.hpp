#pragma once
// ann-benchmarks HDF5 files: 2-D numeric datasets (`train`, `test`, `neighbors`, `distances`)
// and a `distance` attribute naming the metric. Read through the HDF5 C library where the build
// found it (VECACCEL_WITH_HDF5); elsewhere every entry point is Errc::unsupported.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "vecaccel/metric.hpp"
#include "vecaccel/vector_file.hpp"

namespace vecaccel::detail {

/// Where an HDF5 file is: a path, or a whole file's bytes in memory (for the fuzzer).
struct Hdf5Input {
  std::filesystem::path path;
  std::span<const std::byte> image;  ///< used when non-empty (path only names it then)
};

/// Whether the build has the HDF5 library.
bool hdf5_available() noexcept;

/// A dataset as float32 (float32 as is; float64 only where every value is one, integers up to
/// 2^24 in magnitude) or as int32 ids (integer datasets whose values fit).
Matrix<float> read_hdf5_vectors(const Hdf5Input& input, std::string_view dataset);
Matrix<std::int32_t> read_hdf5_ids(const Hdf5Input& input, std::string_view dataset);
/// The `distance` attribute's text, or nullopt without one.
std::optional<std::string> read_hdf5_distance(const std::filesystem::path& path);

}  // namespace vecaccel::detail
