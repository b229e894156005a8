#pragma once
// Untimed runs before timed ones. A GPU's clock governor keeps an idle card at its lowest
// clock (the H100 of session 18: 345 MHz against 1980) and raises it only under sustained
// load; a benchmark that generates its data on the host for seconds and then times a few
// milliseconds of searches measures the idle clock (3-5x slower kernels). The peers in
// bench/peers warm up the same way (torch_knn.warm_up).
#include <chrono>

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

}  // namespace vecaccel::bench
