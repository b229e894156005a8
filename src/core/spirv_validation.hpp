#pragma once
// Validation of a caller's SPIR-V before it reaches the driver, with SPIRV-Tools' validator
// (the one the Khronos validation layer runs): a driver given an invalid module may crash
// (lavapipe does, on a module missing its last OpFunctionEnd), and Vulkan leaves that undefined.

#include <cstdint>
#include <span>
#include <string>

namespace vecaccel::detail {

/// Throws pipeline_creation_failed, "<label> is not valid SPIR-V for Vulkan 1.3: <the
/// validator's first message> (at word N)", unless `spirv` validates for Vulkan 1.3.
void validate_spirv(std::span<const std::uint32_t> spirv, const std::string& label);

}  // namespace vecaccel::detail
