#pragma once
// Test-only fault injection at the Vulkan dispatch. The calls whose failure a program must
// survive (vkAllocateMemory, vkQueueSubmit2, vkWaitSemaphores, vkMapMemory, and the timeline
// read vkGetSemaphoreCounterValue) go through wrappers that ask intercept() first: once armed, the
// nth call of one site returns the chosen result instead of reaching the driver (so no half-made
// object or half-done submission is left behind). Unarmed, the hook is one relaxed atomic load.
//
// Not part of the public headers: tests include it from src/core. The state is process-wide
// on purpose: the dispatch has no handle on the test that armed it.

#include <cstdint>

#include "vk.hpp"

namespace vecaccel::detail {

enum class FaultSite {
  allocate,  ///< vkAllocateMemory
  submit,    ///< vkQueueSubmit2
  wait,      ///< vkWaitSemaphores
  map,       ///< vkMapMemory
  read,      ///< vkGetSemaphoreCounterValue
};

class FaultInjection {
 public:
  /// Counts calls per site from zero; calls nth .. nth + times - 1 of `site` (1-based) fail
  /// with `result`. nth = never() only counts. Replaces any earlier arming.
  static void arm(FaultSite site, std::uint64_t nth, vk::Result result, std::uint64_t times = 1);
  /// Stops injecting and counting.
  static void disarm() noexcept;
  /// Faults injected since arm().
  static std::uint64_t fired() noexcept;
  /// Calls of site since arm() (injected ones included).
  static std::uint64_t calls(FaultSite site) noexcept;
  static constexpr std::uint64_t never() noexcept { return ~std::uint64_t{0}; }

  /// The hook: eSuccess to go on to the driver, else the result to return instead.
  static vk::Result intercept(FaultSite site) noexcept;
};

/// Arms on construction, disarms on destruction (also when a test assertion returns early).
class ScopedFault {
 public:
  ScopedFault(FaultSite site, std::uint64_t nth, vk::Result result, std::uint64_t times = 1) {
    FaultInjection::arm(site, nth, result, times);
  }
  ~ScopedFault() { FaultInjection::disarm(); }
  ScopedFault(const ScopedFault&) = delete;
  ScopedFault& operator=(const ScopedFault&) = delete;
};

}  // namespace vecaccel::detail
