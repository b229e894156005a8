#include "queue_impl.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <thread>

#include "access.hpp"
#include "buffer_impl.hpp"
#include "command_buffer_impl.hpp"
#include "device_impl.hpp"
#include "lifetime.hpp"
#include "residency_set_impl.hpp"
#include "timeline.hpp"
#include "vecaccel/command_buffer.hpp"
#include "vecaccel/residency_set.hpp"

namespace vecaccel::detail {

QueueImpl::QueueImpl(std::shared_ptr<DeviceImpl> device, CommandQueueDescriptor descriptor)
    : device_(std::move(device)),
      descriptor_(std::move(descriptor)),
      hardware_(device_->next_hardware_queue()),
      timeline_(std::make_shared<Timeline>(device_, 0, false)),
      event_(timeline_),
      releases_(std::make_shared<ReleaseQueue>(timeline_)) {
  if (descriptor_.max_command_buffer_count == 0) {
    throw Error(Errc::invalid_argument, "max_command_buffer_count must be at least 1");
  }
}

QueueImpl::~QueueImpl() {
  drain();
}

void QueueImpl::drain() noexcept {
  const std::uint64_t last = last_submitted();
  bool done = false;
  try {
    done = timeline_->wait(last, std::nullopt);
  } catch (const Error&) {
    // Lost: the device-level wait below, which a lost device ends at once.
  }
  if (!done) device_->drain(hardware_);
  releases_->drained(last);
}

void QueueImpl::collect() noexcept {
  releases_->collect();
}

std::uint64_t QueueImpl::in_flight() const noexcept {
  const std::uint64_t last = last_submitted();
  return last - std::min(last, timeline_->cached_value());
}

void QueueImpl::wait_idle(const WaitOptions& options) const {
  const std::uint64_t last = last_submitted();
  if (!timeline_->wait(last, options.timeout, options.stop)) {
    throw Error(Errc::timeout, "queue '" + descriptor_.label + "' did not reach value " +
                                   std::to_string(last) + " in time");
  }
}

void QueueImpl::add_residency_set(std::shared_ptr<ResidencySetImpl> set) {
  std::lock_guard lock(sets_mutex_);
  if (std::find(sets_.begin(), sets_.end(), set) == sets_.end()) sets_.push_back(std::move(set));
}

void QueueImpl::remove_residency_set(const ResidencySetImpl* set) {
  std::lock_guard lock(sets_mutex_);
  std::erase_if(sets_, [&](const auto& s) { return s.get() == set; });
}

bool QueueImpl::residency_sets_contain(std::uint64_t buffer_id) const {
  std::lock_guard lock(sets_mutex_);
  return std::any_of(sets_.begin(), sets_.end(),
                     [&](const auto& s) { return s->contains(buffer_id); });
}

void QueueImpl::wait_for_slot(const WaitOptions& options) {
  // Back-pressure: submission N may start only once N - max has completed.
  const std::uint64_t max = descriptor_.max_command_buffer_count;
  const std::uint64_t next = last_submitted() + 1;
  if (next <= max) return;
  const std::uint64_t needed = next - max;
  if (!timeline_->wait(needed, options.timeout, options.stop)) {
    throw Error(Errc::timeout, "queue '" + descriptor_.label + "': " + std::to_string(max) +
                                   " submissions still in flight (max_command_buffer_count); "
                                   "value " +
                                   std::to_string(needed) + " not reached in time");
  }
}

std::uint64_t QueueImpl::submit_locked(std::span<PendingCommit* const> batch) {
  const std::uint64_t first = last_submitted() + 1;
  std::vector<vk::SemaphoreSubmitInfo> waits;
  waits.reserve(pending_waits_.size());
  for (const auto& [event, wait_value] : pending_waits_) {
    waits.push_back(vk::SemaphoreSubmitInfo{
        .semaphore = event->handle(),
        .value = wait_value,
        .stageMask = vk::PipelineStageFlagBits2::eComputeShader |
                     vk::PipelineStageFlagBits2::eCopy | vk::PipelineStageFlagBits2::eClear});
  }
  // One submit info per commit, each signalling its own value (every value is signalled, in
  // order); the pending waits hold back the first, as they would its own submission.
  batch_infos_.clear();
  for (const PendingCommit* commit : batch)
    batch_infos_.insert(batch_infos_.end(), commit->infos.begin(), commit->infos.end());
  batch_signals_.resize(batch.size());
  batch_submits_.resize(batch.size());
  std::size_t offset = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    // Completion means every command of the commit finished, timestamps included.
    batch_signals_[i] =
        vk::SemaphoreSubmitInfo{.semaphore = timeline_->handle(),
                                .value = first + i,
                                .stageMask = vk::PipelineStageFlagBits2::eAllCommands};
    const auto count = static_cast<std::uint32_t>(batch[i]->infos.size());
    batch_submits_[i] = vk::SubmitInfo2{
        .waitSemaphoreInfoCount = i == 0 ? static_cast<std::uint32_t>(waits.size()) : 0u,
        .pWaitSemaphoreInfos = waits.data(),
        .commandBufferInfoCount = count,
        .pCommandBufferInfos = batch_infos_.data() + offset,
        .signalSemaphoreInfoCount = 1,
        .pSignalSemaphoreInfos = &batch_signals_[i]};
    offset += count;
  }
  const std::uint64_t last = first + batch.size() - 1;
  // A failed submission changes nothing (Vulkan leaves every resource and semaphore it names
  // as it was): the values stay unused for the next one, and the waits stay pending.
  const vk::Result result = device_->submit(hardware_, batch_submits_);
  if (result != vk::Result::eSuccess) {
    device_->throw_vulkan_error(result, "vkQueueSubmit2 of values " + std::to_string(first) +
                                            " to " + std::to_string(last) + " on queue '" +
                                            descriptor_.label + "'");
  }
  last_submitted_.store(last, std::memory_order_release);
  pending_waits_.clear();
  return last;
}

