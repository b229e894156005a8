// bench/soak (issue 10, item 7): a bounded random mix of add, search, knn, cancel and timeout
// from several threads over one Context, every result checked against a float64 brute force
// (ids equal, ties by label: tests/support/reference.cpp). Every --report-every seconds it
// prints a line with the operation counts, the process's RSS and the device memory the library
// reports; at the end a verdict line. Exit 1 on any wrong result or unexpected error, or when
// memory grew beyond the tolerance: the largest sample of the second half of the run against
// the largest of the first half (the indexes are bounded and reset when full, so memory
// oscillates; steady state means the peaks stay level).
//
//   soak --seconds 600 --seed 1 --threads 8 --report-every 10
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "support/reference.hpp"
#include "vecaccel/vecaccel.hpp"

namespace {

using namespace vecaccel;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Options {
  double seconds = 600;
  std::uint32_t seed = 1;
  unsigned threads = 8;
  double report_every = 10;
  /// Bounds the CPU reference's cost: an index is reset before it would exceed this.
  std::size_t max_rows = 4000;
  double rss_tolerance_mib = 64;
  double device_tolerance_mib = 64;
  /// The context's residency set capacity (ContextConfiguration); 0: the library's default.
  std::size_t residency_capacity = 0;
};

constexpr double mib = 1024.0 * 1024.0;

/// What the threads did; read by the reporter while they run.
struct Counters {
  std::atomic<std::uint64_t> adds{0}, searches{0}, knns{0}, cancel_tries{0}, cancelled{0},
      timeout_tries{0}, timed_out{0}, checked_results{0}, wrong{0}, resets{0};
};

struct MemorySample {
  double rss_mib = 0;
  double device_mib = 0;  // the driver's usage where VK_EXT_memory_budget exists, else the pool's
};

double rss_mib() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / mib;
}

MemorySample sample_memory(Context& context, std::string& device_source) {
  MemorySample sample{.rss_mib = rss_mib()};
  const auto residency = context.residency_manager().statistics();
  if (residency.device_usage_bytes) {
    device_source = "device_usage (VK_EXT_memory_budget)";
    sample.device_mib = static_cast<double>(*residency.device_usage_bytes) / mib;
  } else {
    device_source = "buffer pool bytes (no VK_EXT_memory_budget)";
    const auto pool = context.buffer_pool().statistics();
    sample.device_mib = static_cast<double>(pool.bytes_in_use + pool.bytes_cached) / mib;
  }
  return sample;
}

/// An index with the host copy of its rows (labels are row numbers: add() numbers them).
struct CheckedIndex {
  CheckedIndex(Context& context, std::size_t dim, Metric metric)
      : index(context, dim, metric), dim(dim), metric(metric) {}
  FlatIndex index;
  std::vector<float> rows;
  std::size_t dim;
  Metric metric;
  std::shared_mutex mutex;  // searches share it; add and reset take it alone
};

class Worker {
 public:
  Worker(Context& context, CheckedIndex& shared, const Options& options, unsigned id,
         Counters& counters, Clock::time_point end)
      : context_(context),
        shared_(shared),
        options_(options),
        id_(id),
        counters_(counters),
        end_(end),
        rng_(options.seed * 7919u + id),
        own_(context, dims[id % dims.size()], metrics[id % metrics.size()]) {}

  void run() {
    while (Clock::now() < end_) {
      try {
        step();
      } catch (const std::exception& e) {
        fail(std::string("unexpected error: ") + e.what());
      }
    }
  }

 private:
  static constexpr std::array<std::size_t, 4> dims = {64, 96, 128, 256};
  static constexpr std::array<Metric, 3> metrics = {Metric::l2, Metric::inner_product,
                                                    Metric::cosine};

  void step() {
    CheckedIndex& target = pick(4) == 0 ? shared_ : own_;
    switch (pick(10)) {
      case 0:
      case 1:
      case 2:
        return add(target);
      case 3:
      case 4:
      case 5:
        return search(target, {}, Outcome::complete);
      case 6:
        return knn();
      case 7:
      case 8:
        return cancel(target);
      default:
        return time_out(target);
    }
  }

