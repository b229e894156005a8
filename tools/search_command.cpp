// `vecaccel search`: exact k-nearest-neighbour search of a query file against a base file.
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
// base rows; the results are the same bits either way.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "cli_support.hpp"
#include "commands.hpp"
#include "io/atomic_file.hpp"
#include "io/vector_file_writer.hpp"
#include "ops/base_upload.hpp"
#include "ops/streamed_search.hpp"
#include "progress.hpp"
#include "signal_stop.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/flat_index.hpp"
#include "vecaccel/mapped_vectors.hpp"
#include "vecaccel/ops.hpp"
#include "vecaccel/vector_file.hpp"

namespace vecaccel::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Bytes per FlatIndex::add call: bounds the host copy of TEXMEX rows and drives the progress bar.
constexpr std::uint64_t kAddSliceBytes = std::uint64_t{256} << 20;

struct SearchOptions {
  std::string base;
  std::string query;
  std::size_t k = 0;
  std::string metric = "l2";
  std::string output;
  std::string distances;
  std::string gt;
  std::size_t batch = 4096;
  bool json = false;
  bool quiet = false;
};

struct Recall {
  std::size_t at = 0;
  double value = 0;
};

struct SearchRun {
  std::string device;
  std::size_t base_rows = 0;
  std::size_t dim = 0;
  std::size_t queries = 0;
  double add_ms = 0;
  double search_ms = 0;
  std::size_t passes = 0;  // base passes of a streamed search; 0: the base was held whole
  std::vector<Recall> recalls;
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

/// Fails early (usage error) on an output path whose extension the writer would refuse.
/// --output .ibin writes the billion-scale benchmarks' ground-truth layout (ids, distances).
void check_output_path(const std::string& path, const char* option, bool ids) {
  if (path.empty()) return;
  VectorFileFormat format{};
  try {
    format = format_from_path(path);
  } catch (const Error&) {
    format = VectorFileFormat::bvecs;  // refused below
  }
  const bool ok = format == VectorFileFormat::npy ||
                  format == (ids ? VectorFileFormat::ivecs : VectorFileFormat::fvecs) ||
                  format == (ids ? VectorFileFormat::ibin : VectorFileFormat::fbin);
  if (!ok) {
    throw UsageError(std::string(option) + " '" + path + "': the extension must be " +
                     (ids ? ".ivecs, .ibin (ids and distances)" : ".fvecs, .fbin") + " or .npy");
  }
}

struct NamedPath {
  const char* option;
  const std::string& path;
};

fs::path normalised(const std::string& path) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  if (ec) return fs::path(path).lexically_normal();
  const fs::path canonical = fs::weakly_canonical(absolute, ec);
  return ec ? absolute.lexically_normal() : canonical;
}

/// The same file by identity (hard links, symlinks) when both exist, else by normalised path.
bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::equivalent(a, b, ec) || normalised(a) == normalised(b);
}

/// Refuses (usage error) an output that would overwrite an input or the other output: the run
/// would destroy its own data (replace the ground truth with the results, say) and succeed.
void check_distinct_files(const SearchOptions& options) {
  constexpr std::size_t kOutputs = 2;  // the first entries; the rest are inputs
  const NamedPath files[] = {{"--output", options.output},
                             {"--distances", options.distances},
                             {"--base", options.base},
                             {"--query", options.query},
                             {"--gt", options.gt}};
  for (std::size_t i = 0; i < kOutputs; ++i) {
    for (std::size_t j = i + 1; j < std::size(files); ++j) {
      if (files[i].path.empty() || files[j].path.empty()) continue;
      if (!same_file(files[i].path, files[j].path)) continue;
      throw UsageError(std::string(files[i].option) + " '" + files[i].path + "' and " +
                       files[j].option + " '" + files[j].path +
                       "' are the same file; an output may not replace an input or the other "
                       "output");
    }
  }
}

