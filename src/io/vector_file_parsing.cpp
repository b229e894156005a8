#include "io/vector_file_parsing.hpp"

#include <system_error>

namespace vecaccel::io {

[[noreturn]] void fail(Errc code, std::string_view name, const std::string& what) {
  throw Error(code, cat(name, ": ", what));
}

std::string errno_message(int err) {
  return std::generic_category().message(err);
}

std::size_t elem_size(Elem elem) {
  switch (elem) {
    case Elem::u8:
    case Elem::i8:
      return 1;
    case Elem::f32:
    case Elem::i32:
      return 4;
    case Elem::i64:
      return 8;
  }
  return 0;
}

std::string_view format_name(VectorFileFormat format) {
  switch (format) {
    case VectorFileFormat::fvecs:
      return "fvecs";
    case VectorFileFormat::bvecs:
      return "bvecs";
    case VectorFileFormat::ivecs:
      return "ivecs";
    case VectorFileFormat::npy:
      return "npy";
    case VectorFileFormat::fbin:
      return "fbin";
    case VectorFileFormat::u8bin:
      return "u8bin";
    case VectorFileFormat::i8bin:
      return "i8bin";
    case VectorFileFormat::ibin:
      return "ibin";
  }
  return "unknown";
}

std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}

Elem stored_elem(VectorFileFormat format) {
  switch (format) {
    case VectorFileFormat::fvecs:
    case VectorFileFormat::fbin:
      return Elem::f32;
    case VectorFileFormat::bvecs:
    case VectorFileFormat::u8bin:
      return Elem::u8;
    case VectorFileFormat::i8bin:
      return Elem::i8;
    case VectorFileFormat::ivecs:
    case VectorFileFormat::ibin:
    case VectorFileFormat::npy:
      break;
  }
  return Elem::i32;
}

ElementType element_type_of(Elem elem) {
  return elem == Elem::u8   ? ElementType::uint8
         : elem == Elem::i8 ? ElementType::int8
                            : ElementType::float32;
}

void report(const ProgressCallback& progress, std::uint64_t done, std::uint64_t total) {
  if (progress) progress(done, total);
}

}  // namespace vecaccel::io
