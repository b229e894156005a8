#pragma once
// A timeline semaphore: the implementation of SharedEvent and of each queue's completion.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>

#include "vk.hpp"

namespace vecaccel::detail {

class DeviceImpl;

class Timeline : public std::enable_shared_from_this<Timeline> {
 public:
  /// host_signal: whether the CPU may signal it (queue timelines are GPU-signalled only).
  Timeline(std::shared_ptr<DeviceImpl> device, std::uint64_t initial, bool host_signal);

  vk::Semaphore handle() const noexcept { return *semaphore_; }
  DeviceImpl& device() const noexcept { return *device_; }

  /// Reads the counter (cached: values only grow). Throws device_lost.
  std::uint64_t completed_value() const;
  bool reached(std::uint64_t value) const { return completed_value() >= value; }
  /// The counter for checks that must not throw: on failure (a lost device, which this
  /// records) the largest value seen before.
  std::uint64_t poll() const noexcept;
  /// The largest value seen so far, without asking the driver (may lag the counter).
  std::uint64_t cached_value() const noexcept { return cached_.load(std::memory_order_acquire); }
  bool passed(std::uint64_t value) const noexcept {
    return cached_.load(std::memory_order_acquire) >= value || poll() >= value;
  }
  /// Host signal; invalid_argument when not allowed or not increasing.
  void signal(std::uint64_t value);
  /// Signals from the host without the checks, for the queue that owns this timeline.
  void signal_unchecked(std::uint64_t value);

  /// Spins briefly (the device's spin_duration), then blocks. False on timeout; throws
  /// cancelled when stop is requested, device_lost when the device is lost. Waits that had to
  /// spin or block are counted (wait_counts).
  bool wait(std::uint64_t value, std::optional<std::chrono::nanoseconds> timeout,
            const std::stop_token& stop = {}) const;

  /// How the waits on this timeline that did not find the value already reached ended: while
  /// spinning on the counter, or in the driver's blocking wait (which costs a wake-up of tens
  /// of microseconds on a discrete GPU).
  struct WaitCounts {
    std::uint64_t spun = 0;
    std::uint64_t blocked = 0;
  };
  WaitCounts wait_counts() const noexcept {
    return {spun_.load(std::memory_order_relaxed), blocked_.load(std::memory_order_relaxed)};
  }

  void notify(std::uint64_t value, std::function<void(std::uint64_t)> callback);

 private:
  vk::Result read(std::uint64_t& value) const noexcept;
  /// Polls the counter until value or end; true when reached.
  bool spin(std::uint64_t value, std::chrono::steady_clock::time_point end) const;
  bool block(std::uint64_t value, std::chrono::steady_clock::time_point deadline,
             const std::stop_token& stop) const;

  std::shared_ptr<DeviceImpl> device_;
  vk::raii::Semaphore semaphore_{nullptr};
  bool host_signal_;
  mutable std::atomic<std::uint64_t> cached_{0};
  mutable std::atomic<std::uint64_t> spun_{0};
  mutable std::atomic<std::uint64_t> blocked_{0};
};

}  // namespace vecaccel::detail
