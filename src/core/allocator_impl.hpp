#pragma once
// The implementation of CommandAllocator: a command pool whose buffers are recycled on reset.

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "lifetime.hpp"
#include "vk.hpp"

namespace vecaccel::detail {

class DeviceImpl;

class AllocatorImpl {
 public:
  explicit AllocatorImpl(std::shared_ptr<DeviceImpl> device);

  /// A primary command buffer in the initial state, and its index since the last reset.
  std::pair<vk::raii::CommandBuffer*, std::uint32_t> take();
  /// Recording bookkeeping: one thread at a time may record from an allocator.
  void begin_recording();
  void end_recording() noexcept;

  /// A command buffer recorded from here was committed with this timeline value.
  void record_submission(const std::shared_ptr<ReleaseQueue>& queue, std::uint64_t value) {
    submissions_.record(queue, value);
  }
  /// Never throws: on a lost device, work not seen complete counts as in flight.
  bool is_idle() const noexcept { return submissions_.passed(); }
  /// invalid_argument while submitted work has not completed or a buffer is recording.
  void reset();
  std::uint32_t recorded_count() const noexcept { return next_; }
  /// How many times the pool was reset: a recording from it survives only while this stays.
  std::uint64_t generation() const noexcept { return generation_; }

  /// Timestamp queries for profiling: two per command buffer slot.
  vk::QueryPool query_pool_for(std::uint32_t slot, std::uint32_t& first_query);

  DeviceImpl& device() const noexcept { return *device_; }

 private:
  static constexpr std::uint32_t slots_per_query_pool = 32;

  std::shared_ptr<DeviceImpl> device_;
  vk::raii::CommandPool pool_{nullptr};
  std::deque<vk::raii::CommandBuffer> buffers_;  // a deque: recording holds pointers into it
  std::uint32_t next_ = 0;
  std::uint64_t generation_ = 0;
  std::vector<vk::raii::QueryPool> query_pools_;
  LastUses submissions_;  // commits may come from another thread
  std::atomic<int> recording_{0};
  std::thread::id recording_thread_;
};

}  // namespace vecaccel::detail
