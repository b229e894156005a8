#include "vecaccel/vector_file.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "util/atomic_file.hpp"
#include "io/vector_file_layout.hpp"
#include "io/vector_file_writer.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel {
namespace {

namespace fs = std::filesystem;

// Both formats are little-endian on disk; bulk memcpy between file bytes and values relies on
// the host matching. Every platform vecaccel targets (x86-64, AArch64) is little-endian.
static_assert(std::endian::native == std::endian::little, "vector_file assumes little-endian");

// No real ANN data set comes near this; a larger header value almost always means the file is
// not TEXMEX at all (or is corrupt), and it would otherwise drive a huge row allocation.
constexpr std::int64_t kMaxTexmexDim = 1'000'000;
// float32 has a 24-bit significand: every integer with |v| <= 2^24 converts exactly.
constexpr std::int64_t kMaxExactFloatInt = std::int64_t{1} << 24;
// numpy itself refuses headers over 10000 bytes by default; this is generous yet bounded.
constexpr std::uint64_t kMaxNpyHeaderBytes = std::uint64_t{1} << 20;
// Large enough to amortize syscalls, small enough to keep the streaming buffer cheap.
constexpr std::size_t kChunkBytes = std::size_t{4} << 20;
constexpr std::size_t kTexmexDimBytes = 4;
constexpr std::string_view kNpyMagic = "\x93NUMPY";
constexpr std::size_t kNpyAlign =
    64;  // numpy aligns data to 64 bytes since 1.x; readers don't care

template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

[[noreturn]] void fail(Errc code, std::string_view name, const std::string& what) {
  throw Error(code, cat(name, ": ", what));
}

std::string errno_message(int err) {
  return std::generic_category().message(err);
}

enum class Elem { f32, u8, i8, i32, i64 };

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

template <class Out>
constexpr std::string_view kOutName = std::is_same_v<Out, float>          ? "float32"
                                      : std::is_same_v<Out, std::int32_t> ? "int32"
                                      : std::is_same_v<Out, std::uint8_t> ? "uint8"
                                                                          : "int8";

// The billion-scale formats' header: int32 rows, int32 dim.
constexpr std::size_t kBinHeaderBytes = 8;

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

template <class T>
T load_le(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}

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

// ---------------------------------------------------------------------------------------------
// Input files.

struct FileCloser {
  void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};

class InputFile {
 public:
  /// Opens without blocking: open() of a named pipe with no writer would wait for one with
  /// no way to give up (the tool ignored SIGINT there). Such a pipe waits in
  /// wait_until_readable instead.
  explicit InputFile(const fs::path& path) : name_(path.string()) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) fail_errno("cannot open", errno);
    file_.reset(::fdopen(fd, "rb"));
    if (!file_) {
      const int err = errno;
      ::close(fd);
      fail_errno("cannot open", err);
    }
    struct stat info {};
    if (::fstat(fd, &info) != 0) fail_errno("cannot stat", errno);
    if (S_ISDIR(info.st_mode)) fail(Errc::io_error, name_, "cannot read: Is a directory");
    regular_ = S_ISREG(info.st_mode);
    fifo_ = S_ISFIFO(info.st_mode);
    size_ = regular_ ? static_cast<std::uint64_t>(info.st_size) : 0;
    if (!fifo_) blocking_reads();
  }

  /// A pipe: waits until its writer has written or closed, calling `waiting` (0, 0) every
  /// 100 ms (it may throw to give up, as the tool's stop check does), then reads block again.
  void wait_until_readable(const ProgressCallback& waiting) {
    if (!fifo_) return;
    pollfd ready{.fd = ::fileno(file_.get()), .events = POLLIN, .revents = 0};
    for (;;) {
      const int got = ::poll(&ready, 1, 100);
      if (got > 0) break;
      if (got < 0 && errno != EINTR) fail_errno("cannot wait for the pipe's writer", errno);
      if (waiting) waiting(0, 0);
    }
    blocking_reads();
  }

  // Pipes and devices have no size up front; those are read whole instead of streamed.
  bool regular() const { return regular_; }
  std::uint64_t size() const { return size_; }

  void read_at(std::span<std::byte> dst, std::uint64_t offset) {
    if (offset != position_) {
      if (::fseeko(file_.get(), static_cast<off_t>(offset), SEEK_SET) != 0) {
        fail_errno(cat("cannot seek to byte ", offset), errno);
      }
      position_ = offset;
    }
    const std::size_t got = std::fread(dst.data(), 1, dst.size(), file_.get());
    position_ += got;
    if (got == dst.size()) return;
    if (std::ferror(file_.get())) fail_errno(cat("read failed at byte ", offset + got), errno);
    fail(Errc::io_error, name_,
         cat("file shrank while reading: ended at byte ", offset + got, ", expected ", size_,
             " bytes"));
  }

  /// Appends what a pipe or device holds up to `size` bytes in all; false when it ended first.
  bool read_up_to(std::vector<std::byte>& bytes, std::uint64_t size) {
    while (bytes.size() < size) {
      const std::size_t old_size = bytes.size();
      const auto want =
          static_cast<std::size_t>(std::min<std::uint64_t>(kChunkBytes, size - old_size));
      bytes.resize(old_size + want);
      const std::size_t got = std::fread(bytes.data() + old_size, 1, want, file_.get());
      bytes.resize(old_size + got);
      if (got == want) continue;
      if (std::ferror(file_.get())) fail_errno(cat("read failed at byte ", bytes.size()), errno);
      return false;
    }
    return true;
  }

 private:
  // Takes errno by value so that it is read before building the message can clobber it.
  [[noreturn]] void fail_errno(const std::string& what, int err) const {
    fail(Errc::io_error, name_, cat(what, ": ", errno_message(err)));
  }

  void blocking_reads() {
    const int fd = ::fileno(file_.get());
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
      fail_errno("cannot make reads blocking", errno);
    }
  }

  std::string name_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  bool regular_ = false;
  bool fifo_ = false;
  std::uint64_t size_ = 0;
  std::uint64_t position_ = 0;
};

