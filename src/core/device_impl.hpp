#pragma once
// The logical device behind vecaccel::Device, shared by every object made from it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "event_listener.hpp"
#include "vecaccel/buffer.hpp"
#include "vecaccel/device.hpp"
#include "vecaccel/error.hpp"
#include "vk.hpp"
#include "vk_error.hpp"

namespace vecaccel {
class ShaderLibrary;
}

namespace vecaccel::detail {

/// Preference of a device type, best first: discrete 0, integrated, virtual, cpu, other.
int type_rank(DeviceType type);

class BufferImpl;

/// A hardware queue; several CommandQueues may share one, so submission takes its mutex.
struct HardwareQueue {
  vk::Queue queue;
  std::mutex mutex;
};

class DeviceImpl : public std::enable_shared_from_this<DeviceImpl> {
 public:
  DeviceImpl(const vk::raii::PhysicalDevice& physical, DeviceInfo info);
  ~DeviceImpl();
  DeviceImpl(const DeviceImpl&) = delete;
  DeviceImpl& operator=(const DeviceImpl&) = delete;

  const DeviceInfo& info() const noexcept { return info_; }
  const Capabilities& capabilities() const noexcept { return info_.capabilities; }
  const vk::raii::Device& device() const noexcept { return device_; }
  const vk::raii::PhysicalDevice& physical() const noexcept { return physical_; }
  std::uint32_t queue_family() const noexcept { return queue_family_; }
  /// Hardware queues are handed out round-robin to CommandQueues.
  HardwareQueue& next_hardware_queue();
  /// Hardware queues opened (1 on lavapipe).
  std::uint32_t hardware_queue_count() const noexcept {
    return static_cast<std::uint32_t>(queues_.size());
  }

  /// Memory type for a storage mode; throws unsupported when the device has none.
  std::uint32_t memory_type(StorageMode storage) const;
  /// A host-visible, coherent memory type in device-local memory whose heap is large (1 GiB or
  /// more: a resizable BAR, or unified memory), if the device has one. The host should only
  /// write it (it is often uncached across the bus): upload staging, never read-back.
  std::optional<std::uint32_t> write_only_device_memory_type() const;
  bool memory_type_host_visible(std::uint32_t type) const;

  // The device-loss rule and the error contract live here: every Vulkan result of this
  // device goes through check() (or call(), for Vulkan-Hpp calls that throw), which turns a
  // failure into an Error (errc_of) and marks the device lost on VK_ERROR_DEVICE_LOST. Once
  // lost, check_not_lost fails every later operation and wait with device_lost.
  bool is_lost() const noexcept { return lost_.load(std::memory_order_acquire); }
  void mark_lost() noexcept;
  /// The device-loss rule, for paths that cannot throw: a lost result marks the device lost.
  void note(vk::Result result) noexcept {
    if (result == vk::Result::eErrorDeviceLost) mark_lost();
  }
  /// Throws device_lost when the device is lost.
  void check_not_lost(std::string_view during) const;
  /// Throws the Error for a failed result; `fallback` is the code for results that are neither
  /// device loss nor exhaustion (errc_of).
  void check(vk::Result result, std::string_view during,
             Errc fallback = Errc::device_initialization_failed) {
    if (result != vk::Result::eSuccess) throw_vulkan_error(result, during, fallback);
  }
  [[noreturn]] void throw_vulkan_error(vk::Result result, std::string_view during,
                                       Errc fallback = Errc::device_initialization_failed);
  /// Runs f, a Vulkan-Hpp call that reports failure as vk::SystemError, through check().
  template <class F>
  decltype(auto) call(std::string_view during, F&& f,
                      Errc fallback = Errc::device_initialization_failed) {
    try {
      return std::forward<F>(f)();
    } catch (const vk::SystemError& e) {
      throw_vulkan_error(static_cast<vk::Result>(e.code().value()), during, fallback);
    }
  }

