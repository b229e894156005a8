// `vecaccel graph`: the exact self-kNN graph of a vector file — each row's k nearest other rows.
//
// The base is opened as `search` opens it (mapped where its format allows, streamed through the
// GPU when over the memory budget, split over --devices) and searched against itself by the
// library's knn_graph. Outputs are written all or nothing, never over the base or each other;
// SIGINT/SIGTERM stop the run and leave no output (exit 130/143).

#include <cstdio>
#include <limits>
#include <memory>
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
#include "vecaccel/error.hpp"
#include "vecaccel/flat_index.hpp"
#include "vecaccel/search.hpp"

namespace vecaccel::cli {

namespace {

void check_graph_shape(const SearchOptions& options, const Base& base) {
  if (base.dim() > FlatIndex::max_dim) {
    throw Error(Errc::invalid_argument, options.base + ": dimension " + std::to_string(base.dim()) +
                                            " above the " + std::to_string(FlatIndex::max_dim) +
                                            " a search supports");
  }
  if (base.rows() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw Error(Errc::invalid_argument, options.base + ": " + std::to_string(base.rows()) +
                                            " rows do not fit the int32 ids of .ivecs");
  }
}

void graph_and_write(const SearchOptions& options, const std::stop_token& stop) {
  const Base base = open_base(options.base, progress_wanted(options.quiet), stop);
  const BusErrorGuard bus_errors(options.base);
  check_graph_shape(options, base);
  const std::vector<std::unique_ptr<Context>> contexts = open_devices(options.devices);
  std::vector<Context*> devices;
  for (const auto& context : contexts)
    devices.push_back(context.get());
  if (!base.mapped) {
    check_held_within_budget(options.base, (base.rows() + devices.size() - 1) / devices.size(),
                             base.dim(), base.type(),
                             options.devices.empty() ? "graph" : "--devices");
  }
  SearchResult result = graph_base(devices, base, options.base, options, stop);
  SearchRun run{.device = device_text(devices),
                .base_rows = base.rows(),
                .dim = base.dim(),
                .queries = base.rows(),
                .recalls = {}};
  report_plan(result, run);
  Matrix<std::int32_t> ids;
  Matrix<float> distances;
  to_matrices(std::move(result.knn), ids, distances);
  write_outputs(options, ids, distances, stop);
  std::printf("graph      %s: %zu x %zu, k = %zu other rows each, metric %s, %.1f ms on %s\n",
              options.base.c_str(), run.base_rows, run.dim, options.k,
              std::string(to_string(parse_metric(options.metric))).c_str(),
              run.add_ms + run.search_ms, run.device.c_str());
}

void run_graph(const SearchOptions& options) {
  check_launch();
  if (world_size() > 1) {
    throw UsageError(
        "graph runs in one process (use --devices for several GPUs), not under mpirun");
  }
  check_output_path(options.output, "--output", true);
  check_output_path(options.distances, "--distances", false);
  check_distinct_files(options, 1);
  // Before the Context: the driver's threads must inherit the blocked signals.
  const SignalStop signals;
  check_output_target(options.output, "--output");
  check_output_target(options.distances, "--distances");
  try {
    graph_and_write(options, signals.token());
  } catch (...) {
    if (const int signal = signals.signal(); signal != 0) throw interrupted(signal);
    throw;
  }
}

}  // namespace

void add_graph_command(CLI::App& app) {
  auto options = std::make_shared<SearchOptions>();
  auto* command = app.add_subcommand(
      "graph",
      "Exact self-kNN graph of --base: for each row its k nearest other rows (the row itself "
      "left out; exact duplicates elsewhere kept; ties by the smaller row; -1 where the base has "
      "fewer than k other rows). Inputs as `search` reads its base; the base is streamed through "
      "the GPU when over the memory budget (VECACCEL_MEMORY_BUDGET) and split over --devices. "
      "Outputs are written only when the whole graph succeeded. Exit status as `search`.");
  command->add_option("--base", options->base, "Vectors (.fvecs, .bvecs, .npy, .fbin, ...)")
      ->check(non_empty_path())
      ->required();
  command->add_option("-k", options->k, "Neighbours per row")
      ->required()
      ->check(whole_number_in(1, std::numeric_limits<std::int32_t>::max() - 1));
  command->add_option("--metric", options->metric, metric_help)
      ->check(metric_validator())
      ->capture_default_str();
  command
      ->add_option("--output", options->output,
                   "Write ids (rows x k) to .ivecs or .npy, or ids and distances to .ibin")
      ->check(non_empty_path())
      ->required();
  command
      ->add_option("--distances", options->distances,
                   "Write distances (rows x k) to .fvecs, .fbin or .npy")
      ->check(non_empty_path());
  command->add_option("--devices", options->devices,
                      "Split the base over these devices: 'all' or indices from `vecaccel info`");
  command->add_flag("--quiet", options->quiet, "No progress bar");
  command->callback([options, command] {
    SearchOptions resolved = *options;
    apply_hdf5_defaults(resolved, command->count("--metric") > 0);
    run_graph(resolved);
  });
}

}  // namespace vecaccel::cli