void report(const ProgressCallback& progress, std::uint64_t done, std::uint64_t total) {
  if (progress) progress(done, total);
}

// ---------------------------------------------------------------------------------------------
// TEXMEX (.fvecs / .bvecs / .ivecs).

bool is_texmex(VectorFileFormat format) {
  return format == VectorFileFormat::fvecs || format == VectorFileFormat::bvecs ||
         format == VectorFileFormat::ivecs;
}

// The stored element type of a TEXMEX or billion-scale format (npy says it in its header).
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

// The stored element type of a non-npy format, refusing a format Out cannot be read from.
template <class Out>
Elem format_elem(VectorFileFormat format, std::string_view name) {
  const Elem elem = stored_elem(format);
  if (format == VectorFileFormat::npy || !accepts<Out>(elem)) wrong_format<Out>(format, name);
  return elem;
}

[[noreturn]] void truncated_row(std::string_view name, std::uint64_t offset, std::size_t row,
                                std::uint64_t needed, std::uint64_t left, std::string_view what) {
  fail(Errc::io_error, name,
       cat("truncated at byte ", offset, ": row ", row, " needs ", needed, " bytes", what, ", ",
           left, " left"));
}

// Validates the dimension header of row `row`, stored in the first 4 bytes of `at`.
std::size_t texmex_dim(std::span<const std::byte> at, std::size_t row, std::string_view name) {
  const std::int32_t dim = load_le<std::int32_t>(at.data());
  if (dim <= 0 || dim > kMaxTexmexDim) {
    fail(Errc::io_error, name,
         cat("row ", row, " has dimension ", dim, ", must be in 1..", kMaxTexmexDim,
             " (a larger value means a corrupt or non-TEXMEX file)"));
  }
  return static_cast<std::size_t>(dim);
}

// Learns the dimension from the first row and sizes the matrix for total / row_bytes rows, so
// the allocation never exceeds what the input's bytes can fill. `head` is the first
// min(total, 4) bytes.
template <class Out>
Matrix<Out> start_texmex(std::span<const std::byte> head, std::uint64_t total, Elem elem,
                         std::string_view name) {
  Matrix<Out> matrix;
  if (total == 0) return matrix;
  if (total < kTexmexDimBytes) {
    truncated_row(name, 0, 0, kTexmexDimBytes, total, " for its dimension");
  }
  matrix.dim = texmex_dim(head, 0, name);
  const std::uint64_t row_bytes = kTexmexDimBytes + matrix.dim * elem_size(elem);
  matrix.values.resize((total / row_bytes) * matrix.dim);
  return matrix;
}

// Chunks hold whole rows, so this only fires on a bug; it guards the span accesses regardless.
void require_in_chunk(std::size_t in_chunk, std::size_t needed, std::size_t row,
                      std::string_view name) {
  if (in_chunk < needed) fail(Errc::io_error, name, cat("internal: chunk ends inside row ", row));
}

// Parses the rows of `chunk`, which holds the file's bytes from `offset` on, starting at a row
// boundary and ending at one or at the end of the file (`total` bytes). Appends to `matrix`.
template <class Out>
void parse_texmex_rows(std::span<const std::byte> chunk, std::uint64_t offset, std::uint64_t total,
                       Elem elem, Matrix<Out>& matrix, std::string_view name) {
  const std::size_t dim = matrix.dim;
  const std::size_t row_bytes = kTexmexDimBytes + dim * elem_size(elem);
  std::size_t pos = 0;
  while (pos < chunk.size()) {
    const std::uint64_t at = offset + pos;
    const std::uint64_t left = total - at;
    const std::size_t row = matrix.rows;
    if (left < kTexmexDimBytes) {
      truncated_row(name, at, row, kTexmexDimBytes, left, " for its dimension");
    }
    require_in_chunk(chunk.size() - pos, kTexmexDimBytes, row, name);
    const std::size_t row_dim = texmex_dim(chunk.subspan(pos), row, name);
    if (row_dim != dim) {
      fail(Errc::io_error, name,
           cat("row ", row, " has dimension ", row_dim, ", expected ", dim, " (from row 0)"));
    }
    if (left < row_bytes) truncated_row(name, at, row, row_bytes, left, "");
    require_in_chunk(chunk.size() - pos, row_bytes, row, name);
    decode(elem, chunk.subspan(pos + kTexmexDimBytes, row_bytes - kTexmexDimBytes),
           matrix.values.data() + row * dim, row * dim, dim, name);
    ++matrix.rows;
    pos += row_bytes;
  }
}

