// bench_scale: the issue 11 benchmark — exact k-NN over bases of tens of GB, on one GPU and
// sharded over several, with add GB/s and the time per billion base vectors extrapolated.
//
//   bench_scale [--devices 0,1] [--queries 10000] [-k 100] [--repeat 1] CASE...
//     CASE is TYPE:ROWS:DIM with TYPE float32, uint8 or int8, e.g. uint8:100000000:128.
//
// For each case: generates the base and the queries on every core, then for one GPU (the
// first device listed) and for all the listed devices: ShardedIndex::add (GB/s) and the median
// of --repeat exact searches of all queries (seconds), and a hash of each result's labels and
// distance bits, which must all be equal (exit status 1 otherwise). A small index over the
// same devices is searched first, so the timed searches find their pipelines in the on-disk
// pipeline cache.
//
// Data: clustered_data.hpp's (1024 centres, noise around them), generated on every core.
// Output: one JSON object per case.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "clustered_data.hpp"
#include "vecaccel/vecaccel.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using vecaccel::ElementType;
using vecaccel::bench::generate;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// FNV-1a over labels and distance bits.
std::uint64_t hash_of(const vecaccel::KnnResult& result) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  const auto add = [&hash](std::span<const std::byte> bytes) {
    for (const std::byte b : bytes)
      hash = (hash ^ static_cast<std::uint64_t>(b)) * 0x100000001b3ull;
  };
  add(std::as_bytes(std::span(result.labels)));
  add(std::as_bytes(std::span(result.distances)));
  return hash;
}

struct Timing {
  double add_s = 0;
  double search_s = 0;  // the median of the searches
  std::vector<double> searches_s;
  std::uint64_t hash = 0;
};

/// Adds the base, then searches all queries `repeats` times; every search's result must hash
/// the same (exit status 1 otherwise, through `identical`).
template <class T>
Timing run(std::span<const std::uint32_t> devices, ElementType type, std::span<const T> base,
           std::size_t dim, std::span<const float> queries, std::size_t k, std::size_t repeats,
           bool& identical) {
  vecaccel::ShardedIndex index(devices, dim, vecaccel::Metric::l2, type);
  Timing timing;
  auto start = Clock::now();
  index.add(base);
  timing.add_s = seconds_since(start);
  for (std::size_t r = 0; r < repeats; ++r) {
    start = Clock::now();
    const vecaccel::KnnResult result =
        index.search(queries, k, {.timeout = std::chrono::nanoseconds::max()});
    timing.searches_s.push_back(seconds_since(start));
    const std::uint64_t hash = hash_of(result);
    if (r > 0 && hash != timing.hash) identical = false;
    timing.hash = hash;
  }
  std::vector<double> sorted = timing.searches_s;
  std::sort(sorted.begin(), sorted.end());
  timing.search_s = sorted[sorted.size() / 2];
  return timing;
}

std::string json_list(const std::vector<double>& values) {
  std::string out = "[";
  for (const double v : values) {
    if (out.size() > 1) out += ", ";
    out += std::to_string(v);
  }
  return out + "]";
}

struct Case {
  ElementType type;
  std::size_t rows;
  std::size_t dim;
};

