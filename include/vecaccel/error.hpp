#pragma once
// Errors: every failure in vecaccel is a vecaccel::Error carrying an Errc.
// Messages say what failed and why, with the numbers (sizes, limits, indices). Failed Vulkan
// calls map to device_lost (the device is then lost for good), out_of_device_memory (device
// or host memory, or any other driver resource, ran out: recoverable, the context stays
// usable), or the code of what was being done, with the Vulkan result in the message.

#include <stdexcept>
#include <string>
#include <string_view>

namespace vecaccel {

enum class Errc {
  device_initialization_failed,
  explicit_model_unsupported,
  out_of_device_memory,
  memory_pressure,
  buffer_too_large,
  residency_violation,
  residency_set_full,
  timeout,
  cancelled,
  device_lost,
  invalid_argument,
  pipeline_creation_failed,
  io_error,
  unsupported,
};

/// Name of an error code, e.g. "timeout".
std::string_view to_string(Errc code) noexcept;

/// The one exception type vecaccel throws. what() is "<code>: <message>".
class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& message);
  Errc code() const noexcept { return code_; }

 private:
  Errc code_;
};

}  // namespace vecaccel
