#pragma once
// MappedVectors: a base-vector file read in place through a read-only memory mapping, for
// bases larger than host (or device) memory. Nothing is copied at open: rows are read where
// they lie when a search streams them, and release() hands pages back once a pass is done,
// so the memory a streamed search touches stays bounded by its chunks.
//
// Formats: .fbin/.u8bin/.i8bin, .fvecs/.bvecs (each row's dimension header is checked when the
// row is read) and .npy ('<f4', '|u1', '|i1'; C order). The header and the size are checked
// at open exactly as read_vectors does (io_error naming the numbers); .ivecs/.ibin or a
// non-regular file (a pipe): invalid_argument. The file must not change while mapped.
//
// Thread-safe for concurrent reads; move-only; the mapping lives as long as the object.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>

#include "vecaccel/element_type.hpp"

namespace vecaccel {

class MappedVectors {
 public:
  explicit MappedVectors(const std::filesystem::path& path);
  MappedVectors(MappedVectors&& other) noexcept;
  MappedVectors& operator=(MappedVectors&& other) noexcept;
  MappedVectors(const MappedVectors&) = delete;
  MappedVectors& operator=(const MappedVectors&) = delete;
  ~MappedVectors();

  std::size_t rows() const noexcept { return rows_; }
  std::size_t dim() const noexcept { return dim_; }
  ElementType element_type() const noexcept { return type_; }
  /// Bytes of one row's elements: dim() x element_size(element_type()).
  std::size_t row_bytes() const noexcept { return dim_ * element_size(type_); }
  const std::filesystem::path& path() const noexcept { return path_; }

  /// Rows [first, first + count) when they lie back to back in the file, aligned for their
  /// element type (every format but TEXMEX, whose rows carry headers, and an .npy whose data
  /// starts at an odd offset): a view into the mapping. Else empty: use copy_rows.
  std::span<const std::byte> contiguous(std::size_t first, std::size_t count) const;
  /// Row i's elements in place (row_bytes() bytes). Past rows(): invalid_argument; a TEXMEX
  /// row whose header disagrees with the dimension: io_error naming the row.
  std::span<const std::byte> row(std::size_t i) const;
  /// Copies rows [first, first + count) packed, row_bytes() each, into out. A range past
  /// rows() or a short `out`: invalid_argument; a TEXMEX row whose header disagrees with the
  /// dimension: io_error naming the row.
  void copy_rows(std::size_t first, std::size_t count, std::span<std::byte> out) const;
  /// The pages of rows [first, first + count) are not needed again soon (a streamed pass is
  /// done with them): the kernel may drop them from memory. Reads still work afterwards.
  void release(std::size_t first, std::size_t count) const noexcept;

 private:
  std::span<const std::byte> span_of(std::size_t first, std::size_t count) const;
  void swap(MappedVectors& other) noexcept;

  std::filesystem::path path_;
  std::size_t rows_ = 0;
  std::size_t dim_ = 0;
  ElementType type_ = ElementType::float32;
  std::uint64_t data_offset_ = 0;
  std::uint64_t row_stride_ = 0;
  bool row_headers_ = false;
  const std::byte* map_ = nullptr;
  std::size_t map_size_ = 0;
};

}  // namespace vecaccel
