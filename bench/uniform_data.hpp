#pragma once
// The benchmarks' uniform data: values in [-1, 1) from splitmix64, filled on every core (fast
// enough for gigabytes). The values depend on the seed and on the machine's core count.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

namespace vecaccel::bench {

inline std::vector<float> uniform_data(std::size_t count, std::uint64_t seed) {
  std::vector<float> out(count);
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::uint64_t s = seed * 0x9e3779b97f4a7c15ull + t;
      for (std::size_t i = t; i < count; i += threads) {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        out[i] = static_cast<float>(z >> 40) / static_cast<float>(1 << 23) - 1.0f;
      }
    });
  }
  for (auto& w : workers)
    w.join();
  return out;
}

}  // namespace vecaccel::bench
