// Issue 2: the Context's round trip and small-operation throughput, beside raw Vulkan on the
// same physical device in the same run, so that the ratio does not depend on the machine.
//
//   BM_RawEmptySubmit/spin:<0|1>  vkQueueSubmit2 of no command buffers, signalling a timeline
//                                 semaphore, then vkWaitSemaphores (0) or a spin on
//                                 vkGetSemaphoreCounterValue (1)
//   BM_RawEmptyCommandBuffer/...  the same, submitting one empty command buffer: what the driver
//                                 charges for an operation that encodes nothing
//   BM_RawDispatch/spin:<0|1>     the same, submitting one pre-recorded scale_add dispatch over
//                                 64 floats (recorded once: the cheapest raw Vulkan can do)
//   BM_RawDispatchHostBarrier/spin:1  the same dispatch followed by the barrier that makes its
//                                 writes visible to the host (what the Context records after
//                                 work): the GPU's cost of that barrier
//   BM_RawContextRecording/spin:1 what the Context records for it (its pipeline, push
//                                 descriptors, constants, host barrier), recorded once: the
//                                 cost of that recording on the GPU against BM_RawDispatch's
//   BM_RawRecordEachDispatch/spin:1  the Context's recording before issue 10's fix, in raw
//                                 Vulkan: per submission the pool is reset and the dispatch
//                                 recorded again (the Context's pipeline, push descriptors,
//                                 constants, host barrier): the driver's cost of recording
//   BM_RawSmallOps/threads:N      raw dispatch + spin from N threads, each with its own
//                                 timeline and buffers, on one hardware queue: its ceiling
//   BM_ContextEmpty               Context::execute_and_wait of an operation that encodes nothing
//   BM_ContextDispatch            execute_and_wait of one scale_add over 64 floats
//   BM_ContextSmallOps/threads:N  the same from N threads sharing one Context (items_per_second)
//   BM_SmallOpsInFlight/cap:C/threads:8  the same from 8 threads on a Context (same device)
//                                 whose max_command_buffer_count is C: how the cap on
//                                 submissions in flight limits throughput
//   BM_SmallOpsQueues/queues:Q/threads:8  the same from 8 threads on a Context with Q command
//                                 queues (command_queue_count; 0 = the default for the device):
//                                 how much several queues lift the one-queue ceiling
//   BM_PairedEmpty, BM_PairedDispatch  raw submit + spin and the Context's execute_and_wait
//                                 alternating in one loop (raw_spin_us, context_us, ratio: the
//                                 medians of each side's times): the comparison the targets use
//
// Each case's label says how its waits ended: "wait=spin" or "wait=block" for the raw cases (the
// argument), and for the Context's the share of its waits that ended while spinning on the
// timeline or in the driver's blocking wait (PerformanceStats::waits_spun / waits_blocked).
//
// Method, so that the raw baselines are comparable run to run: every case first runs its own
// loop for a warm-up time (an idle GPU clocks down, and the first cases of a run used to pay
// for its ramp), then repetitions whose median is the figure (--benchmark_repetitions, see
// BENCHMARKS.md for the command line). The raw side runs on the Context's own VkDevice (see
// RawVulkan).
//
// Targets (issue 10): empty round trip <= 10 us, one dispatch <= 1.1x raw spinning,
// >= 150k small ops/s from 8 threads.
#include <benchmark/benchmark.h>
#include <vulkan/vulkan.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/access.hpp"
#include "device_impl.hpp"
#include "pipeline_impl.hpp"
#include "vecaccel/vecaccel.hpp"

