#pragma once
// Compute pipelines and the library that makes them from SPIR-V (embedded, or the caller's).

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

#include "spirv_reflection.hpp"
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

/// Everything a pipeline is made of: the module, its interface and its specialization.
struct PipelineRecipe {
  std::string name;
  std::span<const std::uint32_t> spirv;
  SpirvInterface interface;
  std::vector<SpecializationConstant> specialization;
  std::uint32_t required_subgroup_size = 0;
  /// A caller's module: its argument tables and constants must match its interface exactly.
  /// (The library's kernels share tables and constant structs across kernels.)
  bool caller_module = false;
};

class PipelineImpl {
 public:
  PipelineImpl(const PipelineRecipe& recipe, vk::raii::DescriptorSetLayout set_layout,
               vk::raii::PipelineLayout layout, vk::raii::Pipeline pipeline)
      : name_(recipe.name),
        interface_(recipe.interface),
        caller_module_(recipe.caller_module),
        set_layout_(std::move(set_layout)),
        layout_(std::move(layout)),
        pipeline_(std::move(pipeline)) {}

  const std::string& name() const noexcept { return name_; }
  std::array<std::uint32_t, 3> workgroup_size() const noexcept { return interface_.workgroup_size; }
  std::uint32_t binding_mask() const noexcept { return interface_.binding_mask; }
  std::uint32_t push_constant_size() const noexcept { return interface_.push_constant_size; }
  bool caller_module() const noexcept { return caller_module_; }
  vk::Pipeline pipeline() const noexcept { return *pipeline_; }
  vk::PipelineLayout layout() const noexcept { return *layout_; }

  /// invalid_argument unless `bytes` of constants fit this pipeline: a multiple of 4 within the
  /// push-constant range; for a caller's module its block's size, or that rounded up to 8 (the
  /// tail padding of a C++ struct holding a double or a 64-bit integer).
  void check_constant_size(std::size_t bytes) const;
  /// invalid_argument when a caller's module is dispatched with binding `index` set, which its
  /// module does not declare: a table meant for another shader, or a wrong index.
  void check_binding_declared(std::uint32_t index) const;

 private:
  std::string name_;
  SpirvInterface interface_;
  bool caller_module_;
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
  ComputePipeline pipeline_from_spirv(std::span<const std::uint32_t> spirv,
                                      const SpirvPipelineDescriptor& descriptor,
                                      const std::string& label);
  std::size_t pipeline_count() const;
  void save_cache() const;

  /// The push-constant range every pipeline declares.
  static constexpr std::uint32_t push_constant_bytes = 128;

 private:
  using Key = std::tuple<std::string, std::array<std::uint32_t, 3>, std::vector<std::uint32_t>,
                         std::uint32_t>;
  /// A caller's module is kept by its words: two modules of one name never share a pipeline.
  using CallerKey = std::tuple<std::vector<std::uint32_t>, std::string, std::string,
                               std::vector<std::pair<std::uint32_t, std::uint32_t>>>;
  /// Checks the recipe against the device, then builds (Vulkan failures through the device's
  /// check: pipeline_creation_failed unless the device ran out of memory or was lost).
  ComputePipeline create(const PipelineRecipe& recipe);
  ComputePipeline build(const PipelineRecipe& recipe);
  void load_cache();

  DeviceImpl& device_;
  std::string cache_path_;
  vk::raii::PipelineCache cache_{nullptr};
  mutable std::mutex mutex_;
  std::map<Key, ComputePipeline> pipelines_;
  std::map<CallerKey, ComputePipeline> caller_pipelines_;
};

}  // namespace vecaccel::detail
