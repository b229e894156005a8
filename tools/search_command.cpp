// `vecaccel search`: exact k-nearest-neighbour search of a query file against a base file, or
// with --radius every base row within a radius (FAISS-shaped 1-D .npy outputs); --filter limits
// either to the base rows a file lists.
//
// Everything that can be checked before the GPU work is checked first (output extensions, that
// no output names an input or the other output, that output directories are writable; then
// dimensions, finiteness, ground-truth shape and ids). Outputs are written only after every
// batch succeeded, each to a temporary file, and renamed into place only when all were written:
// a failed run leaves no output behind. SIGINT/SIGTERM stop the run at its next check (between
// file chunks, added slices and query batches), remove the temporaries and exit 130/143.
//
// The base is memory-mapped where its format allows (.fvecs/.bvecs/.npy/.fbin/.u8bin/.i8bin in
// a regular file) and never read whole into memory: uint8/int8 bases stay one byte per element
// on the GPU. A base that does not fit the device memory budget (VECACCEL_MEMORY_BUDGET, else the
// device's free memory) is streamed through the GPU in passes, with a progress bar over the
// base rows (by each device of --devices, each mpirun rank, for its share); the results are the
// same bits either way.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stop_token>
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
#include "vecaccel/ops.hpp"
#include "vecaccel/search.hpp"
#include "vecaccel/vector_file.hpp"

