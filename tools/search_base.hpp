#pragma once
// The base of a search: opened (mapped where it can be), added to an index in slices, or
// streamed through a device in passes; and the batched search of an index.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "cli_support.hpp"
#include "ops/streamed_search.hpp"
#include "progress.hpp"
#include "search_inputs.hpp"
#include "search_options.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/element_type.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/mapped_vectors.hpp"
#include "vecaccel/ops.hpp"
#include "vecaccel/vector_file.hpp"

namespace vecaccel::cli {

// Bytes per FlatIndex::add call: bounds the host copy of TEXMEX rows and drives the progress bar.
constexpr std::uint64_t kAddSliceBytes = std::uint64_t{256} << 20;

/// A rank's slice of the base (MPI), in memory, added in slices of about kAddSliceBytes.
/// The base: mapped where the file allows it, else read (float32) into memory.
struct Base {
  std::optional<MappedVectors> mapped;
  Matrix<float> values;

  std::size_t rows() const { return mapped ? mapped->rows() : values.rows; }
  std::size_t dim() const { return mapped ? mapped->dim() : values.dim; }
  ElementType type() const { return mapped ? mapped->element_type() : ElementType::float32; }
  /// Row i widened to float (exact).
  std::vector<float> row(std::size_t i) const {
    if (!mapped) return {values.row(i).begin(), values.row(i).end()};
    const detail::RowSource source{.type = type(), .dim = dim(), .bytes = {}, .mapped = &*mapped};
    return source.row(i);
  }
};

/// The base file: mapped where its format and file type allow, else read into memory.
Base open_base(const std::string& path, bool show_progress, const std::stop_token& stop);

/// Base rows are checked as they are uploaded; their errors name the file too, and the row as
/// the file numbers it (an index holding rows from `row_offset` on numbers them from 0).
template <class F>
void naming_base(const std::string& path, F&& f, std::size_t row_offset = 0) {
  try {
    f();
  } catch (const Error& e) {
    if (e.code() != Errc::invalid_argument && e.code() != Errc::io_error) throw;
    // what() is "<code>: <message>"; the message gains the file's name.
    const std::string what = e.what();
    const std::size_t code = to_string(e.code()).size() + 2;
    constexpr std::string_view prefix = "base row ";
    if (what.compare(code, prefix.size(), prefix) != 0) throw;
    const std::size_t number = code + prefix.size();
    std::size_t row = 0;
    const auto [end, failed] =
        std::from_chars(what.data() + number, what.data() + what.size(), row);
    if (failed != std::errc{}) throw;
    throw Error(e.code(), path + ": base row " + std::to_string(row + row_offset) +
                              what.substr(static_cast<std::size_t>(end - what.data())));
  }
}

/// Rows of the base's element type (the index was made with it).
template <class Index>
void add_rows(Index& index, ElementType type, std::span<const std::byte> bytes) {
  switch (type) {
    case ElementType::float32:
      return index.add(std::span(reinterpret_cast<const float*>(bytes.data()), bytes.size() / 4));
    case ElementType::uint8:
      return index.add(
          std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    case ElementType::int8:
      return index.add(std::span(reinterpret_cast<const std::int8_t*>(bytes.data()), bytes.size()));
  }
}

/// Adds rows [first, first + count) of the base (all of it by default).
template <class Index>
void add_base(Index& index, const Base& base, const std::string& path, bool show_progress,
              const std::stop_token& stop, std::size_t first = 0,
              std::size_t count = std::numeric_limits<std::size_t>::max()) {
  count = std::min(count, base.rows() - first);
  Progress progress("adding", count, Progress::Unit::items, show_progress, "rows");
  const std::size_t row_bytes = base.dim() * element_size(base.type());
  const std::size_t slice_rows = std::max<std::size_t>(1, kAddSliceBytes / row_bytes);
  std::vector<std::byte> copied;  // TEXMEX rows, whose headers sit between them
  for (std::size_t row = first; row < first + count; row += slice_rows) {
    check_stop(stop);
    const std::size_t n = std::min(slice_rows, first + count - row);
    std::span<const std::byte> bytes =
        base.mapped ? base.mapped->contiguous(row, n)
                    : std::as_bytes(
                          std::span(base.values.values).subspan(row * base.dim(), n * base.dim()));
    if (bytes.empty()) {
      copied.resize(n * row_bytes);
      base.mapped->copy_rows(row, n, copied);
      bytes = copied;
    }
    naming_base(
        path, [&] { add_rows(index, base.type(), bytes); }, first);
    progress.update(row - first + n);
  }
  progress.finish();
}

/// Streams rows [first, first + rows) of a mapped base through the GPU in passes within
/// `budget`, with a progress bar over them; labels are file rows, errors name `path`.
KnnResult search_streamed(Context& context, const MappedVectors& base, const std::string& path,
                          std::size_t first, std::size_t rows, const Matrix<float>& queries,
                          const SearchOptions& options, std::uint64_t budget,
                          const std::stop_token& stop, SearchRun& run);

/// Searches batch by batch; ids (0-based base rows) and distances, rows x k each.
template <class Index>
void search_batches(const Index& index, const Matrix<float>& queries, const SearchOptions& options,
                    const std::stop_token& stop, Matrix<std::int32_t>& ids,
                    Matrix<float>& distances) {
  const std::size_t k = options.k;
  ids = {.rows = queries.rows, .dim = k, .values = std::vector<std::int32_t>(queries.rows * k)};
  distances = {.rows = queries.rows, .dim = k, .values = std::vector<float>(queries.rows * k)};
  Progress progress("searching", queries.rows, Progress::Unit::items,
                    progress_wanted(options.quiet), "queries");
  ExecuteOptions execute;
  execute.stop = stop;  // also checked inside a batch, between its GPU passes
  // A command-line search takes as long as it takes (a slow device, a large batch); Ctrl-C
  // stops it, so the context's default timeout does not apply.
  execute.timeout = std::chrono::nanoseconds::max();
  for (std::size_t row = 0; row < queries.rows; row += options.batch) {
    check_stop(stop);
    const std::size_t n = std::min(options.batch, queries.rows - row);
    const KnnResult result = index.search(
        std::span(queries.values).subspan(row * queries.dim, n * queries.dim), k, execute);
    for (std::size_t i = 0; i < n * k; ++i) {
      // Row numbers fit int32: the base size was checked against it.
      ids.values[row * k + i] = static_cast<std::int32_t>(result.labels[i]);
      distances.values[row * k + i] = result.distances[i];
    }
    progress.update(row + n);
  }
  progress.finish();
}

}  // namespace vecaccel::cli
