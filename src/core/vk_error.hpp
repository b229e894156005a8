#pragma once
// How a failed Vulkan result becomes a vecaccel::Error (the closed error contract).
// DeviceImpl::check is the entry point for everything done on a device; this is its
// device-independent part, also used where no device exists yet (instance, enumeration).

#include <string_view>

#include "vecaccel/error.hpp"
#include "vk.hpp"

namespace vecaccel::detail {

/// The Errc a failed Vulkan result means: device_lost for VK_ERROR_DEVICE_LOST,
/// out_of_device_memory for any exhaustion (device or host memory, objects, pools, mapping),
/// `fallback` for the rest.
Errc errc_of(vk::Result result, Errc fallback) noexcept;
/// Throws the Error for a failed result: "<during> failed: <result name>".
[[noreturn]] void throw_vulkan_error(vk::Result result, std::string_view during, Errc fallback);

}  // namespace vecaccel::detail
