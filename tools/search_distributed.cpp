#include "search_distributed.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <numeric>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "bus_error_guard.hpp"
#include "cli_support.hpp"
#include "cluster.hpp"
#include "commands.hpp"
#include "progress.hpp"
#include "search_base.hpp"
#include "search_inputs.hpp"
#include "search_merge.hpp"
#include "search_output.hpp"
#include "signal_stop.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/device.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"
#include "vecaccel/search.hpp"
#include "vecaccel/sharded_index.hpp"

namespace vecaccel::cli {

Interrupted interrupted(int signal) {
  return Interrupted(signal, std::string("interrupted by ") +
                                 (signal == SIGINT ? "SIGINT" : "SIGTERM") +
                                 ": stopped without writing any output");
}

int exit_status(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const UsageError&) {
    return 2;
  } catch (const Interrupted& e) {
    return 128 + e.signal();
  } catch (...) {
    return 1;
  }
}

namespace {

/// The rows of a base one rank searches: [first, first + rows) of `base`.
struct BaseSlice {
  std::string path;
  Base base;
  std::size_t first = 0;
  std::size_t rows = 0;
};

/// This rank's base rows: its own file where --base holds "{rank}", else its slice of the
/// shared file (rows N·r/R up to N·(r+1)/R). Mapped where the file allows it: the rank reads
/// its own rows only, one byte per element for uint8/int8.
BaseSlice open_base_slice(const SearchOptions& options, const Cluster& cluster,
                          const std::stop_token& stop) {
  const bool show_progress = progress_wanted(options.quiet);
  const bool per_rank = options.base.find("{rank}") != std::string::npos;
  std::string path =
      per_rank
          ? base_files(options.base, cluster.size()).at(static_cast<std::size_t>(cluster.rank()))
          : options.base;
  Base base = open_base(path, show_progress, stop);
  const std::size_t total = base.rows();
  if (per_rank) return {std::move(path), std::move(base), 0, total};
  const auto ranks = static_cast<std::size_t>(cluster.size());
  const auto rank = static_cast<std::size_t>(cluster.rank());
  const std::size_t first = total * rank / ranks;
  const std::size_t last = total * (rank + 1) / ranks;
  return {std::move(path), std::move(base), first, last - first};
}

/// One rank's search of its slice by the library's planner: streamed through its GPU when the
/// slice is mapped and does not fit the device's memory budget, else held whole. Labels become
/// global rows (the slice's first is global row `first_row`).
PartResults slice_results(Context& context, const BaseSlice& slice, const Matrix<float>& queries,
                          const SearchOptions& options, const std::stop_token& stop, SearchRun& run,
                          std::size_t first_row) {
  // Labels are file rows where the slice is mapped, slice rows where it is in memory.
  const auto shift = static_cast<std::int64_t>(first_row) -
                     static_cast<std::int64_t>(slice.base.mapped ? slice.first : 0);
  SearchOptions local = options;  // --filter's global rows as this slice labels them
  for (std::int64_t& id : local.allowed)
    id -= shift;
  Context* const devices[] = {&context};
  SearchResult result =
      search_base(devices, slice.base, slice.path, slice.first, slice.rows, queries, local, stop);
  report_plan(result, run);
  for (std::int64_t& label : result.knn.labels) {
    if (label >= 0) label += shift;
  }
  const auto file_offset =
      static_cast<std::int64_t>(slice.first) - static_cast<std::int64_t>(first_row);
  return part_results(std::move(result.knn), slice.base, file_offset, queries,
                      parse_metric(options.metric));
}

/// The report covers every rank: their streamed passes summed, the smallest budget a rank
/// streamed within, the slowest rank's upload.
void report_all_ranks(Cluster& cluster, SearchRun& run) {
  const std::vector<std::uint64_t> passes = cluster.all_gather(run.passes);
  const std::vector<std::uint64_t> budgets = cluster.all_gather(run.budget);
  const std::vector<std::uint64_t> add_us =
      cluster.all_gather(static_cast<std::uint64_t>(run.add_ms * 1000.0));
  run.passes = std::accumulate(passes.begin(), passes.end(), std::uint64_t{0});
  run.budget = 0;
  for (const std::uint64_t budget : budgets) {
    if (budget != 0) run.budget = run.budget == 0 ? budget : std::min(run.budget, budget);
  }
  run.add_ms = static_cast<double>(*std::max_element(add_us.begin(), add_us.end())) / 1000.0;
}

}  // namespace

