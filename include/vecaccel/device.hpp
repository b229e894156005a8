#pragma once
// Device: one GPU (or CPU Vulkan implementation) opened for compute.
//
// A Device is a cheap, copyable handle; copies share the same logical device, which lives
// until the last handle and every object made from it are gone. All member functions are
// thread-safe. Objects made by a device keep it alive.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vecaccel/buffer.hpp"

namespace vecaccel {

class CommandQueue;
class CommandAllocator;
class CommandBuffer;
class SharedEvent;
class ResidencySet;
class ShaderLibrary;
struct CommandQueueDescriptor;
struct ResidencySetDescriptor;

enum class DeviceType { discrete, integrated, virtual_gpu, cpu, other };
std::string_view to_string(DeviceType type) noexcept;

struct MemoryHeapInfo {
  std::uint64_t size = 0;
  bool device_local = false;
};

/// What the driver reports; queried once when the device is enumerated.
struct Capabilities {
  std::uint32_t api_version = 0;  ///< VK_MAKE_API_VERSION encoding
  bool timeline_semaphore = false;
  bool synchronization2 = false;
  bool buffer_device_address = false;
  bool push_descriptor = false;
  /// 16 x 16 x 16 float16 matrix products into float32 per subgroup (VK_NV_cooperative_matrix).
  bool cooperative_matrix = false;
  /// 16 x 16 x 32 uint8 x uint8 -> uint32 and int8 x int8 -> int32 matrix products per
  /// subgroup (VK_NV_cooperative_matrix's integer shapes, with shaderInt8): exact screens of
  /// uint8/int8 bases.
  bool integer_cooperative_matrix = false;
  bool memory_priority = false;  ///< VK_EXT_pageable_device_local_memory
  bool memory_budget = false;    ///< VK_EXT_memory_budget
  bool shader_float16 = false;
  bool shader_float64 = false;  ///< double arithmetic in shaders (exact re-ranking)
  bool subgroup_size_control = false;
  std::uint32_t subgroup_size = 0;
  std::uint32_t min_subgroup_size = 0;
  std::uint32_t max_subgroup_size = 0;
  std::uint32_t max_workgroup_invocations = 0;
  std::uint32_t max_workgroup_size[3] = {0, 0, 0};
  std::uint32_t max_workgroup_count[3] = {0, 0, 0};
  std::uint32_t max_shared_memory_bytes = 0;
  std::uint64_t max_storage_buffer_range = 0;
  std::uint64_t max_buffer_size = 0;  ///< largest single allocation or buffer
  std::uint32_t max_memory_allocation_count = 0;
  std::uint32_t max_push_constants_size = 0;
  std::uint64_t min_storage_buffer_offset_alignment = 0;
  double timestamp_period_ns = 0;  ///< 0 when the compute queue has no timestamps
  std::uint32_t compute_queue_count = 0;
  std::vector<MemoryHeapInfo> memory_heaps;
  std::uint64_t device_local_memory = 0;  ///< sum of device-local heaps
};

struct DeviceInfo {
  std::uint32_t index = 0;  ///< position in enumerate()
  std::string name;
  DeviceType type = DeviceType::other;
  std::uint32_t vendor_id = 0;
  std::uint32_t device_id = 0;
  std::string driver_name;
  std::string driver_info;
  Capabilities capabilities;
  /// Vulkan 1.3 with timeline semaphores and synchronization2: the explicit model.
  bool supports_explicit_model = false;
};

/// Features a caller can pretend the driver lacks (tests, and to exercise fallbacks).
struct DeviceOptions {
  bool disable_timeline_semaphore = false;
  bool disable_synchronization2 = false;
  bool disable_cooperative_matrix = false;  ///< float16 and integer cooperative matrices
  bool disable_memory_priority = false;
  bool disable_memory_budget = false;
};

namespace detail {
struct Access;
class DeviceImpl;
}  // namespace detail

class Device {
 public:
  /// Every Vulkan device visible to this process. Throws device_initialization_failed
  /// when no Vulkan loader or driver is usable.
  static std::vector<DeviceInfo> enumerate();
  /// discrete > integrated > virtual > cpu; VECACCEL_DEVICE=<index|name substring>
  /// overrides. Throws device_initialization_failed (with what was found) when none fits.
  static Device select_best(const DeviceOptions& options = {});
  /// Opens enumerate()[index]; invalid_argument when out of range.
  static Device open(std::uint32_t index, const DeviceOptions& options = {});

  const DeviceInfo& info() const noexcept;
  const Capabilities& capabilities() const noexcept;
  bool supports_explicit_model() const noexcept;

  BufferFactory buffer_factory() const;
  ShaderLibrary& shaders() const;

  CommandQueue make_command_queue(const CommandQueueDescriptor& descriptor) const;
  CommandAllocator make_command_allocator() const;
  /// A command buffer made by the device, not by a queue; record it with begin().
  CommandBuffer make_command_buffer() const;
  SharedEvent make_shared_event(std::uint64_t initial_value = 0) const;
  ResidencySet make_residency_set(const ResidencySetDescriptor& descriptor) const;

  /// True once the driver reported VK_ERROR_DEVICE_LOST; every later wait then throws
  /// device_lost.
  bool is_lost() const noexcept;

  explicit Device(std::shared_ptr<detail::DeviceImpl> impl) noexcept;

 private:
  friend struct detail::Access;  // the library reaches the implementation, clients do not
  const std::shared_ptr<detail::DeviceImpl>& impl() const noexcept { return impl_; }
  std::shared_ptr<detail::DeviceImpl> impl_;
};

}  // namespace vecaccel
