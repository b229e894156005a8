#include "search_output.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "search_inputs.hpp"
#include "vecaccel/vector_file_group.hpp"

namespace vecaccel::cli {

namespace {

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

}  // namespace

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
  // What each query asked for: its k nearest rows, or every row within the radius.
  const std::string wanted = options.radius ? "radius " + number_text(*options.radius)
                                            : "k = " + std::to_string(options.k);
  if (options.json) {
    std::printf(
        "{\"device\": %s, \"base\": %s, \"query\": %s, \"base_rows\": %zu, \"dim\": %zu, "
        "\"queries\": %zu, ",
        json_string(run.device).c_str(), json_string(options.base).c_str(),
        json_string(options.query).c_str(), run.base_rows, run.dim, run.queries);
    if (options.radius) {
      std::printf("\"radius\": %.9g, \"results\": %zu, ", *options.radius, run.range_results);
    } else {
      std::printf("\"k\": %zu, ", options.k);
    }
    std::printf(
        "\"metric\": %s, \"batch\": %zu, \"add_ms\": %.3f, \"search_ms\": %.3f, "
        "\"queries_per_second\": %.1f, \"streamed_passes\": %zu",
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
  std::printf("queries    %s: %zu, %s, metric %s, batches of %zu\n", options.query.c_str(),
              run.queries, wanted.c_str(),
              std::string(to_string(parse_metric(options.metric))).c_str(), options.batch);
  if (run.passes > 0) {
    std::printf("add        streamed with the search, %zu passes over the base (budget %s)\n",
                run.passes, byte_text(run.budget).c_str());
  } else if (!options.radius) {
    std::printf("add        %.1f ms\n", run.add_ms);
  }
  // A range search reports no plan: its time includes the base's upload.
  std::printf("search     %.1f ms%s, %.1f queries/s\n", run.search_ms,
              options.radius ? " (upload included)" : "", qps);
  if (options.radius) {
    std::printf("results    %zu within the radius, %.1f per query\n", run.range_results,
                static_cast<double>(run.range_results) / static_cast<double>(run.queries));
  }
  for (const Recall& r : run.recalls)
    std::printf("recall@%-3zu %.4f\n", r.at, r.value);
}

namespace {

/// Syncs every file of `files` (an fsync each: the slow part, during which a stop still leaves
/// no output) and renames them into place together.
void commit_outputs(VectorFileGroup& files, const std::stop_token& stop) {
  files.sync([&] { check_stop(stop); });
  check_stop(stop);
  files.commit();
}

}  // namespace

void write_outputs(const SearchOptions& options, const Matrix<std::int32_t>& ids,
                   const Matrix<float>& distances, const std::stop_token& stop) {
  VectorFileGroup files;
  if (!options.output.empty() && format_from_path(options.output) == VectorFileFormat::ibin) {
    files.write_ground_truth(options.output, GroundTruth{ids, distances}, stopping({}, stop));
  } else if (!options.output.empty()) {
    files.write_ids(options.output, ids, stopping({}, stop));
  }
  if (!options.distances.empty()) {
    files.write_vectors(options.distances, distances, stopping({}, stop));
  }
  commit_outputs(files, stop);
}

void write_range_outputs(const SearchOptions& options, const RangeResult& result,
                         const std::stop_token& stop) {
  VectorFileGroup files;
  files.write_array(options.lims, std::span<const std::int64_t>(result.lims), stopping({}, stop));
  if (!options.output.empty()) {
    files.write_array(options.output, std::span<const std::int64_t>(result.labels),
                      stopping({}, stop));
  }
  if (!options.distances.empty()) {
    files.write_array(options.distances, std::span<const float>(result.distances),
                      stopping({}, stop));
  }
  commit_outputs(files, stop);
}

}  // namespace vecaccel::cli
