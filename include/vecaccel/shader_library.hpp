#pragma once
// ShaderLibrary (the MTL4Compiler's role): turns SPIR-V into compute pipelines, once per module
// and specialization, and keeps them: the library's own shaders (embedded at build time, by
// name) and yours (words or a .spv file, e.g. from `glslc --target-env=vulkan1.3`).
//
// Your module's interface is read from the module: its GLCompute entry point, workgroup size
// (LocalSize, LocalSizeId or the WorkgroupSize built-in, after specialization), the storage
// buffers it binds (set 0, bindings 0..ArgumentTable::max_bindings - 1; uniform blocks,
// images and other sets are refused) and its push-constant block's size (at most 128 bytes).
// Its pipeline is used exactly as a built-in one: ComputeEncoder::set_pipeline, an
// ArgumentTable setting exactly the bindings it declares, set_constants of its block's size.
//
// Thread-safe. The driver's pipeline cache is loaded from and saved to
// $XDG_CACHE_HOME/vecaccel (else ~/.cache/vecaccel); a corrupt or foreign cache file is
// ignored. VECACCEL_PIPELINE_CACHE=0 turns the disk cache off.

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vecaccel {

/// Every shader declares local_size_{x,y,z}_id = 0, 1, 2; `constants` fill ids 3, 4, ...
struct PipelineDescriptor {
  std::string name;  ///< shader file name without .comp, e.g. "fill_pattern"
  std::array<std::uint32_t, 3> workgroup_size = {64, 1, 1};
  std::vector<std::uint32_t> constants;
  /// Requires this subgroup size (needs subgroup_size_control); 0 leaves it to the driver.
  std::uint32_t required_subgroup_size = 0;
};

/// A value for the shader's `layout(constant_id = id) const` (32-bit: int, uint, float bits
/// via std::bit_cast, or bool as 0 / 1).
struct SpecializationConstant {
  std::uint32_t id = 0;
  std::uint32_t value = 0;
};

/// How to make a pipeline of your own SPIR-V.
struct SpirvPipelineDescriptor {
  /// Shown by ComputePipeline::name() and in errors; empty: the file name, else "spirv".
  std::string name;
  /// The GLCompute entry point to run; empty: the module's only one.
  std::string entry_point;
  std::vector<SpecializationConstant> specialization;
};

namespace detail {
struct Access;
class PipelineImpl;
class ShaderLibraryImpl;
}  // namespace detail

/// A compiled compute pipeline. Copyable handle; thread-safe.
class ComputePipeline {
 public:
  ComputePipeline() = default;
  const std::string& name() const noexcept;
  std::array<std::uint32_t, 3> workgroup_size() const noexcept;
  /// Bit i set: the shader uses storage-buffer binding i.
  std::uint32_t binding_mask() const noexcept;
  /// Bytes of the shader's push-constant block (its last member's offset + size); 0: none.
  std::uint32_t push_constant_size() const noexcept;

  bool valid() const noexcept { return impl_ != nullptr; }
  explicit ComputePipeline(std::shared_ptr<detail::PipelineImpl> impl) noexcept;

 private:
  friend struct detail::Access;  // the library reaches the implementation, clients do not
  const std::shared_ptr<detail::PipelineImpl>& impl() const noexcept { return impl_; }
  std::shared_ptr<detail::PipelineImpl> impl_;
};

class ShaderLibrary {
 public:
  /// Names of the embedded shaders.
  static std::vector<std::string_view> shader_names();

  /// Creates (once) and returns the pipeline. invalid_argument for an unknown name or a
  /// workgroup over the device's limits; pipeline_creation_failed when the driver refuses.
  ComputePipeline pipeline(const PipelineDescriptor& descriptor);
  /// Creates (once per module, entry point, specialization and name) a pipeline of your SPIR-V;
  /// the words are copied. pipeline_creation_failed naming what and why for a module that is
  /// not SPIR-V 1.0-1.6, is truncated, has no such GLCompute entry point, binds anything but
  /// storage buffers of set 0 below ArgumentTable::max_bindings, or has a push-constant block
  /// over 128 bytes; invalid_argument for a workgroup over the device's limits or a
  /// specialization id the module does not declare; pipeline_creation_failed when the driver
  /// refuses. The module is checked structurally, not validated: run with
  /// VECACCEL_VALIDATION=1 while developing a shader.
  ComputePipeline pipeline_from_spirv(std::span<const std::uint32_t> spirv,
                                      const SpirvPipelineDescriptor& descriptor = {});
  /// The same from a .spv file: io_error naming the path when it cannot be read,
  /// pipeline_creation_failed when its size is not a multiple of 4 bytes.
  ComputePipeline pipeline_from_file(const std::filesystem::path& path,
                                     const SpirvPipelineDescriptor& descriptor = {});
  /// Pipelines created so far (cache entries).
  std::size_t pipeline_count() const;
  /// Writes the driver cache to disk now (also done when the device goes).
  void save_cache() const;

  explicit ShaderLibrary(std::unique_ptr<detail::ShaderLibraryImpl> impl) noexcept;
  ShaderLibrary(ShaderLibrary&&) noexcept;
  ShaderLibrary& operator=(ShaderLibrary&&) noexcept;
  ~ShaderLibrary();

 private:
  std::unique_ptr<detail::ShaderLibraryImpl> impl_;
};

}  // namespace vecaccel