template <class Out>
Matrix<Out> parse_texmex(std::span<const std::byte> bytes, Elem elem, std::string_view name) {
  auto matrix = start_texmex<Out>(bytes.first(std::min(bytes.size(), kTexmexDimBytes)),
                                  bytes.size(), elem, name);
  if (matrix.dim != 0) parse_texmex_rows(bytes, 0, bytes.size(), elem, matrix, name);
  return matrix;
}

template <class Out>
Matrix<Out> read_texmex(InputFile& file, Elem elem, std::string_view name,
                        const ProgressCallback& progress) {
  const std::uint64_t total = file.size();
  std::array<std::byte, kTexmexDimBytes> head{};
  const std::size_t head_size =
      static_cast<std::size_t>(std::min<std::uint64_t>(total, kTexmexDimBytes));
  file.read_at(std::span(head).first(head_size), 0);
  auto matrix = start_texmex<Out>(std::span(head).first(head_size), total, elem, name);
  if (matrix.dim != 0) {
    const std::size_t row_bytes = kTexmexDimBytes + matrix.dim * elem_size(elem);
    const std::size_t chunk_rows = std::max<std::size_t>(1, kChunkBytes / row_bytes);
    std::vector<std::byte> chunk(
        static_cast<std::size_t>(std::min<std::uint64_t>(total, chunk_rows * row_bytes)));
    for (std::uint64_t offset = 0; offset < total;) {
      const auto size =
          static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), total - offset));
      const auto bytes = std::span(chunk).first(size);
      file.read_at(bytes, offset);
      parse_texmex_rows<Out>(bytes, offset, total, elem, matrix, name);
      offset += size;
      if (offset < total) report(progress, offset, total);
    }
  }
  report(progress, total, total);
  return matrix;
}

// ---------------------------------------------------------------------------------------------
// NumPy .npy: magic, version, header length, a Python dict literal, then raw C-order data.

struct NpyPreamble {
  std::uint64_t header_offset = 0;
  std::uint64_t header_size = 0;
};

// `head` is the first min(total, 12) bytes: enough for magic, version and header length.
NpyPreamble parse_npy_preamble(std::span<const std::byte> head, std::uint64_t total,
                               std::string_view name) {
  const std::string_view magic(reinterpret_cast<const char*>(head.data()),
                               std::min(head.size(), kNpyMagic.size()));
  if (magic != kNpyMagic) {
    fail(Errc::io_error, name, "not a .npy file: missing magic \\x93NUMPY at byte 0");
  }
  if (total < 8) {
    fail(Errc::io_error, name, cat("truncated at byte ", total, ": no version after the magic"));
  }
  const auto major = static_cast<unsigned>(head[6]);
  const auto minor = static_cast<unsigned>(head[7]);
  if (major < 1 || major > 3 || minor != 0) {
    fail(Errc::io_error, name,
         cat("unsupported .npy version ", major, ".", minor, " (need 1.0, 2.0 or 3.0)"));
  }
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  NpyPreamble preamble;
  preamble.header_offset = 8 + length_bytes;
  if (total < preamble.header_offset) {
    fail(Errc::io_error, name,
         cat("truncated at byte ", total, ": version ", major, ".0 needs a ", length_bytes,
             "-byte header length"));
  }
  preamble.header_size = major == 1 ? load_le<std::uint16_t>(head.data() + 8)
                                    : load_le<std::uint32_t>(head.data() + 8);
  if (preamble.header_size > kMaxNpyHeaderBytes) {
    fail(Errc::io_error, name,
         cat("header length ", preamble.header_size, " exceeds the limit of ", kMaxNpyHeaderBytes,
             " bytes"));
  }
  const std::uint64_t left = total - preamble.header_offset;
  if (left < preamble.header_size) {
    fail(Errc::io_error, name,
         cat("truncated at byte ", preamble.header_offset, ": header needs ", preamble.header_size,
             " bytes, ", left, " left"));
  }
  return preamble;
}

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::uint64_t> shape;
};

// Parses the header dict, e.g. "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".
// Accepts what Python's literal syntax allows numpy writers to vary: key order, quotes,
// whitespace, trailing commas and Python 2 'L' suffixes. Rejects unknown or duplicate keys.
class NpyHeaderParser {
 public:
  NpyHeaderParser(std::string_view text, std::uint64_t offset, std::string_view name)
      : text_(text), offset_(offset), name_(name) {}

