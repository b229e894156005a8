#pragma once
// Internal diagnostics for tests: how many validation-layer messages this process has seen.

#include <cstdint>

namespace vecaccel::detail {

/// Messages of warning or error severity from the validation layer (0 when it is off).
std::uint64_t validation_message_count();
/// Whether the Khronos validation layer is active in this process.
bool validation_enabled();

}  // namespace vecaccel::detail