namespace {

using namespace vecaccel;

constexpr std::uint32_t element_count = 64;
/// Each case runs its loop this long before measuring (see the method above).
constexpr double warm_up_seconds = 0.2;
constexpr std::uint32_t workgroup_size = 64;
/// A wait that outlasts this is a hang, not a measurement.
constexpr std::uint64_t wait_limit_ns = 10'000'000'000;

// shaders/scale_add.comp, compiled by glslc for this program (bench/CMakeLists.txt): the raw
// baseline runs the very shader the Context runs.
constexpr std::uint32_t scale_add_spirv[] =
#include "scale_add_raw.spv.inc"
    ;

/// What a raw submission carries.
enum class Payload {
  none,
  empty_command_buffer,
  dispatch,
  dispatch_host_barrier,      // pre-recorded, with the Context's host-visibility barrier
  dispatch_recorded_each,     // recorded again before each submission, as the Context used to
  dispatch_context_recording  // what the Context records, recorded once
};
bool dispatches(Payload payload) {
  return payload != Payload::none && payload != Payload::empty_command_buffer;
}

/// The push-constant block of scale_add.comp.
struct ScaleAddConstants {
  std::uint32_t count;
  float a;
};

void check(VkResult result, const char* what) {
  if (result != VK_SUCCESS) {
    throw std::runtime_error(std::string(what) + " failed: VkResult " + std::to_string(result));
  }
}

// ---------------------------------------------------------------------------------------------
// vecaccel

Context& shared_context() {
  // One context for every benchmark and thread, as an application would have.
  static Context context;
  return context;
}

const ComputePipeline& scale_add_pipeline() {
  static const ComputePipeline pipeline = shared_context().device().shaders().pipeline(
      {.name = "scale_add", .workgroup_size = {workgroup_size, 1, 1}});
  return pipeline;
}

// ---------------------------------------------------------------------------------------------
// Raw Vulkan on the Context's own VkDevice (through the library's internal DeviceImpl), with
// its own queue where the family has several, its own timeline, buffers, pipeline and command
// buffers, and the Context's memory-type choice, so that only the library's overhead differs.
// Not a second VkDevice: on an H200 alternating submissions of two devices in one loop cost
// about 160 us each (a switch between GPU contexts), and separate cases of a run with two
// devices alive took either ~9 us or ~50 us per round trip.

class RawVulkan {
 public:
  /// queue: the hardware queue to submit to; null: the device's next one.
  RawVulkan(const Device& device, const ComputePipeline& context_pipeline,
            vecaccel::detail::HardwareQueue* queue = nullptr)
      : context_layout_(vecaccel::detail::Access::impl(context_pipeline)->layout()),
        context_pipeline_(vecaccel::detail::Access::impl(context_pipeline)->pipeline()) {
    adopt_device(device, queue);
    create_buffers();
    create_pipeline();
    record_command_buffers();
  }

  ~RawVulkan() {
    // Its own work only (the Context drains its queue itself); a failure leaves nothing to do.
    const VkSemaphoreWaitInfo info{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
                                   .semaphoreCount = 1,
                                   .pSemaphores = &timeline_,
                                   .pValues = &last_value_};
    (void)vkWaitSemaphores(device_, &info, wait_limit_ns);
    vkDestroyCommandPool(device_, command_pool_, nullptr);
    vkDestroyCommandPool(device_, each_pool_, nullptr);
    vkDestroyPipeline(device_, pipeline_, nullptr);
    vkDestroyPipelineLayout(device_, pipeline_layout_, nullptr);
    vkDestroyDescriptorPool(device_, descriptor_pool_, nullptr);
    vkDestroyDescriptorSetLayout(device_, set_layout_, nullptr);
    for (std::size_t i = 0; i < buffers_.size(); ++i) {
      vkDestroyBuffer(device_, buffers_[i], nullptr);
      vkFreeMemory(device_, memory_[i], nullptr);
    }
    vkDestroySemaphore(device_, timeline_, nullptr);
  }
  RawVulkan(const RawVulkan&) = delete;
  RawVulkan& operator=(const RawVulkan&) = delete;

  /// One vkQueueSubmit2 signalling the next timeline value. Returns the value that marks its
  /// completion.
  std::uint64_t submit(Payload payload) {
    if (payload == Payload::dispatch_recorded_each) record_each();
    const VkCommandBufferSubmitInfo command{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_SUBMIT_INFO,
                                            .commandBuffer = command_buffer(payload)};
    // ALL_COMMANDS, as the Context's queue signals its completion timeline.
    const VkSemaphoreSubmitInfo signal{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SUBMIT_INFO,
                                       .semaphore = timeline_,
                                       .value = ++last_value_,
                                       .stageMask = VK_PIPELINE_STAGE_2_ALL_COMMANDS_BIT};
    const VkSubmitInfo2 info{.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO_2,
                             .commandBufferInfoCount = payload == Payload::none ? 0u : 1u,
                             .pCommandBufferInfos = &command,
                             .signalSemaphoreInfoCount = 1,
                             .pSignalSemaphoreInfos = &signal};
    // The library's rule for a hardware queue that CommandQueues may share.
    const std::lock_guard lock(queue_->mutex);
    check(vkQueueSubmit2(queue_->queue, 1, &info, VK_NULL_HANDLE), "vkQueueSubmit2");
    return last_value_;
  }

  void wait_blocking(std::uint64_t value) const {
    const VkSemaphoreWaitInfo info{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
                                   .semaphoreCount = 1,
                                   .pSemaphores = &timeline_,
                                   .pValues = &value};
    check(vkWaitSemaphores(device_, &info, wait_limit_ns), "vkWaitSemaphores");
  }