std::uint64_t QueueImpl::commit(std::span<CommandBuffer* const> buffers,
                                const WaitOptions& options) {
  device_->check_not_lost("commit");
  collect();
  // Inline for the usual one or few buffers: a commit allocates nothing on the heap.
  constexpr std::size_t inline_count = 4;
  std::array<vk::CommandBufferSubmitInfo, inline_count> inline_infos{};
  std::vector<vk::CommandBufferSubmitInfo> more;
  if (buffers.size() > inline_count) more.resize(buffers.size());
  const std::span<vk::CommandBufferSubmitInfo> slots =
      more.empty() ? std::span<vk::CommandBufferSubmitInfo>(inline_infos) : std::span(more);
  std::size_t count = 0;
  for (CommandBuffer* buffer : buffers) {
    if (buffer == nullptr) throw Error(Errc::invalid_argument, "commit: null command buffer");
    CommandBufferImpl& cb = *detail::Access::impl(*buffer);
    if (cb.state() != CommandBufferImpl::State::ended) {
      throw Error(Errc::invalid_argument,
                  cb.state() == CommandBufferImpl::State::committed
                      ? "commit: the command buffer was committed already; begin() it again"
                      : "commit: the command buffer is not ended");
    }
    if (&cb.device() != device_.get()) {
      throw Error(Errc::invalid_argument, "commit: the command buffer belongs to another device");
    }
    if (cb.validates_residency()) {
      for (const auto& unresolved : cb.unresolved()) {
        if (!residency_sets_contain(unresolved->id())) {
          throw Error(Errc::residency_violation,
                      "commit to queue '" + descriptor_.label + "': " + unresolved->describe() +
                          " is used but is in no committed residency set of the command "
                          "buffer or the queue");
        }
      }
    }
    // An empty command buffer only has to mark completion, which the timeline signal does.
    if (!cb.records_no_work())
      slots[count++] = vk::CommandBufferSubmitInfo{.commandBuffer = cb.handle()};
  }
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (buffers[i] == buffers[j]) {
        throw Error(Errc::invalid_argument, "commit: the same command buffer appears twice");
      }
    }
  }

  PendingCommit mine{.buffers = buffers, .infos = slots.first(count)};
  do {
    wait_for_slot(options);
    std::lock_guard lock(pending_mutex_);
    pending_.push_back(&mine);
  } while (!await_submission(mine));
  if (mine.error) std::rethrow_exception(mine.error);
  return mine.value;
}

bool QueueImpl::await_submission(PendingCommit& commit) {
  for (;;) {
    if (commit.done.load(std::memory_order_acquire)) return true;
    // Whoever holds the lock submits every pending commit with a slot: wait for that without
    // sleeping (a futex wake-up costs more than the submission), or become that thread.
    if (mutex_.try_lock()) {
      std::lock_guard lock(mutex_, std::adopt_lock);
      if (!commit.done.load(std::memory_order_acquire)) submit_ready_locked();
      if (commit.done.load(std::memory_order_acquire)) return true;
      // Other threads took the free slots first: withdraw, and wait for one outside the lock.
      std::lock_guard pending_lock(pending_mutex_);
      std::erase(pending_, &commit);
      return false;
    }
    std::this_thread::yield();
  }
}

