#pragma once
// CommandAllocator (MTL4CommandAllocator): the memory command buffers are recorded into.
//
// Not thread-safe: use one allocator per recording thread. reset() recycles the memory of
// every command buffer recorded from it, so it is allowed only once the GPU has completed
// all of them; earlier it throws invalid_argument with the pending and reached values.

#include <cstdint>
#include <memory>

namespace vecaccel {

namespace detail {
struct Access;
class AllocatorImpl;
}  // namespace detail

class CommandAllocator {
 public:
  CommandAllocator(CommandAllocator&&) noexcept;
  CommandAllocator& operator=(CommandAllocator&&) noexcept;
  ~CommandAllocator();

  /// True when every command buffer recorded from this allocator has completed (or was
  /// never committed). Never throws; on a lost device, work not seen complete is in flight.
  bool is_idle() const noexcept;
  void reset();
  /// Command buffers recorded since the last reset.
  std::uint32_t recorded_count() const noexcept;

  explicit CommandAllocator(std::shared_ptr<detail::AllocatorImpl> impl) noexcept;

 private:
  friend struct detail::Access;  // the library reaches the implementation, clients do not
  const std::shared_ptr<detail::AllocatorImpl>& impl() const noexcept { return impl_; }
  std::shared_ptr<detail::AllocatorImpl> impl_;
};

}  // namespace vecaccel
