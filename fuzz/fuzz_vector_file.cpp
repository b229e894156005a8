// Fuzzes every vector-file parser on the same in-memory bytes. Format errors are expected and
// must be vecaccel::Error; anything else escaping (bad_alloc from a trusted header, UB, an
// out-of-bounds read) or a result that breaks the Matrix invariant is a bug.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <type_traits>

#include "vecaccel/error.hpp"
#include "vecaccel/vector_file.hpp"

namespace {

using vecaccel::Errc;
using vecaccel::VectorFileFormat;

constexpr VectorFileFormat kFormats[] = {VectorFileFormat::fvecs, VectorFileFormat::bvecs,
                                         VectorFileFormat::ivecs, VectorFileFormat::npy,
                                         VectorFileFormat::fbin,  VectorFileFormat::u8bin,
                                         VectorFileFormat::i8bin, VectorFileFormat::ibin};

std::size_t elem_size(VectorFileFormat format) {
  return format == VectorFileFormat::bvecs || format == VectorFileFormat::u8bin ||
                 format == VectorFileFormat::i8bin
             ? 1
             : 4;
}

bool is_bin(VectorFileFormat format) {
  return format == VectorFileFormat::fbin || format == VectorFileFormat::u8bin ||
         format == VectorFileFormat::i8bin || format == VectorFileFormat::ibin;
}

// A TEXMEX or .?bin result must account for every input byte (an .ibin read as ids may also
// carry ground-truth distances); npy is checked by its own length rule.
template <class T>
void check(const vecaccel::Matrix<T>& m, VectorFileFormat format, std::size_t size) {
  if (m.values.size() != m.rows * m.dim) std::abort();
  if (m.rows > 0 && m.dim == 0) std::abort();
  const std::size_t data = m.rows * m.dim * elem_size(format);
  if (is_bin(format)) {
    const bool ids_with_distances =
        std::is_same_v<T, std::int32_t> && format == VectorFileFormat::ibin && 8 + 2 * data == size;
    if (8 + data != size && !ids_with_distances) std::abort();
    return;
  }
  if (format != VectorFileFormat::npy && m.rows * 4 + data != size) std::abort();
}

template <class Parse>
void run(Parse&& parse) {
  try {
    parse();
  } catch (const vecaccel::Error& e) {
    if (e.code() != Errc::io_error && e.code() != Errc::invalid_argument) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span bytes(reinterpret_cast<const std::byte*>(data), size);
  for (const auto format : kFormats) {
    run([&] { check(vecaccel::parse_vectors(bytes, format, "fuzz"), format, size); });
    run([&] { check(vecaccel::parse_ids(bytes, format, "fuzz"), format, size); });
  }
  return 0;
}
