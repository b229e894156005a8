// `vecaccel demo`: the one-command tour. Generates a clustered data set (by default 200,000 x
// 128 in 1,000 clusters, plus 1,000 queries from the same clusters; 200 on a CPU device), builds a
// FlatIndex on the GPU, searches it, checks a sample of queries against an exact float64 CPU search
// and prints a short report. Exit status 1 when the check fails.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include "cli_support.hpp"
#include "commands.hpp"
#include "cpu_reference.hpp"
#include "progress.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/device.hpp"
#include "vecaccel/flat_index.hpp"

namespace vecaccel::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kClusters = 1000;
// Within-cluster spread per coordinate: clusters stay apart (centre distances ~2d) while each
// query still has many close candidates in its own cluster.
constexpr float kSigma = 0.3f;
constexpr std::size_t kSampleQueries = 20;
constexpr double kRequiredRecall = 0.99;
// Two neighbours whose exact distances differ by less than this (relative) are a tie: float32
// on the GPU may order them either way, and either answer is right.
constexpr double kTieTolerance = 1e-4;
// Queries when --queries is not given. A CPU driver such as lavapipe searches 200,000 x 128
// at roughly 15 queries/s, so there the demo searches fewer queries to finish well within a
// minute; any GPU does the full batch in well under a second.
constexpr std::size_t kDefaultQueries = 1000;
constexpr std::size_t kDefaultQueriesOnCpu = 200;

struct DemoOptions {
  std::size_t n = 200'000;
  std::size_t dim = 128;
  std::size_t queries = 0;  // 0: kDefaultQueries, or kDefaultQueriesOnCpu on a CPU device
  std::size_t k = 10;
  std::uint64_t seed = 42;
  bool json = false;
  bool quiet = false;
};

struct Check {
  std::size_t sampled = 0;
  double recall = 0;
  double max_relative_error = 0;
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

/// Sampled queries against the exact answer: recall@k counting ties at the k-th distance as
/// hits, and the largest relative error of a reported distance against its exact value.
Check check_sample(const std::vector<float>& base, const std::vector<float>& queries,
                   const KnnResult& result, const DemoOptions& o) {
  const std::size_t sample = std::min(kSampleQueries, o.queries);
  std::vector<float> sampled;
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < sample; ++i) {
    const std::size_t q = i * o.queries / sample;
    rows.push_back(q);
    sampled.insert(sampled.end(), queries.begin() + static_cast<std::ptrdiff_t>(q * o.dim),
                   queries.begin() + static_cast<std::ptrdiff_t>((q + 1) * o.dim));
  }
  const reference::ExactKnn exact = reference::exact_knn(sampled, base, o.dim, o.k, Metric::l2);
  Check check{.sampled = sample};
  std::size_t hits = 0;
  for (std::size_t i = 0; i < sample; ++i) {
    const auto query = std::span(sampled).subspan(i * o.dim, o.dim);
    const auto truth = std::span(exact.labels).subspan(i * o.k, o.k);
    const std::unordered_set<std::int64_t> true_set(truth.begin(), truth.end());
    const double kth = exact.distances[i * o.k + o.k - 1];
    for (std::size_t j = 0; j < o.k; ++j) {
      const std::int64_t label = result.labels[rows[i] * o.k + j];
      if (label < 0) continue;
      const double d = reference::distance(
          query, std::span(base).subspan(static_cast<std::size_t>(label) * o.dim, o.dim),
          Metric::l2);
      const double reported = result.distances[rows[i] * o.k + j];
      const double scale = std::max(std::abs(d), 1e-6);
      check.max_relative_error = std::max(check.max_relative_error, std::abs(reported - d) / scale);
      if (true_set.contains(label) || d <= kth + kTieTolerance * std::max(std::abs(kth), 1.0)) {
        ++hits;
      }
    }
  }
  check.recall = static_cast<double>(hits) / static_cast<double>(sample * o.k);
  return check;
}

