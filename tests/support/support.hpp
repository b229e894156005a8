#pragma once
// Shared helpers for the tests: small real GPU operations and their CPU references.

#include <chrono>
#include <cstdint>
#include <vector>

#include "vecaccel/vecaccel.hpp"

namespace vecaccel::testing {

/// The busy_loop shader's result for element i, computed on the CPU.
std::uint32_t busy_loop_reference(std::uint32_t seed, std::uint32_t i, std::uint32_t iterations);

/// Encodes busy_loop writing `count` values into out.
void encode_busy_loop(Device& device, ComputeEncoder& encoder, const Buffer& out,
                      std::uint32_t count, std::uint32_t iterations, std::uint32_t seed);

/// The most iterations busy_loop computes exactly on every driver: llvmpipe (lavapipe) ends a
/// shader's loops after 65535 iterations in all, and the shader does 16 steps per iteration.
/// Beyond it the GPU writes a shorter hash, which reads as a wrong (or stale-looking) result.
constexpr std::uint32_t busy_loop_max_iterations = 65535u * 16;

/// Iterations that take about 1.5 x duration at seconds_per_step (each element's steps run in
/// parallel), capped at busy_loop_max_iterations.
std::uint32_t busy_loop_iterations(double seconds_per_step, std::chrono::milliseconds duration);

/// Iterations for a busy_loop of `count` elements that runs at least `duration` on this device
/// (measured once per process), or busy_loop_max_iterations.
std::uint32_t iterations_for(Context& context, std::uint32_t count,
                             std::chrono::milliseconds duration);

/// Encodes y = a * x + y over count floats.
void encode_scale_add(Device& device, ComputeEncoder& encoder, const Buffer& x, const Buffer& y,
                      std::uint32_t count, float a);

/// Copies values into a host-visible buffer / reads them back.
template <class T>
void upload(const Buffer& buffer, const std::vector<T>& values);
template <class T>
std::vector<T> download(const Buffer& buffer, std::size_t count);

}  // namespace vecaccel::testing
