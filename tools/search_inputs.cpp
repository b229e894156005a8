#include "search_inputs.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <stop_token>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "cli_support.hpp"
#include "commands.hpp"
#include "progress.hpp"
#include "vecaccel/element_type.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/flat_index.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/search.hpp"
#include "vecaccel/settings.hpp"

namespace vecaccel::cli {

namespace fs = std::filesystem;

void apply_hdf5_defaults(SearchOptions& options, bool metric_given) {
  if (const auto query = hdf5_dataset(options.query); query && query->dataset.empty()) {
    options.query += ":test";
  }
  if (metric_given) return;
  if (const auto base = hdf5_dataset(options.base)) {
    if (const std::optional<Metric> metric = hdf5_metric(base->file)) {
      options.metric = std::string(to_string(*metric));
    }
  }
}

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

namespace {

bool is_npy(const std::string& path) {
  try {
    return format_from_path(path) == VectorFileFormat::npy;
  } catch (const Error&) {
    return false;
  }
}

void check_range_mode(const SearchOptions& options) {
  const std::string radius = number_text(*options.radius);
  if (options.k != 0) {
    throw UsageError(
        "-k and --radius exclude each other: -k asks for each query's k nearest "
        "rows, --radius " +
        radius + " for every row within the radius");
  }
  if (!std::isfinite(*options.radius)) {
    throw UsageError("--radius " + radius + " is not a finite number");
  }
  if (options.lims.empty()) {
    throw UsageError(
        "--radius needs --lims: the .npy of each query's offsets into --output and "
        "--distances (FAISS's lims, queries + 1 int64 values)");
  }
  if (!options.gt.empty()) {
    throw UsageError("--gt measures the recall of a -k search; a --radius search has none");
  }
  for (const auto& [option, path] :
       {std::pair{"--output", &options.output}, std::pair{"--distances", &options.distances},
        std::pair{"--lims", &options.lims}}) {
    if (path->empty() || is_npy(*path)) continue;
    throw UsageError(std::string(option) + " '" + *path +
                     "': a --radius search writes one-dimensional .npy arrays (FAISS's lims, D "
                     "and I), so the extension must be .npy");
  }
}

}  // namespace

void check_search_mode(const SearchOptions& options) {
  if (options.radius) return check_range_mode(options);
  if (options.k == 0) {
    throw UsageError(
        "-k or --radius is required: each query's k nearest rows, or every row "
        "within a radius");
  }
  if (!options.lims.empty()) {
    throw UsageError("--lims '" + options.lims +
                     "' is written by a range search only: give --radius R instead of -k");
  }
  if (options.max_results) {
    throw UsageError("--max-results bounds a range search only: give --radius R instead of -k");
  }
  check_output_path(options.output, "--output", true);
  check_output_path(options.distances, "--distances", false);
}

std::vector<std::int64_t> read_filter(const std::string& path) {
  std::vector<std::int64_t> ids = read_id_list(path);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= 0) continue;
    throw Error(Errc::invalid_argument,
                path + ": id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                    " (0-based, in file order) is negative; --filter lists base row numbers");
  }
  return ids;
}

namespace {

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

}  // namespace

std::vector<std::string> base_files(const std::string& base, int ranks) {
  const std::size_t at = base.find("{rank}");
  if (at == std::string::npos) return {base};
  std::vector<std::string> files;
  files.reserve(static_cast<std::size_t>(ranks));
  for (int rank = 0; rank < ranks; ++rank)
    files.push_back(std::string(base).replace(at, 6, std::to_string(rank)));
  return files;
}

void check_distinct_files(const SearchOptions& options, int ranks) {
  constexpr std::size_t kOutputs = 3;  // the first entries; the rest are inputs
  std::vector<NamedPath> files = {{"--output", options.output}, {"--distances", options.distances},
                                  {"--lims", options.lims},     {"--query", options.query},
                                  {"--gt", options.gt},         {"--filter", options.filter}};
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

void check_search_arguments(const SearchOptions& options, int ranks) {
  check_search_mode(options);
  check_distinct_files(options, ranks);
  if (ranks > 1 && options.radius) {
    // Each rank's results have their own length; vecaccel::mpi gathers top-k parts only.
    throw Error(Errc::unsupported,
                "--radius under mpirun is not supported yet: the ranks' range results cannot be "
                "gathered; run it in one process (--devices shards it over this host's GPUs)");
  }
}

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

void check_stop(const std::stop_token& stop) {
  if (stop.stop_requested()) throw Error(Errc::cancelled, "stopped by a signal");
}

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
  if (base_rows > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw Error(Errc::invalid_argument, options.base + ": " + std::to_string(base_rows) +
                                            " rows do not fit the int32 ids of .ivecs");
  }
  // The engine refuses such a query too, but only when it searches: after the whole base is
  // uploaded, and numbered within its batch rather than its file.
  check_queries(MatrixView<const float>(queries.values, queries.rows, queries.dim),
                parse_metric(options.metric), options.query + ": query");
}

void check_held_within_budget(const std::string& base, std::size_t rows, std::size_t dim,
                              ElementType type, const char* mode) {
  const auto budget = memory_budget_setting();
  if (!budget) return;
  const SearchPlan held = plan_search(
      {.rows = rows, .dim = dim, .type = type, .streamable = false, .budgets = {budget->bytes}});
  if (held.shares.front().fits) return;
  throw Error(Errc::invalid_argument,
              base + ": " + std::to_string(rows) + " rows of dimension " + std::to_string(dim) +
                  " per device exceed VECACCEL_MEMORY_BUDGET = " + budget->text + " (" +
                  std::to_string(budget->bytes) + " bytes), and " + mode +
                  " streams only a base file it can map, not one read from a pipe");
}

}  // namespace vecaccel::cli
