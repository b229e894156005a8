#pragma once
// Context (Metal4Context): the explicit execution model.
//
// Command buffers come from the device and are recorded from per-thread allocators; they are
// submitted through the context's queues (ContextConfiguration::command_queue_count), each
// with its own timeline that signals completion; buffers are valid on the GPU through the
// residency manager's set, attached to every queue and to every command buffer.
//
// Several queues: execute() submits each operation to the queue with the fewest submissions
// in flight, so threads do not queue behind one another on one VkQueue. Each queue keeps the
// contracts on its own: at most max_command_buffer_count submissions in flight (a further
// execute on a full queue waits within its timeout and stop token, when every queue is full),
// timeout and cancellation of the caller's wait, residency validation against the same set.
// Operations of different execute() calls are unordered with respect to each other, as with
// one queue. Thread-safe. Destroying the context waits for the work of every queue.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "vecaccel/acceleration_context.hpp"
#include "vecaccel/buffer_pool.hpp"
#include "vecaccel/command_queue.hpp"
#include "vecaccel/context_configuration.hpp"
#include "vecaccel/device.hpp"
#include "vecaccel/residency_manager.hpp"

namespace vecaccel {

struct PerformanceStats {
  std::uint64_t operations = 0;  ///< submitted by execute
  std::uint64_t completed = 0;   ///< seen completed (profiling reads these)
  std::uint64_t timeouts = 0;
  std::uint64_t cancellations = 0;
  std::chrono::nanoseconds total_encode_time{0};  ///< CPU time in encode callbacks
  /// GPU execution time from timestamp queries (enable_profiling; zero otherwise).
  std::uint64_t profiled_operations = 0;
  std::chrono::nanoseconds total_gpu_time{0};
  std::chrono::nanoseconds last_gpu_time{0};
  std::chrono::nanoseconds max_gpu_time{0};
  /// Host waits for this context's work that found it unfinished, by how they ended: while
  /// spinning on the timeline (microseconds), or in the driver's blocking wait (a wake-up of
  /// tens of microseconds on a discrete GPU; spinning lasts up to 2 ms there, none on CPU
  /// devices, VECACCEL_SPIN_US overrides).
  std::uint64_t waits_spun = 0;
  std::uint64_t waits_blocked = 0;
};

namespace detail {
class ContextImpl;
}

class Context final : public AccelerationContext {
 public:
  /// Picks a device as configuration says. explicit_model_unsupported when it lacks Vulkan
  /// 1.3, timeline semaphores or synchronization2; unsupported without push descriptors.
  explicit Context(const ContextConfiguration& configuration = {});
  Context(Device device, const ContextConfiguration& configuration = {});
  ~Context() override;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const Device& device() const noexcept;
  BufferPool& buffer_pool() noexcept;
  BufferFactory buffer_factory() const;
  ResidencyManager& residency_manager() noexcept;
  /// The first queue: the one clients commit their own command buffers to (make_command_buffer
  /// targets it), and the one gating with wait_event holds back. With several queues execute()
  /// also uses the others: to hold back every operation, gate each command_queue(i).
  CommandQueue& command_queue() noexcept;
  /// Queue index (< command_queue_count()); invalid_argument beyond.
  CommandQueue& command_queue(std::size_t index);
  std::size_t command_queue_count() const noexcept;
  const ContextConfiguration& configuration() const noexcept;
  /// A command buffer made by the device, with the context's residency set in use.
  CommandBuffer make_command_buffer();

  BufferToken get_buffer(std::uint64_t size) override;
  using AccelerationContext::get_buffer;
  void wait(const SubmissionBase& submission, const ExecuteOptions& options) override;

  /// Waits for submitted work, frees cached pool buffers and clears the residency manager.
  void cleanup();
  PerformanceStats performance_stats() const;

 protected:
  SubmissionBase submit(EncodeFunction encode, const ExecuteOptions& options) override;

 private:
  std::unique_ptr<detail::ContextImpl> impl_;
};

}  // namespace vecaccel
