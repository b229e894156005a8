#include "prefault.hpp"

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace vecaccel::detail {

void prefault_for_writing([[maybe_unused]] void* data,
                          [[maybe_unused]] std::size_t bytes) noexcept {
#if defined(__linux__)
  constexpr std::size_t min_bytes = std::size_t{8} << 20;     // below: faulting as written is fine
  constexpr std::size_t share_bytes = std::size_t{16} << 20;  // a thread's share at least
  constexpr int populate_write = 23;  // MADV_POPULATE_WRITE; older headers lack the name
  constexpr std::uintptr_t page = 4096;
  if (bytes < min_bytes) return;
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t first = (begin + page - 1) & ~(page - 1);
  const std::uintptr_t last = (begin + bytes) & ~(page - 1);
  if (last <= first) return;
  const std::size_t span = last - first;
  const std::size_t threads = std::clamp<std::size_t>(
      span / share_bytes, 1,
      std::min<std::size_t>(8, std::max(1u, std::thread::hardware_concurrency())));
  const std::size_t share = (span / threads + page - 1) & ~(page - 1);
  const auto populate = [](std::uintptr_t from, std::uintptr_t to) {
    // A kernel without the call answers EINVAL: the pages then fault in as they are written.
    (void)madvise(reinterpret_cast<void*>(from), to - from, populate_write);
  };
  try {
    std::vector<std::jthread> helpers;
    for (std::size_t t = 1; t < threads; ++t) {
      const std::uintptr_t from = first + t * share;
      if (from < last) helpers.emplace_back(populate, from, std::min(last, from + share));
    }
    populate(first, std::min(last, first + share));
  } catch (...) {
    // No thread to be had: the remaining pages fault in as they are written.
  }
#endif
}

}  // namespace vecaccel::detail
