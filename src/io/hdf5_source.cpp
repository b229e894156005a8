// The public side of HDF5 files (vecaccel/vector_file.hpp): dataset paths, the metric
// attribute and the in-memory parsers, on the reader in hdf5_format.cpp (or hdf5_none.cpp).

#include <algorithm>
#include <cctype>
#include <string>

#include "io/hdf5_format.hpp"
#include "io/vector_file_parsing.hpp"
#include "vecaccel/vector_file.hpp"

namespace vecaccel {
namespace {

bool hdf5_extension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".hdf5" || ext == ".h5";
}

}  // namespace

bool hdf5_supported() noexcept {
  return detail::hdf5_available();
}

std::optional<Hdf5Dataset> hdf5_dataset(const std::filesystem::path& path) {
  if (hdf5_extension(path)) return Hdf5Dataset{.file = path, .dataset = {}};
  const std::string text = path.string();
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) return std::nullopt;
  const std::filesystem::path file = text.substr(0, colon);
  std::error_code ignored;
  if (!hdf5_extension(file) || std::filesystem::exists(path, ignored)) return std::nullopt;
  return Hdf5Dataset{.file = file, .dataset = text.substr(colon + 1)};
}

std::optional<Metric> hdf5_metric(const std::filesystem::path& file) {
  const std::optional<std::string> distance = detail::read_hdf5_distance(file);
  if (!distance) return std::nullopt;
  if (*distance == "euclidean") return Metric::l2;
  if (*distance == "angular") return Metric::cosine;
  io::fail(Errc::invalid_argument, file.string(),
           "its distance attribute is '" + *distance +
               "'; vecaccel reads 'euclidean' (l2) and 'angular' (cosine): give --metric");
}

Matrix<float> parse_hdf5_vectors(std::span<const std::byte> bytes, std::string_view dataset,
                                 std::string_view name) {
  if (bytes.empty()) io::fail(Errc::io_error, name, "empty, not an HDF5 file");
  return detail::read_hdf5_vectors({.path = std::string(name), .image = bytes}, dataset);
}

Matrix<std::int32_t> parse_hdf5_ids(std::span<const std::byte> bytes, std::string_view dataset,
                                    std::string_view name) {
  if (bytes.empty()) io::fail(Errc::io_error, name, "empty, not an HDF5 file");
  return detail::read_hdf5_ids({.path = std::string(name), .image = bytes}, dataset);
}

}  // namespace vecaccel
