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
// base rows (by each device of --devices, each mpirun rank, for its share); the results are the
// same bits either way.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "bus_error_guard.hpp"
#include "cli_support.hpp"
#include "cluster.hpp"
#include "commands.hpp"
#include "io/vector_file_writer.hpp"
#include "ops/base_upload.hpp"
#include "ops/certificate.hpp"
#include "ops/exact_merge.hpp"
#include "ops/streamed_search.hpp"
#include "progress.hpp"
#include "signal_stop.hpp"
#include "util/atomic_file.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/flat_index.hpp"
#include "vecaccel/mapped_vectors.hpp"
#include "vecaccel/ops.hpp"
#include "vecaccel/settings.hpp"
#include "vecaccel/sharded_index.hpp"
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
  std::string devices;  // empty: one device, Context's choice
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
  std::size_t passes = 0;    // base passes of a streamed search; 0: the base was held whole
  std::uint64_t budget = 0;  // the device memory budget a streamed search was sized from
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

/// The base files the ranks read: --base with "{rank}" replaced by each rank, or --base itself.
std::vector<std::string> base_files(const std::string& base, int ranks) {
  const std::size_t at = base.find("{rank}");
  if (at == std::string::npos) return {base};
  std::vector<std::string> files;
  files.reserve(static_cast<std::size_t>(ranks));
  for (int rank = 0; rank < ranks; ++rank)
    files.push_back(std::string(base).replace(at, 6, std::to_string(rank)));
  return files;
}

