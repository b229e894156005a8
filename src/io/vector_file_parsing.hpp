#pragma once
// What every vector-file format shares: limits, messages, the stored element types and their
// exact decoding into a Matrix, and where a matrix's values lie in a file.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "vecaccel/element_type.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/vector_file.hpp"

namespace vecaccel::io {

// Both formats are little-endian on disk; bulk memcpy between file bytes and values relies on
// the host matching. Every platform vecaccel targets (x86-64, AArch64) is little-endian.
static_assert(std::endian::native == std::endian::little, "vector_file assumes little-endian");

// No real ANN data set comes near this; a larger header value almost always means the file is
// not TEXMEX at all (or is corrupt), and it would otherwise drive a huge row allocation.
constexpr std::int64_t kMaxTexmexDim = 1'000'000;
// float32 has a 24-bit significand: every integer with |v| <= 2^24 converts exactly.
constexpr std::int64_t kMaxExactFloatInt = std::int64_t{1} << 24;

// Large enough to amortize syscalls, small enough to keep the streaming buffer cheap.
constexpr std::size_t kChunkBytes = std::size_t{4} << 20;

template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

[[noreturn]] void fail(Errc code, std::string_view name, const std::string& what);

std::string errno_message(int err);

enum class Elem { f32, u8, i8, i32, i64 };

std::size_t elem_size(Elem elem);

template <class Out>
constexpr std::string_view kOutName = std::is_same_v<Out, float>          ? "float32"
                                      : std::is_same_v<Out, std::int32_t> ? "int32"
                                      : std::is_same_v<Out, std::uint8_t> ? "uint8"
                                                                          : "int8";

std::string_view format_name(VectorFileFormat format);

template <class T>
T load_le(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b);

// ---------------------------------------------------------------------------------------------
// Element decoding, shared by every reader.

template <class Out, class Src>
bool exactly_representable(Src value) {
  if constexpr (std::is_same_v<Out, Src>) {
    return true;
  } else if constexpr (std::is_floating_point_v<Out> && std::is_integral_v<Src>) {
    return value >= -kMaxExactFloatInt && value <= kMaxExactFloatInt;
  } else if constexpr (std::is_integral_v<Out> && std::is_integral_v<Src>) {
    return std::in_range<Out>(value);
  } else {
    return false;  // float -> integer is never a format conversion we accept
  }
}

template <class Out, class Src>
[[noreturn]] void unrepresentable(Src value, std::size_t index, std::size_t dim,
                                  std::string_view name) {
  const std::size_t row = dim == 0 ? 0 : index / dim;
  const std::size_t column = dim == 0 ? index : index % dim;
  std::string why =
      std::is_floating_point_v<Out>
          ? cat("is not exactly representable as float32 (|v| must be <= ", kMaxExactFloatInt, ")")
          : cat("does not fit in ", kOutName<Out>);
  fail(Errc::invalid_argument, name,
       cat("row ", row, ", column ", column, ": value ", +value, " ", why));
}

template <class Src, class Out>
void convert(std::span<const std::byte> src, Out* dst, std::size_t first_index, std::size_t dim,
             std::string_view name) {
  const std::size_t count = src.size() / sizeof(Src);
  if constexpr (std::is_same_v<Src, Out>) {
    // An empty output vector may hand us a null dst, which memcpy forbids even for 0 bytes.
    if (count != 0) std::memcpy(dst, src.data(), count * sizeof(Src));
  } else {
    for (std::size_t i = 0; i < count; ++i) {
      const Src value = load_le<Src>(src.data() + i * sizeof(Src));
      if (!exactly_representable<Out>(value)) {
        unrepresentable<Out>(value, first_index + i, dim, name);
      }
      // NOLINTNEXTLINE(bugprone-signed-char-misuse): int8 elements are numbers, sign and all
      dst[i] = static_cast<Out>(value);
    }
  }
}

// Decodes whole elements of `src` into dst; first_index (flat) and dim only serve messages.
template <class Out>
void decode(Elem elem, std::span<const std::byte> src, Out* dst, std::size_t first_index,
            std::size_t dim, std::string_view name) {
  switch (elem) {
    case Elem::f32:
      return convert<float>(src, dst, first_index, dim, name);
    case Elem::u8:
      return convert<std::uint8_t>(src, dst, first_index, dim, name);
    case Elem::i8:
      return convert<std::int8_t>(src, dst, first_index, dim, name);
    case Elem::i32:
      return convert<std::int32_t>(src, dst, first_index, dim, name);
    case Elem::i64:
      return convert<std::int64_t>(src, dst, first_index, dim, name);
  }
}

// True when file bytes can be copied straight into the output vector.
template <class Out>
bool is_native(Elem elem) {
  if constexpr (std::is_same_v<Out, float>) return elem == Elem::f32;
  if constexpr (std::is_same_v<Out, std::int32_t>) return elem == Elem::i32;
  if constexpr (std::is_same_v<Out, std::uint8_t>) return elem == Elem::u8;
  return elem == Elem::i8;
}

// Which stored element types a reader of Out converts (exactly, range-checked) or copies.
template <class Out>
bool accepts(Elem elem) {
  if constexpr (std::is_same_v<Out, float>) return elem != Elem::i64;
  if constexpr (std::is_same_v<Out, std::int32_t>) return elem == Elem::i32 || elem == Elem::i64;
  return is_native<Out>(elem);
}

template <class Out>
[[noreturn]] void wrong_format(VectorFileFormat format, std::string_view name) {
  if constexpr (std::is_same_v<Out, std::int32_t>) {
    fail(Errc::invalid_argument, name,
         cat("ids are read from .ivecs, .ibin or .npy, not .", format_name(format)));
  }
  fail(Errc::invalid_argument, name,
       cat("cannot read ", kOutName<Out>, " vectors from .", format_name(format)));
}

// The stored element type of a TEXMEX or billion-scale format (npy says it in its header).
Elem stored_elem(VectorFileFormat format);

// The stored element type of a non-npy format, refusing a format Out cannot be read from.
template <class Out>
Elem format_elem(VectorFileFormat format, std::string_view name) {
  const Elem elem = stored_elem(format);
  if (format == VectorFileFormat::npy || !accepts<Out>(elem)) wrong_format<Out>(format, name);
  return elem;
}

// Where a matrix's values lie in a file, and how they are stored.
struct ValuesLayout {
  Elem elem = Elem::f32;
  std::size_t rows = 0;
  std::size_t dim = 0;
  std::uint64_t data_offset = 0;
};

template <class Out>
Matrix<Out> empty_matrix(const ValuesLayout& layout) {
  Matrix<Out> matrix;
  matrix.rows = layout.rows;
  matrix.dim = layout.dim;
  matrix.values.resize(layout.rows * layout.dim);
  return matrix;
}

// ---------------------------------------------------------------------------------------------
// Layouts for mapping.

ElementType element_type_of(Elem elem);

void report(const ProgressCallback& progress, std::uint64_t done, std::uint64_t total);

}  // namespace vecaccel::io
