#pragma once
// Diagnostics a program (or its tests) may check: whether the Khronos validation layer runs in
// this process and how many messages it has reported. vecaccel's own tests and the Python
// package's fail on any message (README.md, "Testing").
//
// Both open Vulkan on their first call, which is when the layer is chosen (VECACCEL_VALIDATION,
// or request_validation_layer() before that; settings.hpp). Thread-safe; they never throw for
// a machine without devices (the instance is all they need).

#include <cstdint>

namespace vecaccel {

/// Messages of warning or error severity from the validation layer in this process so far (0
/// while it is off).
std::uint64_t validation_message_count();

/// Whether the Khronos validation layer is active in this process.
bool validation_enabled();

}  // namespace vecaccel
