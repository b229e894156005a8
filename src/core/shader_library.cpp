#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>

#include "device_impl.hpp"
#include "pipeline_impl.hpp"
#include "spirv_validation.hpp"
#include "util/atomic_file.hpp"
#include "util/settings.hpp"
#include "vecaccel/argument_table.hpp"

namespace vecaccel::detail {
namespace {

namespace fs = std::filesystem;

/// The driver validates its own blob too, but a foreign or truncated file must never reach it:
/// check the header against this device first.
bool cache_header_matches(const std::vector<char>& data,
                          const vk::PhysicalDeviceProperties& props) {
  VkPipelineCacheHeaderVersionOne header{};
  if (data.size() < sizeof(header)) return false;
  std::copy_n(data.data(), sizeof(header), reinterpret_cast<char*>(&header));
  return header.headerSize >= sizeof(header) && header.headerSize <= data.size() &&
         header.headerVersion == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
         header.vendorID == props.vendorID && header.deviceID == props.deviceID &&
         std::equal(std::begin(header.pipelineCacheUUID), std::end(header.pipelineCacheUUID),
                    props.pipelineCacheUUID.begin());
}

std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

}  // namespace

ShaderLibraryImpl::ShaderLibraryImpl(DeviceImpl& device) : device_(device) {
  const std::string dir = pipeline_cache_directory();
  if (!dir.empty()) {
    const auto props = device_.physical().getProperties();
    cache_path_ = dir + "/pipelines-" + hex(props.vendorID) + "-" + hex(props.deviceID) + ".bin";
  }
  load_cache();
}

ShaderLibraryImpl::~ShaderLibraryImpl() = default;

namespace {

/// The cache file's bytes (none when it does not exist). A path that cannot be read (a
/// directory, say) is an io_error naming it: reading it threw the C++ library's bare
/// "basic_filebuf::underflow error reading the file: Is a directory".
std::vector<char> read_cache_file(const std::string& path) {
  const std::string way_out =
      " (remove it, or set VECACCEL_PIPELINE_CACHE=0 to run without "
      "the on-disk pipeline cache)";
  std::error_code error;
  if (fs::is_directory(path, error)) {
    throw Error(Errc::io_error,
                "pipeline cache '" + path + "' is a directory, not a file" + way_out);
  }
  std::vector<char> data;
  try {
    std::ifstream in(path, std::ios::binary);
    if (in) data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception& e) {
    throw Error(Errc::io_error,
                "pipeline cache '" + path + "': cannot read: " + e.what() + way_out);
  }
  return data;
}

}  // namespace

void ShaderLibraryImpl::load_cache() {
  std::vector<char> data;
  if (!cache_path_.empty()) {
    data = read_cache_file(cache_path_);
    if (!cache_header_matches(data, device_.physical().getProperties())) data.clear();
  }
  try {
    cache_ = vk::raii::PipelineCache(
        device_.device(),
        vk::PipelineCacheCreateInfo{.initialDataSize = data.size(), .pInitialData = data.data()});
    return;
  } catch (const vk::SystemError&) {
    // A blob the driver rejects anyway: start empty rather than fail.
  }
  cache_ = device_.call("creating a pipeline cache", [&] {
    return vk::raii::PipelineCache(device_.device(), vk::PipelineCacheCreateInfo{});
  });
}

void ShaderLibraryImpl::save_cache() const {
  if (cache_path_.empty() || !*cache_) return;
  try {
    std::vector<std::uint8_t> data;
    {
      std::lock_guard lock(mutex_);
      data = cache_.getData();
    }
    const fs::path path(cache_path_);
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) return;
    // Write aside, then rename: concurrent processes never see a half-written cache.
    AtomicFile file(path);
    file.write(std::as_bytes(std::span(data)));
    file.commit();
  } catch (...) {
    // The cache is an optimisation; failing to save it must not fail the program.
  }
}

