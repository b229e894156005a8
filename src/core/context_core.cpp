#include "context_core.hpp"

#include <algorithm>
#include <string>

#include "access.hpp"
#include "device_impl.hpp"
#include "lifetime.hpp"
#include "queue_impl.hpp"

namespace vecaccel::detail {
namespace {

/// Idle allocators kept for reuse; more are freed (one per concurrently encoding thread and
/// in-flight submission is the steady state).
constexpr std::size_t max_idle_allocators = 32;

/// Both contexts record through the explicit queue and encoder, which need timeline
/// semaphores, synchronization2 and push descriptors.
Device checked(Device device, std::string_view who) {
  detail::Access::impl(device)->require_explicit_model(who);
  if (!device.capabilities().push_descriptor) {
    throw Error(Errc::unsupported, std::string(who) + " needs VK_KHR_push_descriptor, which '" +
                                       device.info().name + "' lacks");
  }
  return device;
}

/// The first queue keeps the configured label; the others are numbered after it.
std::vector<CommandQueue> make_queues(const Device& device,
                                      const ContextConfiguration& configuration,
                                      std::uint32_t count) {
  std::vector<CommandQueue> queues;
  queues.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::string label = i == 0 ? configuration.command_queue_label
                                     : configuration.command_queue_label + " #" + std::to_string(i);
    queues.push_back(device.make_command_queue(
        {.label = label, .max_command_buffer_count = configuration.max_command_buffer_count}));
  }
  return queues;
}

}  // namespace

Device pick_device(const ContextConfiguration& configuration) {
  if (configuration.prefer_high_performance_device) return Device::select_best();
  for (const auto& info : Device::enumerate()) {
    if (info.supports_explicit_model) return Device::open(info.index);
  }
  return Device::select_best();  // reports why nothing fits
}

std::uint32_t command_queue_count_of(const ContextConfiguration& configuration,
                                     const Device& device) {
  const std::uint32_t wanted = configuration.command_queue_count;
  if (wanted > ContextConfiguration::max_command_queues) {
    throw Error(Errc::invalid_argument,
                "command_queue_count " + std::to_string(wanted) + " exceeds the maximum of " +
                    std::to_string(ContextConfiguration::max_command_queues));
  }
  if (wanted > 0) return wanted;
  return std::min(detail::Access::impl(device)->hardware_queue_count(),
                  ContextConfiguration::default_command_queues);
}

ContextCore::ContextCore(Device device_in, const ContextConfiguration& configuration_in,
                         std::string_view who, bool several_queues)
    : configuration(configuration_in),
      device(checked(std::move(device_in), who)),
      queues(make_queues(device, configuration,
                         several_queues ? command_queue_count_of(configuration, device) : 1)),
      queue(queues.front()) {}

ContextCore::~ContextCore() {
  for (CommandQueue& q : queues)
    detail::Access::impl(q)->drain();
}

CommandAllocator ContextCore::take_allocator() {
  {
    std::lock_guard lock(mutex_);
    for (auto it = idle_allocators_.begin(); it != idle_allocators_.end(); ++it) {
      if (!it->is_idle()) continue;
      CommandAllocator allocator = std::move(*it);
      idle_allocators_.erase(it);
      allocator.reset();
      return allocator;
    }
  }
  return device.make_command_allocator();
}

void ContextCore::give_back(CommandAllocator allocator) {
  std::lock_guard lock(mutex_);
  if (idle_allocators_.size() < max_idle_allocators) {
    idle_allocators_.push_back(std::move(allocator));
  }
}

const std::shared_ptr<ReleaseQueue>& ContextCore::releases() const noexcept {
  return detail::Access::impl(queue)->releases();
}

void ContextCore::collect() noexcept {
  for (const CommandQueue& q : queues)
    detail::Access::impl(q)->collect();
}

void ContextCore::wait_idle(const WaitOptions& options) {
  for (const CommandQueue& q : queues)
    q.wait_idle(options);
  collect();
}

void ContextCore::clear_allocators() {
  std::lock_guard lock(mutex_);
  idle_allocators_.clear();
}

}  // namespace vecaccel::detail