/// Refuses (usage error) an output that would overwrite an input or the other output: the run
/// would destroy its own data (replace the ground truth with the results, say) and succeed.
/// `ranks`: the MPI ranks (1 without MPI), whose "{rank}" base files count as inputs.
void check_distinct_files(const SearchOptions& options, int ranks) {
  constexpr std::size_t kOutputs = 2;  // the first entries; the rest are inputs
  std::vector<NamedPath> files = {{"--output", options.output},
                                  {"--distances", options.distances},
                                  {"--query", options.query},
                                  {"--gt", options.gt}};
  const std::vector<std::string> bases = base_files(options.base, ranks);
  files.reserve(files.size() + bases.size());
  for (const std::string& base : bases)
    files.push_back({"--base", base});
  for (std::size_t i = 0; i < kOutputs; ++i) {
    for (std::size_t j = i + 1; j < files.size(); ++j) {
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
ProgressCallback stopping(ProgressCallback callback, const std::stop_token& stop) {
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
    std::string what = path;
    what += ": row " + std::to_string(row) + " (query " + std::to_string(row) + "), column ";
    what += std::to_string(i % gt.dim) + ": id " + std::to_string(id);
    what += " is not a row of the base (0.." + std::to_string(base_rows - 1) + ", N = ";
    what += std::to_string(base_rows) + " in " + base + ")";
    throw Error(Errc::invalid_argument, what);
  }
}

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

/// Bytes as a person reads them: 4096 is "4.10 KB", not "0.00 GB".
std::string byte_text(std::uint64_t bytes) {
  constexpr const char* units[] = {"bytes", "KB", "MB", "GB", "TB"};
  auto value = static_cast<double>(bytes);
  std::size_t unit = 0;
  for (; value >= 1000.0 && unit + 1 < std::size(units); ++unit)
    value /= 1000.0;
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.2f %s", value, units[unit]);
  return text;
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
    if (run.passes > 0) {
      std::printf(", \"memory_budget_bytes\": %llu", static_cast<unsigned long long>(run.budget));
    }
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
    std::printf("add        streamed with the search, %zu passes over the base (budget %s)\n",
                run.passes, byte_text(run.budget).c_str());
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

/// Query and base must share a dimension a search supports, k must not exceed the base's rows,
/// and row numbers must fit the int32 ids of .ivecs.
void check_search_shape(const SearchOptions& options, std::size_t base_dim, std::size_t base_rows,
                        const Matrix<float>& queries) {
  // Every mode refuses it (an index, a streamed search, a rank), and before any work.
  if (base_dim > FlatIndex::max_dim) {
    throw Error(Errc::invalid_argument, options.base + ": dimension " + std::to_string(base_dim) +
                                            " above the " + std::to_string(FlatIndex::max_dim) +
                                            " a search supports");
  }
  if (queries.dim != base_dim) {
    throw Error(Errc::invalid_argument, "dimension mismatch: " + options.query + " has dimension " +
                                            std::to_string(queries.dim) + ", " + options.base +
                                            " has " + std::to_string(base_dim));
  }
  if (options.k > base_rows) {
    throw UsageError("-k " + std::to_string(options.k) + " exceeds the " +
                     std::to_string(base_rows) + " vectors of " + options.base);
  }
  if (base_rows > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw Error(Errc::invalid_argument, options.base + ": " + std::to_string(base_rows) +
                                            " rows do not fit the int32 ids of .ivecs");
  }
  // The engine refuses such a query too, but only when it searches: after the whole base is
  // uploaded, and numbered within its batch rather than its file.
  const Metric metric = parse_metric(options.metric);
  for (std::size_t r = 0; r < queries.rows; ++r) {
    double squared = 0.0;
    for (const float v : queries.row(r))
      squared += static_cast<double>(v) * static_cast<double>(v);
    detail::check_squared_norm(std::sqrt(squared), metric, options.query + ": query", r);
  }
}

/// --devices and mpirun stream a base they map; one read into memory (from a pipe) they hold
/// whole on their GPUs: a VECACCEL_MEMORY_BUDGET that a device's `rows` would exceed is refused
/// before any work, as is a malformed one, rather than ignored.
void check_held_within_budget(const std::string& base, std::size_t rows, std::size_t dim,
                              ElementType type, const char* mode) {
  const auto budget = memory_budget_setting();
  if (!budget || detail::stream_rows_per_pass(budget->bytes, dim, type, rows) >= rows) return;
  throw Error(Errc::invalid_argument,
              base + ": " + std::to_string(rows) + " rows of dimension " + std::to_string(dim) +
                  " per device exceed VECACCEL_MEMORY_BUDGET = " + budget->text + " (" +
                  std::to_string(budget->bytes) + " bytes), and " + mode +
                  " streams only a base file it can map, not one read from a pipe");
}

/// One part's results (a rank's, a device's) for the exact merge: global labels, and each
/// candidate's float64 value from the part's own rows (the merge reads those where float32
/// values tie).
struct PartResults {
  std::vector<float> distances;
  std::vector<std::int64_t> labels;
  std::vector<double> exact;
};

/// A part's results for the exact merge: `labels` are global rows (-1: none), row label +
/// `file_offset` of `base` (a rank's own file can number its rows from 0).
PartResults part_results(std::vector<float> distances, std::vector<std::int64_t> labels,
                         const Base& base, std::int64_t file_offset, const Matrix<float>& queries,
                         std::size_t k, Metric metric) {
  PartResults out{.distances = std::move(distances),
                  .labels = std::move(labels),
                  .exact = std::vector<double>(queries.rows * k, 0.0)};
  for (std::size_t slot = 0; slot < out.labels.size(); ++slot) {
    const std::int64_t label = out.labels[slot];
    if (label < 0) continue;
    out.exact[slot] = detail::direct_distance(
        queries.row(slot / k), base.row(static_cast<std::size_t>(label + file_offset)), metric);
  }
  return out;
}

/// The merge of every part's results, gathered back to back, into the final ids and distances.
void merge_parts(const PartResults& gathered, std::size_t ranks, std::size_t queries, std::size_t k,
                 Metric metric, Matrix<std::int32_t>& ids, Matrix<float>& distances) {
  const std::size_t slots = queries * k;
  std::vector<KnnResult> parts(ranks);
  std::vector<std::vector<double>> exact(ranks);
  for (std::size_t r = 0; r < ranks; ++r) {
    const auto from = static_cast<std::ptrdiff_t>(r * slots);
    const auto to = static_cast<std::ptrdiff_t>((r + 1) * slots);
    parts[r] = {.rows = queries,
                .k = k,
                .distances = {gathered.distances.begin() + from, gathered.distances.begin() + to},
                .labels = {gathered.labels.begin() + from, gathered.labels.begin() + to}};
    exact[r] = {gathered.exact.begin() + from, gathered.exact.begin() + to};
  }
  const KnnResult merged = detail::merge_exact(parts, exact, metric);
  ids = {.rows = queries, .dim = k, .values = std::vector<std::int32_t>(slots)};
  distances = {.rows = queries, .dim = k, .values = merged.distances};
  for (std::size_t i = 0; i < slots; ++i)
    ids.values[i] = static_cast<std::int32_t>(merged.labels[i]);  // checked to fit int32
}

/// One device's share of a mapped base in a streamed sharded search.
struct StreamedShard {
  Context* context = nullptr;
  std::size_t first = 0;
  std::size_t rows = 0;
  std::uint64_t budget = 0;
};

/// --devices over a mapped base: each shard's contiguous share of the rows (within one row of
/// each other) on its device, with the device's memory budget, or none when every share fits
/// its device whole (then the index holds the base).
std::vector<StreamedShard> shards_to_stream(ShardedIndex& index, const MappedVectors& base) {
  std::vector<StreamedShard> shards;
  const std::size_t count = index.shard_count();
  shards.reserve(count);
  bool stream = false;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t first = base.rows() * i / count;
    const std::size_t rows = base.rows() * (i + 1) / count - first;
    Context& context = index.shard_context(i);
    const std::uint64_t budget = detail::device_memory_budget(context);
    stream = stream ||
             detail::stream_rows_per_pass(budget, base.dim(), base.element_type(), rows) < rows;
    shards.push_back({&context, first, rows, budget});
  }
  if (!stream) shards.clear();
  return shards;
}

/// Streams every device's share of the base through it at once (a thread each), then merges
/// the shares' top k exactly, as the ranks' are merged.
void search_streamed_shards(std::vector<StreamedShard>& shards, const Base& base,
                            const Matrix<float>& queries, const SearchOptions& options,
                            const std::stop_token& stop, SearchRun& run, Matrix<std::int32_t>& ids,
                            Matrix<float>& distances) {
  const Metric metric = parse_metric(options.metric);
  Progress progress("searching base", base.rows(), Progress::Unit::items,
                    progress_wanted(options.quiet), "rows");
  std::mutex mutex;
  std::vector<std::size_t> done(shards.size(), 0);
  std::vector<std::exception_ptr> errors(shards.size());
  // A failing share stops the shares after it only: one before it may still find an earlier
  // bad row, and the error reported is the lowest share's, the one a single device reports.
  std::vector<std::stop_source> halts(shards.size());
  const std::stop_callback forward(stop, [&] {
    for (std::stop_source& halt : halts)
      halt.request_stop();
  });
  std::vector<KnnResult> results(shards.size());
  {
    std::vector<std::jthread> threads;
    threads.reserve(shards.size());
    for (std::size_t i = 0; i < shards.size(); ++i) {
      threads.emplace_back([&, i] {
        const auto passed = [&, i](std::size_t rows, std::size_t) {
          const std::lock_guard lock(mutex);
          ++run.passes;
          done[i] = rows;
          progress.update(std::accumulate(done.begin(), done.end(), std::size_t{0}));
        };
        try {
          results[i] = ops::knn(*shards[i].context, queries.values, *base.mapped, options.k, metric,
                                {.timeout = std::chrono::nanoseconds::max(),
                                 .stop = halts[i].get_token(),
                                 .progress = passed,
                                 .memory_budget = shards[i].budget,
                                 .first_row = shards[i].first,
                                 .row_count = shards[i].rows});
        } catch (...) {
          errors[i] = std::current_exception();
          for (std::size_t later = i + 1; later < halts.size(); ++later)
            halts[later].request_stop();
        }
      });
    }
  }
  for (const std::exception_ptr& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  progress.finish();
  PartResults gathered;
  for (KnnResult& result : results) {
    const PartResults part = part_results(std::move(result.distances), std::move(result.labels),
                                          base, 0, queries, options.k, metric);
    gathered.distances.insert(gathered.distances.end(), part.distances.begin(),
                              part.distances.end());
    gathered.labels.insert(gathered.labels.end(), part.labels.begin(), part.labels.end());
    gathered.exact.insert(gathered.exact.end(), part.exact.begin(), part.exact.end());
  }
  merge_parts(gathered, shards.size(), queries.rows, options.k, metric, ids, distances);
}

void search_and_write(const SearchOptions& options, const std::stop_token& stop) {
  const Metric metric = parse_metric(options.metric);
  const bool show_progress = progress_wanted(options.quiet);

  const Base base = open_base(options.base, show_progress, stop);
  // A mapped base truncated under the search: one line and exit 1, not "Bus error".
  const BusErrorGuard bus_errors(options.base);
  const Matrix<float> queries = read_input(options.query, "query", show_progress, stop);
  check_search_shape(options, base.dim(), base.rows(), queries);
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
  Matrix<std::int32_t> ids;
  Matrix<float> distances;
  const auto add_then_search = [&](auto& index) {
    auto start = Clock::now();
    add_base(index, base, options.base, show_progress, stop);
    run.add_ms = ms_since(start);
    start = Clock::now();
    search_batches(index, queries, options, stop, ids, distances);
    run.search_ms = ms_since(start);
  };
  if (!options.devices.empty()) {
    const std::vector<std::uint32_t> devices = parse_devices(options.devices);
    ShardedIndex index(devices, base.dim(), metric, base.type());
    run.device = device_text(index);
    std::vector<StreamedShard> shards;
    if (base.mapped) shards = shards_to_stream(index, *base.mapped);
    if (!shards.empty()) {
      for (const StreamedShard& shard : shards)
        run.budget = run.budget == 0 ? shard.budget : std::min(run.budget, shard.budget);
      const auto start = Clock::now();
      naming_base(options.base, [&] {
        search_streamed_shards(shards, base, queries, options, stop, run, ids, distances);
      });
      run.search_ms = ms_since(start);
    } else {
      check_held_within_budget(options.base, (base.rows() + devices.size() - 1) / devices.size(),
                               base.dim(), base.type(), "--devices");
      add_then_search(index);
    }
  } else {
    Context context;
    run.device = device_text(context);
    const std::uint64_t budget = detail::device_memory_budget(context);
    const bool stream = base.mapped && detail::stream_rows_per_pass(budget, base.dim(), base.type(),
                                                                    base.rows()) < base.rows();
    if (stream) {
      const auto start = Clock::now();
      KnnResult result = search_streamed(context, *base.mapped, options.base, 0, base.rows(),
                                         queries, options, budget, stop, run);
      const std::size_t k = options.k;
      ids = {.rows = queries.rows, .dim = k, .values = std::vector<std::int32_t>(queries.rows * k)};
      distances = {.rows = queries.rows, .dim = k, .values = std::move(result.distances)};
      for (std::size_t i = 0; i < ids.values.size(); ++i)
        ids.values[i] = static_cast<std::int32_t>(result.labels[i]);  // checked to fit int32
      run.search_ms = ms_since(start);
    } else {
      if (!base.mapped)
        check_held_within_budget(options.base, base.rows(), base.dim(), base.type(), "search");
      FlatIndex index(context, base.dim(), metric, base.type());
      add_then_search(index);
    }
  }
  if (gt) run.recalls = recalls(ids, *gt, options.k);

  write_outputs(options, ids, distances, stop);
  print_report(options, run);
}

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

/// Runs step on every rank, then agrees: when any rank failed, the lowest failing one rethrows
/// its error (main prints it, once) and the others exit with its status silently. Every rank
/// reaches every collective, so a failure never leaves ranks waiting for each other.
template <class Step>
void on_all_ranks(Cluster& cluster, const SignalStop& signals, Step step) {
  std::exception_ptr error;
  try {
    step();
  } catch (...) {
    // Whatever a signal made fail, the rank reports the signal.
    const int signal = signals.signal();
    error = signal != 0 ? std::make_exception_ptr(interrupted(signal)) : std::current_exception();
  }
  const auto [rank, status] = cluster.first_failure(error ? exit_status(error) : 0);
  if (rank < 0) return;
  if (rank == cluster.rank()) std::rethrow_exception(error);
  throw QuietExit(status);
}

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

/// One rank's search of its slice: streamed through its GPU when the slice is mapped and does
/// not fit the device's memory budget, else held whole by a FlatIndex; run.add_ms is the
/// upload of a slice held whole (0 when streamed).
PartResults slice_results(Context& context, const BaseSlice& slice, const Matrix<float>& queries,
                          const SearchOptions& options, const std::stop_token& stop, SearchRun& run,
                          std::size_t first_row) {
  const Metric metric = parse_metric(options.metric);
  const std::size_t dim = slice.base.dim();
  const auto file_offset =
      static_cast<std::int64_t>(slice.first) - static_cast<std::int64_t>(first_row);
  const std::uint64_t budget = detail::device_memory_budget(context);
  if (slice.base.mapped &&
      detail::stream_rows_per_pass(budget, dim, slice.base.type(), slice.rows) < slice.rows) {
    KnnResult result = search_streamed(context, *slice.base.mapped, slice.path, slice.first,
                                       slice.rows, queries, options, budget, stop, run);
    for (std::int64_t& label : result.labels) {
      if (label >= 0) label -= file_offset;  // file rows to global rows
    }
    return part_results(std::move(result.distances), std::move(result.labels), slice.base,
                        file_offset, queries, options.k, metric);
  }
  FlatIndex index(context, dim, metric, slice.base.type());
  const auto start = Clock::now();
  add_base(index, slice.base, slice.path, progress_wanted(options.quiet), stop, slice.first,
           slice.rows);
  run.add_ms = ms_since(start);
  Matrix<std::int32_t> ids;
  Matrix<float> distances;
  search_batches(index, queries, options, stop, ids, distances);
  std::vector<std::int64_t> labels(ids.values.size(), -1);
  for (std::size_t slot = 0; slot < labels.size(); ++slot) {
    if (ids.values[slot] >= 0)
      labels[slot] = static_cast<std::int64_t>(first_row) + ids.values[slot];
  }
  return part_results(std::move(distances.values), std::move(labels), slice.base, file_offset,
                      queries, options.k, metric);
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

/// `mpirun -np R vecaccel search ...`: each rank searches its slice of the base on its own
/// GPU (the host's devices, by the rank's position on the host), the top k are merged exactly
/// on rank 0, which alone writes outputs and prints the report.
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
    const auto start = Clock::now();
    mine = slice_results(context, slice, queries, options, stop, run, first_row);
    run.search_ms = ms_since(start) - run.add_ms;
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

void run_search(const SearchOptions& options) {
  check_launch();
  Cluster* peers = cluster();
  const auto check_arguments = [&] {
    check_output_path(options.output, "--output", true);
    check_output_path(options.distances, "--distances", false);
    check_distinct_files(options, peers == nullptr ? 1 : peers->size());
  };
  // Before the Context: the driver's threads must inherit the blocked signals.
  const SignalStop signals;
  if (peers != nullptr) {
    // Every rank finds the same usage error; agreeing first has one rank print it.
    on_all_ranks(*peers, signals, check_arguments);
  } else {
    check_arguments();
    check_output_target(options.output, "--output");
    check_output_target(options.distances, "--distances");
  }
  try {
    if (peers != nullptr) {
      search_distributed(options, signals, *peers);
    } else {
      search_and_write(options, signals.token());
    }
  } catch (const QuietExit&) {
    throw;
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
  command->add_option("-k", options->k, "Neighbours per query")
      ->required()
      ->check(whole_number_in(1, ops::max_k));
  command->add_option("--metric", options->metric, "l2 (squared), ip or cosine")
      ->check(metric_validator())
      ->capture_default_str();
  command
      ->add_option("--output", options->output,
                   "Write ids (rows x k) to .ivecs or .npy, or ids and distances to .ibin "
                   "(ground-truth layout: int32 n, int32 k, ids, float32 distances)")
      ->check(non_empty_path());
  command
      ->add_option("--distances", options->distances,
                   "Write distances (rows x k) to .fvecs, .fbin or .npy")
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
  command->callback([options] { run_search(*options); });
}

}  // namespace vecaccel::cli