  void wait_spinning(std::uint64_t value) const {
    std::uint64_t reached = 0;
    do {
      check(vkGetSemaphoreCounterValue(device_, timeline_, &reached), "vkGetSemaphoreCounterValue");
    } while (reached < value);
  }

  /// x = y = 1 again; call only while the queue is idle (every benchmark waits each submit).
  void reset_data() {
    for (void* mapped : mapped_) {
      auto* values = static_cast<float*>(mapped);
      std::fill(values, values + element_count, 1.0f);
    }
  }
  float y0() const { return static_cast<const float*>(mapped_[1])[0]; }
  vecaccel::detail::HardwareQueue* queue() const { return queue_; }

 private:
  VkCommandBuffer command_buffer(Payload payload) const {
    switch (payload) {
      case Payload::dispatch:
        return dispatch_buffer_;
      case Payload::dispatch_host_barrier:
        return barrier_buffer_;
      case Payload::dispatch_recorded_each:
        return each_buffer_;
      case Payload::dispatch_context_recording:
        return context_recording_;
      default:
        return empty_buffer_;
    }
  }

  /// What CommandBufferImpl recorded for one scale_add before recordings were reused.
  void record_each() {
    check(vkResetCommandPool(device_, each_pool_, 0), "vkResetCommandPool");
    record_as_context(each_buffer_, VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT);
  }

  /// The Context's recording of one scale_add: its pipeline, push descriptors, constants,
  /// dispatch and host barrier.
  void record_as_context(VkCommandBuffer buffer, VkCommandBufferUsageFlags flags) {
    const VkCommandBufferBeginInfo begin{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                         .flags = flags};
    check(vkBeginCommandBuffer(buffer, &begin), "vkBeginCommandBuffer");
    vkCmdBindPipeline(buffer, VK_PIPELINE_BIND_POINT_COMPUTE, context_pipeline_);
    std::array<VkDescriptorBufferInfo, 2> infos{};
    std::array<VkWriteDescriptorSet, 2> writes{};
    for (std::uint32_t i = 0; i < 2; ++i) {
      infos[i] = {.buffer = buffers_[i], .offset = 0, .range = element_count * sizeof(float)};
      writes[i] = {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                   .dstBinding = i,
                   .descriptorCount = 1,
                   .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                   .pBufferInfo = &infos[i]};
    }
    push_descriptor_set_(buffer, VK_PIPELINE_BIND_POINT_COMPUTE, context_layout_, 0, 2,
                         writes.data());
    const ScaleAddConstants constants{element_count, 1.0f};
    vkCmdPushConstants(buffer, context_layout_, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(constants),
                       &constants);
    vkCmdDispatch(buffer, element_count / workgroup_size, 1, 1);
    record_host_barrier(buffer);
    check(vkEndCommandBuffer(buffer), "vkEndCommandBuffer");
  }

  static void record_host_barrier(VkCommandBuffer buffer) {
    const VkMemoryBarrier2 to_host{
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER_2,
        .srcStageMask = VK_PIPELINE_STAGE_2_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_2_COPY_BIT |
                        VK_PIPELINE_STAGE_2_CLEAR_BIT,
        .srcAccessMask = VK_ACCESS_2_SHADER_STORAGE_WRITE_BIT | VK_ACCESS_2_TRANSFER_WRITE_BIT,
        .dstStageMask = VK_PIPELINE_STAGE_2_HOST_BIT,
        .dstAccessMask = VK_ACCESS_2_HOST_READ_BIT};
    const VkDependencyInfo dependency{.sType = VK_STRUCTURE_TYPE_DEPENDENCY_INFO,
                                      .memoryBarrierCount = 1,
                                      .pMemoryBarriers = &to_host};
    vkCmdPipelineBarrier2(buffer, &dependency);
  }

  void adopt_device(const Device& device, vecaccel::detail::HardwareQueue* queue) {
    const vecaccel::detail::DeviceImpl& impl = *vecaccel::detail::Access::impl(device);
    device_ = *impl.device();
    physical_ = *impl.physical();
    family_ = impl.queue_family();
    // Handed out round-robin: the Context's queue took the first, so this is another where the
    // family has several hardware queues, else the same one (then submissions take its mutex).
    queue_ =
        queue != nullptr ? queue : &vecaccel::detail::Access::impl(device)->next_hardware_queue();

    const VkSemaphoreTypeCreateInfo type{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                         .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE};
    const VkSemaphoreCreateInfo semaphore_info{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO,
                                               .pNext = &type};
    check(vkCreateSemaphore(device_, &semaphore_info, nullptr, &timeline_), "vkCreateSemaphore");
  }

