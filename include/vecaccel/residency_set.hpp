#pragma once
// ResidencySet (MTLResidencySet): the buffers a command buffer or queue may use.
//
// Vulkan keeps memory resident by itself, so a set is membership plus validation, plus
// memory priority where VK_EXT_pageable_device_local_memory exists (see docs/). Adds and
// removes are staged and take effect at commit(); contains() and the counts answer for the
// committed state. A set does not retain its buffers. Thread-safe; copyable handle.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "vecaccel/buffer.hpp"

namespace vecaccel {

struct ResidencySetDescriptor {
  std::string label;
  std::size_t capacity = 256;  ///< most buffers committed at once
};

namespace detail {
struct Access;
class ResidencySetImpl;
}  // namespace detail

class ResidencySet {
 public:
  void add_allocation(const Buffer& buffer);
  void remove_allocation(const Buffer& buffer);
  /// Applies the staged changes. residency_set_full (with the numbers) when the result would
  /// exceed the capacity; the set is then unchanged and the changes stay staged.
  void commit();
  bool contains(const Buffer& buffer) const;
  std::size_t allocation_count() const;
  std::uint64_t allocated_size() const;
  bool has_pending_changes() const;
  std::size_t capacity() const noexcept;
  const std::string& label() const noexcept;

  /// Raises the priority of the committed buffers (hot); end_residency lowers it to 0.
  void request_residency();
  void end_residency();

  friend bool operator==(const ResidencySet& a, const ResidencySet& b) noexcept {
    return a.impl_ == b.impl_;
  }
  explicit ResidencySet(std::shared_ptr<detail::ResidencySetImpl> impl) noexcept;

 private:
  friend struct detail::Access;  // the library reaches the implementation, clients do not
  const std::shared_ptr<detail::ResidencySetImpl>& impl() const noexcept { return impl_; }
  std::shared_ptr<detail::ResidencySetImpl> impl_;
};

}  // namespace vecaccel
