// `mpirun -np R vecaccel search`: each rank opens its share of the base and the queries, the
// library's vecaccel::mpi::search searches the shares and merges them on rank 0, which alone
// writes the outputs and prints the report. Built with MPI only (VECACCEL_WITH_MPI).
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "bus_error_guard.hpp"
#include "cli_support.hpp"
#include "commands.hpp"
#include "mpi_session.hpp"
#include "progress.hpp"
#include "search_base.hpp"
#include "search_inputs.hpp"
#include "search_options.hpp"
#include "search_output.hpp"
#include "signal_stop.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/device.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/mpi.hpp"
#include "vecaccel/ops.hpp"
#include "vecaccel/search.hpp"
#include "vecaccel/sharded_index.hpp"

namespace vecaccel::cli {
namespace {

/// The exit status an error gives: 2 for usage, 128 + signal when interrupted, else 1.
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

/// The status this rank's failure is agreed as: whatever a signal made fail, the signal's.
mpi::FailureStatus agreed_status(const SignalStop& signals) {
  return [&signals](const std::exception_ptr& error) {
    const int signal = signals.signal();
    return signal != 0 ? 128 + signal : exit_status(error);
  };
}

/// Runs step on every rank, then agrees (vecaccel::mpi::on_all_ranks): when any rank failed,
/// the lowest failing one rethrows its error (main prints it, once) and the others exit with
/// its status silently.
template <class Step>
void on_all_ranks(const SignalStop& signals, Step step) {
  try {
    mpi::on_all_ranks(MPI_COMM_WORLD, step, agreed_status(signals));
  } catch (const mpi::RankFailed& e) {
    throw QuietExit(e.status());
  }
}

/// The rows of a base one rank searches: [first, first + rows) of `base`.
struct BaseSlice {
  std::string path;
  Base base;
  std::size_t first = 0;
  std::size_t rows = 0;
};

/// This rank's base rows: its own file where --base holds "{rank}", else its share of the
/// shared file (mpi::share_of). Mapped where the file allows it: the rank reads its own rows
/// only, one byte per element for uint8/int8.
BaseSlice open_base_slice(const SearchOptions& options, int rank, int ranks,
                          const std::stop_token& stop) {
  const bool show_progress = progress_wanted(options.quiet);
  const bool per_rank = options.base.find("{rank}") != std::string::npos;
  std::string path =
      per_rank ? base_files(options.base, ranks).at(static_cast<std::size_t>(rank)) : options.base;
  Base base = open_base(path, show_progress, stop);
  const std::size_t total = base.rows();
  if (per_rank) return {std::move(path), std::move(base), 0, total};
  const mpi::RowRange share = mpi::share_of(total, rank, ranks);
  return {std::move(path), std::move(base), share.first, share.rows};
}

/// The report covers every rank: their streamed passes summed, the smallest budget a rank
/// streamed within, the slowest rank's upload; the search time is this rank's and the merge.
void report_ranks(const mpi::Result& result, int rank, SearchRun& run) {
  run.passes = 0;
  run.budget = 0;
  std::chrono::nanoseconds upload{0};
  for (const mpi::RankReport& each : result.ranks) {
    run.passes += each.passes;
    const std::uint64_t budget = each.streamed_budget;
    if (budget != 0) run.budget = run.budget == 0 ? budget : std::min(run.budget, budget);
    upload = std::max(upload, each.upload_time);
  }
  const auto ms = [](std::chrono::nanoseconds time) {
    return std::chrono::duration<double, std::milli>(time).count();
  };
  run.add_ms = ms(upload);
  run.search_ms =
      ms(result.ranks.at(static_cast<std::size_t>(rank)).search_time + result.merge_time);
}

void search_distributed(const SearchOptions& shared, const SignalStop& signals) {
  const int rank = world_rank();
  const int ranks = world_size();
  const bool root = rank == 0;
  // Before any step that can fail on one rank: every rank reaches this collective.
  const int local_rank = mpi::local_rank(MPI_COMM_WORLD);
  SearchOptions options = shared;
  options.quiet = options.quiet || !root;
  const std::stop_token stop = signals.token();
  BaseSlice slice;
  Matrix<float> queries;
  on_all_ranks(signals, [&] {
    if (root) {
      check_output_target(options.output, "--output");
      check_output_target(options.distances, "--distances");
    }
    slice = open_base_slice(options, rank, ranks, stop);
    queries = read_input(options.query, "query", progress_wanted(options.quiet), stop);
    if (!options.filter.empty()) options.allowed = read_filter(options.filter);
  });
  // A mapped base truncated under the search: one line and exit 1, not "Bus error".
  const BusErrorGuard bus_errors(slice.path);
  const std::size_t dim = slice.base.dim();
  on_all_ranks(signals, [&] {
    if (!slice.base.mapped)
      check_held_within_budget(slice.path, slice.rows, dim, slice.base.type(), "mpirun");
  });
  mpi::Layout layout;
  std::optional<Matrix<std::int32_t>> gt;
  on_all_ranks(signals, [&] {
    layout = mpi::layout(MPI_COMM_WORLD, slice.rows, dim);  // first: every rank reaches it
    check_search_shape(options, dim, layout.total_rows(), queries);
    if (root && !options.gt.empty()) {
      gt = read_ground_truth(options.gt, queries.rows);
      check_ground_truth_ids(*gt, options.gt, layout.total_rows(), options.base);
    }
  });

  SearchRun run{.device = {},
                .base_rows = layout.total_rows(),
                .dim = dim,
                .queries = queries.rows,
                .recalls = {}};
  std::unique_ptr<Context> context;
  on_all_ranks(signals, [&] {
    const std::vector<std::uint32_t> devices =
        options.devices.empty() ? ShardedIndex::all_devices() : parse_devices(options.devices);
    context = std::make_unique<Context>(
        Device::open(devices[static_cast<std::size_t>(local_rank) % devices.size()]));
    run.device = device_text(*context) + " on each of " + std::to_string(ranks) + " MPI ranks";
  });
  // --filter lists global rows; the share's search labels them as the share does (file rows
  // where mapped, from 0 in memory): mpi::search applies the filter to the share as given.
  const auto shift = static_cast<std::int64_t>(layout.first_row(rank)) -
                     static_cast<std::int64_t>(slice.base.mapped ? slice.first : 0);
  for (std::int64_t& id : options.allowed)
    id -= shift;
  mpi::Result result;
  try {
    run_planned(slice.path, slice.rows, queries.rows, options, stop,
                slice.base.mapped ? 0 : slice.first, [&](const vecaccel::SearchOptions& planner) {
                  result = mpi::search(
                      MPI_COMM_WORLD, *context, slice.base.view(slice.first, slice.rows),
                      MatrixView<const float>(queries.values, queries.rows, queries.dim), options.k,
                      parse_metric(options.metric), planner, agreed_status(signals));
                });
  } catch (const mpi::RankFailed& e) {
    throw QuietExit(e.status());
  }
  report_ranks(result, rank, run);

  on_all_ranks(signals, [&] {
    if (!root) return;
    Matrix<std::int32_t> ids;
    Matrix<float> distances;
    to_matrices(std::move(result.knn), ids, distances);
    if (gt) run.recalls = recalls(ids, *gt, options.k);
    write_outputs(options, ids, distances, stop);
  });
  if (root) print_report(options, run);
}

}  // namespace

bool search_on_ranks(const SearchOptions& options) {
  if (world_size() <= 1) return false;
  // Before the Context: the driver's threads must inherit the blocked signals.
  const SignalStop signals;
  // Every rank finds the same usage error; agreeing first has one rank print it.
  on_all_ranks(signals, [&] { check_search_arguments(options, world_size()); });
  try {
    search_distributed(options, signals);
  } catch (const QuietExit&) {
    throw;
  } catch (...) {
    // Whatever the stop made fail (a cancelled search, a read or write cut short), the
    // temporaries are gone by now: the unwinding destroyed their owners.
    if (const int signal = signals.signal(); signal != 0) throw interrupted(signal);
    throw;
  }
  return true;
}

}  // namespace vecaccel::cli
