#include "timeline.hpp"

#include <algorithm>
#include <string>
#include <thread>

#include "device_impl.hpp"
#include "fault_injection.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/shared_event.hpp"

namespace vecaccel::detail {
namespace {

using Clock = std::chrono::steady_clock;

/// While a stop token can fire, a blocking wait wakes this often to look at it.
constexpr auto stop_poll_interval = std::chrono::milliseconds(2);
/// A blocked wait also wakes this often to notice a device marked lost by another thread.
constexpr auto lost_poll_interval = std::chrono::milliseconds(50);

}  // namespace

Timeline::Timeline(std::shared_ptr<DeviceImpl> device, std::uint64_t initial, bool host_signal)
    : device_(std::move(device)), host_signal_(host_signal), cached_(initial) {
  const vk::SemaphoreTypeCreateInfo type{.semaphoreType = vk::SemaphoreType::eTimeline,
                                         .initialValue = initial};
  semaphore_ = device_->call("creating a timeline semaphore", [&] {
    return vk::raii::Semaphore(device_->device(), vk::SemaphoreCreateInfo{.pNext = &type});
  });
}

vk::Result Timeline::read(std::uint64_t& value) const noexcept {
  std::uint64_t counter = 0;
  vk::Result result = FaultInjection::intercept(FaultSite::read);
  if (result == vk::Result::eSuccess) {
    result = static_cast<vk::Result>(device_->device().getDispatcher()->vkGetSemaphoreCounterValue(
        *device_->device(), *semaphore_, &counter));
  }
  // Values only grow; keep the largest seen so readers never observe one going back.
  std::uint64_t seen = cached_.load(std::memory_order_relaxed);
  while (result == vk::Result::eSuccess && counter > seen &&
         !cached_.compare_exchange_weak(seen, counter)) {
  }
  value = result == vk::Result::eSuccess ? std::max(counter, seen) : seen;
  return result;
}

std::uint64_t Timeline::completed_value() const {
  std::uint64_t value = 0;
  device_->check(read(value), "reading a timeline value");
  return value;
}

std::uint64_t Timeline::poll() const noexcept {
  std::uint64_t value = 0;
  device_->note(read(value));
  return value;
}

void Timeline::signal(std::uint64_t value) {
  if (!host_signal_) {
    throw Error(Errc::invalid_argument,
                "this event is a queue's completion timeline; only its queue signals it");
  }
  const std::uint64_t current = completed_value();
  if (value <= current) {
    throw Error(Errc::invalid_argument, "signal(" + std::to_string(value) +
                                            ") does not advance the event, which is at " +
                                            std::to_string(current));
  }
  signal_unchecked(value);
}

void Timeline::signal_unchecked(std::uint64_t value) {
  const vk::SemaphoreSignalInfo info{.semaphore = *semaphore_, .value = value};
  const auto result = static_cast<vk::Result>(device_->device().getDispatcher()->vkSignalSemaphore(
      *device_->device(), reinterpret_cast<const VkSemaphoreSignalInfo*>(&info)));
  device_->check(result, "signalling an event");
}

bool Timeline::wait(std::uint64_t value, std::optional<std::chrono::nanoseconds> timeout,
                    const std::stop_token& stop) const {
  if (cached_.load(std::memory_order_acquire) >= value) return true;
  // The messages are built only on the failure paths: this is every operation's round trip.
  if (device_->is_lost()) {
    device_->check_not_lost("waiting for timeline value " + std::to_string(value));
  }
  if (stop.stop_requested()) {
    throw Error(Errc::cancelled,
                "stopped before waiting for timeline value " + std::to_string(value));
  }
  const auto start = Clock::now();
  const auto deadline =
      timeout
          ? start + std::min(*timeout, std::chrono::nanoseconds(Clock::time_point::max() - start))
          : Clock::time_point::max();
  // No spin at all where the device says none (CPU devices: it would take a core from the
  // driver's workers, and the fault sweeps count on such waits reaching vkWaitSemaphores).
  const auto spin_duration = device_->spin_duration();
  if (spin_duration > std::chrono::nanoseconds(0) &&
      spin(value, std::min(deadline, start + spin_duration))) {
    spun_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  blocked_.fetch_add(1, std::memory_order_relaxed);
  return block(value, deadline, stop);
}

bool Timeline::spin(std::uint64_t value, Clock::time_point end) const {
  // Short GPU work finishes within microseconds and a blocking wait costs tens of them to
  // wake, so poll the counter: first back to back (the common few-microsecond round trip),
  // then yielding the core between reads so that a long spin does not starve other threads.
  constexpr int tight_reads = 256;
  for (int i = 0; i < tight_reads; ++i) {
    if (completed_value() >= value) return true;
    if ((i & 15) == 15 && Clock::now() >= end) return false;
  }
  while (Clock::now() < end) {
    if (completed_value() >= value) return true;
    std::this_thread::yield();
  }
  return completed_value() >= value;
}

bool Timeline::block(std::uint64_t value, Clock::time_point deadline,
                     const std::stop_token& stop) const {
  const auto slice = stop.stop_possible() ? std::chrono::nanoseconds(stop_poll_interval)
                                          : std::chrono::nanoseconds(lost_poll_interval);
  const vk::Semaphore handle = *semaphore_;
  const vk::SemaphoreWaitInfo info{.semaphoreCount = 1, .pSemaphores = &handle, .pValues = &value};
  for (;;) {
    const auto now = Clock::now();
    if (now >= deadline) return completed_value() >= value;
    const auto wait_ns = std::min<std::chrono::nanoseconds>(deadline - now, slice);
    const auto result = device_->wait_semaphores(info, static_cast<std::uint64_t>(wait_ns.count()));
    if (result == vk::Result::eSuccess) {
      completed_value();  // refresh the cache for later cheap checks
      return true;
    }
    if (result != vk::Result::eTimeout) {
      device_->throw_vulkan_error(result, "waiting for timeline value " + std::to_string(value));
    }
    device_->check_not_lost("waiting for timeline value " + std::to_string(value));
    if (stop.stop_requested()) {
      throw Error(Errc::cancelled,
                  "stopped while waiting for timeline value " + std::to_string(value));
    }
  }
}

void Timeline::notify(std::uint64_t value, std::function<void(std::uint64_t)> callback) {
  device_->listener().add(shared_from_this(), value, std::move(callback));
}

}  // namespace vecaccel::detail

namespace vecaccel {

SharedEvent::SharedEvent(std::shared_ptr<detail::Timeline> impl) noexcept
    : impl_(std::move(impl)) {}

std::uint64_t SharedEvent::signaled_value() const {
  return impl_->completed_value();
}
void SharedEvent::signal(std::uint64_t value) {
  impl_->signal(value);
}

bool SharedEvent::wait_until_signaled(std::uint64_t value, std::chrono::nanoseconds timeout) const {
  return impl_->wait(value, timeout);
}

void SharedEvent::notify_listener(std::uint64_t value,
                                  std::function<void(std::uint64_t reached)> callback) {
  if (!callback) throw Error(Errc::invalid_argument, "notify_listener needs a callback");
  impl_->notify(value, std::move(callback));
}

}  // namespace vecaccel
