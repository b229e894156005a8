#include "instance.hpp"

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "util/settings.hpp"
#include "vecaccel/diagnostics.hpp"
#include "vecaccel/error.hpp"
#include "vk_error.hpp"

namespace vecaccel::detail {
namespace {

constexpr const char* validation_layer = "VK_LAYER_KHRONOS_validation";

bool has_layer(const vk::raii::Context& context, std::string_view name) {
  for (const auto& layer : context.enumerateInstanceLayerProperties()) {
    if (name == layer.layerName.data()) return true;
  }
  return false;
}

bool has_extension(const vk::raii::Context& context, std::string_view name) {
  for (const auto& extension : context.enumerateInstanceExtensionProperties()) {
    if (name == extension.extensionName.data()) return true;
  }
  return false;
}

}  // namespace

Instance& Instance::get() {
  // Never destroyed, deliberately: destroying it at exit would unload the driver while
  // devices owned by other statics (or detached threads) may still use it, and an unloaded
  // driver turns its own still-referenced allocations into "leaks" of an unknown module.
  static Instance& instance = *new Instance;  // NOLINT(cppcoreguidelines-owning-memory)
  return instance;
}

Instance::Instance() try {
  api_version_ = context_.enumerateInstanceVersion();
  if (api_version_ < VK_API_VERSION_1_3) {
    // Devices are still listed (as not supporting the explicit model) through a 1.1 instance.
    api_version_ = std::max<std::uint32_t>(api_version_, VK_API_VERSION_1_1);
  } else {
    api_version_ = VK_API_VERSION_1_3;
  }
  const bool wanted = validation_setting();
  validation_ = wanted && has_layer(context_, validation_layer);
  if (wanted && !validation_) {
    std::fprintf(stderr, "vecaccel: VECACCEL_VALIDATION is set but %s is not installed\n",
                 validation_layer);
    messages_.fetch_add(1);
  }
  const bool debug_utils = has_extension(context_, VK_EXT_DEBUG_UTILS_EXTENSION_NAME);

  std::vector<const char*> layers;
  std::vector<const char*> extensions;
  if (validation_) layers.push_back(validation_layer);
  if (debug_utils && validation_) extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  if (has_extension(context_, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
    extensions.push_back(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
  }

  const std::vector<vk::ValidationFeatureEnableEXT> enables = {
      vk::ValidationFeatureEnableEXT::eSynchronizationValidation};
  const vk::ValidationFeaturesEXT features{
      .enabledValidationFeatureCount = static_cast<std::uint32_t>(enables.size()),
      .pEnabledValidationFeatures = enables.data()};
  const vk::ApplicationInfo app{.pApplicationName = "vecaccel",
                                .applicationVersion = 1,
                                .pEngineName = "vecaccel",
                                .engineVersion = 1,
                                .apiVersion = api_version_};
  const vk::InstanceCreateInfo info{
      .pNext = validation_ ? &features : nullptr,
      .flags = has_extension(context_, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)
                   ? vk::InstanceCreateFlagBits::eEnumeratePortabilityKHR
                   : vk::InstanceCreateFlags{},
      .pApplicationInfo = &app,
      .enabledLayerCount = static_cast<std::uint32_t>(layers.size()),
      .ppEnabledLayerNames = layers.data(),
      .enabledExtensionCount = static_cast<std::uint32_t>(extensions.size()),
      .ppEnabledExtensionNames = extensions.data()};
  instance_ = vk::raii::Instance(context_, info);

  if (validation_ && debug_utils) {
    using Severity = vk::DebugUtilsMessageSeverityFlagBitsEXT;
    using Type = vk::DebugUtilsMessageTypeFlagBitsEXT;
    const vk::DebugUtilsMessengerCreateInfoEXT messenger_info{
        .messageSeverity = Severity::eWarning | Severity::eError,
        .messageType = Type::eGeneral | Type::eValidation | Type::ePerformance,
        .pfnUserCallback = &Instance::on_message,
        .pUserData = this};
    messenger_ = vk::raii::DebugUtilsMessengerEXT(instance_, messenger_info);
  }
} catch (const vk::SystemError& e) {
  throw_vulkan_error(static_cast<vk::Result>(e.code().value()), "creating a Vulkan instance",
                     Errc::device_initialization_failed);
} catch (const std::runtime_error& e) {
  // vk::raii::Context throws this when libvulkan.so.1 cannot be loaded.
  if (dynamic_cast<const Error*>(&e) != nullptr) throw;
  throw Error(Errc::device_initialization_failed,
              std::string("no usable Vulkan loader: ") + e.what());
}

VkBool32 Instance::on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                              VkDebugUtilsMessageTypeFlagsEXT /*types*/,
                              const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
  auto* self = static_cast<Instance*>(user);
  // Debian 12's layer (1.3.239) can report this when one thread signals a timeline on the host
  // while another waits on it; the layer itself calls it "most likely a validation bug", and
  // it was fixed upstream (KhronosGroup/Vulkan-ValidationLayers pull 8519). It says nothing
  // about the application, so it is shown but not counted.
  const std::string_view id = data->pMessageIdName != nullptr ? data->pMessageIdName : "";
  if (id == "UNASSIGNED-VkSemaphore-state-timeout") {
    std::fprintf(stderr, "vecaccel: validation (known layer bug, not counted): %s\n",
                 data->pMessage != nullptr ? data->pMessage : "");
    return VK_FALSE;
  }
  self->messages_.fetch_add(1);
  const char* level =
      (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) != 0 ? "error" : "warning";
  std::fprintf(stderr, "vecaccel: validation %s: %s\n", level,
               data->pMessage != nullptr ? data->pMessage : "(no message)");
  return VK_FALSE;
}

}  // namespace vecaccel::detail

namespace vecaccel {

std::uint64_t validation_message_count() {
  return detail::Instance::get().validation_message_count();
}
bool validation_enabled() {
  return detail::Instance::get().validation_enabled();
}

}  // namespace vecaccel
