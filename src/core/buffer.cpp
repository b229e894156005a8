#include <algorithm>
#include <string>

#include "access.hpp"
#include "buffer_impl.hpp"
#include "device_impl.hpp"

namespace vecaccel::detail {
namespace {

constexpr vk::BufferUsageFlags usage_flags(bool device_address) {
  vk::BufferUsageFlags flags = vk::BufferUsageFlagBits::eStorageBuffer |
                               vk::BufferUsageFlagBits::eTransferSrc |
                               vk::BufferUsageFlagBits::eTransferDst;
  if (device_address) flags |= vk::BufferUsageFlagBits::eShaderDeviceAddress;
  return flags;
}

}  // namespace

BufferImpl::BufferImpl(std::shared_ptr<DeviceImpl> device, const BufferDescriptor& descriptor)
    : BufferImpl(device, descriptor, device->memory_type(descriptor.storage)) {}

BufferImpl::BufferImpl(std::shared_ptr<DeviceImpl> device, const BufferDescriptor& descriptor,
                       std::uint32_t type)
    : device_(std::move(device)),
      size_(descriptor.size),
      storage_(descriptor.storage),
      label_(descriptor.label) {
  const Capabilities& caps = device_->capabilities();
  if (descriptor.size == 0) throw Error(Errc::invalid_argument, "a buffer needs a size above 0");
  if (descriptor.size > caps.max_buffer_size) {
    throw Error(Errc::buffer_too_large, "buffer of " + std::to_string(descriptor.size) +
                                            " bytes exceeds the device's maximum of " +
                                            std::to_string(caps.max_buffer_size) + " bytes");
  }
  id_ = device_->next_buffer_id();
  const bool bda = caps.buffer_device_address;
  const auto during = [&](std::string_view what) {
    return std::string(what) + " " + std::to_string(size_) + " bytes for buffer '" + label_ + "'";
  };
  buffer_ = device_->call(during("creating a Vulkan buffer of"), [&] {
    return vk::raii::Buffer(device_->device(),
                            vk::BufferCreateInfo{.size = descriptor.size,
                                                 .usage = usage_flags(bda),
                                                 .sharingMode = vk::SharingMode::eExclusive});
  });
  const auto requirements = buffer_.getMemoryRequirements();
  if (!(requirements.memoryTypeBits & (1u << type))) {
    throw Error(Errc::unsupported, "memory type " + std::to_string(type) +
                                       " cannot back storage buffers on this device");
  }
  vk::MemoryAllocateFlagsInfo flags{.flags = bda ? vk::MemoryAllocateFlagBits::eDeviceAddress
                                                 : vk::MemoryAllocateFlags{}};
  vk::MemoryPriorityAllocateInfoEXT priority{.pNext = &flags, .priority = 0.5f};
  vk::MemoryDedicatedAllocateInfo dedicated{
      .pNext = caps.memory_priority ? static_cast<void*>(&priority) : &flags, .buffer = *buffer_};
  memory_ = device_->allocate_memory(
      vk::MemoryAllocateInfo{
          .pNext = &dedicated, .allocationSize = requirements.size, .memoryTypeIndex = type},
      during("allocating"));
  counted_ = AllocationCount(*device_);
  device_->call(during("binding memory of"), [&] { buffer_.bindMemory(*memory_, 0); });
  if (device_->memory_type_host_visible(type)) {
    mapped_ = {device_->map_memory(memory_, during("mapping")), size_};
  }
  handle_ = *buffer_;
  if (bda) {
    address_ = device_->device().getBufferAddress(vk::BufferDeviceAddressInfo{.buffer = handle_});
    device_->register_address(address_, size_, this);
  }
}

BufferImpl::BufferImpl(std::shared_ptr<BufferImpl> parent, std::uint64_t offset, std::uint64_t size,
                       std::string label)
    : device_(parent->device_),
      parent_(std::move(parent)),
      handle_(parent_->handle_),
      offset_(parent_->offset_ + offset),
      size_(size),
      id_(device_->next_buffer_id()),
      storage_(parent_->storage_),
      label_(std::move(label)) {
  if (offset + size > parent_->size_ || size == 0) {
    throw Error(Errc::invalid_argument, "sub-buffer [" + std::to_string(offset) + ", " +
                                            std::to_string(offset + size) + ") is outside " +
                                            parent_->describe());
  }
  if (!parent_->mapped_.empty()) mapped_ = parent_->mapped_.subspan(offset, size);
  if (parent_->address_ != 0) address_ = parent_->address_ + offset;
}

BufferImpl::~BufferImpl() {
  if (address_ != 0 && !parent_) device_->unregister_address(address_);
}

std::string BufferImpl::describe() const {
  std::string out = "buffer " + std::to_string(id_);
  if (!label_.empty()) out += " '" + label_ + "'";
  return out + " (" + std::to_string(size_) + " bytes)";
}

void BufferImpl::set_priority(float priority) {
  if (parent_) return;  // a sub-range shares its parent's memory and priority
  if (!device_->capabilities().memory_priority) return;
  memory_.setPriorityEXT(std::clamp(priority, 0.0f, 1.0f));
}

void BufferImpl::record_use(const std::shared_ptr<ReleaseQueue>& queue, std::uint64_t value) {
  if (parent_) parent_->record_use(queue, value);
  uses_.record(queue, value);
}

bool BufferImpl::is_idle() const noexcept {
  return pending_uses_.load(std::memory_order_acquire) == 0 && uses_.passed();
}

}  // namespace vecaccel::detail