namespace vecaccel::cli {

namespace {

void search_and_write(SearchOptions options, const std::stop_token& stop) {
  const bool show_progress = progress_wanted(options.quiet);

  const Base base = open_base(options.base, show_progress, stop);
  // A mapped base truncated under the search: one line and exit 1, not "Bus error".
  const BusErrorGuard bus_errors(options.base);
  const Matrix<float> queries = read_input(options.query, "query", show_progress, stop);
  check_search_shape(options, base.dim(), base.rows(), queries);
  if (!options.filter.empty()) options.allowed = read_filter(options.filter);
  std::optional<Matrix<std::int32_t>> gt;
  if (!options.gt.empty()) {
    gt = read_ground_truth(options.gt, queries.rows);
    check_ground_truth_ids(*gt, options.gt, base.rows(), options.base);
  }

  SearchRun run{.device = {},
                .base_rows = base.rows(),
                .dim = base.dim(),
                .queries = queries.rows,
                .recalls = {}};
  const std::vector<std::unique_ptr<Context>> contexts = open_devices(options.devices);
  std::vector<Context*> devices;
  devices.reserve(contexts.size());
  for (const auto& context : contexts)
    devices.push_back(context.get());
  run.device = device_text(devices);
  if (!base.mapped) {
    check_held_within_budget(options.base, (base.rows() + devices.size() - 1) / devices.size(),
                             base.dim(), base.type(),
                             options.devices.empty() ? "search" : "--devices");
  }
  if (options.radius) {
    const auto start = Clock::now();
    const RangeResult result = range_base(devices, base, options.base, queries, options, stop);
    run.search_ms = ms_since(start);
    run.range_results = result.labels.size();
    write_range_outputs(options, result, stop);
    print_report(options, run);
    return;
  }
  SearchResult result =
      search_base(devices, base, options.base, 0, base.rows(), queries, options, stop);
  report_plan(result, run);
  Matrix<std::int32_t> ids;
  Matrix<float> distances;
  to_matrices(std::move(result.knn), ids, distances);
  if (gt) run.recalls = recalls(ids, *gt, options.k);

  write_outputs(options, ids, distances, stop);
  print_report(options, run);
}

void run_search(const SearchOptions& options) {
  if (search_on_ranks(options)) return;
  check_search_arguments(options, 1);
  // Before the Context: the driver's threads must inherit the blocked signals.
  const SignalStop signals;
  check_output_target(options.output, "--output");
  check_output_target(options.distances, "--distances");
  check_output_target(options.lims, "--lims");
  try {
    search_and_write(options, signals.token());
  } catch (...) {
    // Whatever the stop made fail (a cancelled search, a read or write cut short), the
    // temporaries are gone by now: the unwinding destroyed their owners.
    if (const int signal = signals.signal(); signal != 0) throw interrupted(signal);
    throw;
  }
}

}  // namespace

void add_search_command(CLI::App& app) {
  auto options = std::make_shared<SearchOptions>();
  auto* command = app.add_subcommand(
      "search",
      "Exact k-nearest-neighbour search of --query against --base on the GPU (or, with "
      "--radius, every row within a radius; with --filter, among the rows a file lists).\n"
      "Inputs: .fvecs, .bvecs, .ivecs, .npy (float32, C order; a base also uint8/int8), .fbin, "
      ".u8bin or .i8bin, or ann-benchmarks .hdf5 (--base reads `train`, --query `test`, --gt "
      "`neighbors`; f.hdf5:name picks another dataset; the file's `distance` attribute sets "
      "the default metric). Ids are 0-based row numbers of the base file. The base is "
      "memory-mapped, uint8/int8 bases stay one byte per element on the GPU, and a base larger "
      "than the device memory budget (VECACCEL_MEMORY_BUDGET=<bytes>[K|M|G], else the free "
      "device memory) is streamed through the GPU in passes.\n"
      "With --gt, recall@R (R = 1, 10 and k, where R <= k) is the fraction of queries whose "
      "true nearest neighbour (the first id in its ground-truth row) appears among the first R "
      "results: ANN-benchmarks' R@R, i.e. 1-recall@R.\n"
      "Outputs are written only when the whole search succeeded, never over an input or each "
      "other.\n"
      "Under mpirun (built with MPI), each rank searches its slice of --base (or its own file: "
      "'{rank}' in the path becomes the rank) on its host's GPUs in turn, streaming it when it "
      "does not fit (as does each device of --devices), the results are merged "
      "exactly and rank 0 writes the outputs (docs/multi-gpu.md). Exit status: 0 done, 1 failed "
      "(bad data, I/O error), 2 usage error, 130/143 "
      "stopped by SIGINT/SIGTERM (no output written).");
  command->add_option("--base", options->base, "Base vectors")->check(non_empty_path())->required();
  command->add_option("--query", options->query, "Query vectors")
      ->check(non_empty_path())
      ->required();
  command->add_option("-k", options->k, "Neighbours per query (or --radius)")
      ->check(whole_number_in(1, max_k));
  command
      ->add_option("--radius", options->radius,
                   "Range search instead of -k: every base row within the radius (l2, l1, linf: "
                   "distance < R; ip, cosine: similarity > R), best first; needs --lims")
      ->type_name("R");
  command
      ->add_option("--lims", options->lims,
                   "With --radius: write each query's offsets into --output/--distances (.npy, "
                   "int64, queries + 1 values: FAISS's lims)")
      ->check(non_empty_path());
  command
      ->add_option("--max-results", options->max_results,
                   "With --radius: refuse (nothing written) more results than this in all "
                   "(default 100000000)")
      ->check(whole_number_in(0, std::numeric_limits<std::int64_t>::max()));
  command
      ->add_option("--filter", options->filter,
                   "Only return these base rows: their ids (0-based) in .ivecs (rows of any "
                   "lengths), .npy (int32/int64, any shape), .ibin or .hdf5; ids past the base "
                   "are ignored")
      ->check(non_empty_path());
  command->add_option("--metric", options->metric, metric_help)
      ->check(metric_validator())
      ->capture_default_str();
  command
      ->add_option("--output", options->output,
                   "Write ids (rows x k) to .ivecs or .npy, or ids and distances to .ibin "
                   "(ground-truth layout: int32 n, int32 k, ids, float32 distances); with "
                   "--radius every result's id, int64 .npy")
      ->check(non_empty_path());
  command
      ->add_option("--distances", options->distances,
                   "Write distances (rows x k) to .fvecs, .fbin or .npy; with --radius every "
                   "result's distance, float32 .npy")
      ->check(non_empty_path());
  command->add_option("--gt", options->gt, "Ground-truth ids (.ivecs, .ibin or .npy) for recall")
      ->check(non_empty_path());
  command->add_option("--batch", options->batch, "Queries per search call")
      ->check(whole_number_in(1, std::size_t{1} << 24))
      ->capture_default_str();
  command->add_option("--devices", options->devices,
                      "Shard the base over these devices and merge exactly: 'all' (every GPU of "
                      "the best kind) or indices from `vecaccel info`, e.g. 0,1. Under mpirun: "
                      "the devices each host's ranks take in turn (default all)");
  command->add_flag("--json", options->json, "Print the report as JSON");
  command->add_flag("--quiet", options->quiet, "No progress bar");
  command->callback([options, command] {
    SearchOptions resolved = *options;
    apply_hdf5_defaults(resolved, command->count("--metric") > 0);
    run_search(resolved);
  });
}

}  // namespace vecaccel::cli
