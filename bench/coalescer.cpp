// bench_coalescer (issue 23): the coalescing policy alone, no GPU. T threads each search one
// query at a time, back to back, through a SearchCoalescer whose batches run on a stand-in
// device: one batch at a time (a GPU scan of the base takes the whole memory bandwidth),
// taking --batch-us plus --query-us a query. Reports queries/s, the mean batch and the p50/p99
// latency of a call for each thread count and regroup grace, so that the policy's choices
// (search_coalescer.hpp) can be compared on any machine; the host's core count matters (the
// callers' wake-ups are what the grace waits for), so run it where the server will run.
//
//   bench_coalescer --threads 1,2,4,8,16 --regroup-us 0,100 [--batch-us 300] [--query-us 5]
//                   [--max-queries 8] [--window-us 500] [--seconds 2]
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ops/search_coalescer.hpp"
#include "percentile.hpp"

namespace {

using vecaccel::bench::percentile;
using Clock = std::chrono::steady_clock;
using std::chrono::microseconds;

struct Options {
  std::vector<unsigned> threads = {1, 2, 4, 8, 16};
  std::vector<unsigned> regroup_us = {0, 100};
  unsigned batch_us = 300;
  unsigned query_us = 5;
  unsigned max_queries = 8;
  unsigned window_us = 500;
  double seconds = 2;
};

/// One batch at a time, each holding the device for batch_us + query_us a query.
class StandInDevice {
 public:
  explicit StandInDevice(const Options& o) : batch_(o.batch_us), query_(o.query_us) {}

  vecaccel::KnnResult operator()(std::span<const float> queries, std::size_t k,
                                 const vecaccel::ExecuteOptions&, const vecaccel::IdFilter*) {
    const std::size_t rows = queries.size();  // one element a query
    {
      std::lock_guard busy(device_);
      std::this_thread::sleep_for(batch_ + query_ * rows);
      batches_ += 1;
      queries_ += rows;
    }
    return {.rows = rows,
            .k = k,
            .distances = std::vector<float>(rows * k),
            .labels = std::vector<std::int64_t>(rows * k)};
  }
  double mean_batch() const {
    return batches_ == 0 ? 0 : static_cast<double>(queries_) / static_cast<double>(batches_);
  }

 private:
  microseconds batch_, query_;
  std::mutex device_;
  std::size_t batches_ = 0, queries_ = 0;  // under device_
};

struct Row {
  unsigned threads, regroup_us;
  double qps, mean_batch, p50_ms, p99_ms;
};

Row serve(const Options& o, unsigned threads, unsigned regroup_us) {
  // The grace is read when a coalescer is made.
  const std::string grace = std::to_string(regroup_us);
  setenv("VECACCEL_COALESCE_REGROUP_US", grace.c_str(), 1);
  const std::string cap = std::to_string(o.max_queries);
  setenv("VECACCEL_COALESCE_MAX_QUERIES", cap.c_str(), 1);
  vecaccel::detail::SearchCoalescer coalescer(1);
  coalescer.set_window(microseconds(o.window_us));
  StandInDevice device(o);
  std::vector<std::vector<double>> latencies(threads);
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  std::vector<std::thread> callers;
  for (unsigned t = 0; t < threads; ++t) {
    callers.emplace_back([&, t] {
      const std::vector<float> query{static_cast<float>(t)};
      while (Clock::now() < end) {
        const auto before = Clock::now();
        coalescer.search(query, 10, {}, nullptr, device);
        latencies[t].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - before).count());
      }
    });
  }
  for (auto& c : callers)
    c.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (const auto& l : latencies)
    all.insert(all.end(), l.begin(), l.end());
  return {.threads = threads,
          .regroup_us = regroup_us,
          .qps = static_cast<double>(all.size()) / wall,
          .mean_batch = device.mean_batch(),
          .p50_ms = percentile(all, 0.50),
          .p99_ms = percentile(all, 0.99)};
}

}  // namespace

int main(int argc, char** argv) try {
  Options o;
  CLI::App app{"bench_coalescer: the coalescing policy against a stand-in device"};
  app.add_option("--threads", o.threads, "thread counts, e.g. 1,16")->delimiter(',');
  app.add_option("--regroup-us", o.regroup_us, "regroup graces to compare")->delimiter(',');
  app.add_option("--batch-us", o.batch_us, "device time of a batch");
  app.add_option("--query-us", o.query_us, "device time added by each query of a batch");
  app.add_option("--max-queries", o.max_queries, "queries a batch holds")->check(CLI::Range(1, 32));
  app.add_option("--window-us", o.window_us, "coalescing window")->check(CLI::PositiveNumber);
  app.add_option("--seconds", o.seconds, "seconds per row")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  std::printf(
      "stand-in device: %u us a batch + %u us a query, batches of up to %u, window %u us,"
      " %u host cores\n",
      o.batch_us, o.query_us, o.max_queries, o.window_us, std::thread::hardware_concurrency());
  std::printf("%8s %11s %12s %11s %9s %9s\n", "threads", "regroup us", "queries/s", "mean batch",
              "p50 ms", "p99 ms");
  for (const unsigned threads : o.threads) {
    for (const unsigned regroup : o.regroup_us) {
      const Row r = serve(o, threads, regroup);
      std::printf("%8u %11u %12.1f %11.2f %9.3f %9.3f\n", r.threads, r.regroup_us, r.qps,
                  r.mean_batch, r.p50_ms, r.p99_ms);
    }
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_coalescer: %s\n", e.what());
  return 1;
}