void QueueImpl::submit_ready_locked() {
  batch_.clear();
  {
    std::lock_guard lock(pending_mutex_);
    const std::uint64_t max = descriptor_.max_command_buffer_count;
    const auto free_slots = [&](std::uint64_t completed) {
      const std::uint64_t in_flight = last_submitted() - std::min(last_submitted(), completed);
      return static_cast<std::size_t>(max > in_flight ? max - in_flight : 0);
    };
    // The value waiters last saw usually leaves room; the driver is asked only when not.
    std::size_t free = free_slots(timeline_->cached_value());
    if (free < pending_.size()) free = free_slots(timeline_->poll());
    const std::size_t count = std::min(pending_.size(), free);
    batch_.assign(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(count));
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(count));
  }
  if (batch_.empty()) return;
  std::uint64_t last = 0;
  try {
    last = submit_locked(batch_);
  } catch (...) {
    for (PendingCommit* commit : batch_) {
      commit->error = std::current_exception();
      commit->done.store(true, std::memory_order_release);
    }
    return;
  }
  std::uint64_t value = last - batch_.size();
  for (PendingCommit* commit : batch_) {
    commit->value = ++value;
    try {
      for (CommandBuffer* buffer : commit->buffers)
        detail::Access::impl(*buffer)->mark_committed(releases_, commit->value);
    } catch (...) {
      commit->error = std::current_exception();
    }
    commit->done.store(true, std::memory_order_release);
  }
}

void QueueImpl::signal_event(const std::shared_ptr<Timeline>& event, std::uint64_t value) {
  device_->check_not_lost("signal_event");
  if (&event->device() != device_.get()) {
    throw Error(Errc::invalid_argument, "signal_event: the event belongs to another device");
  }
  std::lock_guard lock(mutex_);
  const std::uint64_t own = last_submitted() + 1;
  std::vector<vk::SemaphoreSubmitInfo> waits;
  for (const auto& [e, v] : pending_waits_) {
    waits.push_back({.semaphore = e->handle(),
                     .value = v,
                     .stageMask = vk::PipelineStageFlagBits2::eAllCommands});
  }
  // One batch that signals both the event and the queue's own timeline, after all work
  // submitted before it (a semaphore signal's first scope is everything earlier in order).
  const std::array<vk::SemaphoreSubmitInfo, 2> signals = {
      vk::SemaphoreSubmitInfo{.semaphore = event->handle(),
                              .value = value,
                              .stageMask = vk::PipelineStageFlagBits2::eAllCommands},
      vk::SemaphoreSubmitInfo{.semaphore = timeline_->handle(),
                              .value = own,
                              .stageMask = vk::PipelineStageFlagBits2::eAllCommands}};
  const vk::SubmitInfo2 submit{.waitSemaphoreInfoCount = static_cast<std::uint32_t>(waits.size()),
                               .pWaitSemaphoreInfos = waits.data(),
                               .signalSemaphoreInfoCount = 2,
                               .pSignalSemaphoreInfos = signals.data()};
  device_->check(device_->submit(hardware_, submit), "signal_event");
  last_submitted_.store(own, std::memory_order_release);
  pending_waits_.clear();
}

void QueueImpl::wait_event(const std::shared_ptr<Timeline>& event, std::uint64_t value) {
  if (&event->device() != device_.get()) {
    throw Error(Errc::invalid_argument, "wait_event: the event belongs to another device");
  }
  std::lock_guard lock(mutex_);
  pending_waits_.emplace_back(event, value);
}

}  // namespace vecaccel::detail

namespace vecaccel {

CommandQueue::CommandQueue(std::shared_ptr<detail::QueueImpl> impl) noexcept
    : impl_(std::move(impl)) {}
CommandQueue::CommandQueue(CommandQueue&&) noexcept = default;
CommandQueue& CommandQueue::operator=(CommandQueue&&) noexcept = default;
CommandQueue::~CommandQueue() = default;

void CommandQueue::add_residency_set(ResidencySet& set) {
  impl_->add_residency_set(detail::Access::impl(set));
}
void CommandQueue::remove_residency_set(ResidencySet& set) {
  impl_->remove_residency_set(detail::Access::impl(set).get());
}
std::uint64_t CommandQueue::commit(std::span<CommandBuffer* const> buffers,
                                   const WaitOptions& options) {
  return impl_->commit(buffers, options);
}
std::uint64_t CommandQueue::commit(CommandBuffer& buffer, const WaitOptions& options) {
  CommandBuffer* one[] = {&buffer};
  return impl_->commit(one, options);
}
void CommandQueue::signal_event(SharedEvent& event, std::uint64_t value) {
  impl_->signal_event(detail::Access::impl(event), value);
}
void CommandQueue::wait_event(SharedEvent& event, std::uint64_t value) {
  impl_->wait_event(detail::Access::impl(event), value);
}
const SharedEvent& CommandQueue::completion_event() const noexcept {
  return impl_->completion_event();
}
std::uint64_t CommandQueue::last_submitted_value() const noexcept {
  return impl_->last_submitted();
}
void CommandQueue::wait_idle(const WaitOptions& options) const {
  impl_->wait_idle(options);
}
const std::string& CommandQueue::label() const noexcept {
  return impl_->descriptor().label;
}
std::uint32_t CommandQueue::max_command_buffer_count() const noexcept {
  return impl_->descriptor().max_command_buffer_count;
}

}  // namespace vecaccel