/// Fails (io_error, exit 1) before any work when an output cannot be created: its directory is
/// missing or not writable, or the output itself is a directory.
void check_output_target(const std::string& path, const char* option) {
  if (path.empty()) return;
  const fs::path target(path);
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const auto refuse = [&](const std::string& what, int err) {
    throw Error(Errc::io_error, std::string(option) + " '" + path + "': " + what + ": " +
                                    std::generic_category().message(err));
  };
  struct stat info {};
  if (::stat(dir.c_str(), &info) != 0) refuse("cannot write into '" + dir.string() + "'", errno);
  if (!S_ISDIR(info.st_mode)) refuse("cannot write into '" + dir.string() + "'", ENOTDIR);
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    refuse("cannot write into '" + dir.string() + "'", errno);
  }
  if (::stat(target.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
    refuse("cannot replace it", EISDIR);
  }
}

/// Throws Errc::cancelled once a signal asked to stop; run_search turns it into Interrupted.
void check_stop(const std::stop_token& stop) {
  if (stop.stop_requested()) throw Error(Errc::cancelled, "stopped by a signal");
}

/// `callback` followed by a stop check: file reads and writes stop between chunks.
ProgressCallback stopping(ProgressCallback callback, std::stop_token stop) {
  return [callback = std::move(callback), stop](std::uint64_t done, std::uint64_t total) {
    if (callback) callback(done, total);
    check_stop(stop);
  };
}

Matrix<float> read_input(const std::string& path, const char* role, bool show_progress,
                         const std::stop_token& stop) {
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(path, ec);
  Progress progress("reading " + std::string(role), ec ? 0 : size, Progress::Unit::bytes,
                    show_progress);
  Matrix<float> matrix = read_vectors(path, stopping(progress.callback(), stop));
  progress.finish();
  if (matrix.rows == 0) {
    throw Error(Errc::invalid_argument, path + ": the " + role + " file holds no vectors");
  }
  check_finite(matrix, path);
  return matrix;
}

Matrix<std::int32_t> read_ground_truth(const std::string& path, std::size_t queries) {
  Matrix<std::int32_t> gt = read_ids(path);
  if (gt.rows != queries || gt.dim == 0) {
    throw Error(Errc::invalid_argument, path + ": ground truth has " + std::to_string(gt.rows) +
                                            " rows of " + std::to_string(gt.dim) +
                                            " ids, expected " + std::to_string(queries) +
                                            " rows (one per query) of at least 1");
  }
  return gt;
}

/// Ground-truth ids are base row numbers: an id outside 0..N-1 would silently count as a miss.
void check_ground_truth_ids(const Matrix<std::int32_t>& gt, const std::string& path,
                            std::size_t base_rows, const std::string& base) {
  for (std::size_t i = 0; i < gt.values.size(); ++i) {
    const std::int32_t id = gt.values[i];
    if (id >= 0 && static_cast<std::size_t>(id) < base_rows) continue;
    const std::size_t row = i / gt.dim;
    throw Error(Errc::invalid_argument,
                path + ": row " + std::to_string(row) + " (query " + std::to_string(row) +
                    "), column " + std::to_string(i % gt.dim) + ": id " + std::to_string(id) +
                    " is not a row of the base (0.." + std::to_string(base_rows - 1) +
                    ", N = " + std::to_string(base_rows) + " in " + base + ")");
  }
}

/// The base: mapped where the file allows it, else read (float32) into memory.
struct Base {
  std::optional<MappedVectors> mapped;
  Matrix<float> values;

  std::size_t rows() const { return mapped ? mapped->rows() : values.rows; }
  std::size_t dim() const { return mapped ? mapped->dim() : values.dim; }
  ElementType type() const { return mapped ? mapped->element_type() : ElementType::float32; }
};

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

Base open_base(const std::string& path, bool show_progress, const std::stop_token& stop) {
  if (!mappable(path)) return {std::nullopt, read_input(path, "base", show_progress, stop)};
  Base base{MappedVectors(path), {}};
  if (base.rows() == 0) {
    throw Error(Errc::invalid_argument, path + ": the base file holds no vectors");
  }
  return base;
}

/// Base rows are checked as they are uploaded; their errors name the file too.
template <class F>
void naming_base(const std::string& path, F&& f) {
  try {
    f();
  } catch (const Error& e) {
    if (e.code() != Errc::invalid_argument && e.code() != Errc::io_error) throw;
    // what() is "<code>: <message>"; the message gains the file's name.
    const std::string what = e.what();
    const std::size_t code = to_string(e.code()).size() + 2;
    if (what.compare(code, 9, "base row ") != 0) throw;
    throw Error(e.code(), path + ": " + what.substr(code));
  }
}

