#pragma once
// One thread per device that runs SharedEvent listener callbacks.
//
// It blocks in vkWaitSemaphores (wait-any) over every awaited timeline plus a private wake
// semaphore that new registrations signal, so it never polls and never runs on a thread that
// submits work. A pending entry holds its event (and so the device) alive until it fires.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "vk.hpp"

namespace vecaccel::detail {

class DeviceImpl;
class Timeline;

class EventListener {
 public:
  explicit EventListener(DeviceImpl& device);
  /// Runs every pending callback with the value reached so far, then stops the thread. May run
  /// on the listener thread itself (a callback dropping the last handle to the device).
  ~EventListener();
  EventListener(const EventListener&) = delete;
  EventListener& operator=(const EventListener&) = delete;

  void add(std::shared_ptr<Timeline> timeline, std::uint64_t value,
           std::function<void(std::uint64_t)> callback);
  /// Wakes the thread so it notices a lost device or new entries.
  void wake();

 private:
  struct Entry {
    std::shared_ptr<Timeline> timeline;
    std::uint64_t value;
    std::function<void(std::uint64_t)> callback;
  };
  /// What the thread shares with the listener; it outlives the listener when the thread
  /// itself destroys the device (it then finds `stopping` and returns).
  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<Entry> pending;
    std::uint64_t wake_value = 0;
    bool stopping = false;
  };
  static void run(std::shared_ptr<State> state, DeviceImpl* device, vk::Semaphore wake);
  static void fire_ready(std::vector<Entry>& entries, bool finish_all);
  void signal_wake_locked();

  DeviceImpl& device_;
  vk::raii::Semaphore wake_{nullptr};
  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::thread thread_;
};

}  // namespace vecaccel::detail
