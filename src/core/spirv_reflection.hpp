#pragma once
// What a compute pipeline needs to know about its SPIR-V module, read from the module itself:
// the GLCompute entry point, its workgroup size, the storage buffers it binds and the size of
// its push-constant block.
//
// A small parser of our own rather than SPIRV-Cross (Debian 12: 2021.01, a shared C library):
// the library needs five facts, SPIRV-Cross would be a new run-time dependency of every program
// linking the static library, and it assumes a valid module, so malformed input would still
// need the structural checks done here. Every read is bounds-checked: any byte sequence gets an
// Error, never a crash. Full semantic validation stays with the Khronos validation layer
// (VECACCEL_VALIDATION=1), as for any Vulkan application.

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vecaccel/shader_library.hpp"

namespace vecaccel::detail {

struct SpirvInterface {
  std::string entry_point;
  /// After specialization: LocalSize, LocalSizeId, or the WorkgroupSize built-in's constants.
  std::array<std::uint32_t, 3> workgroup_size{};
  /// Bit i: the module declares a storage buffer at binding i of set 0.
  std::uint32_t binding_mask = 0;
  /// Bytes of the push_constant block (its last member's offset + size); 0 without one.
  std::uint32_t push_constant_size = 0;
};

/// Reads the interface of `spirv`, whose GLCompute entry point is named `entry_point` (empty:
/// the module's only one), with `specialization` applied. Throws pipeline_creation_failed,
/// its message starting with `label`, for a module that is not SPIR-V 1.0-1.6 (magic,
/// truncated instructions), has no such entry point or workgroup size, binds anything but
/// storage buffers of set 0 below ArgumentTable::max_bindings, or declares a push-constant
/// block over `max_push_constant_size`; invalid_argument for a specialization of an id the
/// module does not declare, or of one that is not 32 bits wide.
SpirvInterface reflect_spirv(std::span<const std::uint32_t> spirv, std::string_view entry_point,
                             std::span<const SpecializationConstant> specialization,
                             std::uint32_t max_push_constant_size, const std::string& label);

/// The words of a .spv file. io_error naming the path and the reason when it cannot be read;
/// pipeline_creation_failed when its size is not a multiple of 4 bytes.
std::vector<std::uint32_t> read_spirv_file(const std::filesystem::path& path);

}  // namespace vecaccel::detail
