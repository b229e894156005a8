// kernel_stats: the driver's compiler statistics (registers, shared memory, binary size) for
// every embedded kernel, through VK_KHR_pipeline_executable_properties. Registers decide how
// many workgroups share an SM, which is where the distance kernels win or lose: on NVIDIA,
// 128 registers per thread or fewer keep two 256-thread workgroups per SM.
//
//   kernel_stats [device index]    (default 0; lavapipe does not report statistics)
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline_impl.hpp"

namespace {

bool has_extension(const vk::raii::PhysicalDevice& physical, std::string_view name) {
  for (const auto& e : physical.enumerateDeviceExtensionProperties()) {
    if (name == e.extensionName.data()) return true;
  }
  return false;
}

void print_statistic(const vk::PipelineExecutableStatisticKHR& s) {
  std::printf(" | %s=", s.name.data());
  switch (s.format) {
    case vk::PipelineExecutableStatisticFormatKHR::eBool32:
      std::printf("%u", s.value.b32);
      break;
    case vk::PipelineExecutableStatisticFormatKHR::eInt64:
      std::printf("%lld", static_cast<long long>(s.value.i64));
      break;
    case vk::PipelineExecutableStatisticFormatKHR::eUint64:
      std::printf("%llu", static_cast<unsigned long long>(s.value.u64));
      break;
    case vk::PipelineExecutableStatisticFormatKHR::eFloat64:
      std::printf("%g", s.value.f64);
      break;
  }
}

}  // namespace

int main(int argc, char** argv) {
  vk::raii::Context context;
  const vk::ApplicationInfo app{.apiVersion = VK_API_VERSION_1_3};
  const vk::raii::Instance instance(context, vk::InstanceCreateInfo{.pApplicationInfo = &app});
  const vk::raii::PhysicalDevices physicals(instance);
  const std::size_t index = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 0;
  if (index >= physicals.size()) {
    std::fprintf(stderr, "kernel_stats: device %zu of %zu\n", index, physicals.size());
    return 2;
  }
  const auto& physical = physicals[index];
  std::printf("device %s\n", physical.getProperties().deviceName.data());
  const char* extension = VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
  if (!has_extension(physical, extension)) {
    std::printf("no %s: no statistics to show\n", extension);
    return 0;
  }
  const float priority = 1.0f;
  const vk::DeviceQueueCreateInfo queue{
      .queueFamilyIndex = 0, .queueCount = 1, .pQueuePriorities = &priority};
  vk::PhysicalDevicePipelineExecutablePropertiesFeaturesKHR executable_info{
      .pipelineExecutableInfo = VK_TRUE};
  vk::PhysicalDeviceVulkan13Features features13{.pNext = &executable_info,
                                                .synchronization2 = VK_TRUE};
  vk::PhysicalDeviceVulkan12Features features12{.pNext = &features13, .timelineSemaphore = VK_TRUE};
  const vk::raii::Device device(physical,
                                vk::DeviceCreateInfo{.pNext = &features12,
                                                     .queueCreateInfoCount = 1,
                                                     .pQueueCreateInfos = &queue,
                                                     .enabledExtensionCount = 1,
                                                     .ppEnabledExtensionNames = &extension});
  // Every kernel's bindings fit eight storage buffers in set 0 and 128 bytes of push constants.
  std::vector<vk::DescriptorSetLayoutBinding> bindings;
  for (std::uint32_t b = 0; b < 8; ++b) {
    bindings.push_back({.binding = b,
                        .descriptorType = vk::DescriptorType::eStorageBuffer,
                        .descriptorCount = 1,
                        .stageFlags = vk::ShaderStageFlagBits::eCompute});
  }
  const vk::raii::DescriptorSetLayout set_layout(
      device, vk::DescriptorSetLayoutCreateInfo{.bindingCount = 8, .pBindings = bindings.data()});
  const vk::PushConstantRange range{
      .stageFlags = vk::ShaderStageFlagBits::eCompute, .offset = 0, .size = 128};
  const vk::DescriptorSetLayout layouts[] = {*set_layout};
  const vk::raii::PipelineLayout layout(
      device, vk::PipelineLayoutCreateInfo{.setLayoutCount = 1,
                                           .pSetLayouts = layouts,
                                           .pushConstantRangeCount = 1,
                                           .pPushConstantRanges = &range});
  // Kernels sized by specialization constants get 256 x 1 x 1 threads, a 128-entry sort and
  // eight subgroups: the shapes the library uses on large GPUs.
  const std::uint32_t values[5] = {256, 1, 1, 128, 8};
  std::vector<vk::SpecializationMapEntry> entries;
  for (std::uint32_t i = 0; i < 5; ++i)
    entries.push_back({.constantID = i, .offset = i * 4, .size = 4});
  const vk::SpecializationInfo specialization{.mapEntryCount = 5,
                                              .pMapEntries = entries.data(),
                                              .dataSize = sizeof values,
                                              .pData = values};
  for (const auto& shader : vecaccel::detail::embedded_shaders()) {
    const std::string name(shader.name);
    try {
      const vk::raii::ShaderModule module(
          device, vk::ShaderModuleCreateInfo{.codeSize = shader.spirv.size_bytes(),
                                             .pCode = shader.spirv.data()});
      const vk::raii::Pipeline pipeline(
          device, nullptr,
          vk::ComputePipelineCreateInfo{.flags = vk::PipelineCreateFlagBits::eCaptureStatisticsKHR,
                                        .stage = {.stage = vk::ShaderStageFlagBits::eCompute,
                                                  .module = *module,
                                                  .pName = "main",
                                                  .pSpecializationInfo = &specialization},
                                        .layout = *layout});
      const auto executables =
          device.getPipelineExecutablePropertiesKHR(vk::PipelineInfoKHR{.pipeline = *pipeline});
      for (std::uint32_t e = 0; e < executables.size(); ++e) {
        std::printf("%-26s", name.c_str());
        for (const auto& s : device.getPipelineExecutableStatisticsKHR(
                 vk::PipelineExecutableInfoKHR{.pipeline = *pipeline, .executableIndex = e})) {
          print_statistic(s);
        }
        std::printf("\n");
      }
    } catch (const std::exception& e) {
      std::printf("%-26s failed: %s\n", name.c_str(), e.what());
    }
  }
  return 0;
}
