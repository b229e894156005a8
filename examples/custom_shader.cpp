// Runs your own compute shader through a vecaccel::Context: a pipeline from SPIR-V (its
// bindings and constants size read from the module), pooled resident buffers, an argument
// table, push constants, and a timeout. Uses only the installed headers.
//
//   glslc --target-env=vulkan1.3 -o axpy.spv examples/axpy.comp
//   custom_shader axpy.spv
#include <vecaccel/vecaccel.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

// axpy.comp's push_constant block, member for member: uint count at 0, float a at 4.
struct AxpyConstants {
  std::uint32_t count;
  float a;
};

int main(int argc, char** argv) try {
  const char* spirv_file = argc > 1 ? argv[1] : "axpy.spv";
  vecaccel::Context context;  // best device, explicit (Metal 4 style) model
  const std::uint32_t n = 1000;
  const std::vector<float> xs(n, 1.5f), ys(n, 1.0f);
  auto x = context.get_buffer(std::span<const float>(xs));  // pooled, resident, uploaded
  auto y = context.get_buffer(std::span<const float>(ys));
  vecaccel::ComputePipeline axpy = context.device().shaders().pipeline_from_file(spirv_file);
  context.execute_and_wait(
      [&](vecaccel::CommandBuffer&, vecaccel::ComputeEncoder& encoder) {
        encoder.set_pipeline(axpy);
        encoder.set_argument_table(
            vecaccel::ArgumentTable().set_buffer(0, x.buffer()).set_buffer(1, y.buffer()));
        encoder.set_constants(AxpyConstants{.count = n, .a = 2.0f});
        encoder.dispatch_threads(n);  // rounded up to whole workgroups of 64
      },
      {.timeout = std::chrono::seconds(10)});  // Errc::timeout; the context stays usable
  const std::vector<float> result = y.read<float>(n);
  std::size_t wrong = 0;
  for (const float value : result)
    wrong += value != 2.0f * 1.5f + 1.0f;
  std::printf("custom_shader: %s ran '%s' (workgroup %u, %u-byte constants): %zu of %u wrong\n",
              context.device().info().name.c_str(), axpy.name().c_str(), axpy.workgroup_size()[0],
              axpy.push_constant_size(), wrong, n);
  return wrong == 0 ? 0 : 1;
} catch (const vecaccel::Error& e) {
  std::fprintf(stderr, "custom_shader: %s\n", e.what());
  return 1;
}
