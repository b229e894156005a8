#include "support/support.hpp"

#include <cstring>
#include <mutex>

namespace vecaccel::testing {

std::uint32_t busy_loop_reference(std::uint32_t seed, std::uint32_t i, std::uint32_t iterations) {
  std::uint32_t x = seed + i;
  for (std::uint32_t k = 0; k < iterations; ++k) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
  }
  return x;
}

void encode_busy_loop(Device& device, ComputeEncoder& encoder, const Buffer& out,
                      std::uint32_t count, std::uint32_t iterations, std::uint32_t seed) {
  struct {
    std::uint32_t count, iterations, seed;
  } constants{count, iterations, seed};
  encoder.set_pipeline(device.shaders().pipeline({.name = "busy_loop"}));
  encoder.set_argument_table(ArgumentTable().set_buffer(0, out));
  encoder.set_constants(constants);
  encoder.dispatch_threads(count);
}

std::uint32_t iterations_for(Context& context, std::uint32_t count,
                             std::chrono::milliseconds duration) {
  static std::once_flag once;
  static double seconds_per_step = 0;
  std::call_once(once, [&] {
    constexpr std::uint32_t probe = 2000;
    auto out = context.get_buffer(count * 4ull);
    Device device = context.device();
    context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
      encode_busy_loop(device, e, out.buffer(), count, 10, 1);  // warm-up: pipeline creation
    });
    const auto start = std::chrono::steady_clock::now();
    context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
      encode_busy_loop(device, e, out.buffer(), count, probe, 1);
    });
    seconds_per_step =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / probe;
  });
  return busy_loop_iterations(seconds_per_step, duration);
}

std::uint32_t busy_loop_iterations(double seconds_per_step, std::chrono::milliseconds duration) {
  const double steps = std::chrono::duration<double>(duration).count() / seconds_per_step;
  return static_cast<std::uint32_t>(
      std::min(steps * 1.5 + 100, static_cast<double>(busy_loop_max_iterations)));
}

void encode_scale_add(Device& device, ComputeEncoder& encoder, const Buffer& x, const Buffer& y,
                      std::uint32_t count, float a) {
  struct {
    std::uint32_t count;
    float a;
  } constants{count, a};
  encoder.set_pipeline(device.shaders().pipeline({.name = "scale_add"}));
  encoder.set_argument_table(ArgumentTable().set_buffer(0, x).set_buffer(1, y));
  encoder.set_constants(constants);
  encoder.dispatch_threads(count);
}

template <class T>
void upload(const Buffer& buffer, const std::vector<T>& values) {
  std::memcpy(buffer.mapped().data(), values.data(), values.size() * sizeof(T));
}

template <class T>
std::vector<T> download(const Buffer& buffer, std::size_t count) {
  std::vector<T> out(count);
  std::memcpy(out.data(), buffer.mapped().data(), count * sizeof(T));
  return out;
}

template void upload<float>(const Buffer&, const std::vector<float>&);
template void upload<std::uint32_t>(const Buffer&, const std::vector<std::uint32_t>&);
template std::vector<float> download<float>(const Buffer&, std::size_t);
template std::vector<std::uint32_t> download<std::uint32_t>(const Buffer&, std::size_t);

}  // namespace vecaccel::testing
