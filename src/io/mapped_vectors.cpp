#include "vecaccel/mapped_vectors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

#include "io/vector_file_layout.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel {
namespace {

[[noreturn]] void fail_errno(const std::filesystem::path& path, const char* what, int err) {
  throw Error(Errc::io_error,
              path.string() + ": " + what + ": " + std::generic_category().message(err));
}

/// Closes a descriptor when the scope ends: the mapping keeps the file alive without it.
struct Descriptor {
  int fd;
  ~Descriptor() { ::close(fd); }
};

}  // namespace

MappedVectors::MappedVectors(const std::filesystem::path& path) : path_(path) {
  const detail::VectorFileLayout layout = detail::probe_vector_file(path);
  rows_ = layout.rows;
  dim_ = layout.dim;
  type_ = layout.type;
  data_offset_ = layout.data_offset;
  row_stride_ = layout.row_stride;
  row_headers_ = layout.row_headers;
  if (rows_ == 0) return;  // nothing to map (and mmap refuses length 0)
  const Descriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) fail_errno(path, "cannot open", errno);
  map_size_ = static_cast<std::size_t>(layout.file_size);
  void* map = ::mmap(nullptr, map_size_, PROT_READ, MAP_SHARED, file.fd, 0);
  if (map == MAP_FAILED) fail_errno(path, "cannot map", errno);
  // No MADV_SEQUENTIAL although passes read front to back: the uploader's threads fault in
  // parts of each slice at once, which the kernel's sequential read-ahead takes for random
  // reads. The default read-around (a read-ahead window about each fault) keeps the disk as
  // busy as dd: on the H200 VM a cold file read at 1.73 GB/s (dd 1.7) this way, at 1.30-1.34
  // with MADV_SEQUENTIAL (BENCHMARKS.md, "File to GPU from a cold disk").
  map_ = static_cast<const std::byte*>(map);
}

MappedVectors::MappedVectors(MappedVectors&& other) noexcept {
  swap(other);
}

MappedVectors& MappedVectors::operator=(MappedVectors&& other) noexcept {
  MappedVectors moved(std::move(other));  // this one's mapping goes with `moved`
  swap(moved);
  return *this;
}

void MappedVectors::swap(MappedVectors& other) noexcept {
  std::swap(path_, other.path_);
  std::swap(rows_, other.rows_);
  std::swap(dim_, other.dim_);
  std::swap(type_, other.type_);
  std::swap(data_offset_, other.data_offset_);
  std::swap(row_stride_, other.row_stride_);
  std::swap(row_headers_, other.row_headers_);
  std::swap(map_, other.map_);
  std::swap(map_size_, other.map_size_);
}

MappedVectors::~MappedVectors() {
  if (map_ != nullptr) ::munmap(const_cast<std::byte*>(map_), map_size_);
}

std::span<const std::byte> MappedVectors::span_of(std::size_t first, std::size_t count) const {
  if (first > rows_ || count > rows_ - first) {
    throw Error(Errc::invalid_argument, path_.string() + ": rows " + std::to_string(first) + ".." +
                                            std::to_string(first + count) + " outside the file's " +
                                            std::to_string(rows_));
  }
  if (count == 0) return {};
  const std::uint64_t begin = data_offset_ + first * row_stride_;
  return {map_ + begin, (count - 1) * row_stride_ + row_bytes()};
}

std::span<const std::byte> MappedVectors::contiguous(std::size_t first, std::size_t count) const {
  // Rows whose elements are not aligned for their type (an .npy with an odd header length) are
  // copied out instead of read in place.
  if (row_headers_ || (data_offset_ % element_size(type_)) != 0) return {};
  return span_of(first, count);
}

std::span<const std::byte> MappedVectors::row(std::size_t i) const {
  const auto bytes = span_of(i, 1);
  if (row_headers_) {
    std::int32_t dim = 0;
    std::memcpy(&dim, bytes.data() - 4, sizeof dim);
    if (dim < 0 || static_cast<std::size_t>(dim) != dim_) {
      throw Error(Errc::io_error, path_.string() + ": row " + std::to_string(i) +
                                      " has dimension " + std::to_string(dim) + ", expected " +
                                      std::to_string(dim_) + " (from row 0)");
    }
  }
  return bytes;
}

void MappedVectors::copy_rows(std::size_t first, std::size_t count,
                              std::span<std::byte> out) const {
  const auto rows = span_of(first, count);
  const std::size_t bytes = row_bytes();
  if (out.size() < count * bytes) {
    throw Error(Errc::invalid_argument, path_.string() + ": copying " + std::to_string(count) +
                                            " rows of " + std::to_string(bytes) + " bytes into " +
                                            std::to_string(out.size()));
  }
  if (!row_headers_) {
    if (count != 0) std::memcpy(out.data(), rows.data(), count * bytes);
    return;
  }
  for (std::size_t i = 0; i < count; ++i)
    std::memcpy(out.data() + i * bytes, row(first + i).data(), bytes);
}

void MappedVectors::release(std::size_t first, std::size_t count) const noexcept {
  if (map_ == nullptr || first >= rows_ || count == 0) return;
  count = std::min(count, rows_ - first);
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  // Whole pages inside the range only: a neighbouring row still in use keeps its page.
  const std::uint64_t begin = (data_offset_ + first * row_stride_ + page - 1) / page * page;
  const std::uint64_t end = (data_offset_ + (first + count) * row_stride_) / page * page;
  if (end > begin) {
    ::madvise(const_cast<std::byte*>(map_) + begin, end - begin, MADV_DONTNEED);
  }
}

}  // namespace vecaccel