namespace vecaccel {

Buffer::Buffer(std::shared_ptr<detail::BufferImpl> impl) noexcept : impl_(std::move(impl)) {}

std::uint64_t Buffer::size() const noexcept {
  return impl_ ? impl_->size() : 0;
}
std::uint64_t Buffer::id() const noexcept {
  return impl_ ? impl_->id() : 0;
}
const std::string& Buffer::label() const noexcept {
  static const std::string empty;
  return impl_ ? impl_->label() : empty;
}
StorageMode Buffer::storage() const noexcept {
  return impl_ ? impl_->storage() : StorageMode::shared;
}
std::span<std::byte> Buffer::mapped() const noexcept {
  return impl_ ? impl_->mapped() : std::span<std::byte>();
}
bool Buffer::is_idle() const noexcept {
  return !impl_ || impl_->is_idle();
}

std::uint64_t Buffer::gpu_address() const {
  if (!impl_) throw Error(Errc::invalid_argument, "gpu_address() of an empty buffer handle");
  if (impl_->address() == 0) {
    throw Error(Errc::unsupported, "the device does not support buffer device addresses");
  }
  return impl_->address();
}

BufferFactory::BufferFactory(std::shared_ptr<detail::DeviceImpl> device) noexcept
    : device_(std::move(device)) {}

namespace {

Buffer released_when_idle(std::unique_ptr<detail::BufferImpl> impl) {
  return Buffer(std::shared_ptr<detail::BufferImpl>(impl.release(), [](detail::BufferImpl* b) {
    detail::release_when_idle(b, std::default_delete<detail::BufferImpl>{});
  }));
}

}  // namespace

Buffer BufferFactory::make_buffer(const BufferDescriptor& descriptor) const {
  return released_when_idle(std::make_unique<detail::BufferImpl>(device_, descriptor));
}

Buffer BufferFactory::make_buffer(std::uint64_t size, StorageMode storage) const {
  return make_buffer(BufferDescriptor{.size = size, .storage = storage, .label = {}});
}

}  // namespace vecaccel

namespace vecaccel::detail {

Buffer make_write_only_staging(const BufferFactory& factory, std::uint64_t size,
                               std::string label) {
  const BufferDescriptor descriptor{
      .size = size, .storage = StorageMode::shared, .label = std::move(label)};
  const auto& device = detail::Access::impl(factory);
  const std::optional<std::uint32_t> type = device->write_only_device_memory_type();
  if (!type) return factory.make_buffer(descriptor);
  return released_when_idle(std::make_unique<BufferImpl>(device, descriptor, *type));
}

}  // namespace vecaccel::detail
