#include "prefault.hpp"

#include <algorithm>
#include <cstddef>
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
  constexpr std::size_t page = 4096;
  if (bytes < min_bytes) return;
  // Whole pages only, found by pointer arithmetic from `data` (no integer-to-pointer casts).
  auto* const bytes_at = static_cast<std::byte*>(data);
  const std::size_t lead = (page - reinterpret_cast<std::uintptr_t>(data) % page) % page;
  if (bytes <= lead) return;
  const std::size_t span = (bytes - lead) / page * page;
  if (span == 0) return;
  std::byte* const first = bytes_at + lead;
  const std::size_t threads = std::clamp<std::size_t>(
      span / share_bytes, 1,
      std::min<std::size_t>(8, std::max(1u, std::thread::hardware_concurrency())));
  const std::size_t share = (span / threads + page - 1) / page * page;
  const auto populate = [](std::byte* from, std::size_t length) {
    // A kernel without the call answers EINVAL: the pages then fault in as they are written.
    (void)madvise(from, length, populate_write);
  };
  try {
    std::vector<std::jthread> helpers;
    for (std::size_t t = 1; t < threads; ++t) {
      const std::size_t from = t * share;
      if (from < span) helpers.emplace_back(populate, first + from, std::min(share, span - from));
    }
    populate(first, std::min(share, span));
  } catch (...) {
    // No thread to be had: the remaining pages fault in as they are written.
  }
#endif
}

}  // namespace vecaccel::detail
