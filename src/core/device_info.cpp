// What enumerate() reports: identity and capabilities read from the driver.
#include <algorithm>
#include <string>
#include <string_view>

#include "device_impl.hpp"

namespace vecaccel::detail {
namespace {

/// The cooperative-matrix shapes the device lists (VK_NV_cooperative_matrix); none with
/// subgroups other than 32 wide: the tensor-core kernels' workgroups are 8 subgroups of 32.
std::vector<VkCooperativeMatrixPropertiesNV> coop_shapes(const vk::raii::PhysicalDevice& physical,
                                                         std::uint32_t subgroup_size) {
  if (subgroup_size != 32) return {};
  const auto* dispatch = physical.getDispatcher();
  if (dispatch->vkGetPhysicalDeviceCooperativeMatrixPropertiesNV == nullptr) return {};
  std::uint32_t count = 0;
  if (dispatch->vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(*physical, &count, nullptr) !=
      VK_SUCCESS) {
    return {};
  }
  std::vector<VkCooperativeMatrixPropertiesNV> shapes(
      count,
      VkCooperativeMatrixPropertiesNV{.sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV});
  if (dispatch->vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(*physical, &count,
                                                                 shapes.data()) != VK_SUCCESS) {
    return {};
  }
  shapes.resize(count);
  return shapes;
}

/// Whether `shapes` holds the subgroup product M x N x K of A and B into C = D.
bool lists_shape(const std::vector<VkCooperativeMatrixPropertiesNV>& shapes, std::uint32_t k,
                 VkComponentTypeNV operands, VkComponentTypeNV accumulator) {
  return std::any_of(shapes.begin(), shapes.end(), [&](const auto& p) {
    return p.MSize == 16 && p.NSize == 16 && p.KSize == k && p.AType == operands &&
           p.BType == operands && p.CType == accumulator && p.DType == accumulator &&
           p.scope == VK_SCOPE_SUBGROUP_NV;
  });
}

/// 16 x 16 x 16 float16 products into float32: the float16 tensor-core kernels' shape
/// (distances_coop.glsl, distances_half_coop.glsl).
bool has_f16_coop_shape(const std::vector<VkCooperativeMatrixPropertiesNV>& shapes) {
  return lists_shape(shapes, 16, VK_COMPONENT_TYPE_FLOAT16_NV, VK_COMPONENT_TYPE_FLOAT32_NV);
}

/// 16 x 16 x 32 uint8 products into uint32 and int8 into int32: distances_int_coop.glsl's.
bool has_int8_coop_shapes(const std::vector<VkCooperativeMatrixPropertiesNV>& shapes) {
  return lists_shape(shapes, 32, VK_COMPONENT_TYPE_UINT8_NV, VK_COMPONENT_TYPE_UINT32_NV) &&
         lists_shape(shapes, 32, VK_COMPONENT_TYPE_SINT8_NV, VK_COMPONENT_TYPE_SINT32_NV);
}

bool has_extension(const std::vector<vk::ExtensionProperties>& extensions, std::string_view name) {
  return std::any_of(extensions.begin(), extensions.end(),
                     [&](const auto& e) { return name == e.extensionName.data(); });
}

DeviceType to_device_type(vk::PhysicalDeviceType type) {
  switch (type) {
    case vk::PhysicalDeviceType::eDiscreteGpu:
      return DeviceType::discrete;
    case vk::PhysicalDeviceType::eIntegratedGpu:
      return DeviceType::integrated;
    case vk::PhysicalDeviceType::eVirtualGpu:
      return DeviceType::virtual_gpu;
    case vk::PhysicalDeviceType::eCpu:
      return DeviceType::cpu;
    default:
      return DeviceType::other;
  }
}

void read_memory(const vk::raii::PhysicalDevice& physical, Capabilities& caps) {
  const auto memory = physical.getMemoryProperties();
  for (std::uint32_t i = 0; i < memory.memoryHeapCount; ++i) {
    const auto& heap = memory.memoryHeaps[i];
    const bool local = static_cast<bool>(heap.flags & vk::MemoryHeapFlagBits::eDeviceLocal);
    caps.memory_heaps.push_back({heap.size, local});
    if (local) caps.device_local_memory += heap.size;
  }
}

void read_limits(const vk::PhysicalDeviceLimits& limits, Capabilities& caps) {
  caps.max_workgroup_invocations = limits.maxComputeWorkGroupInvocations;
  for (int i = 0; i < 3; ++i) {
    caps.max_workgroup_size[i] = limits.maxComputeWorkGroupSize[i];
    caps.max_workgroup_count[i] = limits.maxComputeWorkGroupCount[i];
  }
  caps.max_shared_memory_bytes = limits.maxComputeSharedMemorySize;
  caps.max_storage_buffer_range = limits.maxStorageBufferRange;
  caps.max_memory_allocation_count = limits.maxMemoryAllocationCount;
  caps.max_push_constants_size = limits.maxPushConstantsSize;
  caps.min_storage_buffer_offset_alignment = limits.minStorageBufferOffsetAlignment;
}

}  // namespace

DeviceInfo query_device_info(const vk::raii::PhysicalDevice& physical, std::uint32_t index,
                             const DeviceOptions& options) {
  DeviceInfo info;
  info.index = index;
  Capabilities& caps = info.capabilities;
  const auto extensions = physical.enumerateDeviceExtensionProperties();
  const auto base = physical.getProperties();
  caps.api_version = base.apiVersion;
  info.name = base.deviceName.data();
  info.type = to_device_type(base.deviceType);
  info.vendor_id = base.vendorID;
  info.device_id = base.deviceID;
  read_limits(base.limits, caps);
  read_memory(physical, caps);

  const bool v13 = base.apiVersion >= VK_API_VERSION_1_3;
  caps.push_descriptor = has_extension(extensions, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  caps.memory_budget = has_extension(extensions, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  caps.memory_priority =
      has_extension(extensions, VK_EXT_PAGEABLE_DEVICE_LOCAL_MEMORY_EXTENSION_NAME) &&
      has_extension(extensions, VK_EXT_MEMORY_PRIORITY_EXTENSION_NAME);
  // The KHR extension postdates Debian 12's headers; the NV one exposes the same hardware.
  const bool coop_ext = has_extension(extensions, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);

  if (base.apiVersion >= VK_API_VERSION_1_2) {
    vk::PhysicalDeviceVulkan11Properties p11{};
    vk::PhysicalDeviceVulkan12Properties p12{.pNext = &p11};
    vk::PhysicalDeviceVulkan13Properties p13{.pNext = &p12};
    vk::PhysicalDeviceProperties2 props{.pNext = v13 ? static_cast<void*>(&p13) : &p12};
    physical.getDispatcher()->vkGetPhysicalDeviceProperties2(
        *physical, reinterpret_cast<VkPhysicalDeviceProperties2*>(&props));
    info.driver_name = p12.driverName.data();
    info.driver_info = p12.driverInfo.data();
    caps.subgroup_size = p11.subgroupSize;
    caps.min_subgroup_size = v13 ? p13.minSubgroupSize : p11.subgroupSize;
    caps.max_subgroup_size = v13 ? p13.maxSubgroupSize : p11.subgroupSize;
    caps.max_buffer_size = v13 ? p13.maxBufferSize : 0;

    vk::PhysicalDeviceCooperativeMatrixFeaturesNV coop{};
    vk::PhysicalDeviceVulkan11Features f11{.pNext = coop_ext ? &coop : nullptr};
    vk::PhysicalDeviceVulkan12Features f12{.pNext = &f11};
    vk::PhysicalDeviceVulkan13Features f13{.pNext = &f12};
    vk::PhysicalDeviceFeatures2 features{.pNext = v13 ? static_cast<void*>(&f13) : &f12};
    physical.getDispatcher()->vkGetPhysicalDeviceFeatures2(
        *physical, reinterpret_cast<VkPhysicalDeviceFeatures2*>(&features));
    caps.timeline_semaphore = f12.timelineSemaphore;
    caps.buffer_device_address = f12.bufferDeviceAddress;
    caps.shader_float16 = f12.shaderFloat16 && f11.storageBuffer16BitAccess;
    caps.shader_float64 = features.features.shaderFloat64 != VK_FALSE;
    caps.synchronization2 = v13 && f13.synchronization2;
    caps.subgroup_size_control = v13 && f13.subgroupSizeControl && f13.computeFullSubgroups;
    const auto shapes = coop_ext && coop.cooperativeMatrix
                            ? coop_shapes(physical, caps.subgroup_size)
                            : std::vector<VkCooperativeMatrixPropertiesNV>{};
    caps.cooperative_matrix = has_f16_coop_shape(shapes);
    // The integer kernel's shared memory is read as 16-byte words; its matrices hold int8
    // components (shaderInt8), and its SPIR-V declares the Vulkan memory model.
    caps.integer_cooperative_matrix =
        has_int8_coop_shapes(shapes) && f12.shaderInt8 && f12.vulkanMemoryModel;
  }
  if (caps.max_buffer_size == 0) caps.max_buffer_size = caps.max_storage_buffer_range;

  const auto families = physical.getQueueFamilyProperties();
  for (const auto& family : families) {
    if (!(family.queueFlags & vk::QueueFlagBits::eCompute)) continue;
    caps.compute_queue_count = std::max(caps.compute_queue_count, family.queueCount);
    if (family.timestampValidBits > 0) caps.timestamp_period_ns = base.limits.timestampPeriod;
  }

  if (options.disable_timeline_semaphore) caps.timeline_semaphore = false;
  if (options.disable_synchronization2) caps.synchronization2 = false;
  if (options.disable_cooperative_matrix) {
    caps.cooperative_matrix = false;
    caps.integer_cooperative_matrix = false;
  }
  if (options.disable_memory_priority) caps.memory_priority = false;
  if (options.disable_memory_budget) caps.memory_budget = false;
  info.supports_explicit_model = v13 && caps.timeline_semaphore && caps.synchronization2;
  return info;
}

}  // namespace vecaccel::detail
