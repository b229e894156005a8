#pragma once
// ArgumentTable (MTL4ArgumentTable): the buffers a dispatch reads and writes, by binding
// index (the `binding = N` of the shader's storage buffers in set 0).
//
// A plain value, not thread-safe; bind it with ComputeEncoder::set_argument_table, which
// copies it, so the table may be changed and bound again for the next dispatch.

#include <array>
#include <cstdint>
#include <optional>

#include "vecaccel/buffer.hpp"

namespace vecaccel {

class ArgumentTable {
 public:
  static constexpr std::uint32_t max_bindings = 8;

  struct Binding {
    Buffer buffer;
    std::uint64_t offset = 0;
    std::uint64_t range = 0;  ///< 0: to the end of the buffer
  };

  /// invalid_argument when index >= max_bindings or offset is outside the buffer.
  ArgumentTable& set_buffer(std::uint32_t index, const Buffer& buffer, std::uint64_t offset = 0,
                            std::uint64_t range = 0);
  /// Binds the buffer that holds gpu_address (resolved on the device at binding time).
  ArgumentTable& set_address(std::uint32_t index, std::uint64_t gpu_address);
  void clear(std::uint32_t index);

  const std::optional<Binding>& binding(std::uint32_t index) const;
  std::optional<std::uint64_t> address(std::uint32_t index) const;

 private:
  std::array<std::optional<Binding>, max_bindings> bindings_{};
  std::array<std::optional<std::uint64_t>, max_bindings> addresses_{};
};

}  // namespace vecaccel