  NpyHeader parse() {
    NpyHeader header;
    bool seen_descr = false;
    bool seen_fortran = false;
    bool seen_shape = false;
    expect('{', "'{' opening the header dict");
    while (!consume('}')) {
      const std::string key = parse_string("a quoted key");
      expect(':', cat("':' after key '", key, "'"));
      if (key == "descr") {
        mark_seen(seen_descr, key);
        skip_space();
        if (peek() == '[') fail_at("a dtype string; structured dtypes are unsupported");
        header.descr = parse_string("a quoted dtype string");
      } else if (key == "fortran_order") {
        mark_seen(seen_fortran, key);
        header.fortran_order = parse_bool();
      } else if (key == "shape") {
        mark_seen(seen_shape, key);
        header.shape = parse_shape();
      } else {
        fail_at(cat("'descr', 'fortran_order' or 'shape', not key '", key, "'"));
      }
      if (consume(',')) continue;
      expect('}', "',' or '}' after a value");
      break;
    }
    skip_space();
    if (pos_ != text_.size()) fail_at("only whitespace after the header dict");
    if (!seen_descr || !seen_fortran || !seen_shape) {
      fail(Errc::io_error, name_,
           cat("header lacks key", seen_descr ? "" : " 'descr'",
               seen_fortran ? "" : " 'fortran_order'", seen_shape ? "" : " 'shape'", ": ",
               excerpt()));
    }
    return header;
  }

 private:
  [[noreturn]] void fail_at(const std::string& expected) const {
    fail(
        Errc::io_error, name_,
        cat("malformed header at byte ", offset_ + pos_, ": expected ", expected, ": ", excerpt()));
  }

  std::string excerpt() const {
    constexpr std::size_t kMax = 120;
    std::string shown(text_.substr(0, kMax));
    for (char& c : shown) {
      if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
    }
    return cat("\"", shown, text_.size() > kMax ? "...\"" : "\"");
  }

