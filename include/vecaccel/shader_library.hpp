#pragma once
// ShaderLibrary (the MTL4Compiler's role): the library's compute shaders, embedded as SPIR-V
// at build time, turned into pipelines once per (name, workgroup size, constants) and kept.
//
// Thread-safe. The driver's pipeline cache is loaded from and saved to
// $XDG_CACHE_HOME/vecaccel (else ~/.cache/vecaccel); a corrupt or foreign cache file is
// ignored. VECACCEL_PIPELINE_CACHE=0 turns the disk cache off.

#include <array>
#include <cstdint>
#include <memory>
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

namespace detail {
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
  std::uint32_t push_constant_size() const noexcept;

  bool valid() const noexcept { return impl_ != nullptr; }
  const std::shared_ptr<detail::PipelineImpl>& impl() const noexcept { return impl_; }
  explicit ComputePipeline(std::shared_ptr<detail::PipelineImpl> impl) noexcept;

 private:
  std::shared_ptr<detail::PipelineImpl> impl_;
};

class ShaderLibrary {
 public:
  /// Names of the embedded shaders.
  static std::vector<std::string_view> shader_names();

  /// Creates (once) and returns the pipeline. invalid_argument for an unknown name or a
  /// workgroup over the device's limits; pipeline_creation_failed when the driver refuses.
  ComputePipeline pipeline(const PipelineDescriptor& descriptor);
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