void search_distributed(const SearchOptions& shared, const SignalStop& signals, Cluster& cluster) {
  const bool root = cluster.rank() == 0;
  SearchOptions options = shared;
  options.quiet = options.quiet || !root;
  const std::stop_token stop = signals.token();
  const Metric metric = parse_metric(options.metric);
  BaseSlice slice;
  Matrix<float> queries;
  on_all_ranks(cluster, signals, [&] {
    if (root) {
      check_output_target(options.output, "--output");
      check_output_target(options.distances, "--distances");
    }
    slice = open_base_slice(options, cluster, stop);
    queries = read_input(options.query, "query", progress_wanted(options.quiet), stop);
    if (!options.filter.empty()) options.allowed = read_filter(options.filter);
  });
  // A mapped base truncated under the search: one line and exit 1, not "Bus error".
  const BusErrorGuard bus_errors(slice.path);
  const std::size_t dim = slice.base.dim();
  on_all_ranks(cluster, signals, [&] {
    if (!slice.base.mapped)
      check_held_within_budget(slice.path, slice.rows, dim, slice.base.type(), "mpirun");
  });
  const std::vector<std::uint64_t> rows = cluster.all_gather(slice.rows);
  const std::vector<std::uint64_t> dims = cluster.all_gather(dim);
  std::size_t first_row = 0;
  std::size_t total_rows = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (r < static_cast<std::size_t>(cluster.rank())) first_row += rows[r];
    total_rows += rows[r];
  }
  std::optional<Matrix<std::int32_t>> gt;
  on_all_ranks(cluster, signals, [&] {
    for (std::size_t r = 1; r < dims.size(); ++r) {
      if (dims[r] == dims[0]) continue;
      throw Error(Errc::invalid_argument,
                  "dimension mismatch between the ranks' bases: rank 0's has dimension " +
                      std::to_string(dims[0]) + ", rank " + std::to_string(r) + "'s " +
                      std::to_string(dims[r]));
    }
    check_search_shape(options, dim, total_rows, queries);
    if (root && !options.gt.empty()) {
      gt = read_ground_truth(options.gt, queries.rows);
      check_ground_truth_ids(*gt, options.gt, total_rows, options.base);
    }
  });

  SearchRun run{
      .device = {}, .base_rows = total_rows, .dim = dim, .queries = queries.rows, .recalls = {}};
  PartResults mine;
  on_all_ranks(cluster, signals, [&] {
    const std::vector<std::uint32_t> devices =
        options.devices.empty() ? ShardedIndex::all_devices() : parse_devices(options.devices);
    Context context(
        Device::open(devices[static_cast<std::size_t>(cluster.local_rank()) % devices.size()]));
    run.device =
        device_text(context) + " on each of " + std::to_string(cluster.size()) + " MPI ranks";
    mine = slice_results(context, slice, queries, options, stop, run, first_row);
  });
  report_all_ranks(cluster, run);

  const auto start = Clock::now();
  const PartResults gathered{.distances = cluster.gather(std::span<const float>(mine.distances)),
                             .labels = cluster.gather(std::span<const std::int64_t>(mine.labels)),
                             .exact = cluster.gather(std::span<const double>(mine.exact))};
  on_all_ranks(cluster, signals, [&] {
    if (!root) return;
    Matrix<std::int32_t> ids;
    Matrix<float> distances;
    merge_parts(gathered, static_cast<std::size_t>(cluster.size()), queries.rows, options.k, metric,
                ids, distances);
    run.search_ms += ms_since(start);
    if (gt) run.recalls = recalls(ids, *gt, options.k);
    write_outputs(options, ids, distances, stop);
  });
  if (root) print_report(options, run);
}

}  // namespace vecaccel::cli
