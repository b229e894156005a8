// bench_features (issue 22's speed goals): filtered search, k = 10,000 and the self-kNN graph
// over one N x d base (uniform in [-1, 1), l2), each timed end to end from host memory (queries
// uploaded, results read back; median of --repeat) and a sample checked against float64:
//   - filter: the same Q queries unfiltered, with an allow-list of 1% of the ids (random) and
//     with a bitset allowing 50% (random); goal 1% <= 0.1x and 50% <= 1.0x the unfiltered time;
//   - large k: Q queries with k = --big-k (goal: the whole search >= PyTorch fp32's GEMM + topk);
//   - graph: knn_graph over the first --graph-n rows with k = --graph-k, beside search() of those
//     rows against themselves with k + 1 (goal: >= 1.5x PyTorch fp32 doing it in batches).
// bench/peers/torch_features.py times the same work in PyTorch, in the same call.
//
//   bench_features --n 1000000 --dim 128 --queries 1000 --k 10 --big-k 10000 --graph-k 10
//                  [--graph-n 1000000] [--repeat 5] [--graph-repeat 1] [--check 3] [--seed 1]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gpu_clock.hpp"
#include "support/reference.hpp"
#include "uniform_data.hpp"
#include "vecaccel/vecaccel.hpp"

namespace {

using vecaccel::bench::uniform_data;
using vecaccel::bench::warm_up;

using Clock = std::chrono::steady_clock;
using vecaccel::KnnResult;
using vecaccel::Metric;

struct Options {
  std::size_t n = 1'000'000;
  std::size_t dim = 128;
  std::size_t queries = 1000;
  std::size_t k = 10;
  std::size_t big_k = 10'000;
  std::size_t graph_n = 1'000'000;
  std::size_t graph_k = 10;
  unsigned repeat = 5;
  unsigned graph_repeat = 1;  // a graph of a million rows takes seconds
  std::size_t check = 3;
  std::uint32_t seed = 1;
};

/// Median wall time of `repeat` calls of `work` in ms, after a second of untimed calls
/// (pipelines, pools, and the GPU's clock: gpu_clock.hpp).
template <class Work>
double median_ms(unsigned repeat, Work work) {
  warm_up(work);
  std::vector<double> times;
  for (unsigned i = 0; i < repeat; ++i) {
    const auto start = Clock::now();
    work();
    times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

/// The float64 top k labels of one query over the rows `allowed` admits (ties by label).
std::vector<std::int64_t> exact_labels(const float* query, const std::vector<float>& base,
                                       std::size_t dim, std::size_t k,
                                       const std::function<bool(std::int64_t)>& allowed,
                                       std::int64_t skip = -1) {
  std::vector<std::pair<double, std::int64_t>> all;
  const auto rows = static_cast<std::int64_t>(base.size() / dim);
  for (std::int64_t r = 0; r < rows; ++r) {
    if (r == skip || !allowed(r)) continue;
    all.emplace_back(vecaccel::testing::reference_metric(
                         query, base.data() + static_cast<std::size_t>(r) * dim, dim, Metric::l2),
                     r);
  }
  const std::size_t kept = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(kept), all.end());
  std::vector<std::int64_t> labels(k, -1);
  for (std::size_t i = 0; i < kept; ++i)
    labels[i] = all[i].second;
  return labels;
}

/// Checks `check` rows of result (spread over them) against exact_labels; the count wrong.
std::size_t wrong_rows(const KnnResult& result, const std::vector<float>& queries,
                       const std::vector<float>& base, const Options& o, std::size_t k,
                       const std::function<bool(std::int64_t)>& allowed, bool self = false) {
  std::size_t wrong = 0;
  const std::size_t rows = result.rows;
  for (std::size_t c = 0; c < o.check && c < rows; ++c) {
    const std::size_t row = c * rows / o.check;
    const auto expected = exact_labels(queries.data() + row * o.dim, base, o.dim, k, allowed,
                                       self ? static_cast<std::int64_t>(row) : -1);
    const auto got = result.labels.begin() + static_cast<std::ptrdiff_t>(row * k);
    if (!std::equal(expected.begin(), expected.end(), got)) ++wrong;
  }
  return wrong;
}

/// Prints one row; returns `wrong` so that callers can sum what failed.
std::size_t report(const std::string& what, double ms, double baseline_ms, std::size_t wrong,
                   std::size_t checked) {
  std::printf("%-44s %10.3f ms %8.3fx %5zu/%zu exact\n", what.c_str(), ms, ms / baseline_ms,
              checked - wrong, checked);
  return wrong;
}

std::size_t filters(vecaccel::FlatIndex& index, const std::vector<float>& base,
                    const std::vector<float>& queries, const Options& o) {
  const vecaccel::MatrixView<const float> q{std::span(queries), o.queries, o.dim};
  KnnResult result;
  const double plain = median_ms(o.repeat, [&] { result = index.search(q, o.k); });
  const auto all = [](std::int64_t) { return true; };
  std::size_t wrong =
      report("unfiltered", plain, plain, wrong_rows(result, queries, base, o, o.k, all), o.check);

  std::mt19937_64 random(o.seed + 7);
  std::vector<std::int64_t> ids(o.n);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), random);
  ids.resize(std::max<std::size_t>(1, o.n / 100));
  const auto allow = vecaccel::IdFilter::allow(ids);
  const double one = median_ms(o.repeat, [&] { result = index.search(q, o.k, allow); });
  wrong += report(
      "allow-list of 1% of the ids", one, plain,
      wrong_rows(result, queries, base, o, o.k, [&](std::int64_t id) { return allow.allows(id); }),
      o.check);

