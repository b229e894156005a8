// bench_serving (issue 23): a server's load on one FlatIndex. T threads each call
// FlatIndex::search with Q queries (k neighbours) over an N x d base, back to back for a few
// seconds, with coalescing on (window --window-us) and off (0), alternating per thread count in
// the same run so both see the same GPU. Reports aggregate queries/s and the p50/p99 latency of
// a call; a sample of the results is checked against the float64 brute force (exact or not).
// bench/peers/torch_serving.py serves the same calls serially on one CUDA stream (what a naive
// server does) and prints the same table.
//
//   bench_serving --n 1000000 --dim 128 --threads 1,16 --queries 1 --k 10 --seconds 5
//                 [--window-us 500] [--queues 0] [--check 8] [--json]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "percentile.hpp"
#include "support/reference.hpp"
#include "uniform_data.hpp"
#include "vecaccel/vecaccel.hpp"

namespace {

using vecaccel::bench::percentile;
using vecaccel::bench::uniform_data;

using Clock = std::chrono::steady_clock;

struct Options {
  std::size_t n = 1'000'000;
  std::size_t dim = 128;
  std::vector<unsigned> threads = {1, 16};
  std::size_t queries = 1;
  std::size_t k = 10;
  double seconds = 5;
  double warm_up_seconds = 1;
  unsigned window_us = 500;
  unsigned queues = 0;
  std::size_t check = 8;
  std::uint32_t seed = 1;
  bool json = false;
};

struct Row {
  unsigned threads;
  bool coalescing;
  std::size_t calls;
  double qps, p50_ms, p99_ms;
  std::size_t checked, wrong;
};

/// T threads calling search back to back until `seconds` passed; per-call latencies in ms.
Row serve(const vecaccel::FlatIndex& index, const Options& o, unsigned threads,
          const std::vector<float>& pool, double seconds, bool check,
          const std::vector<float>& base) {
  const std::size_t per_call = o.queries * o.dim;
  const std::size_t pool_calls = pool.size() / per_call;
  std::vector<std::vector<double>> latencies(threads);
  std::atomic<std::size_t> checked{0};
  std::vector<std::pair<std::vector<float>, vecaccel::KnnResult>> samples(o.check);
  std::atomic<bool> failed{false};
  std::string failure;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        for (std::size_t call = t; Clock::now() < end; call += threads) {
          const std::span<const float> q(pool.data() + (call % pool_calls) * per_call, per_call);
          const auto before = Clock::now();
          const vecaccel::KnnResult result = index.search(q, o.k);
          latencies[t].push_back(
              std::chrono::duration<double, std::milli>(Clock::now() - before).count());
          // Kept for the check after the timing (a float64 brute force takes a while).
          if (check && checked.load() < o.check) {
            const std::size_t slot = checked.fetch_add(1);
            if (slot < o.check) samples[slot] = {std::vector<float>(q.begin(), q.end()), result};
          }
        }
      } catch (const std::exception& e) {
        if (!failed.exchange(true)) failure = e.what();
      }
    });
  }
  for (auto& w : workers)
    w.join();
  if (failed) throw std::runtime_error("a search failed: " + failure);
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies)
    all.insert(all.end(), l.begin(), l.end());
  const std::size_t calls = all.size();
  const std::size_t sampled = std::min(checked.load(), o.check);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < sampled; ++i) {
    const auto& [queries, result] = samples[i];
    if (!vecaccel::testing::check_knn(result, queries, base, o.dim, o.k, vecaccel::Metric::l2)
             .empty())
      ++wrong;
  }
  return {.threads = threads,
          .coalescing = index.coalescing_window().count() > 0,
          .calls = calls,
          .qps = static_cast<double>(calls * o.queries) / wall,
          .p50_ms = percentile(all, 0.50),
          .p99_ms = percentile(all, 0.99),
          .checked = sampled,
          .wrong = wrong};
}

