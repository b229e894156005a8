#pragma once
// ComputeEncoder (MTL4ComputeCommandEncoder, with its blit operations): records dispatches,
// copies, fills and barriers into its command buffer.
//
// Not thread-safe; owned by its CommandBuffer. Commands in one command buffer are ordered
// only by the barriers you encode. Every buffer it touches is checked against residency
// (see CommandBuffer) and throws residency_violation naming the buffer.

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <type_traits>

#include "vecaccel/argument_table.hpp"
#include "vecaccel/buffer.hpp"
#include "vecaccel/shader_library.hpp"

namespace vecaccel {

enum class Stage : std::uint32_t {
  none = 0,
  dispatch = 1u << 0,  ///< compute shaders
  blit = 1u << 1,      ///< copy_buffer, fill_buffer
  host = 1u << 2,      ///< the CPU, through mapped memory
};
constexpr Stage operator|(Stage a, Stage b) {
  return static_cast<Stage>(static_cast<std::uint32_t>(a) | static_cast<std::uint32_t>(b));
}
constexpr bool has_stage(Stage set, Stage s) {
  return (static_cast<std::uint32_t>(set) & static_cast<std::uint32_t>(s)) != 0;
}

namespace detail {
class CommandBufferImpl;
}

class ComputeEncoder {
 public:
  void set_pipeline(const ComputePipeline& pipeline);
  void set_argument_table(const ArgumentTable& table);
  /// Push constants (at most 128 bytes, laid out as the shader's push_constant block).
  template <class T>
  void set_constants(const T& constants) {
    static_assert(std::is_trivially_copyable_v<T>, "push constants are copied as bytes");
    set_constant_bytes(std::as_bytes(std::span(&constants, 1)));
  }
  void set_constant_bytes(std::span<const std::byte> bytes);

  /// Threadgroups (workgroups) in each dimension; checked against the device's limits.
  void dispatch_threadgroups(std::uint32_t x, std::uint32_t y = 1, std::uint32_t z = 1);
  /// Threads in each dimension, rounded up to whole workgroups of the pipeline.
  void dispatch_threads(std::uint32_t x, std::uint32_t y = 1, std::uint32_t z = 1);

  /// Work of `after` stages on these buffers completes (and its writes become visible)
  /// before work of `before` stages on them starts.
  void barrier(std::initializer_list<Buffer> resources, Stage after, Stage before);
  void barrier(std::span<const Buffer> resources, Stage after, Stage before);
  /// The same for all memory.
  void barrier(Stage after, Stage before);

  /// Offsets and size in bytes; ranges must lie inside the buffers.
  void copy_buffer(const Buffer& source, std::uint64_t source_offset, const Buffer& destination,
                   std::uint64_t destination_offset, std::uint64_t size);
  /// Fills with a repeated 32-bit pattern; offset and size multiples of 4.
  void fill_buffer(const Buffer& buffer, std::uint64_t offset, std::uint64_t size,
                   std::uint32_t pattern);

  /// Ends this encoder; the command buffer may make another.
  void end_encoding();
  bool is_encoding() const noexcept;

  explicit ComputeEncoder(detail::CommandBufferImpl& owner) noexcept : owner_(&owner) {}

 private:
  detail::CommandBufferImpl* owner_;
};

}  // namespace vecaccel
