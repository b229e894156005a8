// An outside program using the installed vecaccel: runs y = 2x + y on the GPU (or lavapipe).
#include <vecaccel/vecaccel.hpp>

#include <cstdio>
#include <vector>

int main() {
  vecaccel::Context context;
  std::vector<float> x(100, 1.5f);
  auto y = context.get_buffer(std::span<const float>(std::vector<float>(100, 1.0f)));
  auto xs = context.get_buffer(std::span<const float>(x));
  struct {
    std::uint32_t count;
    float a;
  } constants{100, 2.0f};
  auto pipeline = context.device().shaders().pipeline({.name = "scale_add"});
  context.execute_and_wait([&](vecaccel::CommandBuffer&, vecaccel::ComputeEncoder& encoder) {
    encoder.set_pipeline(pipeline);
    encoder.set_argument_table(
        vecaccel::ArgumentTable().set_buffer(0, xs.buffer()).set_buffer(1, y.buffer()));
    encoder.set_constants(constants);
    encoder.dispatch_threads(100);
  });
  const float result = y.read<float>(1)[0];
  std::printf("consumer: %s, y[0] = %g\n", context.device().info().name.c_str(), result);
  return result == 4.0f ? 0 : 1;
}
