#include "vecaccel/error.hpp"

namespace vecaccel {

std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::device_initialization_failed:
      return "device_initialization_failed";
    case Errc::explicit_model_unsupported:
      return "explicit_model_unsupported";
    case Errc::out_of_device_memory:
      return "out_of_device_memory";
    case Errc::memory_pressure:
      return "memory_pressure";
    case Errc::buffer_too_large:
      return "buffer_too_large";
    case Errc::residency_violation:
      return "residency_violation";
    case Errc::residency_set_full:
      return "residency_set_full";
    case Errc::timeout:
      return "timeout";
    case Errc::cancelled:
      return "cancelled";
    case Errc::device_lost:
      return "device_lost";
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::pipeline_creation_failed:
      return "pipeline_creation_failed";
    case Errc::io_error:
      return "io_error";
    case Errc::unsupported:
      return "unsupported";
  }
  return "unknown";
}

Error::Error(Errc code, const std::string& message)
    : std::runtime_error(std::string(to_string(code)) + ": " + message), code_(code) {}

}  // namespace vecaccel
