// A build without the HDF5 library: its readers say so.

#include "io/hdf5_format.hpp"
#include "io/vector_file_parsing.hpp"

namespace vecaccel::detail {
namespace {

using io::fail;

[[noreturn]] void unavailable(const std::filesystem::path& path) {
  fail(Errc::unsupported, path.string(),
       "HDF5 files need vecaccel built with HDF5 (Debian: libhdf5-dev, then reconfigure)");
}

}  // namespace

bool hdf5_available() noexcept {
  return false;
}

Matrix<float> read_hdf5_vectors(const Hdf5Input& input, std::string_view) {
  unavailable(input.path);
}

Matrix<std::int32_t> read_hdf5_ids(const Hdf5Input& input, std::string_view) {
  unavailable(input.path);
}

std::optional<std::string> read_hdf5_distance(const std::filesystem::path& path) {
  unavailable(path);
}

}  // namespace vecaccel::detail
