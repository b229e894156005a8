#pragma once
// The base of a search: opened (mapped where it can be), and searched by the library's planner
// (vecaccel/search.hpp) with progress bars and errors that name the file.

#include <charconv>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "search_options.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/element_type.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/mapped_vectors.hpp"
#include "vecaccel/search.hpp"
#include "vecaccel/vector_file.hpp"

namespace vecaccel::cli {

/// The base: mapped where the file allows it, else read (float32) into memory.
struct Base {
  std::optional<MappedVectors> mapped;
  Matrix<float> values;

  std::size_t rows() const { return mapped ? mapped->rows() : values.rows; }
  std::size_t dim() const { return mapped ? mapped->dim() : values.dim; }
  ElementType type() const { return mapped ? mapped->element_type() : ElementType::float32; }
  /// Rows [first, first + count) for the planner; a mapped range keeps the file's row numbers
  /// as labels, rows in memory are labelled from 0.
  SearchBase view(std::size_t first, std::size_t count) const;
  /// Every row, labelled by its file row.
  SearchBase whole() const { return view(0, rows()); }
};

/// The base file: mapped where its format and file type allow, else read into memory.
Base open_base(const std::string& path, bool show_progress, const std::stop_token& stop);

/// Base rows are checked as they are uploaded; their errors name the file too, and the row as
/// the file numbers it (rows the library numbered from 0 start at file row `row_offset`).
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

/// Runs `run` with the planner's options for this run (no time limit, the stop token, --batch,
/// progress bars over `rows` base rows and `queries` queries unless --quiet); errors naming a
/// base row name `path` and the file's row (as naming_base, from `row_offset`).
void run_planned(const std::string& path, std::size_t rows, std::size_t queries,
                 const SearchOptions& options, const std::stop_token& stop, std::size_t row_offset,
                 const std::function<void(const vecaccel::SearchOptions&)>& run);

/// The planner's search of base rows [first, first + count) on `devices`, with progress bars
/// (uploading, searching queries, streaming the base) unless --quiet; errors naming a base row
/// name `path` and the file's row. Labels as Base::view gives them.
SearchResult search_base(std::span<Context* const> devices, const Base& base,
                         const std::string& path, std::size_t first, std::size_t count,
                         const Matrix<float>& queries, const SearchOptions& options,
                         const std::stop_token& stop);

/// The range search (--radius, RangeResult's rules) of every base row on `devices`, with
/// progress bars and errors as search_base; labels are file rows.
RangeResult range_base(std::span<Context* const> devices, const Base& base, const std::string& path,
                       const Matrix<float>& queries, const SearchOptions& options,
                       const std::stop_token& stop);

/// The self-kNN graph of every base row (vecaccel/knn_graph.hpp) on `devices`, with progress
/// bars as search_base; errors naming a base row name `path`.
SearchResult graph_base(std::span<Context* const> devices, const Base& base,
                        const std::string& path, const SearchOptions& options,
                        const std::stop_token& stop);

/// The contexts of a run: one per entry of --devices `devices` (a device may repeat), else one
/// on the device Context picks.
std::vector<std::unique_ptr<Context>> open_devices(const std::string& devices);

/// ids and distances (queries x k) of a result whose labels are base rows (checked to fit
/// int32 before the search).
void to_matrices(KnnResult&& result, Matrix<std::int32_t>& ids, Matrix<float>& distances);

/// Fills the report's plan fields: upload and search times, passes and the smallest budget a
/// streamed share was planned within.
void report_plan(const SearchResult& result, SearchRun& run);

}  // namespace vecaccel::cli