void print(const std::vector<Row>& rows, const Options& o, const std::string& device, bool json) {
  if (json) {
    std::printf(
        "{\"peer\": \"vecaccel\", \"device\": \"%s\", \"n\": %zu, \"dim\": %zu, "
        "\"queries_per_call\": %zu, \"k\": %zu, \"window_us\": %u, \"rows\": [",
        device.c_str(), o.n, o.dim, o.queries, o.k, o.window_us);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf(
          "%s{\"threads\": %u, \"coalescing\": %s, \"calls\": %zu, \"qps\": %.1f, "
          "\"p50_ms\": %.4f, \"p99_ms\": %.4f, \"checked\": %zu, \"wrong\": %zu}",
          i == 0 ? "" : ", ", r.threads, r.coalescing ? "true" : "false", r.calls, r.qps, r.p50_ms,
          r.p99_ms, r.checked, r.wrong);
    }
    std::printf("]}\n");
    return;
  }
  std::printf("peer vecaccel on %s: %zu x %zu l2, %zu queries a call, k = %zu, window %u us\n",
              device.c_str(), o.n, o.dim, o.queries, o.k, o.window_us);
  std::printf("%8s %11s %9s %14s %9s %9s %8s\n", "threads", "coalescing", "calls", "queries/s",
              "p50 ms", "p99 ms", "exact");
  for (const Row& r : rows) {
    std::printf("%8u %11s %9zu %14.1f %9.3f %9.3f %5zu/%zu\n", r.threads,
                r.coalescing ? "on" : "off", r.calls, r.qps, r.p50_ms, r.p99_ms,
                r.checked - r.wrong, r.checked);
  }
}

}  // namespace

int main(int argc, char** argv) try {
  Options o;
  CLI::App app{"bench_serving: T threads x Q queries a call on one FlatIndex"};
  app.add_option("--n", o.n, "base rows")->check(CLI::PositiveNumber);
  app.add_option("--dim", o.dim, "dimension")->check(CLI::PositiveNumber);
  app.add_option("--threads", o.threads, "thread counts, e.g. 1,16")->delimiter(',');
  app.add_option("--queries", o.queries, "queries per call")->check(CLI::PositiveNumber);
  app.add_option("--k", o.k, "neighbours")->check(CLI::PositiveNumber);
  app.add_option("--seconds", o.seconds, "seconds per row")->check(CLI::PositiveNumber);
  app.add_option("--warm-up", o.warm_up_seconds, "seconds of warm-up per row");
  app.add_option("--window-us", o.window_us, "coalescing window when on (microseconds)")
      ->check(CLI::PositiveNumber);
  app.add_option("--queues", o.queues, "ContextConfiguration::command_queue_count (0: default)");
  app.add_option("--check", o.check, "results per row checked against float64");
  app.add_option("--seed", o.seed, "data seed");
  app.add_flag("--json", o.json, "one JSON object instead of the table");
  CLI11_PARSE(app, argc, argv);

  const std::vector<float> base = uniform_data(o.n * o.dim, o.seed);
  const std::vector<float> pool = uniform_data(4096 * o.queries * o.dim, o.seed + 1);
  vecaccel::Context context({.command_queue_count = o.queues});
  vecaccel::FlatIndex index(context, o.dim, vecaccel::Metric::l2);
  index.add(base);

  std::vector<Row> rows;
  for (const unsigned threads : o.threads) {
    for (const bool coalescing : {false, true}) {
      index.set_coalescing_window(coalescing ? std::chrono::microseconds(o.window_us)
                                             : std::chrono::microseconds(0));
      serve(index, o, threads, pool, o.warm_up_seconds, false, base);
      rows.push_back(serve(index, o, threads, pool, o.seconds, o.check > 0, base));
      if (!o.json) std::fprintf(stderr, "threads %u coalescing %d done\n", threads, coalescing);
    }
  }
  print(rows, o, context.device().info().name, o.json);
  for (const Row& r : rows)
    if (r.wrong > 0) return 1;
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_serving: %s\n", e.what());
  return 1;
}
