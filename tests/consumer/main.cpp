// An outside program using the installed vecaccel: runs y = 2x + y on the GPU (or lavapipe),
// then searches a base over a memory budget it must stream, on the same device twice.
#include <vecaccel/vecaccel.hpp>

#include <cstdio>
#include <vector>

namespace {

/// Row i of the base is (i, i): the nearest row to (q, q) is row q, at distance 0.
bool streamed_search_is_exact(vecaccel::Context& first) {
  constexpr std::size_t rows = 1000, dim = 2;
  std::vector<float> base(rows * dim);
  for (std::size_t i = 0; i < base.size(); ++i)
    base[i] = static_cast<float>(i / dim);
  const std::vector<float> queries = {17, 17, 901, 901};
  vecaccel::Context second(vecaccel::Device::open(first.device().info().index));
  vecaccel::Context* const devices[] = {&first, &second};
  const vecaccel::SearchResult result = vecaccel::search(
      devices, vecaccel::SearchBase(vecaccel::MatrixView<const float>(base, rows, dim)),
      vecaccel::MatrixView<const float>(queries, 2, dim), 1, vecaccel::Metric::l2,
      {.memory_budget = 1024});
  std::printf("consumer: %s\n", result.plan.description().c_str());
  return result.plan.handling == vecaccel::BaseHandling::streamed &&
         result.knn.labels == std::vector<std::int64_t>{17, 901} &&
         result.knn.distances == std::vector<float>{0, 0};
}

}  // namespace

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
  return result == 4.0f && streamed_search_is_exact(context) ? 0 : 1;
}
