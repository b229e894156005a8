// Micro-benchmarks for issue 3: the pool's hit path, residency validation per binding, and the
// explicit Context against the deprecated LegacyContext on many tiny operations.
//
//   BM_PoolAcquireReleaseHit/<bytes>/<residency>  target <= 1 us (PERFORMANCE.md)
//   BM_EncodeBindings/<validate>                  per_binding: cost of one buffer binding
//   BM_SmallOperations<Context|LegacyContext>     10,000 execute_and_wait of a 64-element op
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "vecaccel/legacy_context.hpp"
#include "vecaccel/vecaccel.hpp"

// The legacy context is measured on purpose, as the baseline.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace {

using namespace vecaccel;

Context& explicit_context() {
  // Room for the validation benchmark's buffers besides the pool's own.
  static Context context({.residency_set_capacity = 2048});
  return context;
}

LegacyContext& legacy_context() {
  static LegacyContext context;
  return context;
}

template <class C>
C& context_of() {
  if constexpr (std::is_same_v<C, Context>) {
    return explicit_context();
  } else {
    return legacy_context();
  }
}

void encode_scale_add(const ComputePipeline& pipeline, ComputeEncoder& encoder, const Buffer& x,
                      const Buffer& y, std::uint32_t count, float a) {
  struct {
    std::uint32_t count;
    float a;
  } constants{count, a};
  encoder.set_pipeline(pipeline);
  encoder.set_argument_table(ArgumentTable().set_buffer(0, x).set_buffer(1, y));
  encoder.set_constants(constants);
  encoder.dispatch_threads(count);
}

ComputePipeline scale_add(const Device& device) {
  return device.shaders().pipeline({.name = "scale_add", .workgroup_size = {64, 1, 1}});
}

/// Acquire + release of a cached buffer; arg 1 selects the context's pool (with residency
/// registration checks) or a bare pool.
void BM_PoolAcquireReleaseHit(benchmark::State& state) {
  const auto bytes = static_cast<std::uint64_t>(state.range(0));
  const bool with_residency = state.range(1) != 0;
  Context& context = explicit_context();
  BufferPool bare(context.buffer_factory(), nullptr, {});
  BufferPool& pool = with_residency ? context.buffer_pool() : bare;
  { BufferToken warm = pool.acquire(bytes); }
  const auto before = pool.statistics();
  for (auto _ : state) {
    BufferToken token = pool.acquire(bytes);
    benchmark::DoNotOptimize(token.buffer().id());
  }
  const auto after = pool.statistics();
  if (after.misses != before.misses) state.SkipWithError("the benchmark missed the cache");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PoolAcquireReleaseHit)
    ->ArgNames({"bytes", "residency"})
    ->ArgsProduct({{4096, 1 << 20}, {0, 1}})
    ->Unit(benchmark::kNanosecond);

/// Encodes set_argument_table calls that each bind two buffers the command buffer has not
/// used yet (a binding seen before is not checked again), with residency validation on or off.
void BM_EncodeBindings(benchmark::State& state) {
  const bool validate = state.range(0) != 0;
  constexpr std::uint32_t buffer_count = 512;
  Context& context = explicit_context();
  Device device = context.device();
  std::vector<BufferToken> tokens;
  for (std::uint32_t i = 0; i < buffer_count; ++i)
    tokens.push_back(context.get_buffer(256));
  const ComputePipeline pipeline = scale_add(device);
  CommandAllocator allocator = device.make_command_allocator();
  ArgumentTable table;
  std::uint64_t bindings = 0;
  for (auto _ : state) {
    state.PauseTiming();
    allocator.reset();
    CommandBuffer cb = context.make_command_buffer();
    cb.set_residency_validation(validate);
    cb.begin(allocator);
    ComputeEncoder& encoder = cb.make_compute_encoder();
    encoder.set_pipeline(pipeline);
    state.ResumeTiming();
    for (std::uint32_t i = 0; i < buffer_count; i += 2) {
      table.set_buffer(0, tokens[i].buffer()).set_buffer(1, tokens[i + 1].buffer());
      encoder.set_argument_table(table);
    }
    state.PauseTiming();
    encoder.end_encoding();
    cb.end();  // never committed: dropped with the allocator's next reset
    state.ResumeTiming();
    bindings += buffer_count;
  }
  state.counters["per_binding"] = benchmark::Counter(
      static_cast<double>(bindings), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetItemsProcessed(static_cast<std::int64_t>(bindings));
}
BENCHMARK(BM_EncodeBindings)->ArgName("validate")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

/// One tiny dispatch per execute_and_wait: the per-operation cost of each execution model.
template <class C>
void BM_SmallOperations(benchmark::State& state) {
  C& context = context_of<C>();
  Device device = context.device();
  AccelerationContext& generic = context;
  constexpr std::uint32_t count = 64;
  const std::vector<float> ones(count, 1.0f);
  BufferToken x = generic.get_buffer(std::span<const float>(ones));
  BufferToken y = generic.get_buffer(std::span<const float>(ones));
  const ComputePipeline pipeline = scale_add(device);
  for (auto _ : state) {
    generic.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
      encode_scale_add(pipeline, e, x.buffer(), y.buffer(), count, 1.0f);
    });
  }
  // y = 1 + iterations (+ any earlier runs): exact in float up to 2^24.
  const float expected = y.read<float>(1)[0];
  if (expected < static_cast<float>(state.iterations()) + 1.0f) {
    state.SkipWithError("the operations did not all run");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_TEMPLATE(BM_SmallOperations, Context)
    ->Iterations(10000)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_SmallOperations, LegacyContext)
    ->Iterations(10000)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
