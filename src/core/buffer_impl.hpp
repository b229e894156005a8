#pragma once
// The memory behind a Buffer: its own allocation, or a range of a parent (sub-allocation).

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "device_impl.hpp"
#include "lifetime.hpp"
#include "vecaccel/buffer.hpp"
#include "vk.hpp"

namespace vecaccel::detail {

class DeviceImpl;

/// A shared buffer for upload staging that the host only writes: in device-local memory the
/// host can map where the device has a large such heap (resizable BAR; the GPU's copy out of
/// it then never crosses the bus), else an ordinary shared buffer.
Buffer make_write_only_staging(const BufferFactory& factory, std::uint64_t size, std::string label);

class BufferImpl : public std::enable_shared_from_this<BufferImpl> {
 public:
  /// A dedicated allocation. Throws as BufferFactory::make_buffer documents.
  BufferImpl(std::shared_ptr<DeviceImpl> device, const BufferDescriptor& descriptor);
  /// The same in memory type `memory_type` (host-visible when the descriptor says shared).
  BufferImpl(std::shared_ptr<DeviceImpl> device, const BufferDescriptor& descriptor,
             std::uint32_t memory_type);
  /// size bytes at offset of parent (which stays alive as long as this does).
  BufferImpl(std::shared_ptr<BufferImpl> parent, std::uint64_t offset, std::uint64_t size,
             std::string label);
  ~BufferImpl();
  BufferImpl(const BufferImpl&) = delete;
  BufferImpl& operator=(const BufferImpl&) = delete;

  std::uint64_t id() const noexcept { return id_; }
  std::uint64_t size() const noexcept { return size_; }
  const std::string& label() const noexcept { return label_; }
  StorageMode storage() const noexcept { return storage_; }
  /// The Vulkan buffer and this buffer's offset inside it.
  vk::Buffer handle() const noexcept { return handle_; }
  std::uint64_t offset() const noexcept { return offset_; }
  std::uint64_t address() const noexcept { return address_; }
  std::span<std::byte> mapped() const noexcept { return mapped_; }
  DeviceImpl& device() const noexcept { return *device_; }
  /// "buffer 12 'queries' (4096 bytes)": how errors name a buffer.
  std::string describe() const;

  /// Memory priority in [0, 1] where VK_EXT_pageable_device_local_memory is enabled.
  void set_priority(float priority);

  /// Completion tracking. A command buffer that encodes a use holds a pending use until it is
  /// committed (then the use becomes a timeline value) or dropped.
  void begin_pending_use() noexcept { pending_uses_.fetch_add(1, std::memory_order_acq_rel); }
  void end_pending_use() noexcept { pending_uses_.fetch_sub(1, std::memory_order_acq_rel); }
  void record_use(const std::shared_ptr<ReleaseQueue>& queue, std::uint64_t value);
  /// The first committed use not yet complete, if any.
  std::optional<TimelinePoint> pending_use() const noexcept { return uses_.pending(); }
  /// No pending use and every committed use completed. Never throws: on a lost device, uses
  /// not seen complete count as busy.
  bool is_idle() const noexcept;

 private:
  std::shared_ptr<DeviceImpl> device_;
  std::shared_ptr<BufferImpl> parent_;
  vk::raii::DeviceMemory memory_{nullptr};
  AllocationCount counted_;
  vk::raii::Buffer buffer_{nullptr};
  vk::Buffer handle_;
  std::uint64_t offset_ = 0;
  std::uint64_t size_ = 0;
  std::uint64_t address_ = 0;
  std::uint64_t id_ = 0;
  StorageMode storage_ = StorageMode::shared;
  std::string label_;
  std::span<std::byte> mapped_;

  std::atomic<int> pending_uses_{0};
  LastUses uses_;
};

/// Frees buffer with `free` once no GPU work uses it: at once when idle, else when the queue
/// running that work passes it (the deleter of every buffer handed out, so memory is never
/// freed under the GPU however early its last handle goes).
template <class Free>
void release_when_idle(BufferImpl* buffer, Free free) noexcept {
  const std::optional<TimelinePoint> point = buffer->pending_use();
  if (!point) {
    free(buffer);
    return;
  }
  struct Held {
    BufferImpl* buffer;
    Free free;
  };
  try {
    auto held = std::make_unique<Held>(Held{buffer, free});
    point->queue->defer_destroy(point->value, held.get(), [](void* p) {
      const std::unique_ptr<Held> h(static_cast<Held*>(p));
      release_when_idle(h->buffer, std::move(h->free));  // idle now, or used by another queue
    });
    held.release();  // the queue owns it now
    return;
  } catch (...) {
    // No memory to defer with: wait for the GPU instead.
  }
  point->wait();
  free(buffer);
}

}  // namespace vecaccel::detail