ComputePipeline ShaderLibraryImpl::pipeline(const PipelineDescriptor& descriptor) {
  Key key{descriptor.name, descriptor.workgroup_size, descriptor.constants,
          descriptor.required_subgroup_size};
  std::lock_guard lock(mutex_);
  if (auto it = pipelines_.find(key); it != pipelines_.end()) return it->second;
  const auto shaders = embedded_shaders();
  const auto shader = std::find_if(shaders.begin(), shaders.end(),
                                   [&](const auto& s) { return s.name == descriptor.name; });
  if (shader == shaders.end()) {
    throw Error(Errc::invalid_argument, "no shader named '" + descriptor.name + "'");
  }
  const std::string label = "shader '" + descriptor.name + "'";
  PipelineRecipe recipe{
      .name = descriptor.name,
      .spirv = shader->spirv,
      .interface = reflect_spirv(shader->spirv, "main", {}, push_constant_bytes, label),
      .required_subgroup_size = descriptor.required_subgroup_size};
  // Every embedded shader declares local_size_{x,y,z}_id = 0, 1, 2; constants fill ids 3, ...
  recipe.interface.workgroup_size = descriptor.workgroup_size;
  for (std::uint32_t i = 0; i < 3; ++i)
    recipe.specialization.push_back({i, descriptor.workgroup_size[i]});
  for (std::uint32_t i = 0; i < descriptor.constants.size(); ++i)
    recipe.specialization.push_back({3 + i, descriptor.constants[i]});
  ComputePipeline created = create(recipe);
  pipelines_.emplace(std::move(key), created);
  return created;
}

ComputePipeline ShaderLibraryImpl::pipeline_from_spirv(std::span<const std::uint32_t> spirv,
                                                       const SpirvPipelineDescriptor& descriptor,
                                                       const std::string& label) {
  CallerKey key{{spirv.begin(), spirv.end()}, descriptor.entry_point, descriptor.name, {}};
  for (const auto& constant : descriptor.specialization)
    std::get<3>(key).emplace_back(constant.id, constant.value);
  std::lock_guard lock(mutex_);
  if (auto it = caller_pipelines_.find(key); it != caller_pipelines_.end()) return it->second;
  const PipelineRecipe recipe{
      .name = descriptor.name,
      .spirv = std::get<0>(key),
      .interface = reflect_spirv(spirv, descriptor.entry_point, descriptor.specialization,
                                 push_constant_bytes, label),
      .specialization = descriptor.specialization,
      .caller_module = true};
  // After reflection, whose messages carry the numbers. (The embedded shaders are validated at
  // build time by spirv-opt.)
  validate_spirv(spirv, label);
  ComputePipeline created = create(recipe);
  caller_pipelines_.emplace(std::move(key), created);
  return created;
}

ComputePipeline ShaderLibraryImpl::create(const PipelineRecipe& recipe) {
  const Capabilities& caps = device_.capabilities();
  const auto& wg = recipe.interface.workgroup_size;
  const std::uint64_t invocations = std::uint64_t{wg[0]} * wg[1] * wg[2];
  for (int i = 0; i < 3; ++i) {
    if (wg[i] == 0 || wg[i] > caps.max_workgroup_size[i]) {
      throw Error(Errc::invalid_argument, "shader '" + recipe.name + "': workgroup size " +
                                              std::to_string(wg[i]) + " in dimension " +
                                              std::to_string(i) + " is outside 1.." +
                                              std::to_string(caps.max_workgroup_size[i]));
    }
  }
  if (invocations > caps.max_workgroup_invocations) {
    throw Error(Errc::invalid_argument, "shader '" + recipe.name + "': workgroup of " +
                                            std::to_string(invocations) +
                                            " invocations exceeds the device's " +
                                            std::to_string(caps.max_workgroup_invocations));
  }
  const std::uint32_t subgroup = recipe.required_subgroup_size;
  if (subgroup != 0 && (!caps.subgroup_size_control || subgroup < caps.min_subgroup_size ||
                        subgroup > caps.max_subgroup_size)) {
    throw Error(Errc::unsupported,
                "shader '" + recipe.name + "': subgroup size " + std::to_string(subgroup) +
                    " is not available (device: " + std::to_string(caps.min_subgroup_size) + ".." +
                    std::to_string(caps.max_subgroup_size) + ")");
  }
  return device_.call(
      "creating the pipeline of shader '" + recipe.name + "'", [&] { return build(recipe); },
      Errc::pipeline_creation_failed);
}

