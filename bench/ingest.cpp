// bench_ingest: ingestion and streaming at scale (issue 11).
//
//   bench_ingest add N DIM REPEATS [float32|uint8]
//     FlatIndex::add of an N x DIM base already in host memory; prints add GB/s per repeat
//     (a fresh index each time: allocation, checks, staging and upload all count).
//   bench_ingest phases N DIM [float32|uint8] [device|host]
//     Where the time of one chunk's upload goes: the chunk's allocation, staging allocation,
//     host staging (checks and copy), submissions and waits for the GPU; twice through one
//     uploader (the second reuses its staging buffers); staging in device-local memory the host
//     maps (resizable BAR, the default where present) or in host memory.
//   bench_ingest stream N DIM QUERIES K BUDGET [float32|uint8] [FILE]
//     Writes an N x DIM base file (FILE, default /tmp/bench_ingest_base.fbin or .u8bin), then
//     searches it mapped and streamed with BUDGET device bytes (<bytes>[K|M|G]) and held whole
//     in a FlatIndex, and checks that both give the same bits. Prints both times and the passes.
//
// Data: uniform values from a per-thread xorshift (generating gigabytes with <random> would
// take longer than what is measured). Output: one JSON object per line.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "core/access.hpp"
#include "core/device_impl.hpp"
#include "ops/base_upload.hpp"
#include "ops/knn_engine.hpp"
#include "vecaccel/vecaccel.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Fills values on every core: uniform in [-1, 1) (float) or 0..255 (bytes).
template <class T>
void fill(std::vector<T>& values, std::uint64_t seed) {
  const std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::jthread> workers;
  for (std::size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + t + 1;
      const std::size_t end = values.size() * (t + 1) / threads;
      for (std::size_t i = values.size() * t / threads; i < end; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if constexpr (std::is_same_v<T, float>) {
          values[i] = static_cast<float>(static_cast<double>(x >> 11) * 0x1p-52 - 1.0);
        } else {
          values[i] = static_cast<T>(x >> 56);
        }
      }
    });
  }
}

template <class T>
int bench_add(std::size_t n, std::size_t dim, int repeats, vecaccel::ElementType type) {
  std::vector<T> base(n * dim);
  fill(base, 1);
  vecaccel::Context context;
  const double gb = static_cast<double>(base.size() * sizeof(T)) / 1e9;
  for (int r = 0; r < repeats; ++r) {
    vecaccel::FlatIndex index(context, dim, vecaccel::Metric::l2, type);
    const auto start = Clock::now();
    index.add(std::span<const T>(base));
    const double s = seconds_since(start);
    std::printf(
        "{\"case\": \"add\", \"device\": \"%s\", \"type\": \"%s\", \"n\": %zu, \"dim\": %zu, "
        "\"gb\": %.3f, \"seconds\": %.4f, \"gb_per_s\": %.2f, \"threads\": %u}\n",
        context.device().info().name.c_str(), std::string(vecaccel::to_string(type)).c_str(), n,
        dim, gb, s, gb / s, std::thread::hardware_concurrency());
    std::fflush(stdout);
  }
  return 0;
}

/// The parts of an add: the chunk's allocation, then the uploader's own breakdown, for a first
/// upload (staging allocated) and a second one through the same uploader (staging reused).
template <class T>
int bench_phases(std::size_t n, std::size_t dim, vecaccel::ElementType type,
                 vecaccel::detail::BaseUploader::Staging staging) {
  using namespace vecaccel;
  std::vector<T> base(n * dim);
  fill(base, 1);
  Context context;
  detail::KnnEngine engine(context, dim, Metric::l2);
  detail::BaseUploader uploader(context, dim, Metric::l2, engine.chunk_rows(),
                                detail::BaseUploader::default_slice_bytes, staging);
  const detail::RowSource source{
      .type = type, .dim = dim, .bytes = std::as_bytes(std::span<const T>(base))};
  const std::size_t rows = std::min(n, engine.chunk_rows());
  const double gb = static_cast<double>(rows * dim * sizeof(T)) / 1e9;
  for (int pass = 0; pass < 2; ++pass) {
    const detail::UploadTimes before = uploader.times();
    auto start = Clock::now();
    double chunk_s = 0;
    if (type == ElementType::float32) {
      detail::BaseChunk chunk = engine.make_chunk(rows);
      chunk_s = seconds_since(start);
      uploader.append(chunk, source, 0, rows, 0);
    } else {
      detail::CompactChunk chunk = uploader.make_compact_chunk(rows);
      chunk_s = seconds_since(start);
      uploader.append(chunk, source, 0, rows);
    }
    const double total_s = seconds_since(start);
    const detail::UploadTimes t = uploader.times();
    std::printf(
        "{\"case\": \"phases\", \"device\": \"%s\", \"type\": \"%s\", \"staging\": \"%s\", "
        "\"bar_heap\": %s, \"pass\": %d, "
        "\"rows\": %zu, \"dim\": %zu, \"gb\": %.3f, \"total_s\": %.4f, \"gb_per_s\": %.2f, "
        "\"chunk_alloc_s\": %.4f, \"staging_alloc_s\": %.4f, \"stage_s\": %.4f, "
        "\"stage_gb_per_s\": %.2f, \"submit_s\": %.4f, \"gpu_wait_s\": %.4f}\n",
        context.device().info().name.c_str(), std::string(to_string(type)).c_str(),
        staging == detail::BaseUploader::Staging::host ? "host" : "device",
        vecaccel::detail::Access::impl(context.device())->write_only_device_memory_type() ? "true"
                                                                                          : "false",
        pass, rows, dim, gb, total_s, gb / total_s, chunk_s, t.allocate - before.allocate,
        t.stage - before.stage, gb / (t.stage - before.stage), t.submit - before.submit,
        t.wait - before.wait);
    std::fflush(stdout);
  }
  return 0;
}