void run_demo(DemoOptions o) {
  const bool show_progress = progress_wanted(o.quiet);
  Context context;
  if (o.queries == 0) {
    const bool cpu = context.device().info().type == DeviceType::cpu;
    o.queries = cpu ? kDefaultQueriesOnCpu : kDefaultQueries;
  }
  Progress generating("generating", 2, Progress::Unit::items, show_progress, "sets");
  const std::vector<float> base = clustered_data(o.n, o.dim, kClusters, kSigma, o.seed, o.seed + 1);
  generating.update(1);
  const std::vector<float> queries =
      clustered_data(o.queries, o.dim, kClusters, kSigma, o.seed, o.seed + 2);
  generating.finish();

  FlatIndex index(context, o.dim, Metric::l2);
  auto start = Clock::now();
  index.add(base);
  const double add_ms = ms_since(start);
  start = Clock::now();
  const KnnResult result = index.search(queries, o.k);
  const double search_ms = ms_since(start);
  const Check check = check_sample(base, queries, result, o);
  const bool ok = check.recall >= kRequiredRecall;
  const double qps = static_cast<double>(o.queries) / (search_ms / 1000.0);

  if (o.json) {
    std::printf(
        "{\"device\": %s, \"n\": %zu, \"dim\": %zu, \"clusters\": %zu, \"queries\": %zu, "
        "\"k\": %zu, \"metric\": \"l2\", \"add_ms\": %.3f, \"search_ms\": %.3f, "
        "\"queries_per_second\": %.1f, \"checked_queries\": %zu, \"recall_at_%zu\": %.6f, "
        "\"max_relative_distance_error\": %.3g, \"ok\": %s}\n",
        json_string(device_text(context)).c_str(), o.n, o.dim, kClusters, o.queries, o.k, add_ms,
        search_ms, qps, check.sampled, o.k, check.recall, check.max_relative_error,
        ok ? "true" : "false");
  } else {
    std::printf("vecaccel demo: exact k-nearest-neighbour search on the GPU\n");
    std::printf("device   %s\n", device_text(context).c_str());
    std::printf("data     %zu x %zu float32 vectors in %zu clusters, %zu queries (seed %llu)\n",
                o.n, o.dim, kClusters, o.queries, static_cast<unsigned long long>(o.seed));
    std::printf("index    FlatIndex, squared l2: added in %.1f ms\n", add_ms);
    std::printf("search   k = %zu: %.1f ms, %.0f queries/s\n", o.k, search_ms, qps);
    std::printf(
        "check    %zu sampled queries vs exact float64 CPU search: recall@%zu = %.4f, "
        "max relative distance error %.2g\n",
        check.sampled, o.k, check.recall, check.max_relative_error);
    std::printf("result   %s\n", ok ? "ok" : "FAILED");
  }
  if (!ok) {
    throw std::runtime_error("demo check failed: recall@" + std::to_string(o.k) + " = " +
                             std::to_string(check.recall) + " < " +
                             std::to_string(kRequiredRecall));
  }
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto options = std::make_shared<DemoOptions>();
  auto* command = app.add_subcommand(
      "demo",
      "Generate a clustered data set, build a FlatIndex on the GPU, search it and check a "
      "sample against an exact float64 CPU search (recall@k: the fraction of the true k "
      "nearest neighbours found, ties counted as found)");
  command->add_option("--n", options->n, "Base vectors")
      ->check(whole_number_in(1000, std::size_t{1} << 28))
      ->capture_default_str();
  command->add_option("--dim", options->dim, "Dimension")
      ->check(whole_number_in(1, std::size_t{4096}))
      ->capture_default_str();
  command
      ->add_option("--queries", options->queries,
                   "Queries (default 1000; 200 on a CPU device such as lavapipe)")
      ->check(whole_number_in(1, std::size_t{1} << 20));
  command->add_option("--seed", options->seed, "Random seed")->capture_default_str();
  command->add_flag("--json", options->json, "Print the report as JSON");
  command->add_flag("--quiet", options->quiet, "No progress bar");
  command->callback([options] { run_demo(*options); });
}

}  // namespace vecaccel::cli
