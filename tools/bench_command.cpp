// `vecaccel bench`: synthetic end-to-end benchmark of FlatIndex search on standard-normal data
// (of a ShardedIndex with --devices; its base is generated on every core, so a base of tens of
// GB is made on the machine that searches it rather than carried there).
//
// Reports what bench/knn reports: time per search, queries/s and TFLOP/s (2·Q·N·d flops). The
// memory-bandwidth floor needs the device's peak bandwidth, which Vulkan does not expose, so
// instead of a percentage it prints the bytes a search must move at least and the effective
// GB/s; compare that with the device's data sheet.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "commands.hpp"
#include "progress.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/flat_index.hpp"
#include "vecaccel/sharded_index.hpp"

namespace vecaccel::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchOptions {
  std::size_t n = 100'000;
  std::size_t dim = 128;
  std::size_t queries = 1'000;
  std::size_t k = 10;
  std::string metric = "l2";
  std::string type = "float32";  // of the base's elements; queries hold values of that type
  std::size_t repeat = 5;
  std::uint64_t seed = 1;
  std::string devices;    // empty: FlatIndex on the context's device
  bool half_copy = true;  // FlatIndex's HalfCopy::automatic, else never
  bool json = false;
  bool quiet = false;
};

struct BenchResult {
  std::string device;
  double add_ms = 0;
  double first_ms = 0;
  double median_ms = 0;
  double min_ms = 0;
  std::uint64_t result_hash = 0;  // of the last search: equal runs give equal hashes
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

/// The least a search must move through memory: the base vectors (and their norms, which l2
/// and cosine read) and the queries once, and the k results per query (float + int32).
double bytes_moved(const BenchOptions& o, Metric metric) {
  const double element_bytes = o.type == "float32" ? 4.0 : 1.0;
  const double base = static_cast<double>(o.n) * static_cast<double>(o.dim) * element_bytes;
  const double norms = metric == Metric::inner_product ? 0.0 : static_cast<double>(o.n) * 4.0;
  const double queries = static_cast<double>(o.queries) * static_cast<double>(o.dim) * 4;
  const double results = static_cast<double>(o.queries) * static_cast<double>(o.k) * 8;
  return base + norms + queries + results;
}

/// FNV-1a over a result's labels and distance bits: compares runs (one GPU against several)
/// without writing their results out.
std::uint64_t hash_of(const KnnResult& result) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  const auto mix = [&hash](std::span<const std::byte> bytes) {
    for (const std::byte b : bytes)
      hash = (hash ^ static_cast<std::uint64_t>(b)) * 0x100000001b3ull;
  };
  mix(std::as_bytes(std::span(result.labels)));
  mix(std::as_bytes(std::span(result.distances)));
  return hash;
}

template <class Index>
void time_searches(const BenchOptions& o, const Index& index, const std::vector<float>& queries,
                   BenchResult& result) {
  // The first search also builds pipelines and warms caches: reported, not counted.
  auto start = Clock::now();
  (void)index.search(queries, o.k);
  result.first_ms = ms_since(start);

  std::vector<double> times;
  Progress progress("benchmarking", o.repeat, Progress::Unit::items, progress_wanted(o.quiet),
                    "runs");
  for (std::size_t r = 0; r < o.repeat; ++r) {
    start = Clock::now();
    const KnnResult last = index.search(queries, o.k);
    times.push_back(ms_since(start));
    if (r + 1 == o.repeat) result.result_hash = hash_of(last);
    progress.update(r + 1);
  }
  progress.finish();
  std::sort(times.begin(), times.end());
  result.min_ms = times.front();
  result.median_ms = times.size() % 2 == 1
                         ? times[times.size() / 2]
                         : (times[times.size() / 2 - 1] + times[times.size() / 2]) / 2;
}

/// Uniform random values of a byte type (every level used: the integer screen's worst case for
/// ties is not the point here, its speed is), as the element type and as float queries.
template <class T>
std::vector<T> byte_data(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::uniform_int_distribution<int> level(std::numeric_limits<T>::min(),
                                           std::numeric_limits<T>::max());
  std::vector<T> out(count);
  for (T& v : out)
    v = static_cast<T>(level(engine));
  return out;
}

template <class T>
BenchResult run_bytes(const BenchOptions& o, Metric metric, ElementType type) {
  const std::vector<T> base = byte_data<T>(o.n * o.dim, o.seed);
  const std::vector<T> query_bytes = byte_data<T>(o.queries * o.dim, o.seed + 1);
  const std::vector<float> queries(query_bytes.begin(), query_bytes.end());
  BenchResult result;
  Context context;
  result.device = device_text(context);
  FlatIndex index(context, o.dim, metric, type);
  const auto start = Clock::now();
  index.add(std::span<const T>(base));
  result.add_ms = ms_since(start);
  time_searches(o, index, queries, result);
  return result;
}

