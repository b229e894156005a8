#pragma once
// CommandBuffer (MTL4CommandBuffer): made by the device, recorded from an allocator,
// submitted through a queue. One-time-submit: after a commit it may be begun again.
//
// Not thread-safe: one thread records a command buffer at a time. Lifecycle:
// begin(allocator) -> make_compute_encoder() ... end_encoding() -> end() -> queue.commit().
// Misuse (encoding before begin, committing twice, ...) throws invalid_argument.

#include <cstdint>
#include <memory>
#include <string>

namespace vecaccel {

class CommandAllocator;
class ComputeEncoder;
class ResidencySet;

namespace detail {
struct Access;
class CommandBufferImpl;
}  // namespace detail

class CommandBuffer {
 public:
  CommandBuffer(CommandBuffer&&) noexcept;
  CommandBuffer& operator=(CommandBuffer&&) noexcept;
  ~CommandBuffer();

  void begin(CommandAllocator& allocator);
  /// Buffers in this set's committed state satisfy residency validation. The set must
  /// outlive the command buffer's submission.
  void use_residency_set(ResidencySet& set);
  /// Residency validation for this command buffer (on by default).
  void set_residency_validation(bool enabled) noexcept;
  /// The encoder lives as long as the command buffer; one is open at a time.
  ComputeEncoder& make_compute_encoder();
  void end();

  void set_label(std::string label);
  const std::string& label() const noexcept;
  /// The timeline value its commit returned; 0 until committed.
  std::uint64_t committed_value() const noexcept;

  explicit CommandBuffer(std::unique_ptr<detail::CommandBufferImpl> impl) noexcept;

 private:
  friend struct detail::Access;  // the library reaches the implementation, clients do not
  const std::unique_ptr<detail::CommandBufferImpl>& impl() const noexcept { return impl_; }
  std::unique_ptr<detail::CommandBufferImpl> impl_;
};

}  // namespace vecaccel