ComputePipeline ShaderLibraryImpl::build(const PipelineRecipe& recipe) {
  const std::uint32_t subgroup = recipe.required_subgroup_size;
  // Every pipeline shares one layout shape, so push constants and bindings stay valid
  // across pipeline switches inside an encoder.
  std::array<vk::DescriptorSetLayoutBinding, ArgumentTable::max_bindings> bindings{};
  for (std::uint32_t i = 0; i < bindings.size(); ++i) {
    bindings[i] = {.binding = i,
                   .descriptorType = vk::DescriptorType::eStorageBuffer,
                   .descriptorCount = 1,
                   .stageFlags = vk::ShaderStageFlagBits::eCompute};
  }
  vk::raii::DescriptorSetLayout set_layout(
      device_.device(), vk::DescriptorSetLayoutCreateInfo{
                            .flags = vk::DescriptorSetLayoutCreateFlagBits::ePushDescriptorKHR,
                            .bindingCount = static_cast<std::uint32_t>(bindings.size()),
                            .pBindings = bindings.data()});
  const vk::PushConstantRange range{
      .stageFlags = vk::ShaderStageFlagBits::eCompute, .offset = 0, .size = push_constant_bytes};
  const vk::DescriptorSetLayout set_layout_handle = *set_layout;
  vk::raii::PipelineLayout layout(device_.device(),
                                  vk::PipelineLayoutCreateInfo{.setLayoutCount = 1,
                                                               .pSetLayouts = &set_layout_handle,
                                                               .pushConstantRangeCount = 1,
                                                               .pPushConstantRanges = &range});
  vk::raii::ShaderModule module(device_.device(),
                                vk::ShaderModuleCreateInfo{.codeSize = recipe.spirv.size_bytes(),
                                                           .pCode = recipe.spirv.data()});
  std::vector<std::uint32_t> values;
  std::vector<vk::SpecializationMapEntry> entries;
  for (const auto& constant : recipe.specialization) {
    entries.push_back({.constantID = constant.id,
                       .offset = static_cast<std::uint32_t>(4 * values.size()),
                       .size = 4});
    values.push_back(constant.value);
  }
  const vk::SpecializationInfo specialization{
      .mapEntryCount = static_cast<std::uint32_t>(entries.size()),
      .pMapEntries = entries.data(),
      .dataSize = values.size() * 4,
      .pData = values.data()};
  const vk::PipelineShaderStageRequiredSubgroupSizeCreateInfo required{.requiredSubgroupSize =
                                                                           subgroup};
  const vk::ComputePipelineCreateInfo info{
      .stage = {.pNext = subgroup != 0 ? &required : nullptr,
                .flags = subgroup != 0
                             ? vk::PipelineShaderStageCreateFlagBits::eRequireFullSubgroups
                             : vk::PipelineShaderStageCreateFlags{},
                .stage = vk::ShaderStageFlagBits::eCompute,
                .module = *module,
                .pName = recipe.interface.entry_point.c_str(),
                .pSpecializationInfo = &specialization},
      .layout = *layout};
  vk::raii::Pipeline pipeline(device_.device(), cache_, info);
  return ComputePipeline(std::make_shared<PipelineImpl>(recipe, std::move(set_layout),
                                                        std::move(layout), std::move(pipeline)));
}

std::size_t ShaderLibraryImpl::pipeline_count() const {
  std::lock_guard lock(mutex_);
  return pipelines_.size() + caller_pipelines_.size();
}