  // The calls fault injection can fail (fault_injection.hpp); every use goes through these.
  /// vkAllocateMemory; throws out_of_device_memory (or device_lost) naming `during`.
  vk::raii::DeviceMemory allocate_memory(const vk::MemoryAllocateInfo& info,
                                         std::string_view during);
  /// Device memory allocations alive now (for tests that check nothing leaks).
  std::int64_t live_allocations() const noexcept {
    return live_allocations_.load(std::memory_order_relaxed);
  }
  void count_allocation(int delta) noexcept { live_allocations_.fetch_add(delta); }
  /// vkMapMemory of the whole allocation; throws as allocate_memory does.
  std::byte* map_memory(const vk::raii::DeviceMemory& memory, std::string_view during);
  /// vkQueueSubmit2 of these batches under the hardware queue's mutex; the caller checks.
  vk::Result submit(HardwareQueue& queue, std::span<const vk::SubmitInfo2> submits) noexcept;
  vk::Result submit(HardwareQueue& queue, const vk::SubmitInfo2& one) noexcept {
    return submit(queue, std::span(&one, 1));
  }
  /// vkWaitSemaphores; the caller checks (eTimeout is not a failure).
  vk::Result wait_semaphores(const vk::SemaphoreWaitInfo& info,
                             std::uint64_t timeout_ns) const noexcept;
  /// Waits until the hardware queue has no work left, even on a lost device (where the wait
  /// returns at once: Vulkan requires waits to end in finite time after a loss). Never throws.
  void drain(HardwareQueue& queue) const noexcept;

  /// How long a host wait spins before blocking: short GPU operations complete within
  /// microseconds, far less than a blocking wait's wake-up. Zero on CPU devices, where a
  /// spinning waiter would steal a core from the driver's own worker threads.
  std::chrono::nanoseconds spin_duration() const noexcept { return spin_; }

  EventListener& listener() noexcept { return *listener_; }
  ShaderLibrary& shaders();

  std::uint64_t next_buffer_id() noexcept { return next_buffer_id_.fetch_add(1) + 1; }
  /// Live buffers by device address, for ArgumentTable::set_address.
  void register_address(std::uint64_t address, std::uint64_t size, BufferImpl* buffer);
  void unregister_address(std::uint64_t address);
  /// The buffer holding address and the offset into it; invalid_argument when none does.
  std::pair<std::shared_ptr<BufferImpl>, std::uint64_t> resolve_address(std::uint64_t address);

  /// Set before a context object is made from this device so the first failing check says why.
  void require_explicit_model(std::string_view what) const;

 private:
  vk::raii::PhysicalDevice physical_;
  DeviceInfo info_;
  std::uint32_t queue_family_ = 0;
  vk::raii::Device device_{nullptr};
  std::vector<std::unique_ptr<HardwareQueue>> queues_;
  std::atomic<std::uint32_t> next_queue_{0};
  vk::PhysicalDeviceMemoryProperties memory_properties_{};
  std::atomic<bool> lost_{false};
  std::chrono::nanoseconds spin_{0};
  std::atomic<std::uint64_t> next_buffer_id_{0};
  std::atomic<std::int64_t> live_allocations_{0};

  std::shared_mutex addresses_mutex_;
  struct AddressRange {
    std::uint64_t size;
    BufferImpl* buffer;
  };
  std::map<std::uint64_t, AddressRange> addresses_;

  std::once_flag shaders_once_;
  std::unique_ptr<ShaderLibrary> shaders_;
  std::unique_ptr<EventListener> listener_;
};

/// One device allocation in DeviceImpl's live count, held next to the memory it counts (as a
/// member it is undone also when a constructor throws part way).
class AllocationCount {
 public:
  AllocationCount() = default;
  explicit AllocationCount(DeviceImpl& device) noexcept : device_(&device) {
    device.count_allocation(1);
  }
  AllocationCount(AllocationCount&& other) noexcept
      : device_(std::exchange(other.device_, nullptr)) {}
  AllocationCount& operator=(AllocationCount&& other) noexcept {
    std::swap(device_, other.device_);
    return *this;
  }
  ~AllocationCount() {
    if (device_ != nullptr) device_->count_allocation(-1);
  }

 private:
  DeviceImpl* device_ = nullptr;
};

/// Capabilities and identity of a physical device, as enumerate() reports them.
DeviceInfo query_device_info(const vk::raii::PhysicalDevice& physical, std::uint32_t index,
                             const DeviceOptions& options);

}  // namespace vecaccel::detail
