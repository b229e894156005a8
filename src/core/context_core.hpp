#pragma once
// What Context and LegacyContext share: the device (picked per the configuration and checked
// for what both need), one command queue, and command allocators recycled once the work
// recorded from them completed. Completion bookkeeping goes through the queue's release list
// (lifetime.hpp); the core drains the queue before anything it owns is freed.

#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "vecaccel/command_allocator.hpp"
#include "vecaccel/command_queue.hpp"
#include "vecaccel/context_configuration.hpp"
#include "vecaccel/device.hpp"

namespace vecaccel::detail {

class ReleaseQueue;

/// The device a configuration asks for: the best one, or the first with the explicit model.
Device pick_device(const ContextConfiguration& configuration);

class ContextCore {
 public:
  /// who: "vecaccel::Context" or "vecaccel::LegacyContext", for the errors of the checks.
  ContextCore(Device device, const ContextConfiguration& configuration, std::string_view who);
  /// Drains the queue: everything in flight completes (or the device is lost) first.
  ~ContextCore();
  ContextCore(const ContextCore&) = delete;
  ContextCore& operator=(const ContextCore&) = delete;

  /// An idle allocator, reset, or a new one.
  CommandAllocator take_allocator();
  /// Keeps an allocator for reuse (up to a bound); reuse waits until it is idle.
  void give_back(CommandAllocator allocator);
  /// The queue's release list, for what a submission must outlive.
  const std::shared_ptr<ReleaseQueue>& releases() const noexcept;
  /// Releases what completed submissions kept alive.
  void collect() noexcept;
  /// Waits for the queue (throws timeout, cancelled, device_lost), then collects.
  void wait_idle(const WaitOptions& options = {});
  /// Frees the idle allocators.
  void clear_allocators();

  ContextConfiguration configuration;
  Device device;
  CommandQueue queue;

 private:
  std::mutex mutex_;
  std::vector<CommandAllocator> idle_allocators_;
};

}  // namespace vecaccel::detail
