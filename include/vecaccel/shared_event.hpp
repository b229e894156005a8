#pragma once
// SharedEvent (MTLSharedEvent): a 64-bit counter that only grows, signalled by the CPU or by
// a queue on the GPU, and waited on by either. Backed by a Vulkan timeline semaphore.
//
// Thread-safe; a copyable handle. Listener callbacks run on one listener thread owned by the
// device, never on a thread that submits work: keep them short.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace vecaccel {

namespace detail {
struct Access;
class Timeline;
}  // namespace detail

class SharedEvent {
 public:
  /// The value the counter has reached.
  std::uint64_t signaled_value() const;
  /// Sets the counter from the CPU. invalid_argument when value is not above the current
  /// value (a timeline only grows).
  void signal(std::uint64_t value);
  /// Blocks until the counter reaches value; false on timeout. Throws device_lost.
  bool wait_until_signaled(std::uint64_t value, std::chrono::nanoseconds timeout) const;
  /// Calls callback(reached) once the counter reaches value. If the device is lost or
  /// destroyed first, the callback still runs once, with reached < value.
  void notify_listener(std::uint64_t value, std::function<void(std::uint64_t reached)> callback);

  explicit SharedEvent(std::shared_ptr<detail::Timeline> impl) noexcept;

 private:
  friend struct detail::Access;  // the library reaches the implementation, clients do not
  const std::shared_ptr<detail::Timeline>& impl() const noexcept { return impl_; }
  std::shared_ptr<detail::Timeline> impl_;
};

}  // namespace vecaccel
