#include "io/bin_format.hpp"

namespace vecaccel::io {

bool is_bin(VectorFileFormat format) {
  return format == VectorFileFormat::fbin || format == VectorFileFormat::u8bin ||
         format == VectorFileFormat::i8bin || format == VectorFileFormat::ibin;
}

ValuesLayout bin_layout(std::span<const std::byte> head, std::uint64_t total, Elem elem,
                        BinTail tail, std::string_view name) {
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

ValuesLayout read_bin_layout(InputFile& file, Elem elem, BinTail tail, std::string_view name) {
  std::array<std::byte, kBinHeaderBytes> head{};
  const auto head_bytes = std::span(head).first(std::min<std::uint64_t>(file.size(), head.size()));
  file.read_at(head_bytes, 0);
  return bin_layout(head_bytes, file.size(), elem, tail, name);
}

BinTail bin_tail_for_ids(VectorFileFormat format) {
  return format == VectorFileFormat::ibin ? BinTail::optional_distances : BinTail::none;
}

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

std::array<std::byte, kBinHeaderBytes> bin_header(std::size_t rows, std::size_t dim) {
  std::array<std::byte, kBinHeaderBytes> header{};
  const auto r = static_cast<std::int32_t>(rows);
  const auto d = static_cast<std::int32_t>(dim);
  std::memcpy(header.data(), &r, 4);
  std::memcpy(header.data() + 4, &d, 4);
  return header;
}

}  // namespace vecaccel::io
