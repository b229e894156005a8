#pragma once
// The GPU's clock in benchmarks: warm it up before timing, and probe it beside each figure.
// A GPU's clock governor keeps an idle card at its lowest clock (the H100 of session 18: 345
// MHz against 1980) and raises it only under sustained load; a benchmark that generates its
// data on the host for seconds and then times a few milliseconds of searches measures the
// idle clock (3-5x slower kernels). The peers in bench/peers warm up the same way
// (torch_knn.warm_up).
#include <chrono>
#include <cstdint>

#include "vecaccel/vecaccel.hpp"

namespace vecaccel::bench {

/// Seconds of back-to-back runs that bring the clock up (it rose within 250 ms of load).
inline constexpr double default_warm_up_seconds = 1.0;

/// Calls work() back to back for `seconds` (at least once).
template <class Work>
void warm_up(Work&& work, double seconds = default_warm_up_seconds) {
  using Clock = std::chrono::steady_clock;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  do {
    work();
  } while (Clock::now() < end);
}

/// GPU microseconds of a fixed compute-bound kernel (busy_loop.comp: 32,768 threads of 4,096
/// integer hash steps), inversely proportional to the SM clock: beside a figure, its ratio to
/// the run's smallest probe is the clock's fall when the figure was taken. The context must
/// have been made with enable_profiling.
inline double clock_probe_us(Context& context) {
  constexpr std::uint32_t threads = 32768, steps = 4096;
  BufferToken out = context.get_buffer(std::uint64_t{threads} * 4);
  Device device = context.device();
  context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
    struct {
      std::uint32_t count, iterations, seed;
    } constants{threads, steps, 1};
    e.set_pipeline(device.shaders().pipeline({.name = "busy_loop"}));
    e.set_argument_table(ArgumentTable().set_buffer(0, out.buffer()));
    e.set_constants(constants);
    e.dispatch_threads(threads);
  });
  return static_cast<double>(context.performance_stats().last_gpu_time.count()) / 1e3;
}

}  // namespace vecaccel::bench
