#include "ops/flat_index_file.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <sstream>
#include <system_error>

#include "vecaccel/error.hpp"
#include "vecaccel/flat_index.hpp"

namespace vecaccel::detail {
namespace {

namespace fs = std::filesystem;

// Values are copied between memory and file as raw bytes: the host must match the file.
static_assert(std::endian::native == std::endian::little, "flat index files are little-endian");

constexpr std::array<char, 8> kMagic = {'V', 'E', 'C', 'A', 'F', 'L', 'A', 'T'};
// Version 1's header, and the first 32 bytes of version 2's.
constexpr std::uint64_t kHeaderV1Bytes = 32;
constexpr std::uint64_t kHeaderBytes = 48;
constexpr std::uint32_t kMetricCodes = 5;
constexpr std::uint64_t kChecksumBytes = 8;
// Large enough to amortise system calls, small enough to be cheap to keep around.
constexpr std::size_t kIoChunkBytes = std::size_t{1} << 20;

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

std::string hex(std::uint64_t value) {
  std::ostringstream out;
  out << "0x" << std::hex << value;
  return out.str();
}

/// The metric as index files store it (a format code, unlike the kernels' metric_code).
std::uint32_t stored_metric_code(Metric metric) {
  switch (metric) {
    case Metric::l2:
      return 0;
    case Metric::inner_product:
      return 1;
    case Metric::cosine:
      return 2;
    case Metric::l1:
      return 3;
    case Metric::linf:
      return 4;
  }
  return 0;
}

Metric stored_metric(std::uint32_t code) {
  constexpr Metric metrics[kMetricCodes] = {Metric::l2, Metric::inner_product, Metric::cosine,
                                            Metric::l1, Metric::linf};
  return metrics[code];
}

std::uint32_t stored_type_code(ElementType type) {
  switch (type) {
    case ElementType::float32:
      return 0;
    case ElementType::uint8:
      return 1;
    case ElementType::int8:
      return 2;
  }
  return 0;
}

template <class T>
void put(std::byte* out, T value) {
  std::memcpy(out, &value, sizeof value);
}

template <class T>
T get(const std::byte* in) {
  T value;
  std::memcpy(&value, in, sizeof value);
  return value;
}

/// File size needed for rows x dim, or nullopt-like 0 when it cannot be represented.
std::uint64_t expected_size(std::uint64_t header_bytes, std::uint64_t rows, std::uint64_t dim,
                            ElementType type) {
  const std::uint64_t per_row = sizeof(std::int64_t) + dim * element_size(type);
  const std::uint64_t fixed = header_bytes + kChecksumBytes;
  if (rows > (std::numeric_limits<std::uint64_t>::max() - fixed) / per_row) return 0;
  return fixed + rows * per_row;
}

}  // namespace

std::uint64_t fnv1a64(std::span<const std::byte> bytes, std::uint64_t state) noexcept {
  constexpr std::uint64_t prime = 0x100000001b3ull;
  for (std::byte b : bytes) {
    state ^= static_cast<std::uint64_t>(b);
    state *= prime;
  }
  return state;
}

// ---- FlatIndexWriter -------------------------------------------------------------------------

FlatIndexWriter::FlatIndexWriter(const fs::path& path, const FlatIndexHeader& header)
    : file_(path, "cannot save index '" + path.string() + "': "), header_(header) {
  buffer_.reserve(kIoChunkBytes);
  std::array<std::byte, kHeaderBytes> bytes{};
  std::memcpy(bytes.data(), kMagic.data(), kMagic.size());
  put(bytes.data() + 8, flat_index_file_version);
  put(bytes.data() + 12, stored_metric_code(header.metric));
  put(bytes.data() + 16, header.dim);
  put(bytes.data() + 24, header.rows);
  put(bytes.data() + 32, stored_type_code(header.element_type));
  put(bytes.data() + 36, std::uint32_t{0});
  put(bytes.data() + 40, header.next_label);
  write(bytes);
}

void FlatIndexWriter::fail(const std::string& what) const {
  throw Error(Errc::io_error, file_.context() + what);
}

void FlatIndexWriter::write_ids(std::span<const std::int64_t> ids) {
  if (values_written_ != 0 || ids_written_ + ids.size() > header_.rows) {
    fail("internal: ids out of order or beyond the " + std::to_string(header_.rows) + " rows");
  }
  write(std::as_bytes(ids));
  ids_written_ += ids.size();
}

void FlatIndexWriter::write_vectors(std::span<const std::byte> values) {
  const std::size_t size = element_size(header_.element_type);
  const std::uint64_t count = values.size() / size;
  if (values.size() % size != 0 || ids_written_ != header_.rows ||
      values_written_ + count > header_.rows * header_.dim) {
    fail("internal: " + std::to_string(values.size()) + " bytes of vectors before the ids, " +
         "not whole elements or beyond " + std::to_string(header_.rows) + " x " +
         std::to_string(header_.dim) + " values");
  }
  write(values);
  values_written_ += count;
}

void FlatIndexWriter::write(std::span<const std::byte> bytes) {
  checksum_ = fnv1a64(bytes, checksum_);
  while (!bytes.empty()) {
    const std::size_t take = std::min(kIoChunkBytes - buffer_.size(), bytes.size());
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
    bytes = bytes.subspan(take);
    if (buffer_.size() == kIoChunkBytes) flush();
  }
}

void FlatIndexWriter::flush() {
  file_.write(buffer_);
  buffer_.clear();
}

void FlatIndexWriter::commit() {
  if (ids_written_ != header_.rows || values_written_ != header_.rows * header_.dim) {
    fail("internal: wrote " + std::to_string(ids_written_) + " ids and " +
         std::to_string(values_written_) + " values for " + std::to_string(header_.rows) +
         " rows of dimension " + std::to_string(header_.dim));
  }
  std::array<std::byte, kChecksumBytes> sum{};
  put(sum.data(), checksum_);
  buffer_.insert(buffer_.end(), sum.begin(), sum.end());  // not part of its own checksum
  flush();
  file_.commit();
}

// ---- FlatIndexReader -------------------------------------------------------------------------

FlatIndexReader::FlatIndexReader(const fs::path& path)
    : path_(path), file_(std::fopen(path.c_str(), "rb")) {
  if (!file_) fail("cannot open: " + errno_text(errno));
  struct stat info {};
  if (::fstat(::fileno(file_.get()), &info) != 0) fail("cannot stat: " + errno_text(errno));
  if (!S_ISREG(info.st_mode)) fail("not a regular file");
  const auto size = static_cast<std::uint64_t>(info.st_size);
  const auto require_header = [&](std::uint64_t header_bytes) {
    if (size >= header_bytes + kChecksumBytes) return;
    fail("truncated: " + std::to_string(size) + " bytes, less than the " +
         std::to_string(header_bytes + kChecksumBytes) + "-byte header and checksum");
  };
  require_header(kHeaderV1Bytes);

  std::array<std::byte, kHeaderV1Bytes> bytes{};
  read_exact(bytes, "header");
  if (std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0) {
    fail("not a vecaccel FlatIndex file (bad magic, expected \"VECAFLAT\")");
  }
  const auto version = get<std::uint32_t>(bytes.data() + 8);
  if (version != 1 && version != flat_index_file_version) {
    fail("unknown format version " + std::to_string(version) +
         " (this build reads versions 1 and " + std::to_string(flat_index_file_version) + ")");
  }
  const auto metric = get<std::uint32_t>(bytes.data() + 12);
  const std::uint32_t metrics = version == 1 ? 3 : kMetricCodes;
  if (metric >= metrics) {
    fail("unknown metric code " + std::to_string(metric) + " (0.." + std::to_string(metrics - 1) +
         " are defined in version " + std::to_string(version) + ")");
  }
  header_.metric = stored_metric(metric);
  header_.dim = get<std::uint64_t>(bytes.data() + 16);
  header_.rows = get<std::uint64_t>(bytes.data() + 24);
  header_.next_label = header_.rows;
  const std::uint64_t header_bytes = version == 1 ? kHeaderV1Bytes : kHeaderBytes;
  if (version != 1) {
    require_header(kHeaderBytes);
    read_header_v2();
  }
  if (header_.dim == 0 || header_.dim > FlatIndex::max_dim) {
    fail("dimension " + std::to_string(header_.dim) + " outside 1.." +
         std::to_string(FlatIndex::max_dim));
  }
  const std::uint64_t expected =
      expected_size(header_bytes, header_.rows, header_.dim, header_.element_type);
  if (expected != size) {
    fail(std::string(size < expected || expected == 0 ? "truncated or corrupt" : "size mismatch") +
         ": the header says " + std::to_string(header_.rows) + " " +
         std::string(to_string(header_.element_type)) + " rows of dimension " +
         std::to_string(header_.dim) + (expected == 0 ? " (too large)" : "") + ", which needs " +
         std::to_string(expected) + " bytes, but the file has " + std::to_string(size));
  }
  verify_checksum(size - kChecksumBytes);
  if (std::fseek(file_.get(), static_cast<long>(header_bytes), SEEK_SET) != 0) {
    fail("cannot seek: " + errno_text(errno));
  }
}

void FlatIndexReader::read_header_v2() {
  std::array<std::byte, kHeaderBytes - kHeaderV1Bytes> bytes{};
  read_exact(bytes, "header");
  const auto type = get<std::uint32_t>(bytes.data());
  if (type > 2) fail("unknown element type code " + std::to_string(type) + " (0..2 are defined)");
  header_.element_type = type == 0   ? ElementType::float32
                         : type == 1 ? ElementType::uint8
                                     : ElementType::int8;
  if (const auto reserved = get<std::uint32_t>(bytes.data() + 4); reserved != 0) {
    fail("reserved header field holds " + std::to_string(reserved) + " (expected 0)");
  }
  header_.next_label = get<std::uint64_t>(bytes.data() + 8);
  if (header_.next_label < header_.rows ||
      header_.next_label > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    fail("next label " + std::to_string(header_.next_label) + " is below the " +
         std::to_string(header_.rows) + " rows or beyond 2^63 - 1");
  }
}

void FlatIndexReader::fail(const std::string& what) const {
  throw Error(Errc::io_error, "cannot load index '" + path_.string() + "': " + what);
}

void FlatIndexReader::read_exact(std::span<std::byte> out, const char* section) {
  const std::size_t got = std::fread(out.data(), 1, out.size(), file_.get());
  if (got != out.size()) {
    const bool error = std::ferror(file_.get()) != 0;
    fail(std::string(error ? "read error" : "unexpected end of file") + " in the " + section +
         " (" + std::to_string(got) + " of " + std::to_string(out.size()) + " bytes)");
  }
}

void FlatIndexReader::verify_checksum(std::uint64_t payload_bytes) {
  if (std::fseek(file_.get(), 0, SEEK_SET) != 0) fail("cannot seek: " + errno_text(errno));
  std::vector<std::byte> chunk(kIoChunkBytes);
  std::uint64_t computed = fnv1a64_offset_basis;
  for (std::uint64_t done = 0; done < payload_bytes;) {
    const auto take =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), payload_bytes - done));
    read_exact(std::span(chunk).first(take), "payload");
    computed = fnv1a64(std::span(chunk).first(take), computed);
    done += take;
  }
  std::array<std::byte, kChecksumBytes> sum{};
  read_exact(sum, "checksum");
  const auto stored = get<std::uint64_t>(sum.data());
  if (stored != computed) {
    fail("checksum mismatch (stored " + hex(stored) + ", computed " + hex(computed) +
         "): the file is corrupt");
  }
}

std::vector<std::int64_t> FlatIndexReader::read_ids() {
  std::vector<std::int64_t> ids(static_cast<std::size_t>(header_.rows));
  read_exact(std::as_writable_bytes(std::span(ids)), "ids");
  return ids;
}

void FlatIndexReader::read_vectors(std::span<std::byte> out) {
  read_exact(out, "vectors");
}

}  // namespace vecaccel::detail
