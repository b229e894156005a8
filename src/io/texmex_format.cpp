#include "io/texmex_format.hpp"

namespace vecaccel::io {

bool is_texmex(VectorFileFormat format) {
  return format == VectorFileFormat::fvecs || format == VectorFileFormat::bvecs ||
         format == VectorFileFormat::ivecs;
}

[[noreturn]] void truncated_row(std::string_view name, std::uint64_t offset, std::size_t row,
                                std::uint64_t needed, std::uint64_t left, std::string_view what) {
  fail(Errc::io_error, name,
       cat("truncated at byte ", offset, ": row ", row, " needs ", needed, " bytes", what, ", ",
           left, " left"));
}

std::size_t texmex_dim(std::span<const std::byte> at, std::size_t row, std::string_view name) {
  const std::int32_t dim = load_le<std::int32_t>(at.data());
  if (dim <= 0 || dim > kMaxTexmexDim) {
    fail(Errc::io_error, name,
         cat("row ", row, " has dimension ", dim, ", must be in 1..", kMaxTexmexDim,
             " (a larger value means a corrupt or non-TEXMEX file)"));
  }
  return static_cast<std::size_t>(dim);
}

void require_in_chunk(std::size_t in_chunk, std::size_t needed, std::size_t row,
                      std::string_view name) {
  if (in_chunk < needed) fail(Errc::io_error, name, cat("internal: chunk ends inside row ", row));
}

namespace {

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

}  // namespace

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

}  // namespace vecaccel::io