BenchResult run(const BenchOptions& o, Metric metric) {
  if (o.type != "float32" && !o.devices.empty()) {
    throw UsageError("--type " + o.type + " takes no --devices (sharded indexes hold float32)");
  }
  if (o.type == "uint8") return run_bytes<std::uint8_t>(o, metric, ElementType::uint8);
  if (o.type == "int8") return run_bytes<std::int8_t>(o, metric, ElementType::int8);
  BenchResult result;
  if (o.devices.empty()) {
    const std::vector<float> base = normal_data(o.n, o.dim, o.seed);
    const std::vector<float> queries = normal_data(o.queries, o.dim, o.seed + 1);
    Context context;
    result.device = device_text(context);
    FlatIndex index(context, o.dim, metric, ElementType::float32,
                    o.half_copy ? HalfCopy::automatic : HalfCopy::never);
    const auto start = Clock::now();
    index.add(base);
    result.add_ms = ms_since(start);
    time_searches(o, index, queries, result);
    return result;
  }
  const std::vector<float> base = parallel_normal_data(o.n, o.dim, o.seed);
  const std::vector<float> queries = parallel_normal_data(o.queries, o.dim, o.seed + 1);
  ShardedIndex index(parse_devices(o.devices), o.dim, metric);
  result.device = device_text(index);
  const auto start = Clock::now();
  index.add(base);
  result.add_ms = ms_since(start);
  time_searches(o, index, queries, result);
  return result;
}

void print_report(const BenchOptions& o, Metric metric, const BenchResult& r) {
  const double seconds = r.median_ms / 1000.0;
  const double qps = static_cast<double>(o.queries) / seconds;
  const double tflops = 2.0 * static_cast<double>(o.queries) * static_cast<double>(o.n) *
                        static_cast<double>(o.dim) / seconds / 1e12;
  const double bytes = bytes_moved(o, metric);
  const double gbps = bytes / seconds / 1e9;
  if (o.json) {
    std::printf(
        "{\"device\": %s, \"n\": %zu, \"dim\": %zu, \"queries\": %zu, \"k\": %zu, "
        "\"metric\": %s, \"type\": \"%s\", \"repeat\": %zu, \"add_ms\": %.3f, \"first_search_ms\": "
        "%.3f, "
        "\"median_ms\": %.3f, \"min_ms\": %.3f, \"queries_per_second\": %.1f, "
        "\"tflops\": %.6g, \"bytes_moved\": %.0f, \"effective_gb_per_s\": %.6g, "
        "\"percent_of_bandwidth_floor\": null, \"result_hash\": \"%016llx\"}\n",
        json_string(r.device).c_str(), o.n, o.dim, o.queries, o.k,
        json_string(to_string(metric)).c_str(), o.type.c_str(), o.repeat, r.add_ms, r.first_ms,
        r.median_ms, r.min_ms, qps, tflops, bytes, gbps,
        static_cast<unsigned long long>(r.result_hash));
    return;
  }
  std::printf("device        %s\n", r.device.c_str());
  std::printf("shape         N = %zu, d = %zu, Q = %zu, k = %zu, metric %s, %s elements\n", o.n,
              o.dim, o.queries, o.k, std::string(to_string(metric)).c_str(), o.type.c_str());
  std::printf("add           %.1f ms\n", r.add_ms);
  std::printf("first search  %.1f ms (includes pipeline creation; not counted)\n", r.first_ms);
  std::printf("search        median %.3f ms, min %.3f ms over %zu runs\n", r.median_ms, r.min_ms,
              o.repeat);
  std::printf("throughput    %.1f queries/s, %.3g TFLOP/s (2*Q*N*d)\n", qps, tflops);
  std::printf(
      "memory        %.1f MB moved at least per search, %.3g GB/s effective "
      "(%% of the bandwidth floor: the device's peak bandwidth is unknown)\n",
      bytes / 1e6, gbps);
  std::printf("result hash   %016llx (FNV-1a of the last search's labels and distances)\n",
              static_cast<unsigned long long>(r.result_hash));
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  auto* command = app.add_subcommand(
      "bench",
      "Synthetic benchmark: FlatIndex over N standard-normal vectors, Q queries; prints ms, "
      "queries/s, TFLOP/s and effective memory bandwidth");
  command->add_option("--n", options->n, "Base vectors")
      ->check(whole_number_in(1, std::size_t{1} << 32))
      ->capture_default_str();
  command->add_option("--dim", options->dim, "Dimension")
      ->check(whole_number_in(1, FlatIndex::max_dim))
      ->capture_default_str();
  command->add_option("--queries", options->queries, "Queries per search")
      ->check(whole_number_in(1, std::size_t{1} << 24))
      ->capture_default_str();
  command->add_option("-k", options->k, "Neighbours per query")
      ->check(whole_number_in(1, max_k))
      ->capture_default_str();
  command->add_option("--metric", options->metric, metric_help)
      ->check(metric_validator())
      ->capture_default_str();
  command
      ->add_option("--type", options->type,
                   "Element type of the base: float32 (standard normal), or uint8 / int8 "
                   "(uniform over the type, queries of the same values)")
      ->check(CLI::IsMember({"float32", "uint8", "int8"}))
      ->capture_default_str();
  command->add_option("--repeat", options->repeat, "Timed searches (after one warm-up)")
      ->check(whole_number_in(1, std::size_t{100000}))
      ->capture_default_str();
  command->add_option("--seed", options->seed, "Random seed")->capture_default_str();
  command->add_option("--devices", options->devices,
                      "Search a ShardedIndex over these devices ('all' or indices, e.g. 0,1); its "
                      "data is generated on every core (other values than without --devices)");
  command->add_flag("!--no-half-copy", options->half_copy,
                    "No float16 copy of the base (FlatIndex's HalfCopy::never; without --devices)");
  command->add_flag("--json", options->json, "Print the report as JSON");
  command->add_flag("--quiet", options->quiet, "No progress bar");
  command->callback([options] {
    if (options->k > options->n) {
      throw UsageError("-k " + std::to_string(options->k) + " exceeds --n " +
                       std::to_string(options->n));
    }
    const Metric metric = parse_metric(options->metric);
    print_report(*options, metric, run(*options, metric));
  });
}

}  // namespace vecaccel::cli
