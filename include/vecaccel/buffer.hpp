#pragma once
// Buffer: a range of GPU memory usable by shaders, copies and fills.
//
// A Buffer is a copyable handle (like MTLBuffer): copies refer to the same memory, which is
// freed when the last handle goes, or, if committed GPU work still uses it then, once that
// work completes (never under the GPU). Handles are thread-safe to copy; the contents are not
// synchronised — order accesses with barriers and completion waits.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace vecaccel {

enum class StorageMode {
  shared,   ///< host-visible and coherent (device-local where the device offers it)
  private_  ///< device-local only; reach it with copies
};

struct BufferDescriptor {
  std::uint64_t size = 0;
  StorageMode storage = StorageMode::shared;
  std::string label;
};

namespace detail {
struct Access;
class BufferImpl;
class DeviceImpl;
}  // namespace detail

class Buffer {
 public:
  Buffer() = default;  ///< an empty handle; valid() is false

  bool valid() const noexcept { return impl_ != nullptr; }
  std::uint64_t size() const noexcept;
  /// Process-unique, never reused; names the buffer in error messages.
  std::uint64_t id() const noexcept;
  const std::string& label() const noexcept;
  StorageMode storage() const noexcept;
  /// Device address of the first byte (buffer_device_address); unsupported otherwise.
  std::uint64_t gpu_address() const;
  /// Host view of the contents when the memory is host-visible (always for shared buffers;
  /// private ones too on devices with unified memory, such as CPU drivers); else empty.
  std::span<std::byte> mapped() const noexcept;
  /// True when every submission that used the buffer has completed. Never throws: on a lost
  /// device, uses not seen complete count as busy.
  bool is_idle() const noexcept;

  friend bool operator==(const Buffer& a, const Buffer& b) noexcept { return a.impl_ == b.impl_; }

  explicit Buffer(std::shared_ptr<detail::BufferImpl> impl) noexcept;

 private:
  friend struct detail::Access;  // the library reaches the implementation, clients do not
  const std::shared_ptr<detail::BufferImpl>& impl() const noexcept { return impl_; }
  std::shared_ptr<detail::BufferImpl> impl_;
};

/// Makes buffers on one device. Thread-safe; cheap to copy.
class BufferFactory {
 public:
  /// Throws invalid_argument for size 0, buffer_too_large above the device's limits (with
  /// both numbers), out_of_device_memory when the driver refuses. Never returns a smaller
  /// buffer than asked.
  Buffer make_buffer(const BufferDescriptor& descriptor) const;
  Buffer make_buffer(std::uint64_t size, StorageMode storage = StorageMode::shared) const;

  explicit BufferFactory(std::shared_ptr<detail::DeviceImpl> device) noexcept;

 private:
  friend struct detail::Access;  // the library reaches the implementation, clients do not
  const std::shared_ptr<detail::DeviceImpl>& impl() const noexcept { return device_; }
  std::shared_ptr<detail::DeviceImpl> device_;
};

}  // namespace vecaccel
