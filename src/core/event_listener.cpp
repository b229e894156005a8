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

/// What process exit must wait for. A listener thread may hold the last handle to its device
/// while it fires callbacks, and then destroys the device on its own thread; if the process
/// exits meanwhile, the Vulkan loader and layers are torn down under that vkDestroyDevice
/// (ThreadSanitizer saw it). So exit waits for every firing in progress, then joins the threads
/// that destroyed their own device (a thread cannot join itself: each hands itself over, and
/// the next one or exit joins it). Process-wide by nature, hence global; never destroyed, as a
/// thread may still use it while the process exits.
struct ListenerThreads {
  std::mutex mutex;
  std::condition_variable idle;
  int firing = 0;
  std::vector<std::thread> orphans;
};

void finish_listener_threads();

ListenerThreads& listener_threads() {
  static ListenerThreads* const registry = [] {
    auto owned = std::make_unique<ListenerThreads>();
    // Registered by the first listener, after the loader and layers are loaded: exit handlers
    // run in reverse order, so this one runs before their teardown.
    std::atexit(finish_listener_threads);
    return owned.release();
  }();
  return *registry;
}

std::vector<std::thread> take_orphans() {
  ListenerThreads& threads = listener_threads();
  const std::lock_guard lock(threads.mutex);
  return std::exchange(threads.orphans, {});
}

void join_orphans() {
  for (std::thread& thread : take_orphans())
    thread.join();
}

void finish_listener_threads() {
  ListenerThreads& threads = listener_threads();
  {
    std::unique_lock lock(threads.mutex);
    threads.idle.wait(lock, [&] { return threads.firing == 0; });
  }
  join_orphans();
}

/// Called by a listener thread about to release its device: joins the threads handed over
/// before (they are past their device's release), then leaves its own to the next.
void hand_over_current_thread(std::thread self) {
  join_orphans();
  ListenerThreads& threads = listener_threads();
  const std::lock_guard lock(threads.mutex);
  threads.orphans.push_back(std::move(self));
}

/// Marks a listener thread as firing callbacks and releasing their entries, which may destroy
/// the device: process exit waits until no thread is.
class FiringScope {
 public:
  FiringScope() : threads_(listener_threads()) {
    const std::lock_guard lock(threads_.mutex);
    ++threads_.firing;
  }
  ~FiringScope() {
    const std::lock_guard lock(threads_.mutex);
    if (--threads_.firing == 0) threads_.idle.notify_all();
  }
  FiringScope(const FiringScope&) = delete;
  FiringScope& operator=(const FiringScope&) = delete;

 private:
  ListenerThreads& threads_;
};

}  // namespace

EventListener::EventListener(DeviceImpl& device) : device_(device) {
  listener_threads();  // registers the exit handler now, while the loader is loaded
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
  const FiringScope firing;  // outlives `ready`, whose release may destroy the device
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