  void mark_seen(bool& seen, const std::string& key) {
    if (seen) fail_at(cat("each key once, but '", key, "' repeats"));
    seen = true;
  }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_])))
      ++pos_;
  }

  bool consume(char c) {
    skip_space();
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  void expect(char c, const std::string& what) {
    if (!consume(c)) fail_at(what);
  }

  std::string parse_string(const std::string& what) {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail_at(what);
    const std::size_t start = ++pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      // dtype strings and keys never need escapes; refusing them keeps this parser tiny
      if (text_[pos_] == '\\' || text_[pos_] == '\n') fail_at(cat(what, " without escapes"));
      ++pos_;
    }
    if (pos_ == text_.size()) fail_at(cat("a closing quote for ", what));
    const std::size_t end = pos_++;
    return std::string(text_.substr(start, end - start));
  }

  bool parse_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    const std::size_t end = pos_ + word.size();
    if (end < text_.size() &&
        (std::isalnum(static_cast<unsigned char>(text_[end])) || text_[end] == '_')) {
      return false;
    }
    pos_ = end;
    return true;
  }

  bool parse_bool() {
    skip_space();
    if (parse_word("True")) return true;
    if (parse_word("False")) return false;
    fail_at("True or False for 'fortran_order'");
  }

  std::uint64_t parse_uint() {
    skip_space();
    if (!std::isdigit(static_cast<unsigned char>(peek()))) {
      fail_at("a non-negative integer in 'shape'");
    }
    std::uint64_t value = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      const auto digit = static_cast<std::uint64_t>(text_[pos_] - '0');
      if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
        fail_at("a 'shape' entry that fits in 64 bits");
      }
      value = value * 10 + digit;
      ++pos_;
    }
    if (peek() == 'L' || peek() == 'l') ++pos_;  // Python 2 long suffix, e.g. "(3L, 4L)"
    return value;
  }

  std::vector<std::uint64_t> parse_shape() {
    std::vector<std::uint64_t> shape;
    expect('(', "'(' opening the 'shape' tuple");
    while (!consume(')')) {
      shape.push_back(parse_uint());
      if (consume(',')) continue;
      expect(')', "',' or ')' in the 'shape' tuple");
      break;
    }
    return shape;
  }

  std::string_view text_;
  std::uint64_t offset_;
  std::string_view name_;
  std::size_t pos_ = 0;
};

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i)
    text += cat(i == 0 ? "" : ", ", shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

template <class Out>
Elem npy_elem(const std::string& descr, std::string_view name) {
  if constexpr (std::is_same_v<Out, float>) {
    if (descr == "<f4") return Elem::f32;
    fail(Errc::io_error, name, cat("dtype '", descr, "' unsupported, need '<f4'"));
  } else if constexpr (std::is_same_v<Out, std::int32_t>) {
    if (descr == "<i4") return Elem::i32;
    if (descr == "<i8") return Elem::i64;
    fail(Errc::io_error, name, cat("dtype '", descr, "' unsupported, need '<i4' or '<i8'"));
  } else {
    constexpr std::string_view want = std::is_same_v<Out, std::uint8_t> ? "|u1" : "|i1";
    if (descr == want) return std::is_same_v<Out, std::uint8_t> ? Elem::u8 : Elem::i8;
    fail(Errc::io_error, name, cat("dtype '", descr, "' unsupported, need '", want, "'"));
  }
}

// Where a matrix's values lie in a file, and how they are stored.
struct NpyLayout {
  Elem elem = Elem::f32;
  std::size_t rows = 0;
  std::size_t dim = 0;
  std::uint64_t data_offset = 0;
};

// Checks the header against what a Matrix<Out> can hold and the data length against `total`.
template <class Out>
NpyLayout npy_layout(const NpyHeader& header, std::uint64_t data_offset, std::uint64_t total,
                     std::string_view name) {
  NpyLayout layout;
  layout.elem = npy_elem<Out>(header.descr, name);
  layout.data_offset = data_offset;
  const auto& shape = header.shape;
  if (shape.empty() || shape.size() > 2) {
    fail(Errc::io_error, name,
         cat("shape ", shape_text(shape), " has ", shape.size(), " dimensions, need 1 or 2"));
  }
  const std::uint64_t rows = shape.size() == 1 ? (shape[0] == 0 ? 0 : 1) : shape[0];
  const std::uint64_t dim = shape.back();
  if (rows > 0 && dim == 0) {
    fail(Errc::io_error, name, cat("shape ", shape_text(shape), " has rows of zero values"));
  }
  // With a single row or column, C and Fortran order lay out the same bytes.
  if (header.fortran_order && rows > 1 && dim > 1) {
    fail(Errc::io_error, name,
         cat("fortran_order True is unsupported for shape ", shape_text(shape), ", need C order"));
  }
  const auto count = checked_mul(rows, dim);
  const auto data_bytes = count ? checked_mul(*count, elem_size(layout.elem)) : std::nullopt;
  if (!data_bytes) {
    fail(Errc::io_error, name, cat("shape ", shape_text(shape), " overflows the data size"));
  }
  const std::uint64_t left = total - data_offset;
  if (left < *data_bytes) {
    fail(Errc::io_error, name,
         cat("truncated at byte ", total, ": shape ", shape_text(shape), " of '", header.descr,
             "' needs ", *data_bytes, " data bytes from byte ", data_offset, ", ", left, " left"));
  }
  if (left > *data_bytes) {
    fail(Errc::io_error, name,
         cat(left - *data_bytes, " trailing bytes after the data: shape ", shape_text(shape),
             " of '", header.descr, "' needs ", *data_bytes, " bytes from byte ", data_offset,
             ", file has ", left));
  }
  layout.rows = static_cast<std::size_t>(rows);
  layout.dim = static_cast<std::size_t>(dim);
  return layout;
}

std::string_view as_text(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

template <class Out>
Matrix<Out> empty_matrix(const NpyLayout& layout) {
  Matrix<Out> matrix;
  matrix.rows = layout.rows;
  matrix.dim = layout.dim;
  matrix.values.resize(layout.rows * layout.dim);
  return matrix;
}

template <class Out>
Matrix<Out> parse_npy(std::span<const std::byte> bytes, std::string_view name) {
  const auto preamble =
      parse_npy_preamble(bytes.first(std::min<std::size_t>(bytes.size(), 12)), bytes.size(), name);
  const auto header_bytes = bytes.subspan(preamble.header_offset, preamble.header_size);
  const auto header = NpyHeaderParser(as_text(header_bytes), preamble.header_offset, name).parse();
  const auto layout =
      npy_layout<Out>(header, preamble.header_offset + preamble.header_size, bytes.size(), name);
  auto matrix = empty_matrix<Out>(layout);
  decode(layout.elem, bytes.subspan(layout.data_offset), matrix.values.data(), 0, layout.dim, name);
  return matrix;
}

// Reads the rows x dim values at layout.data_offset, in chunks, decoding as they arrive.
template <class Out>
Matrix<Out> read_data(InputFile& file, const NpyLayout& layout, std::string_view name,
                      const ProgressCallback& progress) {
  auto matrix = empty_matrix<Out>(layout);
  const std::uint64_t total = file.size();
  const std::size_t item = elem_size(layout.elem);
  const std::size_t chunk_bytes = kChunkBytes / item * item;
  const std::size_t data_bytes = matrix.values.size() * item;
  std::vector<std::byte> buffer;
  if (!is_native<Out>(layout.elem)) buffer.resize(std::min(chunk_bytes, data_bytes));
  const auto values = std::as_writable_bytes(std::span(matrix.values));
  for (std::size_t done = 0; done < data_bytes;) {
    const std::size_t size = std::min(chunk_bytes, data_bytes - done);
    const std::uint64_t offset = layout.data_offset + done;
    if (is_native<Out>(layout.elem)) {
      file.read_at(values.subspan(done, size), offset);
    } else {
      const auto chunk = std::span(buffer).first(size);
      file.read_at(chunk, offset);
      decode(layout.elem, chunk, matrix.values.data() + done / item, done / item, layout.dim, name);
    }
    done += size;
    if (layout.data_offset + done < total) report(progress, layout.data_offset + done, total);
  }
  return matrix;
}

/// The header dict of an .npy file and the offset of its data.
std::pair<NpyHeader, std::uint64_t> read_npy_header(InputFile& file, std::string_view name) {
  std::array<std::byte, 12> head{};
  const auto head_bytes = std::span(head).first(std::min<std::uint64_t>(file.size(), head.size()));
  file.read_at(head_bytes, 0);
  const auto preamble = parse_npy_preamble(head_bytes, file.size(), name);
  std::vector<std::byte> header_bytes(preamble.header_size);
  file.read_at(header_bytes, preamble.header_offset);
  return {NpyHeaderParser(as_text(header_bytes), preamble.header_offset, name).parse(),
          preamble.header_offset + preamble.header_size};
}

template <class Out>
Matrix<Out> read_npy(InputFile& file, std::string_view name, const ProgressCallback& progress) {
  const std::uint64_t total = file.size();
  const auto [header, data_offset] = read_npy_header(file, name);
  const auto layout = npy_layout<Out>(header, data_offset, total, name);
  auto matrix = read_data<Out>(file, layout, name, progress);
  report(progress, total, total);
  return matrix;
}

// ---------------------------------------------------------------------------------------------
// Billion-scale formats (.fbin/.u8bin/.i8bin/.ibin): int32 rows, int32 dim, row-major data.

bool is_bin(VectorFileFormat format) {
  return format == VectorFileFormat::fbin || format == VectorFileFormat::u8bin ||
         format == VectorFileFormat::i8bin || format == VectorFileFormat::ibin;
}

// What may follow the rows x dim values: nothing, or (ground truth) as many float32 distances.
enum class BinTail { none, optional_distances, distances };

// Checks the header (`head`: the first min(total, 8) bytes) and the file size.
NpyLayout bin_layout(std::span<const std::byte> head, std::uint64_t total, Elem elem, BinTail tail,
                     std::string_view name) {
  if (total < kBinHeaderBytes) {
    fail(Errc::io_error, name,
         cat("truncated at byte ", total, ": the header needs ", kBinHeaderBytes,
             " bytes (int32 rows, int32 dim)"));
  }
  const std::int32_t rows = load_le<std::int32_t>(head.data());
  const std::int32_t dim = load_le<std::int32_t>(head.data() + 4);
  if (rows < 0 || dim < 0 || dim > kMaxTexmexDim || (rows > 0 && dim == 0)) {
    fail(Errc::io_error, name,
         cat("header has ", rows, " rows of dimension ", dim, ", need rows >= 0 and dimension in ",
             rows > 0 ? "1.." : "0..", kMaxTexmexDim, " (else a corrupt or foreign file)"));
  }
  const std::uint64_t data_bytes = std::uint64_t(rows) * std::uint64_t(dim) * elem_size(elem);
  const std::uint64_t left = total - kBinHeaderBytes;
  const std::uint64_t with_distances = data_bytes + std::uint64_t(rows) * std::uint64_t(dim) * 4;
  const bool fits = (tail != BinTail::distances && left == data_bytes) ||
                    (tail != BinTail::none && left == with_distances);
  if (!fits) {
    const std::uint64_t want = tail == BinTail::none ? data_bytes : with_distances;
    fail(Errc::io_error, name,
         cat(left < want ? "truncated" : "wrong size", ": ", rows, " x ", dim, " needs ",
             tail == BinTail::optional_distances ? cat(data_bytes, " or ", with_distances)
                                                 : cat(want),
             tail == BinTail::distances ? " bytes of ids and distances" : " data bytes",
             " after the 8-byte header, file has ", left));
  }
  return {.elem = elem,
          .rows = static_cast<std::size_t>(rows),
          .dim = static_cast<std::size_t>(dim),
          .data_offset = kBinHeaderBytes};
}

template <class Out>
Matrix<Out> parse_bin(std::span<const std::byte> bytes, Elem elem, BinTail tail,
                      std::string_view name) {
  const auto layout = bin_layout(bytes.first(std::min(bytes.size(), kBinHeaderBytes)), bytes.size(),
                                 elem, tail, name);
  auto matrix = empty_matrix<Out>(layout);
  decode(elem, bytes.subspan(kBinHeaderBytes, matrix.values.size() * elem_size(elem)),
         matrix.values.data(), 0, layout.dim, name);
  return matrix;
}

NpyLayout read_bin_layout(InputFile& file, Elem elem, BinTail tail, std::string_view name) {
  std::array<std::byte, kBinHeaderBytes> head{};
  const auto head_bytes = std::span(head).first(std::min<std::uint64_t>(file.size(), head.size()));
  file.read_at(head_bytes, 0);
  return bin_layout(head_bytes, file.size(), elem, tail, name);
}

BinTail bin_tail_for_ids(VectorFileFormat format) {
  return format == VectorFileFormat::ibin ? BinTail::optional_distances : BinTail::none;
}

// ---------------------------------------------------------------------------------------------
// Layouts for mapping.

ElementType element_type_of(Elem elem) {
  return elem == Elem::u8   ? ElementType::uint8
         : elem == Elem::i8 ? ElementType::int8
                            : ElementType::float32;
}

/// Rows whose headers a mapped TEXMEX file of the wrong size has checked before it is called
/// truncated: a row of another dimension (mixed files are the usual cause) is named as the
/// readers name it, without reading every row of a large file.
constexpr std::size_t kHeadersCheckedOnBadSize = 4096;

void check_texmex_headers(InputFile& file, const detail::VectorFileLayout& layout,
                          std::string_view name) {
  // Every row start with room for a header, the partial last row's included.
  const std::size_t starts =
      static_cast<std::size_t>((layout.file_size - kTexmexDimBytes) / layout.row_stride) + 1;
  const std::size_t rows = std::min(starts, kHeadersCheckedOnBadSize);
  std::array<std::byte, kTexmexDimBytes> head{};
  for (std::size_t row = 1; row < rows; ++row) {
    file.read_at(head, row * layout.row_stride);
    const std::size_t dim = texmex_dim(head, row, name);
    if (dim != layout.dim) {
      fail(Errc::io_error, name,
           cat("row ", row, " has dimension ", dim, ", expected ", layout.dim, " (from row 0)"));
    }
  }
}

detail::VectorFileLayout texmex_file_layout(InputFile& file, Elem elem, std::string_view name) {
  detail::VectorFileLayout layout{.type = element_type_of(elem), .file_size = file.size()};
  if (file.size() == 0) return layout;
  std::array<std::byte, kTexmexDimBytes> head{};
  if (file.size() < kTexmexDimBytes) {
    truncated_row(name, 0, 0, kTexmexDimBytes, file.size(), " for its dimension");
  }
  file.read_at(head, 0);
  layout.dim = texmex_dim(head, 0, name);
  layout.row_stride = kTexmexDimBytes + layout.dim * elem_size(elem);
  layout.rows = file.size() / layout.row_stride;
  layout.data_offset = kTexmexDimBytes;
  layout.row_headers = true;
  if (const std::uint64_t extra = file.size() % layout.row_stride; extra != 0) {
    check_texmex_headers(file, layout, name);
    truncated_row(name, layout.rows * layout.row_stride, layout.rows, layout.row_stride, extra, "");
  }
  return layout;
}

detail::VectorFileLayout npy_file_layout(InputFile& file, std::string_view name) {
  const std::uint64_t total = file.size();
  const auto [header, data_offset] = read_npy_header(file, name);
  NpyLayout npy;
  if (header.descr == "|u1") {
    npy = npy_layout<std::uint8_t>(header, data_offset, total, name);
  } else if (header.descr == "|i1") {
    npy = npy_layout<std::int8_t>(header, data_offset, total, name);
  } else {
    if (header.descr != "<f4") {
      fail(Errc::io_error, name,
           cat("dtype '", header.descr, "' unsupported, need '<f4', '|u1' or '|i1'"));
    }
    npy = npy_layout<float>(header, data_offset, total, name);
  }
  return {.type = element_type_of(npy.elem),
          .rows = npy.rows,
          .dim = npy.dim,
          .data_offset = npy.data_offset,
          .row_stride = npy.dim * elem_size(npy.elem),
          .file_size = total};
}

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

/// The size an .npy stream's header promises; reads and checks the header.
template <class Out>
std::uint64_t npy_stream_size(InputFile& file, std::vector<std::byte>& bytes,
                              std::string_view name) {
  if (!file.read_up_to(bytes, 12)) return bytes.size();  // too short: the parse says so
  const auto preamble = parse_npy_preamble(bytes, std::numeric_limits<std::uint64_t>::max(), name);
  const std::uint64_t data_offset = preamble.header_offset + preamble.header_size;
  if (!file.read_up_to(bytes, data_offset)) return bytes.size();
  const auto header =
      NpyHeaderParser(
          as_text(std::span(bytes).subspan(preamble.header_offset, preamble.header_size)),
          preamble.header_offset, name)
          .parse();
  std::uint64_t data = elem_size(npy_elem<Out>(header.descr, name));
  bool sized = true;
  for (const std::uint64_t extent : header.shape) {
    const std::optional<std::uint64_t> product = checked_mul(data, extent);
    sized = sized && product.has_value();
    data = product.value_or(0);
  }
  // Without a size (overflow), npy_layout fails on the shape whatever the total.
  sized = sized && data <= std::numeric_limits<std::uint64_t>::max() - data_offset - 1;
  const std::uint64_t total = sized ? data_offset + data : data_offset;
  (void)npy_layout<Out>(header, data_offset, total, name);
  return total;
}

/// The size a .bin stream's header promises (with distances where they may follow).
std::uint64_t bin_stream_size(InputFile& file, std::vector<std::byte>& bytes, Elem elem,
                              BinTail tail, std::string_view name) {
  if (!file.read_up_to(bytes, kBinHeaderBytes)) return bytes.size();
  const auto rows = static_cast<std::uint64_t>(std::max(0, load_le<std::int32_t>(bytes.data())));
  // A dimension past the limit fails bin_layout's check whatever the total.
  const auto dim = static_cast<std::uint64_t>(
      std::clamp<std::int64_t>(load_le<std::int32_t>(bytes.data() + 4), 0, kMaxTexmexDim + 1));
  const std::uint64_t distances = tail == BinTail::none ? 0 : rows * dim * 4;
  const std::uint64_t total = kBinHeaderBytes + rows * dim * elem_size(elem) + distances;
  (void)bin_layout(bytes, total, elem, tail, name);  // checks the header's fields
  return total;
}

/// Fails when a pipe or device needs more than this machine's memory to be read whole.
void check_fits_memory(std::uint64_t bytes, std::string_view name, std::string_view what) {
  const std::uint64_t memory =
      std::uint64_t(::sysconf(_SC_PHYS_PAGES)) * std::uint64_t(::sysconf(_SC_PAGE_SIZE));
  if (bytes <= memory) return;
  fail(Errc::io_error, name,
       cat("a pipe or device is read whole, and ", what, " ", bytes,
           " bytes, more than this machine's memory (", memory, " bytes)"));
}

/// Reads TEXMEX rows, checking each row's dimension as it arrives; at most the host's memory.
void read_texmex_stream(InputFile& file, std::vector<std::byte>& bytes, Elem elem,
                        std::string_view name) {
  if (!file.read_up_to(bytes, kTexmexDimBytes)) return;
  const std::size_t dim = texmex_dim(bytes, 0, name);
  const std::size_t row_bytes = kTexmexDimBytes + dim * elem_size(elem);
  const std::size_t chunk = std::max<std::size_t>(1, kChunkBytes / row_bytes) * row_bytes;
  for (std::size_t checked = 0;;) {
    const bool more = file.read_up_to(bytes, bytes.size() + chunk);
    for (; checked + kTexmexDimBytes <= bytes.size(); checked += row_bytes) {
      if (load_le<std::int32_t>(bytes.data() + checked) != static_cast<std::int32_t>(dim)) return;
    }
    if (!more) return;  // the parse reports a bad or partial row
    check_fits_memory(bytes.size(), name, cat("its rows of dimension ", dim, " took"));
  }
}

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

std::string npy_header(std::string_view descr, std::size_t rows, std::size_t dim) {
  std::string header =
      cat("{'descr': '", descr, "', 'fortran_order': False, 'shape': (", rows, ", ", dim, "), }");
  // Pad with spaces so magic + version + length + header (ending in '\n') is a multiple of
  // kNpyAlign, as numpy does, so that the data is aligned when memory-mapped.
  const std::size_t preamble = kNpyMagic.size() + 2 + 2;
  const std::size_t unpadded = preamble + header.size() + 1;
  header.append((kNpyAlign - unpadded % kNpyAlign) % kNpyAlign, ' ');
  header += '\n';
  std::string out(kNpyMagic);
  out += '\x01';
  out += '\x00';
  const auto size = static_cast<std::uint16_t>(header.size());  // a few hundred bytes at most
  out += static_cast<char>(size & 0xff);
  out += static_cast<char>(size >> 8);
  return out + header;
}

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

std::array<std::byte, kBinHeaderBytes> bin_header(std::size_t rows, std::size_t dim) {
  std::array<std::byte, kBinHeaderBytes> header{};
  const auto r = static_cast<std::int32_t>(rows);
  const auto d = static_cast<std::int32_t>(dim);
  std::memcpy(header.data(), &r, 4);
  std::memcpy(header.data() + 4, &d, 4);
  return header;
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
    const std::string header = npy_header(kIds ? "<i4" : "<f4", matrix.rows, matrix.dim);
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
  return read_any<float>(path, progress);
}

Matrix<std::int32_t> read_ids(const std::filesystem::path& path, const ProgressCallback& progress) {
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
  const NpyLayout bin = read_bin_layout(file, elem, BinTail::none, name);
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

void write_ground_truth_to(AtomicFile& file, const GroundTruth& truth,
                           const ProgressCallback& progress) {
  check_ground_truth(file.target(), truth);
  encode_ground_truth(file, truth, progress);
}

}  // namespace detail

}  // namespace vecaccel