  std::vector<std::uint64_t> words((o.n + 63) / 64);
  for (auto& w : words)
    w = random();
  const auto half = vecaccel::IdFilter::bitset(words, o.n);
  const double fifty = median_ms(o.repeat, [&] { result = index.search(q, o.k, half); });
  wrong += report(
      "bitset allowing 50% of the ids", fifty, plain,
      wrong_rows(result, queries, base, o, o.k, [&](std::int64_t id) { return half.allows(id); }),
      o.check);

  const std::size_t big_k = std::min(o.big_k, o.n);
  const double large = median_ms(o.repeat, [&] { result = index.search(q, big_k); });
  wrong += report("k = " + std::to_string(big_k), large, plain,
                  wrong_rows(result, queries, base, o, big_k, all), o.check);
  return wrong;
}

std::size_t graph(vecaccel::Context& context, const std::vector<float>& base, const Options& o) {
  const std::size_t rows = std::min(o.graph_n, o.n);
  const vecaccel::MatrixView<const float> view{std::span(base).first(rows * o.dim), rows, o.dim};
  const std::vector<float> first(base.begin(),
                                 base.begin() + static_cast<std::ptrdiff_t>(rows * o.dim));
  vecaccel::SearchResult graph;
  const double graph_ms = median_ms(o.graph_repeat, [&] {
    graph = vecaccel::knn_graph(context, vecaccel::SearchBase(view), o.graph_k, Metric::l2);
  });
  vecaccel::SearchResult self;
  const double self_ms = median_ms(o.graph_repeat, [&] {
    self = vecaccel::search(context, vecaccel::SearchBase(view), view, o.graph_k + 1, Metric::l2);
  });
  const auto all = [](std::int64_t) { return true; };
  return report("search of the rows with k + 1 = " + std::to_string(o.graph_k + 1), self_ms,
                self_ms, wrong_rows(self.knn, first, first, o, o.graph_k + 1, all), o.check) +
         report("knn_graph " + std::to_string(rows) + " rows, k = " + std::to_string(o.graph_k),
                graph_ms, self_ms, wrong_rows(graph.knn, first, first, o, o.graph_k, all, true),
                o.check);
}

}  // namespace

int main(int argc, char** argv) try {
  Options o;
  CLI::App app{"bench_features: filtered search, large k and the kNN graph"};
  app.add_option("--n", o.n, "base rows")->check(CLI::PositiveNumber);
  app.add_option("--dim", o.dim, "dimension")->check(CLI::PositiveNumber);
  app.add_option("--queries", o.queries, "queries")->check(CLI::PositiveNumber);
  app.add_option("--k", o.k, "neighbours of the filter rows")->check(CLI::PositiveNumber);
  app.add_option("--big-k", o.big_k, "neighbours of the large-k row")->check(CLI::PositiveNumber);
  app.add_option("--graph-n", o.graph_n, "rows of the graph (0: none)");
  app.add_option("--graph-k", o.graph_k, "neighbours of the graph")->check(CLI::PositiveNumber);
  app.add_option("--repeat", o.repeat, "timed runs (median)")->check(CLI::PositiveNumber);
  app.add_option("--graph-repeat", o.graph_repeat, "timed runs of the graph rows (median)")
      ->check(CLI::PositiveNumber);
  app.add_option("--check", o.check, "rows of each result checked against float64");
  app.add_option("--seed", o.seed, "data seed");
  CLI11_PARSE(app, argc, argv);

  const std::vector<float> base = uniform_data(o.n * o.dim, o.seed);
  const std::vector<float> queries = uniform_data(o.queries * o.dim, o.seed + 1);
  vecaccel::Context context;
  vecaccel::FlatIndex index(context, o.dim, Metric::l2);
  index.add(vecaccel::MatrixView<const float>(std::span(base), o.n, o.dim));
  std::printf(
      "peer vecaccel on %s: %zu x %zu l2, Q = %zu, median of %u (ratio: to the first row "
      "of its group)\n",
      context.device().info().name.c_str(), o.n, o.dim, o.queries, o.repeat);
  std::size_t wrong = filters(index, base, queries, o);
  if (o.graph_n > 0) wrong += graph(context, base, o);
  return wrong == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_features: %s\n", e.what());
  return 1;
}
