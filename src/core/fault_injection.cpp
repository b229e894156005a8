#include "fault_injection.hpp"

#include <array>
#include <atomic>
#include <mutex>

namespace vecaccel::detail {
namespace {

constexpr std::size_t site_count = 5;

/// Process-wide (see the header): only tests arm it, and the hot path reads `armed` alone.
struct State {
  std::atomic<bool> armed{false};
  std::mutex mutex;
  FaultSite site = FaultSite::allocate;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  vk::Result result = vk::Result::eSuccess;
  std::array<std::uint64_t, site_count> calls{};
  std::uint64_t fired = 0;
};

constinit State fault_state;

State& state() noexcept {
  return fault_state;
}

std::size_t index_of(FaultSite site) noexcept {
  return static_cast<std::size_t>(site);
}

}  // namespace

void FaultInjection::arm(FaultSite site, std::uint64_t nth, vk::Result result,
                         std::uint64_t times) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.site = site;
  s.first = nth;
  s.last = nth == never() || times == 0 ? nth : nth + times - 1;
  s.result = result;
  s.calls.fill(0);
  s.fired = 0;
  s.armed.store(true, std::memory_order_release);
}

void FaultInjection::disarm() noexcept {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.armed.store(false, std::memory_order_release);
}

std::uint64_t FaultInjection::fired() noexcept {
  State& s = state();
  std::lock_guard lock(s.mutex);
  return s.fired;
}

std::uint64_t FaultInjection::calls(FaultSite site) noexcept {
  State& s = state();
  std::lock_guard lock(s.mutex);
  return s.calls[index_of(site)];
}

vk::Result FaultInjection::intercept(FaultSite site) noexcept {
  State& s = state();
  if (!s.armed.load(std::memory_order_relaxed)) return vk::Result::eSuccess;
  std::lock_guard lock(s.mutex);
  if (!s.armed.load(std::memory_order_relaxed)) return vk::Result::eSuccess;
  const std::uint64_t n = ++s.calls[index_of(site)];
  if (site != s.site || n < s.first || n > s.last || s.first == never()) {
    return vk::Result::eSuccess;
  }
  ++s.fired;
  return s.result;
}

}  // namespace vecaccel::detail
