#pragma once
// The implementation of CommandQueue: serialised batch submission on a timeline.

#include <atomic>
#include <cstdint>
#include <exception>
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
class ReleaseQueue;
class ResidencySetImpl;
class Timeline;
struct HardwareQueue;

class QueueImpl {
 public:
  QueueImpl(std::shared_ptr<DeviceImpl> device, CommandQueueDescriptor descriptor);
  /// Drains.
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
  /// What this queue's submissions must outlive; see lifetime.hpp. Clients add to it with
  /// defer(value, object) for a value this queue submitted (e.g. a Submission's).
  const std::shared_ptr<ReleaseQueue>& releases() const noexcept { return releases_; }
  const SharedEvent& completion_event() const noexcept { return event_; }
  std::uint64_t last_submitted() const noexcept {
    return last_submitted_.load(std::memory_order_acquire);
  }
  /// Submissions not yet seen complete (an estimate from the last value read: may be high).
  std::uint64_t in_flight() const noexcept;
  void wait_idle(const WaitOptions& options) const;
  /// Waits for everything submitted, even on a lost device (the wait then ends at once), and
  /// releases what the submissions kept alive. What owners call before freeing anything the
  /// GPU may still use. Never throws.
  void drain() noexcept;
  /// Releases what completed submissions kept alive.
  void collect() noexcept;
  const CommandQueueDescriptor& descriptor() const noexcept { return descriptor_; }
  DeviceImpl& device() const noexcept { return *device_; }

 private:
  /// A commit waiting to be submitted, by its own thread or by another committing thread that
  /// submits it in the same batch (group commit: threads that commit at once share one
  /// vkQueueSubmit2, whose cost on an H200 capped 8 threads at one submission per ~10 us).
  struct PendingCommit {
    std::span<CommandBuffer* const> buffers;
    std::span<const vk::CommandBufferSubmitInfo> infos;
    std::uint64_t value = 0;   // set before done
    std::exception_ptr error;  // set before done when the submission failed
    std::atomic<bool> done{false};
  };

  void wait_for_slot(const WaitOptions& options);
  /// Until `commit` is submitted (true), or withdrawn for want of a slot (false).
  bool await_submission(PendingCommit& commit);
  /// Submits, in one batch, the pending commits that have a slot, oldest first.
  void submit_ready_locked();
  /// Submits the commits in one vkQueueSubmit2, the next timeline value each. Returns the last.
  std::uint64_t submit_locked(std::span<PendingCommit* const> batch);

  std::shared_ptr<DeviceImpl> device_;
  CommandQueueDescriptor descriptor_;
  HardwareQueue& hardware_;
  std::shared_ptr<Timeline> timeline_;
  SharedEvent event_;
  std::shared_ptr<ReleaseQueue> releases_;

  mutable std::mutex mutex_;
  std::atomic<std::uint64_t> last_submitted_{0};  // written under mutex_
  std::vector<std::pair<std::shared_ptr<Timeline>, std::uint64_t>> pending_waits_;
  std::vector<PendingCommit*> batch_;                     // under mutex_
  std::vector<vk::CommandBufferSubmitInfo> batch_infos_;  // under mutex_
  std::vector<vk::SemaphoreSubmitInfo> batch_signals_;    // under mutex_
  std::vector<vk::SubmitInfo2> batch_submits_;            // under mutex_

  std::mutex pending_mutex_;  // taken after mutex_ where both are held
  std::vector<PendingCommit*> pending_;

  mutable std::mutex sets_mutex_;
  std::vector<std::shared_ptr<ResidencySetImpl>> sets_;
};

}  // namespace vecaccel::detail
