#include "search_base.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>

#include "cli_support.hpp"
#include "progress.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/mapped_vectors.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel::cli {

namespace {

bool mappable(const std::string& path) {
  VectorFileFormat format{};
  try {
    format = format_from_path(path);
  } catch (const Error&) {
    return false;  // read_vectors names the extension
  }
  struct stat info {};
  return format != VectorFileFormat::ivecs && format != VectorFileFormat::ibin &&
         ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

}  // namespace

Base open_base(const std::string& path, bool show_progress, const std::stop_token& stop) {
  if (!mappable(path)) return {std::nullopt, read_input(path, "base", show_progress, stop)};
  Base base{MappedVectors(path), {}};
  if (base.rows() == 0) {
    throw Error(Errc::invalid_argument, path + ": the base file holds no vectors");
  }
  return base;
}

KnnResult search_streamed(Context& context, const MappedVectors& base, const std::string& path,
                          std::size_t first, std::size_t rows, const Matrix<float>& queries,
                          const SearchOptions& options, std::uint64_t budget,
                          const std::stop_token& stop, SearchRun& run) {
  run.budget = budget;
  Progress progress("searching base", rows, Progress::Unit::items, progress_wanted(options.quiet),
                    "rows");
  KnnResult result;
  naming_base(path, [&] {
    result = ops::knn(context, queries.values, base, options.k, parse_metric(options.metric),
                      {.timeout = std::chrono::nanoseconds::max(),
                       .stop = stop,
                       .progress =
                           [&](std::size_t done, std::size_t) {
                             ++run.passes;
                             progress.update(done);
                           },
                       .memory_budget = budget,
                       .first_row = first,
                       .row_count = rows});
  });
  progress.finish();
  return result;
}

}  // namespace vecaccel::cli