  enum class Outcome { complete, may_be_cancelled, may_time_out };

  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }

  std::vector<float> random_rows(std::size_t n, std::size_t dim) {
    return testing::normal_data(n, dim, static_cast<std::uint32_t>(rng_()));
  }

  void add(CheckedIndex& target) {
    std::unique_lock lock(target.mutex);
    const std::size_t n = 1 + pick(200);
    if (target.rows.size() / target.dim + n > options_.max_rows) {
      target.index.reset();
      target.rows.clear();
      ++counters_.resets;
    }
    std::vector<float> rows = random_rows(n, target.dim);
    // Every fourth batch repeats existing rows: exact ties, which must come out by label.
    const std::size_t have = target.rows.size() / target.dim;
    if (have > 0 && pick(4) == 0) {
      for (std::size_t r = 0; r < n; r += 2) {
        const std::size_t from = pick(have);
        std::copy_n(target.rows.begin() + static_cast<std::ptrdiff_t>(from * target.dim),
                    target.dim, rows.begin() + static_cast<std::ptrdiff_t>(r * target.dim));
      }
    }
    target.index.add(rows);
    target.rows.insert(target.rows.end(), rows.begin(), rows.end());
    ++counters_.adds;
  }

  /// Queries: fresh rows, or copies of base rows (distance 0 / exact ties).
  std::vector<float> queries_for(const CheckedIndex& target, std::size_t nq) {
    std::vector<float> queries = random_rows(nq, target.dim);
    const std::size_t have = target.rows.size() / target.dim;
    for (std::size_t q = 0; have > 0 && q < nq; q += 3) {
      std::copy_n(target.rows.begin() + static_cast<std::ptrdiff_t>(pick(have) * target.dim),
                  target.dim, queries.begin() + static_cast<std::ptrdiff_t>(q * target.dim));
    }
    return queries;
  }

  void search(CheckedIndex& target, const ExecuteOptions& options, Outcome allowed) {
    std::shared_lock lock(target.mutex);
    const std::size_t nq = 1 + pick(16);
    const std::size_t k = 1 + pick(64);  // sometimes more than the rows: padding
    const std::vector<float> queries = queries_for(target, nq);
    std::optional<KnnResult> result;
    try {
      result = target.index.search(queries, k, options);
    } catch (const Error& e) {
      if (!expected(e, allowed)) throw;
      return;
    }
    ++counters_.searches;
    check(testing::check_knn(*result, queries, target.rows, target.dim, k, target.metric),
          "search");
  }

  void knn() {
    const std::size_t dim = dims[pick(dims.size())];
    const Metric metric = metrics[pick(metrics.size())];
    const std::vector<float> base = random_rows(500 + pick(2500), dim);
    const std::size_t nq = 1 + pick(8);
    const std::size_t k = 1 + pick(32);
    const std::vector<float> queries = random_rows(nq, dim);
    const KnnResult result = ops::knn(context_, queries, base, dim, k, metric);
    ++counters_.knns;
    check(testing::check_knn(result, queries, base, dim, k, metric), "ops::knn");
  }

  /// A stop before the call, or from another thread a little later: cancelled, or (when the
  /// stop came late) a complete and exact result.
  void cancel(CheckedIndex& target) {
    ++counters_.cancel_tries;
    std::stop_source source;
    std::optional<std::jthread> stopper;
    if (pick(3) == 0) {
      source.request_stop();
    } else {
      const auto delay = std::chrono::microseconds(pick(2000));
      stopper.emplace([source, delay]() mutable {
        std::this_thread::sleep_for(delay);
        source.request_stop();
      });
    }
    search(target, {.timeout = std::nullopt, .stop = source.get_token()},
           Outcome::may_be_cancelled);
  }

  void time_out(CheckedIndex& target) {
    ++counters_.timeout_tries;
    const auto timeout = std::chrono::microseconds(1 + pick(3000));
    search(target, {.timeout = timeout, .stop = {}}, Outcome::may_time_out);
  }

  bool expected(const Error& e, Outcome allowed) {
    if (allowed == Outcome::may_be_cancelled && e.code() == Errc::cancelled) {
      ++counters_.cancelled;
      return true;
    }
    if (allowed == Outcome::may_time_out && e.code() == Errc::timeout) {
      ++counters_.timed_out;
      return true;
    }
    return false;
  }

  void check(const std::string& difference, const char* what) {
    ++counters_.checked_results;
    if (!difference.empty()) fail(std::string(what) + ": " + difference);
  }

  void fail(const std::string& message) {
    // The first few failures are printed; the count is in every report.
    if (counters_.wrong.fetch_add(1) < 10) {
      std::printf("soak: thread %u: WRONG %s\n", id_, message.c_str());
      std::fflush(stdout);
    }
  }

  Context& context_;
  CheckedIndex& shared_;
  const Options& options_;
  unsigned id_;
  Counters& counters_;
  Clock::time_point end_;
  std::mt19937 rng_;
  CheckedIndex own_;
};

void report(double t, const Counters& c, const MemorySample& m) {
  std::printf(
      "soak t=%.0fs adds=%llu searches=%llu knn=%llu cancelled=%llu/%llu timed_out=%llu/%llu "
      "resets=%llu checked=%llu wrong=%llu rss_mib=%.1f device_mib=%.1f\n",
      t, static_cast<unsigned long long>(c.adds.load()),
      static_cast<unsigned long long>(c.searches.load()),
      static_cast<unsigned long long>(c.knns.load()),
      static_cast<unsigned long long>(c.cancelled.load()),
      static_cast<unsigned long long>(c.cancel_tries.load()),
      static_cast<unsigned long long>(c.timed_out.load()),
      static_cast<unsigned long long>(c.timeout_tries.load()),
      static_cast<unsigned long long>(c.resets.load()),
      static_cast<unsigned long long>(c.checked_results.load()),
      static_cast<unsigned long long>(c.wrong.load()), m.rss_mib, m.device_mib);
  std::fflush(stdout);
}