void add_rows(FlatIndex& index, ElementType type, std::span<const std::byte> bytes) {
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

void add_base(FlatIndex& index, const Base& base, const std::string& path, bool show_progress,
              const std::stop_token& stop) {
  Progress progress("adding", base.rows(), Progress::Unit::items, show_progress, "rows");
  const std::size_t row_bytes = base.dim() * element_size(base.type());
  const std::size_t slice_rows = std::max<std::size_t>(1, kAddSliceBytes / row_bytes);
  std::vector<std::byte> copied;  // TEXMEX rows, whose headers sit between them
  for (std::size_t row = 0; row < base.rows(); row += slice_rows) {
    check_stop(stop);
    const std::size_t n = std::min(slice_rows, base.rows() - row);
    std::span<const std::byte> bytes =
        base.mapped ? base.mapped->contiguous(row, n)
                    : std::as_bytes(
                          std::span(base.values.values).subspan(row * base.dim(), n * base.dim()));
    if (bytes.empty()) {
      copied.resize(n * row_bytes);
      base.mapped->copy_rows(row, n, copied);
      bytes = copied;
    }
    naming_base(path, [&] { add_rows(index, base.type(), bytes); });
    progress.update(row + n);
  }
  progress.finish();
}

/// Streams a mapped base through the GPU in passes within `budget`.
void search_streamed(Context& context, const MappedVectors& base, const Matrix<float>& queries,
                     const SearchOptions& options, std::uint64_t budget,
                     const std::stop_token& stop, SearchRun& run, Matrix<std::int32_t>& ids,
                     Matrix<float>& distances) {
  Progress progress("searching base", base.rows(), Progress::Unit::items,
                    progress_wanted(options.quiet), "rows");
  KnnResult result;
  naming_base(options.base, [&] {
    result = ops::knn(context, queries.values, base, options.k, parse_metric(options.metric),
                      {.timeout = std::chrono::nanoseconds::max(),
                       .stop = stop,
                       .progress =
                           [&](std::size_t done, std::size_t) {
                             ++run.passes;
                             progress.update(done);
                           },
                       .memory_budget = budget});
  });
  progress.finish();
  const std::size_t k = options.k;
  ids = {.rows = queries.rows, .dim = k, .values = std::vector<std::int32_t>(queries.rows * k)};
  distances = {.rows = queries.rows, .dim = k, .values = std::move(result.distances)};
  for (std::size_t i = 0; i < ids.values.size(); ++i)
    ids.values[i] = static_cast<std::int32_t>(result.labels[i]);
}

/// Searches batch by batch; ids (0-based base rows) and distances, rows x k each.
void search_batches(const FlatIndex& index, const Matrix<float>& queries,
                    const SearchOptions& options, const std::stop_token& stop,
                    Matrix<std::int32_t>& ids, Matrix<float>& distances) {
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

/// Fraction of queries whose true nearest neighbour (first ground-truth column) is among the
/// first `at` results.
double recall_at(const Matrix<std::int32_t>& ids, const Matrix<std::int32_t>& gt, std::size_t at) {
  std::size_t hits = 0;
  for (std::size_t q = 0; q < ids.rows; ++q) {
    const std::int32_t truth = gt.values[q * gt.dim];
    for (std::size_t j = 0; j < at; ++j) {
      if (ids.values[q * ids.dim + j] == truth) {
        ++hits;
        break;
      }
    }
  }
  return static_cast<double>(hits) / static_cast<double>(ids.rows);
}

std::vector<Recall> recalls(const Matrix<std::int32_t>& ids, const Matrix<std::int32_t>& gt,
                            std::size_t k) {
  std::vector<Recall> out;
  for (const std::size_t at : {std::size_t{1}, std::size_t{10}, k}) {
    if (at > k || (!out.empty() && out.back().at >= at)) continue;
    out.push_back({at, recall_at(ids, gt, at)});
  }
  return out;
}

void print_report(const SearchOptions& options, const SearchRun& run) {
  const double qps = static_cast<double>(run.queries) / (run.search_ms / 1000.0);
  if (options.json) {
    std::printf(
        "{\"device\": %s, \"base\": %s, \"query\": %s, \"base_rows\": %zu, \"dim\": %zu, "
        "\"queries\": %zu, \"k\": %zu, \"metric\": %s, \"batch\": %zu, \"add_ms\": %.3f, "
        "\"search_ms\": %.3f, \"queries_per_second\": %.1f, \"streamed_passes\": %zu",
        json_string(run.device).c_str(), json_string(options.base).c_str(),
        json_string(options.query).c_str(), run.base_rows, run.dim, run.queries, options.k,
        json_string(to_string(parse_metric(options.metric))).c_str(), options.batch, run.add_ms,
        run.search_ms, qps, run.passes);
    for (const Recall& r : run.recalls)
      std::printf(", \"recall_at_%zu\": %.6f", r.at, r.value);
    std::printf("}\n");
    return;
  }
  std::printf("device     %s\n", run.device.c_str());
  std::printf("base       %s: %zu x %zu\n", options.base.c_str(), run.base_rows, run.dim);
  std::printf("queries    %s: %zu, k = %zu, metric %s, batches of %zu\n", options.query.c_str(),
              run.queries, options.k, std::string(to_string(parse_metric(options.metric))).c_str(),
              options.batch);
  if (run.passes > 0) {
    std::printf("add        streamed with the search, %zu passes over the base\n", run.passes);
  } else {
    std::printf("add        %.1f ms\n", run.add_ms);
  }
  std::printf("search     %.1f ms, %.1f queries/s\n", run.search_ms, qps);
  for (const Recall& r : run.recalls)
    std::printf("recall@%-3zu %.4f\n", r.at, r.value);
}

/// Writes and syncs every requested output to its temporary, then renames them into place
/// together; a failure or a stop before the renames removes the temporaries and leaves no output.
void write_outputs(const SearchOptions& options, const Matrix<std::int32_t>& ids,
                   const Matrix<float>& distances, const std::stop_token& stop) {
  std::optional<detail::AtomicFile> ids_file;
  std::optional<detail::AtomicFile> distances_file;
  std::vector<detail::AtomicFile*> files;
  if (!options.output.empty() && format_from_path(options.output) == VectorFileFormat::ibin) {
    detail::write_ground_truth_to(ids_file.emplace(options.output), GroundTruth{ids, distances},
                                  stopping({}, stop));
    files.push_back(&*ids_file);
  } else if (!options.output.empty()) {
    detail::write_ids_to(ids_file.emplace(options.output), ids, stopping({}, stop));
    files.push_back(&*ids_file);
  }
  if (!options.distances.empty()) {
    detail::write_vectors_to(distances_file.emplace(options.distances), distances,
                             stopping({}, stop));
    files.push_back(&*distances_file);
  }
  // Syncing is the slow part (an fsync each): a stop during it still leaves no output.
  for (detail::AtomicFile* file : files) {
    check_stop(stop);
    file->sync();
  }
  check_stop(stop);
  detail::commit_all(files);
}

void search_and_write(const SearchOptions& options, const std::stop_token& stop) {
  const Metric metric = parse_metric(options.metric);
  const bool show_progress = progress_wanted(options.quiet);

  const Base base = open_base(options.base, show_progress, stop);
  const Matrix<float> queries = read_input(options.query, "query", show_progress, stop);
  if (queries.dim != base.dim()) {
    throw Error(Errc::invalid_argument, "dimension mismatch: " + options.query + " has dimension " +
                                            std::to_string(queries.dim) + ", " + options.base +
                                            " has " + std::to_string(base.dim()));
  }
  if (options.k > base.rows()) {
    throw UsageError("-k " + std::to_string(options.k) + " exceeds the " +
                     std::to_string(base.rows()) + " vectors of " + options.base);
  }
  if (base.rows() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw Error(Errc::invalid_argument, options.base + ": " + std::to_string(base.rows()) +
                                            " rows do not fit the int32 ids of .ivecs");
  }
  std::optional<Matrix<std::int32_t>> gt;
  if (!options.gt.empty()) {
    gt = read_ground_truth(options.gt, queries.rows);
    check_ground_truth_ids(*gt, options.gt, base.rows(), options.base);
  }

  Context context;
  SearchRun run{.device = device_text(context),
                .base_rows = base.rows(),
                .dim = base.dim(),
                .queries = queries.rows,
                .recalls = {}};
  Matrix<std::int32_t> ids;
  Matrix<float> distances;
  const std::uint64_t budget = detail::device_memory_budget(context);
  const bool stream = base.mapped && detail::stream_rows_per_pass(budget, base.dim(), base.type(),
                                                                  base.rows()) < base.rows();
  if (stream) {
    const auto start = Clock::now();
    search_streamed(context, *base.mapped, queries, options, budget, stop, run, ids, distances);
    run.search_ms = ms_since(start);
  } else {
    FlatIndex index(context, base.dim(), metric, base.type());
    auto start = Clock::now();
    add_base(index, base, options.base, show_progress, stop);
    run.add_ms = ms_since(start);
    start = Clock::now();
    search_batches(index, queries, options, stop, ids, distances);
    run.search_ms = ms_since(start);
  }
  if (gt) run.recalls = recalls(ids, *gt, options.k);

  write_outputs(options, ids, distances, stop);
  print_report(options, run);
}

void run_search(const SearchOptions& options) {
  check_output_path(options.output, "--output", true);
  check_output_path(options.distances, "--distances", false);
  check_distinct_files(options);
  check_output_target(options.output, "--output");
  check_output_target(options.distances, "--distances");
  // Before the Context: the driver's threads must inherit the blocked signals.
  const SignalStop signals;
  try {
    search_and_write(options, signals.token());
  } catch (...) {
    // Whatever the stop made fail (a cancelled search, a read or write cut short), the
    // temporaries are gone by now: the unwinding destroyed their owners.
    if (const int signal = signals.signal(); signal != 0) {
      throw Interrupted(signal, std::string("interrupted by ") +
                                    (signal == SIGINT ? "SIGINT" : "SIGTERM") +
                                    ": stopped without writing any output");
    }
    throw;
  }
}

}  // namespace

void add_search_command(CLI::App& app) {
  auto options = std::make_shared<SearchOptions>();
  auto* command = app.add_subcommand(
      "search",
      "Exact k-nearest-neighbour search of --query against --base on the GPU.\n"
      "Inputs: .fvecs, .bvecs, .ivecs, .npy (float32, C order; a base also uint8/int8), .fbin, "
      ".u8bin or .i8bin. Ids are 0-based row numbers of the base file. The base is "
      "memory-mapped, uint8/int8 bases stay one byte per element on the GPU, and a base larger "
      "than the device memory budget (VECACCEL_MEMORY_BUDGET=<bytes>[K|M|G], else the free "
      "device memory) is streamed through the GPU in passes.\n"
      "With --gt, recall@R (R = 1, 10 and k, where R <= k) is the fraction of queries whose "
      "true nearest neighbour (the first id in its ground-truth row) appears among the first R "
      "results: ANN-benchmarks' R@R, i.e. 1-recall@R.\n"
      "Outputs are written only when the whole search succeeded, never over an input or each "
      "other. Exit status: 0 done, 1 failed (bad data, I/O error), 2 usage error, 130/143 "
      "stopped by SIGINT/SIGTERM (no output written).");
  command->add_option("--base", options->base, "Base vectors")->required();
  command->add_option("--query", options->query, "Query vectors")->required();
  command->add_option("-k", options->k, "Neighbours per query")
      ->required()
      ->check(CLI::Range(std::size_t{1}, ops::max_k));
  command->add_option("--metric", options->metric, "l2 (squared), ip or cosine")
      ->check(metric_validator())
      ->capture_default_str();
  command->add_option("--output", options->output,
                      "Write ids (rows x k) to .ivecs or .npy, or ids and distances to .ibin "
                      "(ground-truth layout: int32 n, int32 k, ids, float32 distances)");
  command->add_option("--distances", options->distances,
                      "Write distances (rows x k) to .fvecs, .fbin or .npy");
  command->add_option("--gt", options->gt, "Ground-truth ids (.ivecs, .ibin or .npy) for recall");
  command->add_option("--batch", options->batch, "Queries per search call")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24))
      ->capture_default_str();
  command->add_flag("--json", options->json, "Print the report as JSON");
  command->add_flag("--quiet", options->quiet, "No progress bar");
  command->callback([options] { run_search(*options); });
}

}  // namespace vecaccel::cli
