#include <string>

#include "allocator_impl.hpp"
#include "device_impl.hpp"
#include "timeline.hpp"
#include "vecaccel/command_allocator.hpp"

namespace vecaccel::detail {

AllocatorImpl::AllocatorImpl(std::shared_ptr<DeviceImpl> device) : device_(std::move(device)) {
  pool_ = device_->call("creating a command pool", [&] {
    return vk::raii::CommandPool(
        device_->device(),
        vk::CommandPoolCreateInfo{.flags = vk::CommandPoolCreateFlagBits::eTransient,
                                  .queueFamilyIndex = device_->queue_family()});
  });
}

std::pair<vk::raii::CommandBuffer*, std::uint32_t> AllocatorImpl::take() {
  if (next_ == buffers_.size()) {
    auto more = device_->call("allocating a command buffer", [&] {
      return vk::raii::CommandBuffers(
          device_->device(),
          vk::CommandBufferAllocateInfo{.commandPool = *pool_,
                                        .level = vk::CommandBufferLevel::ePrimary,
                                        .commandBufferCount = 1});
    });
    buffers_.push_back(std::move(more.front()));
  }
  const std::uint32_t slot = next_++;
  return {&buffers_[slot], slot};
}

void AllocatorImpl::begin_recording() {
  const auto self = std::this_thread::get_id();
  if (recording_.load() > 0 && recording_thread_ != self) {
    throw Error(Errc::invalid_argument,
                "a command allocator is recording on two threads at once; use one allocator "
                "per recording thread");
  }
  recording_thread_ = self;
  recording_.fetch_add(1);
}

void AllocatorImpl::end_recording() noexcept {
  recording_.fetch_sub(1);
}

void AllocatorImpl::reset() {
  if (recording_.load() > 0) {
    throw Error(Errc::invalid_argument,
                "command allocator reset while " + std::to_string(recording_.load()) +
                    " command buffer(s) recorded from it are still recording");
  }
  if (const auto busy = submissions_.pending()) {
    device_->check_not_lost("command allocator reset");
    throw Error(Errc::invalid_argument,
                "command allocator reset while its work is in flight: the last command buffer "
                "recorded from it completes at timeline value " +
                    std::to_string(busy->value) + ", the queue has reached " +
                    std::to_string(busy->queue->timeline()->poll()));
  }
  device_->call("resetting a command pool", [&] { pool_.reset(); });
  submissions_.clear();
  next_ = 0;
  ++generation_;
}

vk::QueryPool AllocatorImpl::query_pool_for(std::uint32_t slot, std::uint32_t& first_query) {
  const std::uint32_t pool_index = slot / slots_per_query_pool;
  while (query_pools_.size() <= pool_index) {
    query_pools_.push_back(device_->call("creating a timestamp query pool", [&] {
      return vk::raii::QueryPool(device_->device(),
                                 vk::QueryPoolCreateInfo{.queryType = vk::QueryType::eTimestamp,
                                                         .queryCount = 2 * slots_per_query_pool});
    }));
  }
  first_query = 2 * (slot % slots_per_query_pool);
  return *query_pools_[pool_index];
}

}  // namespace vecaccel::detail

namespace vecaccel {

CommandAllocator::CommandAllocator(std::shared_ptr<detail::AllocatorImpl> impl) noexcept
    : impl_(std::move(impl)) {}
CommandAllocator::CommandAllocator(CommandAllocator&&) noexcept = default;
CommandAllocator& CommandAllocator::operator=(CommandAllocator&&) noexcept = default;
CommandAllocator::~CommandAllocator() = default;

bool CommandAllocator::is_idle() const noexcept {
  return impl_->is_idle();
}
void CommandAllocator::reset() {
  impl_->reset();
}
std::uint32_t CommandAllocator::recorded_count() const noexcept {
  return impl_->recorded_count();
}

}  // namespace vecaccel
