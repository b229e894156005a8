#include "search_base.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>

#include "cli_support.hpp"
#include "progress.hpp"
#include "search_inputs.hpp"
#include "vecaccel/device.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/knn_graph.hpp"
#include "vecaccel/mapped_vectors.hpp"

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

/// One bar per phase of the search, each finished when the next begins.
class PhaseBars {
 public:
  PhaseBars(bool enabled, std::size_t rows, std::size_t queries)
      : enabled_(enabled), rows_(rows), queries_(queries) {}

  void update(const SearchProgress& progress) {
    if (!bar_ || progress.phase != phase_) {
      if (bar_) bar_->finish();
      phase_ = progress.phase;
      bar_.emplace(label(phase_), progress.phase == SearchPhase::searching ? queries_ : rows_,
                   Progress::Unit::items, enabled_,
                   progress.phase == SearchPhase::searching ? "queries" : "rows");
    }
    bar_->update(progress.done);
  }

  void finish() {
    if (bar_) bar_->finish();
  }

 private:
  static const char* label(SearchPhase phase) {
    switch (phase) {
      case SearchPhase::uploading:
        return "adding";
      case SearchPhase::searching:
        return "searching";
      case SearchPhase::streaming:
        return "searching base";
    }
    return "searching";
  }

  bool enabled_;
  std::size_t rows_;
  std::size_t queries_;
  SearchPhase phase_ = SearchPhase::uploading;
  std::optional<Progress> bar_;
};

}  // namespace

SearchBase Base::view(std::size_t first, std::size_t count) const {
  if (mapped) return SearchBase(*mapped, first, count);
  return SearchBase(MatrixView<const float>(
      std::span(values.values).subspan(first * values.dim, count * values.dim), count, values.dim));
}

Base open_base(const std::string& path, bool show_progress, const std::stop_token& stop) {
  if (!mappable(path)) return {std::nullopt, read_input(path, "base", show_progress, stop)};
  Base base{MappedVectors(path), {}};
  if (base.rows() == 0) {
    throw Error(Errc::invalid_argument, path + ": the base file holds no vectors");
  }
  return base;
}

namespace {

/// The planner's options for a command-line run: no time limit (Ctrl-C stops it), progress
/// into `bars`, --filter's ids as an allow-list.
vecaccel::SearchOptions run_options(const SearchOptions& options, const std::stop_token& stop,
                                    PhaseBars& bars) {
  vecaccel::SearchOptions out{.timeout = std::nullopt,
                              .stop = stop,
                              .memory_budget = std::nullopt,
                              .query_batch = options.batch,
                              .progress = [&bars](const SearchProgress& p) { bars.update(p); },
                              .filter = std::nullopt};
  if (!options.filter.empty()) out.filter = IdFilter::allow(options.allowed);
  return out;
}

}  // namespace

void run_planned(const std::string& path, std::size_t rows, std::size_t queries,
                 const SearchOptions& options, const std::stop_token& stop, std::size_t row_offset,
                 const std::function<void(const vecaccel::SearchOptions&)>& run) {
  PhaseBars bars(progress_wanted(options.quiet), rows, queries);
  naming_base(
      path, [&] { run(run_options(options, stop, bars)); }, row_offset);
  bars.finish();
}

SearchResult search_base(std::span<Context* const> devices, const Base& base,
                         const std::string& path, std::size_t first, std::size_t count,
                         const Matrix<float>& queries, const SearchOptions& options,
                         const std::stop_token& stop) {
  SearchResult result;
  // A mapped range names file rows itself; rows in memory are numbered from `first`'s 0.
  run_planned(path, count, queries.rows, options, stop, base.mapped ? 0 : first,
              [&](const vecaccel::SearchOptions& planner) {
                result = vecaccel::search(
                    devices, base.view(first, count),
                    MatrixView<const float>(queries.values, queries.rows, queries.dim), options.k,
                    parse_metric(options.metric), planner);
              });
  return result;
}

RangeResult range_base(std::span<Context* const> devices, const Base& base, const std::string& path,
                       const Matrix<float>& queries, const SearchOptions& options,
                       const std::stop_token& stop) {
  RangeResult result;
  run_planned(path, base.rows(), queries.rows, options, stop, 0,
              [&](const vecaccel::SearchOptions& planner) {
                result =
                    range_search(devices, base.whole(),
                                 MatrixView<const float>(queries.values, queries.rows, queries.dim),
                                 *options.radius, parse_metric(options.metric), planner,
                                 options.max_results.value_or(default_max_range_results));
              });
  return result;
}

SearchResult graph_base(std::span<Context* const> devices, const Base& base,
                        const std::string& path, const SearchOptions& options,
                        const std::stop_token& stop) {
  SearchResult result;
  run_planned(path, base.rows(), base.rows(), options, stop, 0,
              [&](const vecaccel::SearchOptions& planner) {
                result = knn_graph(devices, base.whole(), options.k, parse_metric(options.metric),
                                   planner);
              });
  return result;
}

std::vector<std::unique_ptr<Context>> open_devices(const std::string& devices) {
  std::vector<std::unique_ptr<Context>> contexts;
  if (devices.empty()) {
    contexts.push_back(std::make_unique<Context>());
    return contexts;
  }
  for (const std::uint32_t device : parse_devices(devices))
    contexts.push_back(std::make_unique<Context>(Device::open(device)));
  return contexts;
}

void to_matrices(KnnResult&& result, Matrix<std::int32_t>& ids, Matrix<float>& distances) {
  ids = {.rows = result.rows,
         .dim = result.k,
         .values = std::vector<std::int32_t>(result.labels.size())};
  for (std::size_t i = 0; i < ids.values.size(); ++i)
    ids.values[i] = static_cast<std::int32_t>(result.labels[i]);  // checked to fit int32
  distances = {.rows = result.rows, .dim = result.k, .values = std::move(result.distances)};
}

void report_plan(const SearchResult& result, SearchRun& run) {
  run.add_ms = std::chrono::duration<double, std::milli>(result.upload_time).count();
  run.search_ms = std::chrono::duration<double, std::milli>(result.search_time).count();
  run.passes = result.passes;
  run.budget = 0;
  if (result.plan.handling != BaseHandling::streamed) return;
  for (const PlannedShare& share : result.plan.shares)
    run.budget = run.budget == 0 ? share.memory_budget : std::min(run.budget, share.memory_budget);
}

}  // namespace vecaccel::cli
