// bench_flat_search: the C++ side of bench/python_search.py. Times FlatIndex::search in-process
// over the same .npy files the Python side searches, so the binding's overhead is the
// difference between the two figures (same library, same data, same call).
//
//   bench_flat_search BASE.npy QUERIES.npy K REPEATS [METRIC]
// Prints {"device": ..., "ms": [...], "cpu_ms": [...]}: wall and process CPU time of each search
// after one warm-up search. On lavapipe the device is this process's threads, so CPU time
// measures the work itself and varies less than wall time with other load on the machine.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <string>

#include "vecaccel/vecaccel.hpp"

int main(int argc, char** argv) try {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s BASE.npy QUERIES.npy K REPEATS [METRIC]\n", argv[0]);
    return 2;
  }
  const auto base = vecaccel::read_vectors(argv[1]);
  const auto queries = vecaccel::read_vectors(argv[2]);
  const std::size_t k = std::stoul(argv[3]);
  const int repeats = std::stoi(argv[4]);
  const vecaccel::Metric metric = vecaccel::parse_metric(argc > 5 ? argv[5] : "l2");

  vecaccel::Context context;
  vecaccel::FlatIndex index(context, base.dim, metric);
  index.add(base.values);
  index.search(queries.values, k);
  std::string wall = "[", cpu = "[";
  for (int r = 0; r < repeats; ++r) {
    const std::clock_t cpu_start = std::clock();
    const auto start = std::chrono::steady_clock::now();
    const vecaccel::KnnResult result = index.search(queries.values, k);
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    const double cpu_ms = 1e3 * static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    if (result.rows != queries.rows) return 1;
    wall += (r == 0 ? "" : ", ") + std::to_string(took.count());
    cpu += (r == 0 ? "" : ", ") + std::to_string(cpu_ms);
  }
  std::printf("{\"device\": \"%s\", \"ms\": %s], \"cpu_ms\": %s]}\n",
              context.device().info().name.c_str(), wall.c_str(), cpu.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_flat_search: %s\n", e.what());
  return 1;
}
