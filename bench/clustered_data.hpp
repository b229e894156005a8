#pragma once
// The benchmarks' clustered base data: 1024 centres plus bounded noise, from a counter hash of
// (seed, row, element). Any row range is generated independently of the others, so every core
// fills its own rows and the values do not depend on the thread count or the order: a file
// written in blocks holds exactly what bench_scale generates in memory.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <thread>
#include <type_traits>
#include <vector>

namespace vecaccel::bench {

/// splitmix64's finaliser: a counter-based generator (value i is mix(seed + i)).
inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// Rows of the clustered distribution `seed`: each row is a centre (its cluster from the row's
/// hash) plus bounded noise from the element's hash. Integer types are clamped to their range;
/// float32 centres lie in [-1, 1) and noise in [-0.25, 0.25).
template <class T>
class ClusteredData {
 public:
  static constexpr std::size_t clusters = 1024;

  ClusteredData(std::size_t dim, std::uint64_t seed)
      : dim_(dim), stream_(mix(seed) ^ 0x5851F42D4C957F2Dull), centres_(clusters * dim) {
    for (std::size_t i = 0; i < centres_.size(); ++i) {
      const double u = static_cast<double>(mix(seed * 0x100000001B3ull + i) >> 11) * 0x1p-53;
      if constexpr (std::is_same_v<T, float>) {
        centres_[i] = static_cast<float>(2.0 * u - 1.0);
      } else if constexpr (std::is_same_v<T, std::uint8_t>) {
        centres_[i] = static_cast<float>(32.0 + 192.0 * u);
      } else {
        centres_[i] = static_cast<float>(-96.0 + 192.0 * u);
      }
    }
  }

  /// Rows first, first + 1, ... into `out` (a whole number of rows).
  void fill(std::size_t first, std::span<T> out) const {
    for (std::size_t r = 0; r * dim_ < out.size(); ++r) {
      const std::uint64_t row_key = mix(stream_ + first + r);
      const float* centre = &centres_[(row_key % clusters) * dim_];
      T* row = &out[r * dim_];
      for (std::size_t j = 0; j < dim_; ++j)
        row[j] = element(centre[j], mix(row_key + j));
    }
  }

 private:
  static T element(float centre, std::uint64_t h) {
    if constexpr (std::is_same_v<T, float>) {
      return centre + static_cast<float>(static_cast<double>(h >> 40) * 0x1p-24 - 0.5) * 0.5f;
    } else {
      const float noisy = centre + static_cast<float>(static_cast<int>(h >> 58) - 32);
      constexpr float lo = std::is_same_v<T, std::uint8_t> ? 0.0f : -128.0f;
      constexpr float hi = std::is_same_v<T, std::uint8_t> ? 255.0f : 127.0f;
      return static_cast<T>(std::clamp(noisy, lo, hi));
    }
  }

  std::size_t dim_;
  std::uint64_t stream_;
  std::vector<float> centres_;
};

/// Calls body(first_row, row_count) for `rows` rows cut into one range per core, each on its
/// own thread.
template <class Body>
void for_each_row_range(std::size_t rows, Body body) {
  const std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::jthread> workers;
  for (std::size_t t = 0; t < threads; ++t) {
    const std::size_t first = rows * t / threads, last = rows * (t + 1) / threads;
    workers.emplace_back([&body, first, last] { body(first, last - first); });
  }
}

/// Rows [0, rows) of distribution `seed`, generated on every core.
template <class T>
std::vector<T> generate(std::size_t rows, std::size_t dim, std::uint64_t seed) {
  const ClusteredData<T> data(dim, seed);
  std::vector<T> out(rows * dim);
  for_each_row_range(rows, [&](std::size_t first, std::size_t count) {
    data.fill(first, std::span(out).subspan(first * dim, count * dim));
  });
  return out;
}

}  // namespace vecaccel::bench
