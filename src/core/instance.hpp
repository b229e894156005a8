#pragma once
// The process-wide Vulkan instance.
//
// One instance per process is deliberate global state: creating it loads the loader and
// layers (tens of milliseconds, more with validation), every Device shares it, and the
// validation messenger must see messages from all of them. It is created on first use and
// lives until exit.

#include <atomic>
#include <cstdint>

#include "vk.hpp"

namespace vecaccel::detail {

class Instance {
 public:
  /// Throws device_initialization_failed when no Vulkan loader/driver is usable.
  static Instance& get();

  const vk::raii::Instance& instance() const noexcept { return instance_; }
  std::uint32_t api_version() const noexcept { return api_version_; }
  /// VECACCEL_VALIDATION=1 (or the layer requested through VK_INSTANCE_LAYERS) enables the
  /// Khronos validation layer with synchronization validation; messages go to stderr.
  bool validation_enabled() const noexcept { return validation_; }
  /// Validation messages of severity warning or error seen so far.
  std::uint64_t validation_message_count() const noexcept { return messages_.load(); }

  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

 private:
  Instance();
  static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                   VkDebugUtilsMessageTypeFlagsEXT types,
                                                   const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                   void* user);

  vk::raii::Context context_;
  std::uint32_t api_version_ = 0;
  bool validation_ = false;
  vk::raii::Instance instance_{nullptr};
  vk::raii::DebugUtilsMessengerEXT messenger_{nullptr};
  std::atomic<std::uint64_t> messages_{0};
};

}  // namespace vecaccel::detail
