#pragma once
// ContextConfiguration (MetalConfiguration): how a context picks its device and sizes its
// queue, pool and residency set. A plain value.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace vecaccel {

struct ContextConfiguration {
  /// Device::select_best() when true, else the first device that supports the explicit model.
  bool prefer_high_performance_device = true;
  /// Cap on memory the buffer pool holds (leased + cached); empty: half the device-local
  /// memory (half the largest heap on a device without a device-local heap).
  std::optional<std::uint64_t> max_buffer_pool_memory;
  /// Released buffers kept per size bucket for reuse.
  std::size_t max_buffers_per_size = 10;
  /// The first queue's label; further queues are "<label> #1", "<label> #2", ...
  std::string command_queue_label = "vecaccel";
  /// Submissions in flight on each of the context's queues at most (back-pressure beyond). A
  /// thread in execute_and_wait holds one until its operation completes. docs/architecture.md's 3:
  /// on an H200, 8 threads of small operations on one queue ran at 93-101k ops/s with 3, 8, 16 or
  /// 64 (BENCHMARKS.md): the queue itself, not the cap, was the limit.
  std::uint32_t max_command_buffer_count = 3;
  /// Command queues the Context submits through (Metal 4 lets one device feed several), each
  /// with its own timeline and its own max_command_buffer_count. execute() takes the queue with
  /// the fewest submissions in flight (the calling thread's usual one on a tie, which keeps its
  /// recordings), so threads submit in parallel instead of queueing on one VkQueue. 0: one per
  /// hardware queue the device opened, at most default_command_queues (1 on lavapipe, 2 on
  /// NVIDIA). More queues than hardware queues share them round robin (they still have their
  /// own timelines and back-pressure). Above max_command_queues: invalid_argument. LegacyContext
  /// ignores it (one queue). Measured on an H100 (BENCHMARKS.md, session 15), 8 threads of small
  /// operations: 97k ops/s on 1 queue, 120k on 2, 69k on 4, 15k on 8.
  std::uint32_t command_queue_count = 0;
  static constexpr std::uint32_t default_command_queues = 2;
  static constexpr std::uint32_t max_command_queues = 16;
  /// Buffers the context's residency set may hold.
  std::size_t residency_set_capacity = 256;
  /// Record GPU time per operation with timestamp queries (performance_stats()).
  bool enable_profiling = false;
  /// Wait limit of the caller's own execute/execute_and_wait when ExecuteOptions gives none.
  /// Searches (FlatIndex, ShardedIndex, ops::knn) and the work the library runs for them do
  /// not use it: they have no limit unless the caller passes one.
  std::chrono::nanoseconds default_timeout = std::chrono::seconds(30);
  /// Throw residency_violation when an operation uses a buffer outside the residency sets.
  bool validate_residency = true;
};

}  // namespace vecaccel
