// Fuzzes the HDF5 reader on in-memory file images (parse_hdf5_vectors / parse_hdf5_ids on the
// ann-benchmarks datasets). Damaged files must be vecaccel::Error (io_error, or invalid_argument
// for values); anything else escaping, a crash, or a result that breaks the Matrix invariant
// is a bug. Seeds: fuzz/corpus/*.hdf5 (scripts/fuzz.sh hdf5).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "vecaccel/error.hpp"
#include "vecaccel/vector_file.hpp"

namespace {

template <class T>
void check(const vecaccel::Matrix<T>& m) {
  if (m.values.size() != m.rows * m.dim) std::abort();
  if (m.rows > 0 && m.dim == 0) std::abort();
}

template <class Parse>
void run(Parse&& parse) {
  try {
    parse();
  } catch (const vecaccel::Error& e) {
    if (e.code() != vecaccel::Errc::io_error && e.code() != vecaccel::Errc::invalid_argument) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span bytes(reinterpret_cast<const std::byte*>(data), size);
  for (const char* dataset : {"train", "test"})
    run([&] { check(vecaccel::parse_hdf5_vectors(bytes, dataset, "fuzz.hdf5")); });
  run([&] { check(vecaccel::parse_hdf5_ids(bytes, "neighbors", "fuzz.hdf5")); });
  return 0;
}
