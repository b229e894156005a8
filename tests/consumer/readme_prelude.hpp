#pragma once
// What the README's C++ snippets leave to the reader, for scripts/check_install.sh: it builds
// each snippet (scripts/check_docs.py --snippets) against the installed package with this
// prelude first. The loaders return empty rows: the `compile` snippets are built, not run.

#include <vecaccel/vecaccel.hpp>

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

inline std::vector<float> load_base() {
  return {};
}
inline std::vector<float> load_queries() {
  return {};
}
inline std::vector<std::uint8_t> load_bytes() {
  return {};
}
inline std::vector<float> load_deep_queries() {
  return {};
}