void PipelineImpl::check_constant_size(std::size_t bytes) const {
  constexpr std::uint32_t range = ShaderLibraryImpl::push_constant_bytes;
  if (bytes > range || bytes % 4 != 0) {
    throw Error(Errc::invalid_argument, "push constants of " + std::to_string(bytes) +
                                            " bytes: need a multiple of 4, at most " +
                                            std::to_string(range));
  }
  if (!caller_module_) return;
  const std::uint32_t declared = interface_.push_constant_size;
  const std::uint32_t padded = (declared + 7) / 8 * 8;
  if (bytes != declared && bytes != padded) {
    throw Error(
        Errc::invalid_argument,
        "shader '" + name_ + "' declares " +
            (declared == 0 ? std::string("no push-constant block")
                           : "a push-constant block of " + std::to_string(declared) + " bytes") +
            "; set_constants gave " + std::to_string(bytes));
  }
}

void PipelineImpl::check_binding_declared(std::uint32_t index) const {
  if (!caller_module_ || (interface_.binding_mask & (1u << index)) != 0) return;
  std::string declared;
  for (std::uint32_t i = 0; i < ArgumentTable::max_bindings; ++i) {
    if (interface_.binding_mask & (1u << i)) {
      declared += (declared.empty() ? "" : ", ") + std::to_string(i);
    }
  }
  throw Error(Errc::invalid_argument,
              "the argument table sets binding " + std::to_string(index) + ", which shader '" +
                  name_ + "' does not declare (it declares " +
                  (declared.empty() ? "none" : declared) + "); clear it with ArgumentTable::clear");
}

}  // namespace vecaccel::detail

namespace vecaccel {

ComputePipeline::ComputePipeline(std::shared_ptr<detail::PipelineImpl> impl) noexcept
    : impl_(std::move(impl)) {}
const std::string& ComputePipeline::name() const noexcept {
  return impl_->name();
}
std::array<std::uint32_t, 3> ComputePipeline::workgroup_size() const noexcept {
  return impl_->workgroup_size();
}
std::uint32_t ComputePipeline::binding_mask() const noexcept {
  return impl_->binding_mask();
}
std::uint32_t ComputePipeline::push_constant_size() const noexcept {
  return impl_->push_constant_size();
}

ShaderLibrary::ShaderLibrary(std::unique_ptr<detail::ShaderLibraryImpl> impl) noexcept
    : impl_(std::move(impl)) {}
ShaderLibrary::ShaderLibrary(ShaderLibrary&&) noexcept = default;
ShaderLibrary& ShaderLibrary::operator=(ShaderLibrary&&) noexcept = default;
ShaderLibrary::~ShaderLibrary() = default;

std::vector<std::string_view> ShaderLibrary::shader_names() {
  std::vector<std::string_view> names;
  for (const auto& shader : detail::embedded_shaders())
    names.push_back(shader.name);
  return names;
}
ComputePipeline ShaderLibrary::pipeline(const PipelineDescriptor& descriptor) {
  return impl_->pipeline(descriptor);
}
ComputePipeline ShaderLibrary::pipeline_from_spirv(std::span<const std::uint32_t> spirv,
                                                   const SpirvPipelineDescriptor& descriptor) {
  SpirvPipelineDescriptor named = descriptor;
  if (named.name.empty()) named.name = "spirv";
  return impl_->pipeline_from_spirv(spirv, named, "SPIR-V module '" + named.name + "'");
}
ComputePipeline ShaderLibrary::pipeline_from_file(const std::filesystem::path& path,
                                                  const SpirvPipelineDescriptor& descriptor) {
  SpirvPipelineDescriptor named = descriptor;
  if (named.name.empty()) named.name = path.filename().string();
  const std::vector<std::uint32_t> words = detail::read_spirv_file(path);
  return impl_->pipeline_from_spirv(words, named, "SPIR-V file '" + path.string() + "'");
}
std::size_t ShaderLibrary::pipeline_count() const {
  return impl_->pipeline_count();
}
void ShaderLibrary::save_cache() const {
  impl_->save_cache();
}

}  // namespace vecaccel
