#pragma once
// The FlatIndex file format (little-endian), version 2:
//
//   offset 0   char[8]  magic "VECAFLAT"
//          8   u32      version (2)
//         12   u32      metric: 0 l2, 1 inner_product, 2 cosine, 3 l1, 4 linf
//         16   u64      dim (1 .. FlatIndex::max_dim)
//         24   u64      rows
//         32   u32      element type: 0 float32, 1 uint8, 2 int8
//         36   u32      reserved, 0
//         40   u64      next label: the label the next add() gives (rows ever added; at
//                       least `rows`, more after remove_ids)
//         48   i64      ids[rows]
//              T        vectors[rows * dim], row-major, T the element type (4 or 1 bytes)
//              u64      FNV-1a 64 of every byte before it
//
// Version 1 files (still read) have a 32-byte header (no element type, no next label: the
// rows are float32 and the next label is `rows`) and metric codes 0..2 only.
//
// The writer streams into an AtomicFile (a temporary beside the target, renamed over it only
// when complete), so a failed save never leaves a partial file. The reader checks the
// whole file (structure, exact size, checksum) before handing out any data, so a caller never
// builds an index from a file that later turns out to be corrupt.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "util/atomic_file.hpp"
#include "vecaccel/element_type.hpp"
#include "vecaccel/metric.hpp"

namespace vecaccel::detail {

struct FlatIndexHeader {
  Metric metric = Metric::l2;
  std::uint64_t dim = 0;
  std::uint64_t rows = 0;
  ElementType element_type = ElementType::float32;
  std::uint64_t next_label = 0;  ///< at least rows
};

inline constexpr std::uint32_t flat_index_file_version = 2;

/// FNV-1a 64, resumable: pass the previous result as `state`.
inline constexpr std::uint64_t fnv1a64_offset_basis = 0xcbf29ce484222325ull;
std::uint64_t fnv1a64(std::span<const std::byte> bytes,
                      std::uint64_t state = fnv1a64_offset_basis) noexcept;

/// Writes one index file: header at construction, then exactly header.rows ids and
/// header.rows * header.dim elements of header.element_type (in any number of calls, ids
/// first), then commit().
/// Any failure is an io_error naming the file; without commit() the target is untouched.
class FlatIndexWriter {
 public:
  FlatIndexWriter(const std::filesystem::path& path, const FlatIndexHeader& header);
  FlatIndexWriter(const FlatIndexWriter&) = delete;
  FlatIndexWriter& operator=(const FlatIndexWriter&) = delete;

  void write_ids(std::span<const std::int64_t> ids);
  /// Elements of the header's element type, back to back (a whole number of them).
  void write_vectors(std::span<const std::byte> values);
  /// Appends the checksum, syncs and renames the temporary file over the target.
  void commit();

 private:
  void write(std::span<const std::byte> bytes);
  void flush();
  [[noreturn]] void fail(const std::string& what) const;

  AtomicFile file_;
  FlatIndexHeader header_;
  std::uint64_t ids_written_ = 0;
  std::uint64_t values_written_ = 0;
  std::uint64_t checksum_ = fnv1a64_offset_basis;
  std::vector<std::byte> buffer_;
};

/// Opens and verifies an index file; then read_ids() once and read_vectors() in slices.
/// Every problem (missing, truncated, bad magic, unknown version, metric or element type, a
/// next label below the rows, size mismatch, checksum mismatch) is an io_error naming the
/// file and the problem.
class FlatIndexReader {
 public:
  explicit FlatIndexReader(const std::filesystem::path& path);

  const FlatIndexHeader& header() const noexcept { return header_; }
  std::vector<std::int64_t> read_ids();
  /// Reads the next out.size() bytes of the vector section (rows of the header's element
  /// type, back to back).
  void read_vectors(std::span<std::byte> out);

 private:
  struct FileCloser {
    void operator()(std::FILE* file) const noexcept { std::fclose(file); }
  };

  void read_exact(std::span<std::byte> out, const char* section);
  /// Reads version 2's fields after the first 32 bytes into header_.
  void read_header_v2();
  void verify_checksum(std::uint64_t payload_bytes);
  [[noreturn]] void fail(const std::string& what) const;

  std::filesystem::path path_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  FlatIndexHeader header_;
};

}  // namespace vecaccel::detail
