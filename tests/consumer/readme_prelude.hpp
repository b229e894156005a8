#pragma once
// What the README's C++ snippets leave to the reader, for scripts/check_install.sh: it builds
// each snippet (scripts/check_docs.py --snippets) against the installed package with this
// prelude first, and runs those tagged `run` in a directory where it wrote deep1b.fbin. The
// loaders give the shapes the first snippet states (n = 20,000 rows of 128, q = 100 queries,
// 96-dimensional Deep1B queries): a snippet that changes them fails its MatrixView check.

#include <vecaccel/vecaccel.hpp>

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

namespace readme {
/// Deterministic values in [-1, 1) (a snippet's run needs data, not any particular data).
inline std::vector<float> values(std::size_t count, std::uint32_t seed) {
  std::vector<float> out(count);
  std::uint32_t state = seed;
  for (float& v : out) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(state >> 8) / static_cast<float>(1u << 23) - 1.0f;
  }
  return out;
}
}  // namespace readme

inline std::vector<float> load_base() {
  return readme::values(20'000 * 128, 1);
}
inline std::vector<float> load_queries() {
  return readme::values(100 * 128, 2);
}
inline std::vector<std::uint8_t> load_bytes() {
  std::vector<std::uint8_t> bytes;
  for (const float v : readme::values(20'000 * 128, 3))
    bytes.push_back(static_cast<std::uint8_t>((v + 1.0f) * 127.0f));
  return bytes;
}
inline std::vector<float> load_deep_queries() {
  return readme::values(100 * 96, 4);
}
