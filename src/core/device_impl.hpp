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
#include <string>
#include <vector>

#include "event_listener.hpp"
#include "vecaccel/buffer.hpp"
#include "vecaccel/device.hpp"
#include "vecaccel/error.hpp"
#include "vk.hpp"

namespace vecaccel {
class ShaderLibrary;
}

namespace vecaccel::detail {

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

  /// Memory type for a storage mode; throws unsupported when the device has none.
  std::uint32_t memory_type(StorageMode storage) const;
  bool memory_type_host_visible(std::uint32_t type) const;

  bool is_lost() const noexcept { return lost_.load(std::memory_order_acquire); }
  void mark_lost() noexcept;
  /// Throws device_lost when the device is lost.
  void check_not_lost(std::string_view during) const;
  /// Converts a Vulkan failure into an Error (marking the device lost when it is).
  [[noreturn]] void throw_vulkan_error(vk::Result result, std::string_view during);

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

/// Capabilities and identity of a physical device, as enumerate() reports them.
DeviceInfo query_device_info(const vk::raii::PhysicalDevice& physical, std::uint32_t index,
                             const DeviceOptions& options);

}  // namespace vecaccel::detail