template <class T>
int bench_stream(std::size_t n, std::size_t dim, std::size_t nq, std::size_t k,
                 std::uint64_t budget, vecaccel::ElementType type, std::string file) {
  using namespace vecaccel;
  const bool bytes = type != ElementType::float32;
  if (file.empty()) file = bytes ? "/tmp/bench_ingest_base.u8bin" : "/tmp/bench_ingest_base.fbin";
  {
    Matrix<T> base{n, dim, std::vector<T>(n * dim)};
    fill(base.values, 2);
    write_vectors(file, base);
  }
  std::vector<float> queries(nq * dim);
  fill(queries, 3);
  if (bytes) {
    for (float& q : queries)
      q = static_cast<float>(static_cast<int>((q + 1.0f) * 127.5f));
  }
  Context context;
  const MappedVectors mapped(file);
  std::size_t passes = 0;
  auto start = Clock::now();
  const KnnResult streamed = ops::knn(context, queries, mapped, k, Metric::l2,
                                      {.timeout = std::chrono::nanoseconds::max(),
                                       .progress = [&](std::size_t, std::size_t) { ++passes; },
                                       .memory_budget = budget});
  const double stream_s = seconds_since(start);
  start = Clock::now();
  FlatIndex index(context, dim, Metric::l2, type);
  index.add(mapped);
  const double add_s = seconds_since(start);
  start = Clock::now();
  const KnnResult whole = index.search(queries, k, {.timeout = std::chrono::nanoseconds::max()});
  const double search_s = seconds_since(start);
  const bool same = streamed.labels == whole.labels &&
                    std::memcmp(streamed.distances.data(), whole.distances.data(),
                                whole.distances.size() * sizeof(float)) == 0;
  const double base_gb = static_cast<double>(n * dim * sizeof(T)) / 1e9;
  std::printf(
      "{\"case\": \"stream\", \"device\": \"%s\", \"type\": \"%s\", \"n\": %zu, \"dim\": %zu, "
      "\"queries\": %zu, \"k\": %zu, \"budget\": %llu, \"base_gb\": %.3f, \"passes\": %zu, "
      "\"streamed_s\": %.3f, \"whole_add_s\": %.3f, \"whole_search_s\": %.3f, "
      "\"same_bits\": %s, \"streamed_s_per_billion_rows\": %.1f}\n",
      context.device().info().name.c_str(), std::string(to_string(type)).c_str(), n, dim, nq, k,
      static_cast<unsigned long long>(budget), base_gb, passes, stream_s, add_s, search_s,
      same ? "true" : "false", stream_s * 1e9 / static_cast<double>(n));
  return same ? 0 : 1;
}

vecaccel::ElementType type_of(int argc, char** argv, int at) {
  return argc > at && std::string(argv[at]) == "uint8" ? vecaccel::ElementType::uint8
                                                       : vecaccel::ElementType::float32;
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "add" && argc >= 5) {
    const std::size_t n = std::stoul(argv[2]), dim = std::stoul(argv[3]);
    const int repeats = std::stoi(argv[4]);
    return type_of(argc, argv, 5) == vecaccel::ElementType::uint8
               ? bench_add<std::uint8_t>(n, dim, repeats, vecaccel::ElementType::uint8)
               : bench_add<float>(n, dim, repeats, vecaccel::ElementType::float32);
  }
  if (mode == "phases" && argc >= 4) {
    const std::size_t n = std::stoul(argv[2]), dim = std::stoul(argv[3]);
    using Staging = vecaccel::detail::BaseUploader::Staging;
    const Staging staging =
        argc > 5 && std::string(argv[5]) == "host" ? Staging::host : Staging::device;
    return type_of(argc, argv, 4) == vecaccel::ElementType::uint8
               ? bench_phases<std::uint8_t>(n, dim, vecaccel::ElementType::uint8, staging)
               : bench_phases<float>(n, dim, vecaccel::ElementType::float32, staging);
  }
  if (mode == "stream" && argc >= 7) {
    const std::size_t n = std::stoul(argv[2]), dim = std::stoul(argv[3]);
    const std::size_t nq = std::stoul(argv[4]), k = std::stoul(argv[5]);
    const std::uint64_t budget = vecaccel::parse_byte_size(argv[6], "BUDGET");
    const auto type = type_of(argc, argv, 7);
    const std::string file = argc > 8 ? argv[8] : "";
    return type == vecaccel::ElementType::uint8
               ? bench_stream<std::uint8_t>(n, dim, nq, k, budget, type, file)
               : bench_stream<float>(n, dim, nq, k, budget, type, file);
  }
  std::fprintf(stderr,
               "usage: %s add N DIM REPEATS [float32|uint8]\n"
               "       %s phases N DIM [float32|uint8] [device|host]\n"
               "       %s stream N DIM QUERIES K BUDGET [float32|uint8] [FILE]\n",
               argv[0], argv[0], argv[0]);
  return 2;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_ingest: %s\n", e.what());
  return 1;
}
