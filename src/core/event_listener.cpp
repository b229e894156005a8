#include "event_listener.hpp"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <string>
#include <system_error>
#include <utility>

#include "device_impl.hpp"
#include "timeline.hpp"

namespace vecaccel::detail {
namespace {

/// Upper bound on one blocking wait, so a device marked lost is noticed without a signal.
constexpr std::uint64_t max_wait_ns = 100'000'000;

/// Listener threads that released their own device's last handle: a thread cannot join
/// itself, so the next one to finish this way joins those before it, and process exit joins
/// the rest. Without that, exit could tear the Vulkan loader down while such a thread is
/// still in vkDestroyDevice (ThreadSanitizer saw it). Process-wide by nature, hence global;
/// never destroyed, since a thread may still hand itself over while the process exits.
struct OrphanedThreads {
  std::mutex mutex;
  std::vector<std::thread> threads;
};

void join_orphaned_threads();

OrphanedThreads& orphaned_threads() {
  static OrphanedThreads* const registry = [] {
    auto owned = std::make_unique<OrphanedThreads>();
    // Exit handlers run before shared libraries' own teardown, the loader's included.
    std::atexit(join_orphaned_threads);
    return owned.release();
  }();
  return *registry;
}

std::vector<std::thread> take_orphaned_threads() {
  OrphanedThreads& orphans = orphaned_threads();
  const std::lock_guard lock(orphans.mutex);
  return std::exchange(orphans.threads, {});
}

void join_orphaned_threads() {
  for (std::thread& thread : take_orphaned_threads())
    thread.join();
}

/// Called by a listener thread about to release its device: joins the threads handed over
/// before (they are past their device's release), then leaves its own to the next.
void hand_over_current_thread(std::thread self) {
  join_orphaned_threads();
  OrphanedThreads& orphans = orphaned_threads();
  const std::lock_guard lock(orphans.mutex);
  orphans.threads.push_back(std::move(self));
}

}  // namespace

EventListener::EventListener(DeviceImpl& device) : device_(device) {
  const vk::SemaphoreTypeCreateInfo type{.semaphoreType = vk::SemaphoreType::eTimeline,
                                         .initialValue = 0};
  wake_ = device_.call("creating the event listener's semaphore", [&] {
    return vk::raii::Semaphore(device_.device(), vk::SemaphoreCreateInfo{.pNext = &type});
  });
  try {
    thread_ = std::thread(&EventListener::run, state_, &device_, *wake_);
  } catch (const std::system_error& e) {
    throw Error(Errc::device_initialization_failed,
                std::string("cannot start the event listener thread: ") + e.what());
  }
}

EventListener::~EventListener() {
  std::unique_lock lock(state_->mutex);
  state_->stopping = true;
  if (thread_.get_id() == std::this_thread::get_id()) {
    // The thread is unwinding a callback that released the device: it returns as soon as it
    // sees `stopping`, touching only the shared state.
    lock.unlock();
    hand_over_current_thread(std::move(thread_));
    return;
  }
  signal_wake_locked();
  lock.unlock();
  thread_.join();
}

void EventListener::add(std::shared_ptr<Timeline> timeline, std::uint64_t value,
                        std::function<void(std::uint64_t)> callback) {
  std::lock_guard lock(state_->mutex);
  state_->pending.push_back({std::move(timeline), value, std::move(callback)});
  signal_wake_locked();
}

void EventListener::wake() {
  std::lock_guard lock(state_->mutex);
  signal_wake_locked();
}

void EventListener::signal_wake_locked() {
  // Under the mutex: host signals of one timeline must reach the driver in increasing order.
  const std::uint64_t value = ++state_->wake_value;
  state_->changed.notify_one();
  const vk::SemaphoreSignalInfo info{.semaphore = *wake_, .value = value};
  // Failure (a lost device) is noticed by the thread through the device's state.
  (void)device_.device().getDispatcher()->vkSignalSemaphore(
      *device_.device(), reinterpret_cast<const VkSemaphoreSignalInfo*>(&info));
}

void EventListener::fire_ready(std::vector<Entry>& entries, bool finish_all) {
  std::vector<Entry> ready;
  auto keep = entries.begin();
  for (auto& entry : entries) {
    bool reached = finish_all;
    try {
      reached = reached || entry.timeline->reached(entry.value);
    } catch (...) {
      reached = true;  // lost device: nothing will advance any more
    }
    if (reached) {
      ready.push_back(std::move(entry));
    } else {
      *keep++ = std::move(entry);
    }
  }
  entries.erase(keep, entries.end());
  for (auto& entry : ready) {
    std::uint64_t value = 0;
    try {
      value = entry.timeline->completed_value();
    } catch (...) {
      value = 0;  // lost: report "not reached" rather than a stale value
    }
    entry.callback(value);
  }
}

void EventListener::run(std::shared_ptr<State> state, DeviceImpl* device, vk::Semaphore wake) {
  std::vector<Entry> waiting;
  for (;;) {
    std::uint64_t seen_wake = 0;
    bool stopping = false;
    {
      std::unique_lock lock(state->mutex);
      state->changed.wait(
          lock, [&] { return state->stopping || !state->pending.empty() || !waiting.empty(); });
      std::move(state->pending.begin(), state->pending.end(), std::back_inserter(waiting));
      state->pending.clear();
      seen_wake = state->wake_value;
      stopping = state->stopping;
    }
    if (stopping) {
      fire_ready(waiting, true);
      waiting.clear();
      return;
    }
    fire_ready(waiting, device->is_lost());
    {
      // Firing may have released the last handle to the device, destroying the listener.
      std::lock_guard lock(state->mutex);
      if (state->stopping) {
        waiting.clear();
        return;
      }
    }
    if (waiting.empty()) continue;

    std::vector<vk::Semaphore> semaphores = {wake};
    std::vector<std::uint64_t> values = {seen_wake + 1};
    for (const auto& entry : waiting) {
      semaphores.push_back(entry.timeline->handle());
      values.push_back(entry.value);
    }
    const vk::SemaphoreWaitInfo info{
        .flags = vk::SemaphoreWaitFlagBits::eAny,
        .semaphoreCount = static_cast<std::uint32_t>(semaphores.size()),
        .pSemaphores = semaphores.data(),
        .pValues = values.data()};
    device->note(device->wait_semaphores(info, max_wait_ns));
  }
}

}  // namespace vecaccel::detail