/// Largest of each measure over samples [from, to).
MemorySample peak(const std::vector<MemorySample>& samples, std::size_t from, std::size_t to) {
  MemorySample out;
  for (std::size_t i = from; i < to; ++i) {
    out.rss_mib = std::max(out.rss_mib, samples[i].rss_mib);
    out.device_mib = std::max(out.device_mib, samples[i].device_mib);
  }
  return out;
}

int run(const Options& options) {
  ContextConfiguration configuration;
  if (options.residency_capacity != 0) {
    configuration.residency_set_capacity = options.residency_capacity;
  }
  Context context(configuration);
  std::printf(
      "soak: device '%s', %u threads, %.0f s, seed %u, indexes of at most %zu rows, residency "
      "set capacity %zu\n",
      context.device().info().name.c_str(), options.threads, options.seconds, options.seed,
      options.max_rows, context.configuration().residency_set_capacity);
  std::fflush(stdout);
  Counters counters;
  CheckedIndex shared(context, 128, Metric::l2);
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(options.seconds));
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned t = 0; t < options.threads; ++t) {
    workers.push_back(std::make_unique<Worker>(context, shared, options, t, counters, end));
  }
  std::string device_source;
  std::vector<MemorySample> samples;
  {
    std::vector<std::jthread> threads;
    for (auto& worker : workers)
      threads.emplace_back([&worker] { worker->run(); });
    const auto period = std::chrono::duration<double>(options.report_every);
    for (auto next = start + std::chrono::duration_cast<Clock::duration>(period); next < end;
         next += std::chrono::duration_cast<Clock::duration>(period)) {
      std::this_thread::sleep_until(next);
      samples.push_back(sample_memory(context, device_source));
      report(std::chrono::duration<double>(Clock::now() - start).count(), counters, samples.back());
    }
  }
  samples.push_back(sample_memory(context, device_source));
  report(std::chrono::duration<double>(Clock::now() - start).count(), counters, samples.back());

  // The first sample is warm-up (pipelines, pool, first index growth).
  const std::size_t first = samples.size() > 2 ? 1 : 0;
  const std::size_t half = first + (samples.size() - first) / 2;
  const MemorySample early = peak(samples, first, half);
  const MemorySample late = peak(samples, half, samples.size());
  const double rss_growth = late.rss_mib - early.rss_mib;
  const double device_growth = late.device_mib - early.device_mib;
  const bool wrong = counters.wrong.load() > 0 || counters.checked_results.load() == 0;
  const bool grew =
      rss_growth > options.rss_tolerance_mib || device_growth > options.device_tolerance_mib;
  std::printf(
      "soak verdict: %s: %llu results checked, %llu wrong; peak RSS %.1f -> %.1f MiB (growth "
      "%+.1f, tolerance %.0f); peak device memory %.1f -> %.1f MiB (growth %+.1f, tolerance "
      "%.0f; %s)\n",
      wrong || grew ? "FAIL" : "PASS",
      static_cast<unsigned long long>(counters.checked_results.load()),
      static_cast<unsigned long long>(counters.wrong.load()), early.rss_mib, late.rss_mib,
      rss_growth, options.rss_tolerance_mib, early.device_mib, late.device_mib, device_growth,
      options.device_tolerance_mib, device_source.c_str());
  return wrong || grew ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"vecaccel soak: random add/search/knn/cancel/timeout, every result checked"};
  app.add_option("--seconds", options.seconds, "how long to run")->check(CLI::PositiveNumber);
  app.add_option("--seed", options.seed, "random seed (data and operation mix)");
  app.add_option("--threads", options.threads, "worker threads")->check(CLI::Range(1u, 256u));
  app.add_option("--report-every", options.report_every, "seconds between report lines")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-rows", options.max_rows, "rows per index before it is reset")
      ->check(CLI::Range(std::size_t{16}, std::size_t{1} << 20));
  app.add_option("--rss-tolerance-mib", options.rss_tolerance_mib,
                 "allowed growth of peak RSS, second half of the run over the first");
  app.add_option("--device-tolerance-mib", options.device_tolerance_mib,
                 "allowed growth of peak device memory, likewise");
  app.add_option("--residency-capacity", options.residency_capacity,
                 "the context's residency set capacity (default: the library's)");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::printf("soak verdict: FAIL: %s\n", e.what());
    return 1;
  }
}
