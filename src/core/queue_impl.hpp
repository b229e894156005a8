#pragma once
// The implementation of CommandQueue: serialised batch submission on a timeline.

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "vecaccel/command_queue.hpp"
#include "vecaccel/shared_event.hpp"
#include "vk.hpp"

namespace vecaccel::detail {

class DeviceImpl;
class ResidencySetImpl;
class Timeline;
struct HardwareQueue;

class QueueImpl {
 public:
  QueueImpl(std::shared_ptr<DeviceImpl> device, CommandQueueDescriptor descriptor);
  /// Waits for submitted work (unless the device is lost).
  ~QueueImpl();
  QueueImpl(const QueueImpl&) = delete;
  QueueImpl& operator=(const QueueImpl&) = delete;

  std::uint64_t commit(std::span<CommandBuffer* const> buffers, const WaitOptions& options);
  void signal_event(const std::shared_ptr<Timeline>& event, std::uint64_t value);
  void wait_event(const std::shared_ptr<Timeline>& event, std::uint64_t value);

  void add_residency_set(std::shared_ptr<ResidencySetImpl> set);
  void remove_residency_set(const ResidencySetImpl* set);
  bool residency_sets_contain(std::uint64_t buffer_id) const;

  const std::shared_ptr<Timeline>& timeline() const noexcept { return timeline_; }
  const SharedEvent& completion_event() const noexcept { return event_; }
  std::uint64_t last_submitted() const;
  void wait_idle(const WaitOptions& options) const;
  const CommandQueueDescriptor& descriptor() const noexcept { return descriptor_; }
  DeviceImpl& device() const noexcept { return *device_; }

 private:
  struct InFlight {
    std::uint64_t value;
    std::vector<std::shared_ptr<void>> keep_alive;
  };
  void wait_for_slot(const WaitOptions& options);
  void reclaim_completed();  // requires mutex_
  std::uint64_t submit_locked(std::span<const vk::CommandBufferSubmitInfo> command_buffers);

  std::shared_ptr<DeviceImpl> device_;
  CommandQueueDescriptor descriptor_;
  HardwareQueue& hardware_;
  std::shared_ptr<Timeline> timeline_;
  SharedEvent event_;

  mutable std::mutex mutex_;
  std::uint64_t last_submitted_ = 0;
  std::vector<std::pair<std::shared_ptr<Timeline>, std::uint64_t>> pending_waits_;
  std::deque<InFlight> in_flight_;

  mutable std::mutex sets_mutex_;
  std::vector<std::shared_ptr<ResidencySetImpl>> sets_;
};

}  // namespace vecaccel::detail
