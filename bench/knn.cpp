// bench_knn: the PERFORMANCE.md kNN configurations, timed end to end (queries uploaded,
// results read back), checked against a float64 CPU reference on a sample of queries.
// Prints a table (ms, GPU ms, queries/s, TFLOP/s, the floor and how much of it we reach, and
// the first search of each shape: cold start, pipelines from the disk cache once it is warm; a
// clock probe after the timed searches: gpu_clock.hpp)
// and writes JSON with --json FILE.
//
//   bench_knn [--quick] [--json out.json] [--repeat R] [--bandwidth-gbs B] [--peak-tflops T]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gpu_clock.hpp"
#include "kernels.hpp"
#include "knn_engine.hpp"
#include "knn_plan.hpp"
#include "select_rows.hpp"
#include "uniform_data.hpp"
#include "vecaccel/vecaccel.hpp"

using namespace vecaccel;
using Clock = std::chrono::steady_clock;

namespace {

using vecaccel::bench::clock_probe_us;
using vecaccel::bench::default_warm_up_seconds;
using vecaccel::bench::uniform_data;
using vecaccel::bench::warm_up;

struct Config {
  std::size_t n, dim, queries, k;
  Metric metric;
};

/// Fraction of sampled queries whose result is exact: the float64 brute force's ids in its
/// order (ties by label).
double check_sample(const KnnResult& r, const std::vector<float>& queries,
                    const std::vector<float>& base, const Config& c, std::size_t samples) {
  std::vector<std::thread> workers;
  std::vector<int> ok(samples, 0);
  const double sign = smaller_is_better(c.metric) ? 1.0 : -1.0;
  for (std::size_t s = 0; s < samples; ++s) {
    workers.emplace_back([&, s] {
      const std::size_t q = s * (c.queries / samples);
      std::vector<std::pair<double, std::int64_t>> d(c.n);
      for (std::size_t b = 0; b < c.n; ++b) {
        double dot = 0, qq = 0, xx = 0, l2 = 0, l1 = 0, linf = 0;
        for (std::size_t j = 0; j < c.dim; ++j) {
          const double x = queries[q * c.dim + j], y = base[b * c.dim + j];
          dot += x * y, qq += x * x, xx += y * y, l2 += (x - y) * (x - y);
          l1 += std::abs(x - y), linf = std::max(linf, std::abs(x - y));
        }
        const double v = c.metric == Metric::l2              ? l2
                         : c.metric == Metric::l1            ? l1
                         : c.metric == Metric::linf          ? linf
                         : c.metric == Metric::inner_product ? dot
                         : qq > 0 && xx > 0                  ? dot / (std::sqrt(qq) * std::sqrt(xx))
                                                             : 0.0;
        d[b] = {sign * v, static_cast<std::int64_t>(b)};
      }
      std::partial_sort(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(c.k), d.end());
      bool all = true;
      for (std::size_t i = 0; i < c.k; ++i)
        all = all && r.labels[q * c.k + i] == d[i].second;
      ok[s] = all ? 1 : 0;
    });
  }
  for (auto& w : workers)
    w.join();
  std::size_t good = 0;
  for (int v : ok)
    good += v;
  return static_cast<double>(good) / static_cast<double>(samples);
}

/// A gzip-decompressed IDX image file (magic 0x803, count, rows, cols, then uint8 pixels) as
/// float rows.
std::vector<float> read_idx_images(const std::string& path, std::size_t& rows, std::size_t& dim) {
  std::ifstream in(path, std::ios::binary);
  unsigned char header[16];
  if (!in.read(reinterpret_cast<char*>(header), 16) || header[2] != 8 || header[3] != 3) {
    std::fprintf(stderr, "bench_knn: %s is not an IDX image file\n", path.c_str());
    std::exit(2);
  }
  const auto be = [&](int at) {
    return std::size_t{header[at]} << 24 | std::size_t{header[at + 1]} << 16 |
           std::size_t{header[at + 2]} << 8 | header[at + 3];
  };
  rows = be(4);
  dim = be(8) * be(12);
  std::vector<unsigned char> pixels(rows * dim);
  in.read(reinterpret_cast<char*>(pixels.data()), static_cast<std::streamsize>(pixels.size()));
  return {pixels.begin(), pixels.end()};
}

/// --phases: the screen's kernels one at a time over one distance tile (a batch of up to 1,000
/// queries against up to 262,144 base rows of the first chunk), GPU time of each, median of 3:
/// which of products, selection and the fused kernel a search's time goes to.
void print_phases(Context& context, const detail::KnnEngine& engine,
                  const std::vector<detail::BaseChunk>& chunks, const std::vector<float>& queries,
                  const Config& c) {
  using namespace vecaccel::detail;
  Device device = context.device();
  const auto& caps = device.capabilities();
  const auto qb = static_cast<std::uint32_t>(std::min<std::size_t>(c.queries, 1000));
  const auto cols = static_cast<std::uint32_t>(std::min<std::size_t>(chunks[0].rows, 262144));
  const auto dim = static_cast<std::uint32_t>(c.dim);
  const auto make = [&](std::uint64_t bytes) {
    Buffer b = context.buffer_factory().make_buffer(
        {.size = std::max<std::uint64_t>(bytes, 4), .storage = StorageMode::private_});
    context.residency_manager().register_buffer(b, ResidencyMode::persistent);
    return b;
  };
  Buffer q = make(std::uint64_t{qb} * dim * 4), qn = make(qb * 4ull),
         tile = make(std::uint64_t{qb} * cols * 4), cv = make(std::uint64_t{qb} * cols * 4),
         cl = make(std::uint64_t{qb} * cols * 4);
  context.residency_manager().commit();
  BufferToken up = context.get_buffer(std::uint64_t{qb} * dim * 4);
  std::memcpy(up.buffer().mapped().data(), queries.data(), std::uint64_t{qb} * dim * 4);
  context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
    e.copy_buffer(up.buffer(), 0, q, 0, std::uint64_t{qb} * dim * 4);
    e.barrier({q}, Stage::blit, Stage::dispatch);
    encode_row_norms(device, e, q, 0, qb, dim, qn, 0);
  });
  const DistanceArgs d{.queries = q,
                       .base = chunks[0].vectors,
                       .query_norms = qn,
                       .base_norms = chunks[0].norms,
                       .out = tile,
                       .num_queries = qb,
                       .num_base = cols,
                       .dim = dim,
                       .out_stride = cols,
                       .metric = c.metric};
  const bool largest = !smaller_is_better(c.metric);
  const auto time = [&](const char* what, auto&& encode) {
    std::vector<double> ms;
    for (int r = 0; r < 4; ++r) {
      context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) { encode(e); });
      ms.push_back(static_cast<double>(context.performance_stats().last_gpu_time.count()) / 1e6);
    }
    std::sort(ms.begin() + 1, ms.end());
    std::printf("  %-40s %9.3f ms (%.2f ns per query x row)\n", what, ms[2],
                ms[2] * 1e6 / (double(qb) * cols));
  };
  std::printf("phases of N=%zu d=%zu k=%zu %s, one tile: %u queries x %u rows\n", c.n, c.dim, c.k,
              std::string(to_string(c.metric)).c_str(), qb, cols);
  time("float32 distances", [&](ComputeEncoder& e) { encode_distances(device, e, d); });
  if (coop_distances_supported(caps, dim)) {
    time("float16 tensor distances",
         [&](ComputeEncoder& e) { encode_distances_coop(device, e, d, CoopTerms::one); });
    time("float16x3 tensor distances",
         [&](ComputeEncoder& e) { encode_distances_coop(device, e, d, CoopTerms::three); });
  }
  for (const std::uint32_t kk : {16u, 32u, 160u, 1504u}) {
    for (const std::uint32_t segment :
         {default_segment_length(kk), 4 * default_segment_length(kk)}) {
      char name[64];
      std::snprintf(name, sizeof name, "select k'=%u, %u-column segments", kk, segment);
      time(name, [&](ComputeEncoder& e) {
        encode_select(device, e,
                      {.values = tile,
                       .rows = qb,
                       .cols = cols,
                       .in_stride = cols,
                       .segment_length = segment,
                       .k = kk,
                       .largest = largest,
                       .out_values = cv,
                       .out_labels = cl,
                       .out_stride = cols});
      });
    }
  }
  // The many-workgroup radix selection (the screen's, from k' = 256 on) over the whole tile
  // rows, at the search's own k' and those of the targets (k = 1000, 2048); then the
  // global-memory sort of k' float64 values where k' is beyond shared memory.
  const std::uint32_t own = screen_candidates(c.k, c.n, c.dim, ScreenPrecision::float32);
  std::vector<std::uint32_t> wide = {own};
  for (const std::uint32_t kk : {1136u, 2304u})
    if (kk != own) wide.push_back(kk);
  Buffer state = make(row_select_state_bytes(caps, qb, cols, std::ranges::max(wide)));
  context.residency_manager().commit();
  for (const std::uint32_t kk : wide) {
    if (kk < row_select_min_candidates || 2ull * kk > cols) continue;
    char name[64];
    std::snprintf(name, sizeof name, "row select k'=%u", kk);
    time(name, [&](ComputeEncoder& e) {
      encode_row_select(device, e,
                        {.b_values = tile,
                         .b_cols = cols,
                         .b_stride = cols,
                         .rows = qb,
                         .k = kk,
                         .largest = largest,
                         .out_values = cv,
                         .out_labels = cl,
                         .out_stride = kk,
                         .state = state});
    });
    if (kk <= max_screen_candidates(caps)) continue;
    const std::uint64_t sorted = std::uint64_t{qb} * sorted_width(kk);
    const auto k = std::min<std::uint32_t>(static_cast<std::uint32_t>(c.k), kk);
    Buffer sort_keys = make(sorted * 8), sort_labels = make(sorted * 4),
           out_values = make(std::uint64_t{qb} * k * 4),
           out_labels = make(std::uint64_t{qb} * k * 4);
    context.residency_manager().commit();
    std::snprintf(name, sizeof name, "global sort of k'=%u float64", kk);
    time(name, [&](ComputeEncoder& e) {
      encode_sort_pairs(device, e,
                        {.keys = tile,
                         .labels = cl,
                         .rows = qb,
                         .count = kk,
                         .stride = kk,
                         .k = k,
                         .largest = largest,
                         .sort_keys = sort_keys,
                         .sort_labels = sort_labels,
                         .out_values = out_values,
                         .out_labels = out_labels});
    });
  }
  if (fused_knn_supported(caps, 16, dim)) {
    time("fused float32 k'=16", [&](ComputeEncoder& e) {
      encode_knn_fused(device, e,
                       {.distances = d,
                        .split_length = 8192,
                        .k = 16,
                        .largest = largest,
                        .out_values = cv,
                        .out_labels = cl,
                        .out_stride = cols});
    });
  }
  // Re-ranking and the exact selection of k' candidates per query, labels spread over the tile.
  for (const std::uint32_t kk : {16u, 160u, 1504u}) {
    BufferToken labels = context.get_buffer(std::uint64_t{qb} * kk * 4);
    auto* l = reinterpret_cast<std::int32_t*>(labels.buffer().mapped().data());
    for (std::uint64_t i = 0; i < std::uint64_t{qb} * kk; ++i)
      l[i] = static_cast<std::int32_t>((i * 2654435761ull) % cols);
    context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
      e.copy_buffer(labels.buffer(), 0, cl, 0, std::uint64_t{qb} * kk * 4);
    });
    const RerankArgs rerank{.queries = q,
                            .base = chunks[0].vectors,
                            .labels = cl,
                            .exact = tile,
                            .num_queries = qb,
                            .slots = kk,
                            .dim = dim,
                            .label_begin = 0,
                            .chunk_rows = cols,
                            .stride = kk,
                            .metric = c.metric};
    Buffer out_labels = make(std::uint64_t{qb} * kk * 4), certificate = make(qb * 16ull);
    context.residency_manager().commit();
    char name[64];
    std::snprintf(name, sizeof name, "float64 re-rank of k'=%u", kk);
    time(name, [&](ComputeEncoder& e) { encode_rerank(device, e, rerank); });
    std::snprintf(name, sizeof name, "exact selection of k=%u of k'=%u",
                  std::min<std::uint32_t>(static_cast<std::uint32_t>(c.k), kk), kk);
    time(name, [&](ComputeEncoder& e) {
      encode_exact_select(device, e,
                          {.exact = tile,
                           .labels = cl,
                           .screen = cv,
                           .out_values = cv,
                           .out_labels = out_labels,
                           .certificate = certificate,
                           .num_queries = qb,
                           .candidates = kk,
                           .k = std::min<std::uint32_t>(static_cast<std::uint32_t>(c.k), kk),
                           .stride = kk,
                           .largest = largest});
    });
  }
  (void)engine;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string json_path;
  std::string points_path;
  std::string fmnist_dir;
  int repeat = 5;
  double warm_up_seconds = default_warm_up_seconds;  // gpu_clock.hpp says why
  bool phases = false;
  bool half_copy = true;        // as FlatIndex's HalfCopy::automatic where memory allows
  double bandwidth_gbs = 3350;  // H100 SXM HBM3 datasheet; pass the measured copy rate
  double peak_tflops = 67;      // FP32 non-tensor
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick")
      quick = true;
    else if (a == "--json" && i + 1 < argc)
      json_path = argv[++i];
    else if (a == "--points" && i + 1 < argc)
      points_path = argv[++i];
    else if (a == "--sweep")
      points_path = "bench/sweep_points.txt";  // from the repository root
    else if (a == "--fmnist" && i + 1 < argc)
      fmnist_dir = argv[++i];
    else if (a == "--phases")
      phases = true;
    else if (a == "--no-half-copy")
      half_copy = false;
    else if (a == "--repeat" && i + 1 < argc)
      repeat = std::atoi(argv[++i]);
    else if (a == "--warm-up" && i + 1 < argc)
      warm_up_seconds = std::atof(argv[++i]);
    else if (a == "--bandwidth-gbs" && i + 1 < argc)
      bandwidth_gbs = std::atof(argv[++i]);
    else if (a == "--peak-tflops" && i + 1 < argc)
      peak_tflops = std::atof(argv[++i]);
    else {
      std::fprintf(
          stderr,
          "usage: bench_knn [--quick] [--sweep | --points FILE] [--fmnist DIR] [--json FILE] "
          "[--repeat R] [--warm-up S] [--bandwidth-gbs B] [--peak-tflops T] [--phases] "
          "[--no-half-copy]\n"
          "  --points: lines of 'n dim queries k metric' (bench/sweep_points.py)\n"
          "  --sweep: the issue's sweep, bench/sweep_points.txt (run from the "
          "repository root)\n"
          "  --fmnist: a directory with the decompressed Fashion-MNIST IDX files\n"
          "  --warm-up: seconds of untimed searches of each point before its timed ones "
          "(default 1: the GPU's clock rises only under sustained load)\n"
          "  --phases: GPU time of each screen kernel over one tile instead of searches\n"
          "  --no-half-copy: no float16 copy of the base (FlatIndex's HalfCopy::never)\n");
      return 2;
    }
  }
  std::vector<Config> configs;
  if (!points_path.empty()) {
    std::ifstream in(points_path);
    if (!in) {
      std::fprintf(stderr, "bench_knn: cannot read %s\n", points_path.c_str());
      return 2;
    }
    std::size_t n = 0, dim = 0, q = 0, k = 0;
    std::string metric;
    while (in >> n >> dim >> q >> k >> metric)
      configs.push_back({n, dim, q, k, parse_metric(metric)});
  } else if (!fmnist_dir.empty()) {
    configs = {{60000, 784, 10000, 100, Metric::l2}};
  } else if (quick) {
    configs = {{20000, 128, 1, 10, Metric::l2},
               {20000, 128, 256, 10, Metric::l2},
               {20000, 128, 64, 100, Metric::inner_product}};
  } else {
    configs = {{1000000, 128, 1, 10, Metric::l2},
               {1000000, 128, 1024, 10, Metric::l2},
               {1000000, 128, 10000, 10, Metric::l2},
               {1000000, 768, 1024, 100, Metric::l2}};
  }
  // Profiling on: the GPU time of the last search's command buffer is printed beside the wall time.
  Context context({.enable_profiling = true});
  const auto& info = context.device().info();
  std::printf("device: %s (%s %s)\n", info.name.c_str(), info.driver_name.c_str(),
              info.driver_info.c_str());
  std::printf("%-34s %10s %10s %12s %9s %10s %8s %6s %11s %9s %9s\n", "config", "ms", "gpu ms",
              "queries/s", "TFLOP/s", "floor ms", "% floor", "exact", "2nd/direct", "first ms",
              "probe us");
  std::string json = "[";
  std::vector<float> base;
  std::size_t base_n = 0, base_dim = 0;
  detail::KnnEngine* engine_ptr = nullptr;
  std::unique_ptr<detail::KnnEngine> engine;
  std::vector<detail::BaseChunk> chunks;
  Metric base_metric = Metric::l2;
  for (const Config& c : configs) {
    if (c.n != base_n || c.dim != base_dim || c.metric != base_metric) {
      chunks.clear();
      std::size_t rows = 0, dim = 0;
      base = fmnist_dir.empty()
                 ? uniform_data(c.n * c.dim, c.dim)
                 : read_idx_images(fmnist_dir + "/train-images-idx3-ubyte", rows, dim);
      engine = std::make_unique<detail::KnnEngine>(context, c.dim, c.metric);
      const bool copy = half_copy && detail::half_copy_supported(context.device().capabilities(),
                                                                 static_cast<std::uint32_t>(c.dim));
      // As FlatIndex makes them: l2 copies about the rows' mean.
      const auto centre = copy && c.metric == Metric::l2
                              ? detail::make_row_centre(
                                    context, c.dim, c.n,
                                    [&](std::size_t r) {
                                      const auto row = std::span(base).subspan(r * c.dim, c.dim);
                                      return std::vector<float>(row.begin(), row.end());
                                    })
                              : nullptr;
      for (std::size_t r0 = 0; r0 < c.n; r0 += engine->chunk_rows()) {
        const std::size_t rows = std::min(engine->chunk_rows(), c.n - r0);
        chunks.push_back(engine->make_chunk(rows, copy, centre));
        engine->append(chunks.back(),
                       std::span<const float>(base).subspan(r0 * c.dim, rows * c.dim));
      }
      base_n = c.n, base_dim = c.dim, base_metric = c.metric;
      engine_ptr = engine.get();
    }
    std::size_t query_rows = 0, query_dim = 0;
    const auto queries =
        fmnist_dir.empty()
            ? uniform_data(c.queries * c.dim, 1000 + c.queries)
            : read_idx_images(fmnist_dir + "/t10k-images-idx3-ubyte", query_rows, query_dim);
    if (phases) {
      print_phases(context, *engine_ptr, chunks, queries, c);
      continue;
    }
    // The first search of a shape: its pipelines (from the disk cache once warm), scratch and
    // pool buffers (issue 21's cold start); the timed ones follow.
    const auto first_start = Clock::now();
    KnnResult result = engine_ptr->search(queries, chunks, c.k);
    const double first_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - first_start).count();
    warm_up([&] { result = engine_ptr->search(queries, chunks, c.k); }, warm_up_seconds);
    std::vector<double> times;
    for (int r = 0; r < repeat; ++r) {
      const auto start = Clock::now();
      result = engine_ptr->search(queries, chunks, c.k);
      times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    }
    const double gpu_ms =
        static_cast<double>(context.performance_stats().last_gpu_time.count()) / 1e6;
    // Right after the timed searches: the clock they ran at (gpu_clock.hpp).
    const double probe_us = clock_probe_us(context);
    std::sort(times.begin(), times.end());
    const double ms = times[times.size() / 2];
    const double flops = 2.0 * static_cast<double>(c.queries) * static_cast<double>(c.n) *
                         static_cast<double>(c.dim);
    const double bytes = static_cast<double>(c.n) * static_cast<double>(c.dim) * 4;
    const double floor_ms =
        std::max(bytes / (bandwidth_gbs * 1e9), flops / (peak_tflops * 1e12)) * 1e3;
    const double exact =
        check_sample(result, queries, base, c, std::min<std::size_t>(8, c.queries));
    char name[64];
    std::snprintf(name, sizeof name, "N=%zu d=%zu Q=%zu k=%zu %s", c.n, c.dim, c.queries, c.k,
                  std::string(to_string(c.metric)).c_str());
    // "% floor": the floor as a share of our time (100% = at the hardware limit).
    std::printf("%-34s %10.3f %10.3f %12.0f %9.2f %10.3f %7.1f%% %6.2f %6zu/%-4zu %9.1f %9.1f\n",
                name, ms, gpu_ms, static_cast<double>(c.queries) / (ms / 1e3),
                flops / (ms / 1e3) / 1e12, floor_ms, 100 * floor_ms / ms, exact,
                result.second_pass_queries, result.direct_pass_queries, first_ms, probe_us);
    char entry[512];
    std::snprintf(
        entry, sizeof entry,
        "%s\n {\"n\": %zu, \"dim\": %zu, \"queries\": %zu, \"k\": %zu, \"metric\": \"%s\", "
        "\"median_ms\": %.4f, \"min_ms\": %.4f, \"gpu_ms\": %.4f, \"tflops\": %.3f, "
        "\"floor_ms\": %.4f, \"percent_of_floor\": %.1f, \"sample_exact\": %.3f, "
        "\"second_pass_queries\": %zu, \"direct_pass_queries\": %zu, \"first_ms\": %.4f, "
        "\"clock_probe_us\": %.1f}",
        json.size() > 1 ? "," : "", c.n, c.dim, c.queries, c.k,
        std::string(to_string(c.metric)).c_str(), ms, times.front(), gpu_ms,
        flops / (ms / 1e3) / 1e12, floor_ms, 100 * floor_ms / ms, exact, result.second_pass_queries,
        result.direct_pass_queries, first_ms, probe_us);
    json += entry;
    // Rewritten after every point: a run cut short by a time limit keeps what it measured.
    if (!json_path.empty()) std::ofstream(json_path) << json << "\n]\n";
    std::fflush(stdout);
  }
  return 0;
}