template <class T>
bool bench_case(const Case& c, std::span<const std::uint32_t> devices, std::size_t nq,
                std::size_t k, std::size_t repeats) {
  bool identical = true;
  auto start = Clock::now();
  const std::vector<T> base = generate<T>(c.rows, c.dim, 1);
  const double generate_s = seconds_since(start);
  std::vector<float> queries;
  for (const T v : generate<T>(nq, c.dim, 2))
    queries.push_back(static_cast<float>(v));
  const std::span<const std::uint32_t> one = devices.first(1);
  {  // pipelines into the on-disk cache (saved as each device closes)
    const std::size_t rows = std::min<std::size_t>(c.rows, 200'000);
    (void)run<T>(one, c.type, std::span(base).first(rows * c.dim), c.dim, queries, k, 1, identical);
    if (devices.size() > 1) {
      (void)run<T>(devices, c.type, std::span(base).first(rows * c.dim), c.dim, queries, k, 1,
                   identical);
    }
  }
  const Timing single = run<T>(one, c.type, base, c.dim, queries, k, repeats, identical);
  const Timing sharded = devices.size() > 1
                             ? run<T>(devices, c.type, base, c.dim, queries, k, repeats, identical)
                             : single;
  identical &= single.hash == sharded.hash;
  const double gb = static_cast<double>(base.size() * sizeof(T)) / 1e9;
  const double per_billion = 1e9 / static_cast<double>(c.rows);
  std::string list;
  for (const std::uint32_t d : devices) {
    if (!list.empty()) list += ',';
    list += std::to_string(d);
  }
  std::printf(
      "{\"type\": \"%s\", \"rows\": %zu, \"dim\": %zu, \"base_gb\": %.2f, \"queries\": %zu, "
      "\"k\": %zu, \"generate_s\": %.2f, \"device\": \"%s\", \"devices\": \"%s\", "
      "\"one_add_s\": %.3f, \"one_add_gb_per_s\": %.2f, \"one_search_s\": %.3f, "
      "\"one_search_s_per_billion\": %.1f, \"all_add_s\": %.3f, \"all_add_gb_per_s\": %.2f, "
      "\"all_search_s\": %.3f, \"all_search_s_per_billion\": %.1f, \"speedup\": %.3f, "
      "\"one_searches_s\": %s, \"all_searches_s\": %s, \"one_hash\": \"%016llx\", "
      "\"all_hash\": \"%016llx\", \"identical\": %s}\n",
      std::string(vecaccel::to_string(c.type)).c_str(), c.rows, c.dim, gb, nq, k, generate_s,
      vecaccel::Device::enumerate().at(devices[0]).name.c_str(), list.c_str(), single.add_s,
      gb / single.add_s, single.search_s, single.search_s * per_billion, sharded.add_s,
      gb / sharded.add_s, sharded.search_s, sharded.search_s * per_billion,
      single.search_s / sharded.search_s, json_list(single.searches_s).c_str(),
      json_list(sharded.searches_s).c_str(), static_cast<unsigned long long>(single.hash),
      static_cast<unsigned long long>(sharded.hash), identical ? "true" : "false");
  std::fflush(stdout);
  return identical;
}

Case parse_case(const std::string& text) {
  const std::size_t a = text.find(':');
  const std::size_t b = text.find(':', a == std::string::npos ? a : a + 1);
  if (a == std::string::npos || b == std::string::npos) {
    throw std::invalid_argument("case '" + text + "': need TYPE:ROWS:DIM");
  }
  const std::string type = text.substr(0, a);
  const ElementType t = type == "float32" ? ElementType::float32
                        : type == "uint8" ? ElementType::uint8
                        : type == "int8"
                            ? ElementType::int8
                            : throw std::invalid_argument("case '" + text + "': unknown TYPE");
  return {t, std::stoul(text.substr(a + 1, b - a - 1)), std::stoul(text.substr(b + 1))};
}

std::vector<std::uint32_t> parse_devices(const std::string& text) {
  std::vector<std::uint32_t> out;
  for (std::size_t at = 0; at <= text.size();) {
    const std::size_t comma = std::min(text.find(',', at), text.size());
    out.push_back(static_cast<std::uint32_t>(std::stoul(text.substr(at, comma - at))));
    at = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::uint32_t> devices = {0, 1};
  std::size_t nq = 10'000, k = 100, repeats = 1;
  std::vector<Case> cases;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 < argc && arg == "--devices") {
      devices = parse_devices(argv[++i]);
    } else if (i + 1 < argc && arg == "--queries") {
      nq = std::stoul(argv[++i]);
    } else if (i + 1 < argc && arg == "--repeat") {
      repeats = std::max<std::size_t>(1, std::stoul(argv[++i]));
    } else if (i + 1 < argc && arg == "-k") {
      k = std::stoul(argv[++i]);
    } else {
      cases.push_back(parse_case(arg));
    }
  }
  if (cases.empty()) {
    std::fprintf(stderr,
                 "usage: %s [--devices 0,1] [--queries Q] [-k K] [--repeat R] TYPE:ROWS:DIM...\n",
                 argv[0]);
    return 2;
  }
  bool identical = true;
  for (const Case& c : cases) {
    switch (c.type) {
      case ElementType::float32:
        identical &= bench_case<float>(c, devices, nq, k, repeats);
        break;
      case ElementType::uint8:
        identical &= bench_case<std::uint8_t>(c, devices, nq, k, repeats);
        break;
      case ElementType::int8:
        identical &= bench_case<std::int8_t>(c, devices, nq, k, repeats);
        break;
    }
  }
  return identical ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_scale: %s\n", e.what());
  return 1;
}
