#include "vecaccel/device.hpp"

#include <algorithm>
#include <string>
#include <string_view>

#include "allocator_impl.hpp"
#include "buffer_impl.hpp"
#include "command_buffer_impl.hpp"
#include "device_impl.hpp"
#include "fault_injection.hpp"
#include "instance.hpp"
#include "pipeline_impl.hpp"
#include "queue_impl.hpp"
#include "residency_set_impl.hpp"
#include "timeline.hpp"
#include "util/settings.hpp"
#include "vecaccel/command_allocator.hpp"
#include "vecaccel/command_buffer.hpp"
#include "vecaccel/command_queue.hpp"
#include "vecaccel/residency_set.hpp"
#include "vecaccel/shader_library.hpp"
#include "vecaccel/shared_event.hpp"

namespace vecaccel {

std::string_view to_string(DeviceType type) noexcept {
  switch (type) {
    case DeviceType::discrete:
      return "discrete";
    case DeviceType::integrated:
      return "integrated";
    case DeviceType::virtual_gpu:
      return "virtual";
    case DeviceType::cpu:
      return "cpu";
    case DeviceType::other:
      return "other";
  }
  return "other";
}

namespace detail {
namespace {

/// Hardware queues opened at most: contexts use up to 2 by default (ContextConfiguration::
/// command_queue_count); the rest lets a configuration measure more (NVIDIA offers 8-16).
constexpr std::uint32_t max_hardware_queues = 8;

/// A compute-only family when there is one (it is never stalled behind graphics work).
std::uint32_t pick_queue_family(const vk::raii::PhysicalDevice& physical) {
  const auto families = physical.getQueueFamilyProperties();
  std::optional<std::uint32_t> any;
  for (std::uint32_t i = 0; i < families.size(); ++i) {
    const auto flags = families[i].queueFlags;
    if (!(flags & vk::QueueFlagBits::eCompute)) continue;
    if (!(flags & vk::QueueFlagBits::eGraphics) && families[i].timestampValidBits > 0) return i;
    if (!any) any = i;
  }
  if (!any) {
    throw Error(Errc::device_initialization_failed, "the device has no compute queue family");
  }
  return *any;
}

std::chrono::nanoseconds spin_for(const DeviceInfo& info) {
  if (const auto setting = spin_setting()) return *setting;
  if (info.type == DeviceType::cpu) return std::chrono::nanoseconds(0);
  // Waking from a blocking wait costs 20-40 us on a discrete GPU's driver: spinning (with
  // yields) for up to 2 ms keeps that off work of up to 2 ms, and beyond it the wake-up is
  // under 2% of the wait.
  return std::chrono::microseconds(2000);
}

}  // namespace

DeviceImpl::DeviceImpl(const vk::raii::PhysicalDevice& physical, DeviceInfo info)
    : physical_(physical), info_(std::move(info)) {
  const Capabilities& caps = info_.capabilities;
  queue_family_ = pick_queue_family(physical_);
  const auto families = physical_.getQueueFamilyProperties();
  const std::uint32_t queue_count =
      std::min(families[queue_family_].queueCount, max_hardware_queues);
  const std::vector<float> priorities(queue_count, 1.0f);
  const vk::DeviceQueueCreateInfo queue_info{.queueFamilyIndex = queue_family_,
                                             .queueCount = queue_count,
                                             .pQueuePriorities = priorities.data()};

  const bool v13 = caps.api_version >= VK_API_VERSION_1_3;
  const bool v12 = caps.api_version >= VK_API_VERSION_1_2;
  std::vector<const char*> extensions;
  if (caps.push_descriptor) extensions.push_back(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  if (caps.memory_budget) extensions.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  if (caps.memory_priority) {
    extensions.push_back(VK_EXT_MEMORY_PRIORITY_EXTENSION_NAME);
    extensions.push_back(VK_EXT_PAGEABLE_DEVICE_LOCAL_MEMORY_EXTENSION_NAME);
  }
  const bool coop = caps.cooperative_matrix || caps.integer_cooperative_matrix;
  if (coop) extensions.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);

  vk::PhysicalDevicePageableDeviceLocalMemoryFeaturesEXT pageable{.pageableDeviceLocalMemory =
                                                                      VK_TRUE};
  vk::PhysicalDeviceCooperativeMatrixFeaturesNV coop_features{
      .pNext = caps.memory_priority ? &pageable : nullptr, .cooperativeMatrix = VK_TRUE};
  void* extension_features = coop                   ? static_cast<void*>(&coop_features)
                             : caps.memory_priority ? static_cast<void*>(&pageable)
                                                    : nullptr;
  vk::PhysicalDeviceVulkan11Features f11{.pNext = extension_features,
                                         .storageBuffer16BitAccess = caps.shader_float16};
  vk::PhysicalDeviceVulkan12Features f12{.pNext = &f11,
                                         .shaderFloat16 = caps.shader_float16,
                                         .shaderInt8 = caps.integer_cooperative_matrix,
                                         .timelineSemaphore = caps.timeline_semaphore,
                                         .bufferDeviceAddress = caps.buffer_device_address,
                                         .vulkanMemoryModel = caps.integer_cooperative_matrix};
  vk::PhysicalDeviceVulkan13Features f13{.pNext = &f12,
                                         .subgroupSizeControl = caps.subgroup_size_control,
                                         .computeFullSubgroups = caps.subgroup_size_control,
                                         .synchronization2 = caps.synchronization2,
                                         .maintenance4 = VK_TRUE};
  void* next = v13 ? static_cast<void*>(&f13) : v12 ? static_cast<void*>(&f12) : nullptr;
  vk::PhysicalDeviceFeatures2 features{.pNext = next};
  features.features.shaderFloat64 = caps.shader_float64 ? VK_TRUE : VK_FALSE;
  const vk::DeviceCreateInfo device_info{
      .pNext = &features,
      .queueCreateInfoCount = 1,
      .pQueueCreateInfos = &queue_info,
      .enabledExtensionCount = static_cast<std::uint32_t>(extensions.size()),
      .ppEnabledExtensionNames = extensions.data()};
  device_ =
      call("creating the logical device", [&] { return vk::raii::Device(physical_, device_info); });
  for (std::uint32_t i = 0; i < queue_count; ++i) {
    auto queue = std::make_unique<HardwareQueue>();
    queue->queue = *device_.getQueue(queue_family_, i);
    queues_.push_back(std::move(queue));
  }
  memory_properties_ = physical_.getMemoryProperties();
  spin_ = spin_for(info_);
  if (info_.supports_explicit_model) listener_ = std::make_unique<EventListener>(*this);
}

DeviceImpl::~DeviceImpl() {
  if (shaders_) shaders_->save_cache();
  listener_.reset();
  shaders_.reset();
  // The result does not matter: a lost device has nothing left to wait for.
  if (*device_) (void)device_.getDispatcher()->vkDeviceWaitIdle(*device_);
}

HardwareQueue& DeviceImpl::next_hardware_queue() {
  return *queues_[next_queue_.fetch_add(1) % queues_.size()];
}

std::uint32_t DeviceImpl::memory_type(StorageMode storage) const {
  using F = vk::MemoryPropertyFlagBits;
  const auto& mp = memory_properties_;
  const auto heap_size = [&](std::uint32_t type) {
    return mp.memoryHeaps[mp.memoryTypes[type].heapIndex].size;
  };
  const auto find = [&](vk::MemoryPropertyFlags wanted, std::uint64_t min_heap) {
    for (std::uint32_t i = 0; i < mp.memoryTypeCount; ++i) {
      if ((mp.memoryTypes[i].propertyFlags & wanted) == wanted && heap_size(i) >= min_heap) {
        return std::optional<std::uint32_t>(i);
      }
    }
    return std::optional<std::uint32_t>();
  };
  const std::uint64_t local = info_.capabilities.device_local_memory;
  std::optional<std::uint32_t> type;
  if (storage == StorageMode::private_) {
    type = find(F::eDeviceLocal, 0);
  } else {
    // Host-cached memory first: the CPU reads results back from shared buffers, and reads
    // from uncached device memory through the PCIe BAR crawl (megabytes per second). On
    // unified-memory devices (CPU drivers, integrated GPUs) such a type is device-local too.
    type = find(F::eDeviceLocal | F::eHostVisible | F::eHostCoherent | F::eHostCached, local / 2);
    if (!type) type = find(F::eHostVisible | F::eHostCoherent | F::eHostCached, 0);
    if (!type) type = find(F::eHostVisible | F::eHostCoherent, 0);
  }
  if (!type) {
    throw Error(Errc::unsupported, "device '" + info_.name + "' has no memory type for " +
                                       (storage == StorageMode::shared ? "shared" : "private") +
                                       " buffers");
  }
  return *type;
}

std::optional<std::uint32_t> DeviceImpl::write_only_device_memory_type() const {
  using F = vk::MemoryPropertyFlagBits;
  constexpr std::uint64_t kMinHeap = std::uint64_t{1} << 30;  // a 256 MiB BAR window is not it
  const vk::MemoryPropertyFlags wanted = F::eDeviceLocal | F::eHostVisible | F::eHostCoherent;
  const auto& mp = memory_properties_;
  for (std::uint32_t i = 0; i < mp.memoryTypeCount; ++i) {
    if ((mp.memoryTypes[i].propertyFlags & wanted) == wanted &&
        mp.memoryHeaps[mp.memoryTypes[i].heapIndex].size >= kMinHeap) {
      return i;
    }
  }
  return std::nullopt;
}

bool DeviceImpl::memory_type_host_visible(std::uint32_t type) const {
  return static_cast<bool>(memory_properties_.memoryTypes[type].propertyFlags &
                           vk::MemoryPropertyFlagBits::eHostVisible);
}

void DeviceImpl::mark_lost() noexcept {
  lost_.store(true, std::memory_order_release);
  if (listener_) listener_->wake();
}

void DeviceImpl::check_not_lost(std::string_view during) const {
  if (is_lost()) {
    throw Error(Errc::device_lost,
                "device '" + info_.name + "' was lost; " + std::string(during) + " failed");
  }
}

Errc errc_of(vk::Result result, Errc fallback) noexcept {
  switch (result) {
    case vk::Result::eErrorDeviceLost:
      return Errc::device_lost;
    case vk::Result::eErrorOutOfDeviceMemory:
    case vk::Result::eErrorOutOfHostMemory:
    case vk::Result::eErrorTooManyObjects:
    case vk::Result::eErrorOutOfPoolMemory:
    case vk::Result::eErrorFragmentedPool:
    case vk::Result::eErrorFragmentation:
    case vk::Result::eErrorMemoryMapFailed:
      return Errc::out_of_device_memory;
    default:
      return fallback;
  }
}

void throw_vulkan_error(vk::Result result, std::string_view during, Errc fallback) {
  throw Error(errc_of(result, fallback), std::string(during) + " failed: " + vk::to_string(result));
}

void DeviceImpl::throw_vulkan_error(vk::Result result, std::string_view during, Errc fallback) {
  note(result);
  detail::throw_vulkan_error(result, "device '" + info_.name + "': " + std::string(during),
                             fallback);
}

vk::raii::DeviceMemory DeviceImpl::allocate_memory(const vk::MemoryAllocateInfo& info,
                                                   std::string_view during) {
  vk::Result result = FaultInjection::intercept(FaultSite::allocate);
  VkDeviceMemory memory = VK_NULL_HANDLE;
  if (result == vk::Result::eSuccess) {
    result = static_cast<vk::Result>(device_.getDispatcher()->vkAllocateMemory(
        *device_, reinterpret_cast<const VkMemoryAllocateInfo*>(&info), nullptr, &memory));
  }
  check(result, during, Errc::out_of_device_memory);
  return vk::raii::DeviceMemory(device_, memory);
}

std::byte* DeviceImpl::map_memory(const vk::raii::DeviceMemory& memory, std::string_view during) {
  vk::Result result = FaultInjection::intercept(FaultSite::map);
  void* data = nullptr;
  if (result == vk::Result::eSuccess) {
    result = static_cast<vk::Result>(
        device_.getDispatcher()->vkMapMemory(*device_, *memory, 0, VK_WHOLE_SIZE, 0, &data));
  }
  check(result, during, Errc::out_of_device_memory);
  return static_cast<std::byte*>(data);
}

vk::Result DeviceImpl::submit(HardwareQueue& queue,
                              std::span<const vk::SubmitInfo2> submits) noexcept {
  const vk::Result injected = FaultInjection::intercept(FaultSite::submit);
  if (injected != vk::Result::eSuccess) return injected;
  std::lock_guard lock(queue.mutex);
  return static_cast<vk::Result>(device_.getDispatcher()->vkQueueSubmit2(
      static_cast<VkQueue>(queue.queue), static_cast<std::uint32_t>(submits.size()),
      reinterpret_cast<const VkSubmitInfo2*>(submits.data()), VK_NULL_HANDLE));
}

vk::Result DeviceImpl::wait_semaphores(const vk::SemaphoreWaitInfo& info,
                                       std::uint64_t timeout_ns) const noexcept {
  const vk::Result injected = FaultInjection::intercept(FaultSite::wait);
  if (injected != vk::Result::eSuccess) return injected;
  return static_cast<vk::Result>(device_.getDispatcher()->vkWaitSemaphores(
      *device_, reinterpret_cast<const VkSemaphoreWaitInfo*>(&info), timeout_ns));
}

void DeviceImpl::drain(HardwareQueue& queue) const noexcept {
  std::lock_guard lock(queue.mutex);
  (void)device_.getDispatcher()->vkQueueWaitIdle(static_cast<VkQueue>(queue.queue));
}

ShaderLibrary& DeviceImpl::shaders() {
  std::call_once(shaders_once_, [this] {
    shaders_ = std::make_unique<ShaderLibrary>(std::make_unique<ShaderLibraryImpl>(*this));
  });
  return *shaders_;
}

void DeviceImpl::register_address(std::uint64_t address, std::uint64_t size, BufferImpl* buffer) {
  std::unique_lock lock(addresses_mutex_);
  addresses_[address] = {size, buffer};
}

void DeviceImpl::unregister_address(std::uint64_t address) {
  std::unique_lock lock(addresses_mutex_);
  addresses_.erase(address);
}

std::pair<std::shared_ptr<BufferImpl>, std::uint64_t> DeviceImpl::resolve_address(
    std::uint64_t address) {
  std::shared_lock lock(addresses_mutex_);
  auto it = addresses_.upper_bound(address);
  if (it != addresses_.begin()) {
    --it;
    auto buffer = it->second.buffer->weak_from_this().lock();
    if (buffer && address < it->first + it->second.size) return {buffer, address - it->first};
  }
  throw Error(Errc::invalid_argument, "gpu address " + std::to_string(address) +
                                          " is inside no live buffer of this device");
}

void DeviceImpl::require_explicit_model(std::string_view what) const {
  if (info_.supports_explicit_model) return;
  const Capabilities& c = info_.capabilities;
  std::string missing;
  if (c.api_version < VK_API_VERSION_1_3) {
    missing += " Vulkan 1.3 (device has " + std::to_string(VK_API_VERSION_MAJOR(c.api_version)) +
               "." + std::to_string(VK_API_VERSION_MINOR(c.api_version)) + ")";
  }
  if (!c.timeline_semaphore) missing += " timelineSemaphore";
  if (!c.synchronization2) missing += " synchronization2";
  throw Error(Errc::explicit_model_unsupported, std::string(what) + " needs the explicit model; '" +
                                                    info_.name + "' lacks:" + missing);
}

int type_rank(DeviceType type) {
  switch (type) {
    case DeviceType::discrete:
      return 0;
    case DeviceType::integrated:
      return 1;
    case DeviceType::virtual_gpu:
      return 2;
    case DeviceType::cpu:
      return 3;
    case DeviceType::other:
      return 4;
  }
  return 5;
}

}  // namespace detail

// --- Device ------------------------------------------------------------------------------

namespace {

vk::raii::PhysicalDevices physical_devices() {
  try {
    return vk::raii::PhysicalDevices(detail::Instance::get().instance());
  } catch (const vk::SystemError& e) {
    detail::throw_vulkan_error(static_cast<vk::Result>(e.code().value()),
                               "enumerating physical devices", Errc::device_initialization_failed);
  }
}

DeviceInfo device_info(const vk::raii::PhysicalDevice& physical, std::uint32_t index,
                       const DeviceOptions& options) {
  try {
    return detail::query_device_info(physical, index, options);
  } catch (const vk::SystemError& e) {
    detail::throw_vulkan_error(static_cast<vk::Result>(e.code().value()),
                               "querying device " + std::to_string(index),
                               Errc::device_initialization_failed);
  }
}

std::vector<DeviceInfo> enumerate_with(const DeviceOptions& options) {
  const vk::raii::PhysicalDevices physicals = physical_devices();
  std::vector<DeviceInfo> out;
  for (std::uint32_t i = 0; i < physicals.size(); ++i) {
    out.push_back(device_info(physicals[i], i, options));
  }
  return out;
}

std::string list_devices(const std::vector<DeviceInfo>& devices) {
  std::string out;
  for (const auto& d : devices) {
    out += " [" + std::to_string(d.index) + "] " + d.name + " (" + std::string(to_string(d.type)) +
           ")";
  }
  return out.empty() ? " none" : out;
}

}  // namespace

Device::Device(std::shared_ptr<detail::DeviceImpl> impl) noexcept : impl_(std::move(impl)) {}

std::vector<DeviceInfo> Device::enumerate() {
  return enumerate_with({});
}

Device Device::open(std::uint32_t index, const DeviceOptions& options) {
  const vk::raii::PhysicalDevices physicals = physical_devices();
  if (index >= physicals.size()) {
    throw Error(Errc::invalid_argument,
                "device index " + std::to_string(index) +
                    " is out of range: " + std::to_string(physicals.size()) + " device(s)");
  }
  auto info = device_info(physicals[index], index, options);
  return Device(std::make_shared<detail::DeviceImpl>(physicals[index], std::move(info)));
}

Device Device::select_best(const DeviceOptions& options) {
  const auto devices = enumerate_with(options);
  if (const auto wanted = detail::device_setting()) {
    const std::string_view w(*wanted);
    const bool numeric =
        std::all_of(w.begin(), w.end(), [](char c) { return c >= '0' && c <= '9'; });
    for (const auto& d : devices) {
      const bool match =
          numeric ? std::to_string(d.index) == w : d.name.find(w) != std::string::npos;
      if (match) return open(d.index, options);
    }
    throw Error(
        Errc::device_initialization_failed,
        "VECACCEL_DEVICE=" + std::string(w) + " matches no device; found:" + list_devices(devices));
  }
  const DeviceInfo* best = nullptr;
  for (const auto& d : devices) {
    const auto key = [](const DeviceInfo& x) {
      return std::pair(!x.supports_explicit_model, detail::type_rank(x.type));
    };
    if (best == nullptr || key(d) < key(*best)) best = &d;
  }
  if (best == nullptr) {
    throw Error(Errc::device_initialization_failed,
                "no Vulkan device found (install a driver; on a machine without a GPU, Mesa's "
                "lavapipe: apt-get install mesa-vulkan-drivers)");
  }
  return open(best->index, options);
}

const DeviceInfo& Device::info() const noexcept {
  return impl_->info();
}
const Capabilities& Device::capabilities() const noexcept {
  return impl_->capabilities();
}
bool Device::supports_explicit_model() const noexcept {
  return impl_->info().supports_explicit_model;
}
bool Device::is_lost() const noexcept {
  return impl_->is_lost();
}
BufferFactory Device::buffer_factory() const {
  return BufferFactory(impl_);
}
ShaderLibrary& Device::shaders() const {
  return impl_->shaders();
}

CommandQueue Device::make_command_queue(const CommandQueueDescriptor& descriptor) const {
  impl_->require_explicit_model("a command queue");
  return CommandQueue(std::make_shared<detail::QueueImpl>(impl_, descriptor));
}

CommandAllocator Device::make_command_allocator() const {
  return CommandAllocator(std::make_shared<detail::AllocatorImpl>(impl_));
}

CommandBuffer Device::make_command_buffer() const {
  return CommandBuffer(std::make_unique<detail::CommandBufferImpl>(impl_));
}

SharedEvent Device::make_shared_event(std::uint64_t initial_value) const {
  impl_->require_explicit_model("a shared event");
  return SharedEvent(std::make_shared<detail::Timeline>(impl_, initial_value, true));
}

ResidencySet Device::make_residency_set(const ResidencySetDescriptor& descriptor) const {
  return ResidencySet(std::make_shared<detail::ResidencySetImpl>(impl_, descriptor));
}

}  // namespace vecaccel
