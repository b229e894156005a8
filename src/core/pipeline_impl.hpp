#pragma once
// Compute pipelines and the library that makes them from embedded SPIR-V.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "vecaccel/shader_library.hpp"
#include "vk.hpp"

namespace vecaccel::detail {

class DeviceImpl;

struct EmbeddedShader {
  std::string_view name;
  std::span<const std::uint32_t> spirv;
};
/// Generated at build time from shaders/*.comp.
std::span<const EmbeddedShader> embedded_shaders();

/// Storage-buffer bindings (set 0) a SPIR-V module declares, as a bit mask.
std::uint32_t reflect_binding_mask(std::span<const std::uint32_t> spirv);

class PipelineImpl {
 public:
  PipelineImpl(std::string name, std::array<std::uint32_t, 3> workgroup_size,
               std::uint32_t binding_mask, vk::raii::DescriptorSetLayout set_layout,
               vk::raii::PipelineLayout layout, vk::raii::Pipeline pipeline)
      : name_(std::move(name)),
        workgroup_size_(workgroup_size),
        binding_mask_(binding_mask),
        set_layout_(std::move(set_layout)),
        layout_(std::move(layout)),
        pipeline_(std::move(pipeline)) {}

  const std::string& name() const noexcept { return name_; }
  std::array<std::uint32_t, 3> workgroup_size() const noexcept { return workgroup_size_; }
  std::uint32_t binding_mask() const noexcept { return binding_mask_; }
  vk::Pipeline pipeline() const noexcept { return *pipeline_; }
  vk::PipelineLayout layout() const noexcept { return *layout_; }

 private:
  std::string name_;
  std::array<std::uint32_t, 3> workgroup_size_;
  std::uint32_t binding_mask_;
  vk::raii::DescriptorSetLayout set_layout_;
  vk::raii::PipelineLayout layout_;
  vk::raii::Pipeline pipeline_;
};

class ShaderLibraryImpl {
 public:
  explicit ShaderLibraryImpl(DeviceImpl& device);
  ~ShaderLibraryImpl();
  ShaderLibraryImpl(const ShaderLibraryImpl&) = delete;
  ShaderLibraryImpl& operator=(const ShaderLibraryImpl&) = delete;

  ComputePipeline pipeline(const PipelineDescriptor& descriptor);
  std::size_t pipeline_count() const;
  void save_cache() const;

  /// The push-constant range every pipeline declares.
  static constexpr std::uint32_t push_constant_bytes = 128;

 private:
  using Key = std::tuple<std::string, std::array<std::uint32_t, 3>, std::vector<std::uint32_t>,
                         std::uint32_t>;
  /// Checks the descriptor against the device, then builds (Vulkan failures through the
  /// device's check: pipeline_creation_failed unless the device ran out of memory or was lost).
  ComputePipeline create(const PipelineDescriptor& descriptor, const EmbeddedShader& shader);
  ComputePipeline build(const PipelineDescriptor& descriptor, const EmbeddedShader& shader);
  void load_cache();

  DeviceImpl& device_;
  std::string cache_path_;
  vk::raii::PipelineCache cache_{nullptr};
  mutable std::mutex mutex_;
  std::map<Key, ComputePipeline> pipelines_;
};

}  // namespace vecaccel::detail
