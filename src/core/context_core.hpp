#pragma once
// What Context and LegacyContext share: the device (picked per the configuration and checked
// for what both need), the command queues (one for LegacyContext; Context's
// command_queue_count), and command allocators recycled once the work recorded from them
// completed. Completion bookkeeping goes through each queue's release list (lifetime.hpp); the
// core drains every queue before anything it owns is freed.

#include <cstdint>
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
/// The queues a Context makes: configuration.command_queue_count, or when 0 one per hardware
/// queue of the device up to default_command_queues. invalid_argument above
/// max_command_queues.
std::uint32_t command_queue_count_of(const ContextConfiguration& configuration,
                                     const Device& device);

class ContextCore {
 public:
  /// who: "vecaccel::Context" or "vecaccel::LegacyContext", for the errors of the checks.
  /// several_queues: command_queue_count_of the configuration's queues (Context), else one
  /// (LegacyContext).
  ContextCore(Device device, const ContextConfiguration& configuration, std::string_view who,
              bool several_queues = false);
  /// Drains the queues: everything in flight completes (or the device is lost) first.
  ~ContextCore();
  ContextCore(const ContextCore&) = delete;
  ContextCore& operator=(const ContextCore&) = delete;

  /// An idle allocator, reset, or a new one.
  CommandAllocator take_allocator();
  /// Keeps an allocator for reuse (up to a bound); reuse waits until it is idle.
  void give_back(CommandAllocator allocator);
  /// The first queue's release list, for what a submission must outlive.
  const std::shared_ptr<ReleaseQueue>& releases() const noexcept;
  /// Releases what completed submissions kept alive, on every queue.
  void collect() noexcept;
  /// Waits for every queue (throws timeout, cancelled, device_lost), then collects.
  void wait_idle(const WaitOptions& options = {});
  /// Frees the idle allocators.
  void clear_allocators();

  ContextConfiguration configuration;
  Device device;
  std::vector<CommandQueue> queues;  // never resized after construction
  CommandQueue& queue;               // the first

 private:
  std::mutex mutex_;
  std::vector<CommandAllocator> idle_allocators_;
};

}  // namespace vecaccel::detail