  /// The memory type the Context's pool gives shared buffers (DeviceImpl::memory_type).
  std::uint32_t shared_memory_type(std::uint32_t allowed) const {
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(physical_, &mp);
    VkDeviceSize device_local = 0;
    for (std::uint32_t i = 0; i < mp.memoryHeapCount; ++i) {
      if ((mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0) {
        device_local += mp.memoryHeaps[i].size;
      }
    }
    const auto find = [&](VkMemoryPropertyFlags wanted,
                          VkDeviceSize min_heap) -> std::optional<std::uint32_t> {
      for (std::uint32_t i = 0; i < mp.memoryTypeCount; ++i) {
        if ((allowed & (1u << i)) != 0 && (mp.memoryTypes[i].propertyFlags & wanted) == wanted &&
            mp.memoryHeaps[mp.memoryTypes[i].heapIndex].size >= min_heap) {
          return i;
        }
      }
      return std::nullopt;
    };
    constexpr VkMemoryPropertyFlags host =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    auto type = find(VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | host, device_local / 2);
    if (!type) type = find(host | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
    if (!type) type = find(host, 0);
    if (!type) throw std::runtime_error("no host-visible memory type for the raw buffers");
    return *type;
  }

  void create_buffers() {
    for (std::size_t i = 0; i < buffers_.size(); ++i) {
      const VkBufferCreateInfo info{.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                                    .size = element_count * sizeof(float),
                                    .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT};
      check(vkCreateBuffer(device_, &info, nullptr, &buffers_[i]), "vkCreateBuffer");
      VkMemoryRequirements requirements;
      vkGetBufferMemoryRequirements(device_, buffers_[i], &requirements);
      const VkMemoryAllocateInfo allocate{
          .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
          .allocationSize = requirements.size,
          .memoryTypeIndex = shared_memory_type(requirements.memoryTypeBits)};
      check(vkAllocateMemory(device_, &allocate, nullptr, &memory_[i]), "vkAllocateMemory");
      check(vkBindBufferMemory(device_, buffers_[i], memory_[i], 0), "vkBindBufferMemory");
      check(vkMapMemory(device_, memory_[i], 0, VK_WHOLE_SIZE, 0, &mapped_[i]), "vkMapMemory");
    }
    reset_data();
  }

  void create_pipeline() {
    const std::array<VkDescriptorSetLayoutBinding, 2> bindings{{
        {.binding = 0,
         .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
         .descriptorCount = 1,
         .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT},
        {.binding = 1,
         .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
         .descriptorCount = 1,
         .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT},
    }};
    const VkDescriptorSetLayoutCreateInfo layout_info{
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = static_cast<std::uint32_t>(bindings.size()),
        .pBindings = bindings.data()};
    check(vkCreateDescriptorSetLayout(device_, &layout_info, nullptr, &set_layout_),
          "vkCreateDescriptorSetLayout");
    const VkPushConstantRange constants{.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
                                        .size = sizeof(ScaleAddConstants)};
    const VkPipelineLayoutCreateInfo pipeline_layout_info{
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &set_layout_,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &constants};
    check(vkCreatePipelineLayout(device_, &pipeline_layout_info, nullptr, &pipeline_layout_),
          "vkCreatePipelineLayout");

    const VkDescriptorPoolSize pool_size{.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                         .descriptorCount = 2};
    const VkDescriptorPoolCreateInfo pool_info{
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = 1,
        .poolSizeCount = 1,
        .pPoolSizes = &pool_size};
    check(vkCreateDescriptorPool(device_, &pool_info, nullptr, &descriptor_pool_),
          "vkCreateDescriptorPool");
    const VkDescriptorSetAllocateInfo set_info{
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = descriptor_pool_,
        .descriptorSetCount = 1,
        .pSetLayouts = &set_layout_};
    check(vkAllocateDescriptorSets(device_, &set_info, &descriptor_set_),
          "vkAllocateDescriptorSets");
    std::array<VkDescriptorBufferInfo, 2> buffer_infos{};
    std::array<VkWriteDescriptorSet, 2> writes{};
    for (std::uint32_t i = 0; i < 2; ++i) {
      buffer_infos[i] = {.buffer = buffers_[i], .offset = 0, .range = VK_WHOLE_SIZE};
      writes[i] = {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                   .dstSet = descriptor_set_,
                   .dstBinding = i,
                   .descriptorCount = 1,
                   .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                   .pBufferInfo = &buffer_infos[i]};
    }
    vkUpdateDescriptorSets(device_, 2, writes.data(), 0, nullptr);

    const VkShaderModuleCreateInfo module_info{.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                               .codeSize = sizeof(scale_add_spirv),
                                               .pCode = scale_add_spirv};
    VkShaderModule module = VK_NULL_HANDLE;
    check(vkCreateShaderModule(device_, &module_info, nullptr, &module), "vkCreateShaderModule");
    // The workgroup size is specialisation constants 0..2, as ShaderLibrary sets them.
    const std::array<std::uint32_t, 3> size{workgroup_size, 1, 1};
    const std::array<VkSpecializationMapEntry, 3> entries{{
        {.constantID = 0, .offset = 0, .size = 4},
        {.constantID = 1, .offset = 4, .size = 4},
        {.constantID = 2, .offset = 8, .size = 4},
    }};
    const VkSpecializationInfo specialization{.mapEntryCount = 3,
                                              .pMapEntries = entries.data(),
                                              .dataSize = sizeof(size),
                                              .pData = size.data()};
    const VkComputePipelineCreateInfo pipeline_info{
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = module,
                  .pName = "main",
                  .pSpecializationInfo = &specialization},
        .layout = pipeline_layout_};
    const VkResult result =
        vkCreateComputePipelines(device_, VK_NULL_HANDLE, 1, &pipeline_info, nullptr, &pipeline_);
    vkDestroyShaderModule(device_, module, nullptr);
    check(result, "vkCreateComputePipelines");
  }

  /// Recorded once and submitted again after each completion (no SIMULTANEOUS_USE needed).
  void record_command_buffers() {
    const VkCommandPoolCreateInfo pool_info{.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                            .queueFamilyIndex = family_};
    check(vkCreateCommandPool(device_, &pool_info, nullptr, &command_pool_), "vkCreateCommandPool");
    const VkCommandBufferAllocateInfo allocate{
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = command_pool_,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 3};
    std::array<VkCommandBuffer, 3> buffers{};
    check(vkAllocateCommandBuffers(device_, &allocate, buffers.data()), "vkAllocateCommandBuffers");
    empty_buffer_ = buffers[0];
    dispatch_buffer_ = buffers[1];
    barrier_buffer_ = buffers[2];
    const VkCommandBufferBeginInfo begin{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    check(vkBeginCommandBuffer(empty_buffer_, &begin), "vkBeginCommandBuffer");
    check(vkEndCommandBuffer(empty_buffer_), "vkEndCommandBuffer");
    for (VkCommandBuffer buffer : {dispatch_buffer_, barrier_buffer_}) {
      check(vkBeginCommandBuffer(buffer, &begin), "vkBeginCommandBuffer");
      vkCmdBindPipeline(buffer, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_);
      vkCmdBindDescriptorSets(buffer, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_layout_, 0, 1,
                              &descriptor_set_, 0, nullptr);
      const ScaleAddConstants constants{element_count, 1.0f};
      vkCmdPushConstants(buffer, pipeline_layout_, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                         sizeof(constants), &constants);
      vkCmdDispatch(buffer, element_count / workgroup_size, 1, 1);
      if (buffer == barrier_buffer_) record_host_barrier(buffer);
      check(vkEndCommandBuffer(buffer), "vkEndCommandBuffer");
    }

    // Recorded again before each submission (record_each), from a transient pool of its own.
    const VkCommandPoolCreateInfo each_info{.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                            .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
                                            .queueFamilyIndex = family_};
    check(vkCreateCommandPool(device_, &each_info, nullptr, &each_pool_), "vkCreateCommandPool");
    const VkCommandBufferAllocateInfo allocate_each{
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = each_pool_,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1};
    check(vkAllocateCommandBuffers(device_, &allocate_each, &each_buffer_),
          "vkAllocateCommandBuffers");
    push_descriptor_set_ = reinterpret_cast<PFN_vkCmdPushDescriptorSetKHR>(
        vkGetDeviceProcAddr(device_, "vkCmdPushDescriptorSetKHR"));
    if (push_descriptor_set_ == nullptr) {
      throw std::runtime_error("vkCmdPushDescriptorSetKHR is not available");
    }
    const VkCommandBufferAllocateInfo allocate_context{
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = command_pool_,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1};
    check(vkAllocateCommandBuffers(device_, &allocate_context, &context_recording_),
          "vkAllocateCommandBuffers");
    record_as_context(context_recording_, 0);
  }

  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  std::uint32_t family_ = 0;
  VkDevice device_ = VK_NULL_HANDLE;  // the Context's
  vecaccel::detail::HardwareQueue* queue_ = nullptr;
  VkSemaphore timeline_ = VK_NULL_HANDLE;
  std::uint64_t last_value_ = 0;
  std::array<VkBuffer, 2> buffers_{};  // x, y
  std::array<VkDeviceMemory, 2> memory_{};
  std::array<void*, 2> mapped_{};
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout pipeline_layout_ = VK_NULL_HANDLE;
  VkDescriptorPool descriptor_pool_ = VK_NULL_HANDLE;
  VkDescriptorSet descriptor_set_ = VK_NULL_HANDLE;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  VkCommandPool command_pool_ = VK_NULL_HANDLE;
  VkCommandBuffer empty_buffer_ = VK_NULL_HANDLE;
  VkCommandBuffer dispatch_buffer_ = VK_NULL_HANDLE;
  VkCommandBuffer barrier_buffer_ = VK_NULL_HANDLE;
  // The Context's scale_add pipeline, for record_each.
  VkPipelineLayout context_layout_ = VK_NULL_HANDLE;
  VkPipeline context_pipeline_ = VK_NULL_HANDLE;
  VkCommandPool each_pool_ = VK_NULL_HANDLE;
  VkCommandBuffer each_buffer_ = VK_NULL_HANDLE;
  VkCommandBuffer context_recording_ = VK_NULL_HANDLE;
  PFN_vkCmdPushDescriptorSetKHR push_descriptor_set_ = nullptr;
};

/// The raw baseline, created on first use; null (and the benchmark skipped) when it fails.
RawVulkan* raw_vulkan(benchmark::State& state) {
  static std::unique_ptr<RawVulkan> raw;
  static std::string failure;
  if (!raw && failure.empty()) {
    try {
      raw = std::make_unique<RawVulkan>(shared_context().device(), scale_add_pipeline());
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  if (!raw) state.SkipWithError(failure.c_str());
  return raw.get();
}

void run_raw(benchmark::State& state, Payload payload) {
  RawVulkan* raw = raw_vulkan(state);
  if (raw == nullptr) return;
  const bool spin = state.range(0) != 0;
  raw->reset_data();
  for (auto _ : state) {
    const std::uint64_t value = raw->submit(payload);
    if (spin) {
      raw->wait_spinning(value);
    } else {
      raw->wait_blocking(value);
    }
  }
  // y = 1 + one per dispatch: exact in float up to 2^24.
  if (dispatches(payload) && raw->y0() != 1.0f + static_cast<float>(state.iterations())) {
    state.SkipWithError("the raw dispatches did not all run");
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(spin ? "wait=spin" : "wait=block");
}

/// Raw submit + spin of the pre-recorded dispatch from N threads, each with its own timeline,
/// buffers and command buffers, all on the raw baseline's hardware queue: what one Vulkan
/// queue sustains, the ceiling of the Context's one queue.
void BM_RawSmallOps(benchmark::State& state) {
  static std::mutex mutex;
  static std::vector<std::unique_ptr<RawVulkan>> per_thread;
  RawVulkan* raw = nullptr;
  {
    const std::lock_guard lock(mutex);  // raw_vulkan's first call is not thread-safe
    RawVulkan* shared = raw_vulkan(state);
    if (shared == nullptr) return;
    const auto index = static_cast<std::size_t>(state.thread_index());
    if (per_thread.size() <= index) per_thread.resize(index + 1);
    if (!per_thread[index]) {
      per_thread[index] = std::make_unique<RawVulkan>(shared_context().device(),
                                                      scale_add_pipeline(), shared->queue());
    }
    raw = per_thread[index].get();
  }
  raw->reset_data();
  for (auto _ : state)
    raw->wait_spinning(raw->submit(Payload::dispatch));
  if (raw->y0() != 1.0f + static_cast<float>(state.iterations())) {
    state.SkipWithError("the raw dispatches did not all run");
  }
  state.SetItemsProcessed(state.iterations());
}

/// Labels a Context case with how its waits ended, from the context's counters around the
/// loop (all threads of the case: the counters are the context's). A wait that found the work
/// already complete counts as spun.
class WaitModes {
 public:
  explicit WaitModes(benchmark::State& state) : state_(state) {
    if (state_.thread_index() == 0) before_ = shared_context().performance_stats();
  }
  ~WaitModes() {
    if (state_.thread_index() != 0) return;
    const PerformanceStats after = shared_context().performance_stats();
    const auto spun = static_cast<double>(after.waits_spun - before_.waits_spun);
    const auto blocked = static_cast<double>(after.waits_blocked - before_.waits_blocked);
    const double total = spun + blocked;
    // The label is the mode alone: repetitions' labels must be equal for the aggregates to
    // keep it. The share is a counter (aggregated like the times).
    state_.SetLabel(blocked == 0 ? "wait=spin" : spun == 0 ? "wait=block" : "wait=mixed");
    state_.counters["spun_pct"] = total > 0 ? 100.0 * spun / total : 100.0;
  }
  WaitModes(const WaitModes&) = delete;
  WaitModes& operator=(const WaitModes&) = delete;

 private:
  benchmark::State& state_;
  PerformanceStats before_;
};

void BM_RawEmptySubmit(benchmark::State& state) {
  run_raw(state, Payload::none);
}
void BM_RawEmptyCommandBuffer(benchmark::State& state) {
  run_raw(state, Payload::empty_command_buffer);
}
void BM_RawDispatch(benchmark::State& state) {
  run_raw(state, Payload::dispatch);
}
void BM_RawDispatchHostBarrier(benchmark::State& state) {
  run_raw(state, Payload::dispatch_host_barrier);
}
void BM_RawRecordEachDispatch(benchmark::State& state) {
  run_raw(state, Payload::dispatch_recorded_each);
}
void BM_RawContextRecording(benchmark::State& state) {
  run_raw(state, Payload::dispatch_context_recording);
}

void BM_ContextEmpty(benchmark::State& state) {
  Context& context = shared_context();
  const auto nothing = [](CommandBuffer&, ComputeEncoder&) {};
  const WaitModes modes(state);
  for (auto _ : state)
    context.execute_and_wait(nothing);
  state.SetItemsProcessed(state.iterations());
}

/// One scale_add over this thread's own buffers (operations of different threads may overlap
/// on the GPU, so they must not share y).
class ScaleAdd {
 public:
  explicit ScaleAdd(Context& context)
      : x_(context.get_buffer(std::span<const float>(ones_))),
        y_(context.get_buffer(std::span<const float>(ones_))) {
    table_.set_buffer(0, x_.buffer()).set_buffer(1, y_.buffer());
  }
  void operator()(CommandBuffer&, ComputeEncoder& encoder) const {
    encoder.set_pipeline(scale_add_pipeline());
    encoder.set_argument_table(table_);
    encoder.set_constants(ScaleAddConstants{element_count, 1.0f});
    encoder.dispatch_threads(element_count);
  }
  /// y = 1 + one per run: exact in float up to 2^24.
  bool ran(std::int64_t times) const {
    return y_.read<float>(1)[0] == 1.0f + static_cast<float>(times);
  }

 private:
  std::vector<float> ones_ = std::vector<float>(element_count, 1.0f);
  BufferToken x_, y_;
  ArgumentTable table_;
};

void BM_ContextDispatch(benchmark::State& state) {
  Context& context = shared_context();
  const ScaleAdd op(context);
  {
    const WaitModes modes(state);
    for (auto _ : state)
      context.execute_and_wait(op);
  }
  if (!op.ran(state.iterations())) state.SkipWithError("the operations did not all run");
  state.SetItemsProcessed(state.iterations());
}

double median(std::vector<double>& values) {
  if (values.empty()) return 0;
  const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

/// Raw submit + spin and the Context's execute_and_wait of the same payload, alternating in
/// one loop and timed each on its own, so that both see the same GPU state: on an H200 the
/// round trip of either was seen at about 9 us or about 50 us for seconds at a time (its
/// clocks follow the load), which made figures from separate cases incomparable. The figures
/// are the medians of each side's per-iteration times, and their ratio.
void run_paired(benchmark::State& state, Payload payload) {
  RawVulkan* raw = raw_vulkan(state);
  if (raw == nullptr) return;
  Context& context = shared_context();
  raw->reset_data();
  const ScaleAdd dispatch(context);
  const auto nothing = [](CommandBuffer&, ComputeEncoder&) {};
  std::vector<double> raw_us, context_us;
  raw_us.reserve(1 << 16);
  context_us.reserve(1 << 16);
  {
    const WaitModes modes(state);
    for (auto _ : state) {
      const auto t0 = std::chrono::steady_clock::now();
      raw->wait_spinning(raw->submit(payload));
      const auto t1 = std::chrono::steady_clock::now();
      if (payload == Payload::dispatch) {
        context.execute_and_wait(dispatch);
      } else {
        context.execute_and_wait(nothing);
      }
      const auto t2 = std::chrono::steady_clock::now();
      raw_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      context_us.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
    }
  }
  if (payload == Payload::dispatch &&
      (!dispatch.ran(state.iterations()) ||
       raw->y0() != 1.0f + static_cast<float>(state.iterations()))) {
    state.SkipWithError("the dispatches did not all run");
  }
  const double raw_median = median(raw_us);
  const double context_median = median(context_us);
  state.counters["raw_spin_us"] = raw_median;
  state.counters["context_us"] = context_median;
  state.counters["ratio"] = raw_median > 0 ? context_median / raw_median : 0;
}

void BM_PairedEmpty(benchmark::State& state) {
  run_paired(state, Payload::none);
}
void BM_PairedDispatch(benchmark::State& state) {
  run_paired(state, Payload::dispatch);
}

void BM_ContextSmallOps(benchmark::State& state) {
  BM_ContextDispatch(state);
}

/// A Context on the shared context's device (a second VkDevice would distort every case, see
/// RawVulkan) whose queues allow `cap` submissions in flight each, with `queues` queues (0: the
/// device's default); made once per pair.
Context& context_with(std::uint32_t cap, std::uint32_t queues) {
  static std::mutex mutex;
  static std::map<std::pair<std::uint32_t, std::uint32_t>, std::unique_ptr<Context>> contexts;
  const std::lock_guard lock(mutex);
  auto& context = contexts[{cap, queues}];
  if (!context) {
    context = std::make_unique<Context>(
        shared_context().device(),
        ContextConfiguration{.command_queue_label =
                                 "cap " + std::to_string(cap) + " queues " + std::to_string(queues),
                             .max_command_buffer_count = cap,
                             .command_queue_count = queues});
  }
  return *context;
}

void run_small_ops(benchmark::State& state, Context& context) {
  const ScaleAdd op(context);
  for (auto _ : state)
    context.execute_and_wait(op);
  if (!op.ran(state.iterations())) state.SkipWithError("the operations did not all run");
  state.SetItemsProcessed(state.iterations());
  state.counters["queues"] = static_cast<double>(context.command_queue_count());
}

void BM_SmallOpsInFlight(benchmark::State& state) {
  run_small_ops(state, context_with(static_cast<std::uint32_t>(state.range(0)), 1));
}

void BM_SmallOpsQueues(benchmark::State& state) {
  run_small_ops(state, context_with(3, static_cast<std::uint32_t>(state.range(0))));
}

BENCHMARK(BM_RawEmptySubmit)
    ->ArgName("spin")
    ->Arg(0)
    ->Arg(1)
    ->MinWarmUpTime(warm_up_seconds)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RawEmptyCommandBuffer)
    ->ArgName("spin")
    ->Arg(0)
    ->Arg(1)
    ->MinWarmUpTime(warm_up_seconds)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RawDispatch)
    ->ArgName("spin")
    ->Arg(0)
    ->Arg(1)
    ->MinWarmUpTime(warm_up_seconds)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RawDispatchHostBarrier)
    ->ArgName("spin")
    ->Arg(1)
    ->MinWarmUpTime(warm_up_seconds)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RawContextRecording)
    ->ArgName("spin")
    ->Arg(1)
    ->MinWarmUpTime(warm_up_seconds)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RawRecordEachDispatch)
    ->ArgName("spin")
    ->Arg(1)
    ->MinWarmUpTime(warm_up_seconds)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RawSmallOps)
    ->Threads(1)
    ->Threads(8)
    ->MinWarmUpTime(warm_up_seconds)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ContextEmpty)
    ->MinWarmUpTime(warm_up_seconds)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ContextDispatch)
    ->MinWarmUpTime(warm_up_seconds)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PairedEmpty)
    ->MinWarmUpTime(warm_up_seconds)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PairedDispatch)
    ->MinWarmUpTime(warm_up_seconds)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ContextSmallOps)
    ->Threads(1)
    ->Threads(2)
    ->Threads(4)
    ->Threads(8)
    ->MinWarmUpTime(warm_up_seconds)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SmallOpsInFlight)
    ->ArgName("cap")
    ->Arg(3)
    ->Arg(8)
    ->Arg(16)
    ->Arg(64)
    ->Threads(8)
    ->MinWarmUpTime(warm_up_seconds)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SmallOpsQueues)
    ->ArgName("queues")
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->Arg(8)
    ->Arg(0)
    ->Threads(8)
    ->MinWarmUpTime(warm_up_seconds)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  try {
    // Card and driver go into the table's header and the JSON's "context", for BENCHMARKS.md.
    const DeviceInfo& info = shared_context().device().info();
    benchmark::AddCustomContext("vecaccel_device", info.name);
    benchmark::AddCustomContext("vecaccel_driver", info.driver_name + " " + info.driver_info);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_context: cannot create a Context: %s\n", e.what());
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
