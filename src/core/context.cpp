#include "vecaccel/context.hpp"

#include <deque>
#include <mutex>
#include <string>

#include "command_buffer_impl.hpp"
#include "device_impl.hpp"
#include "queue_impl.hpp"
#include "residency_set_impl.hpp"
#include "timeline.hpp"
#include "vecaccel/command_allocator.hpp"

namespace vecaccel {
namespace detail {
namespace {

using Clock = std::chrono::steady_clock;

/// Idle allocators kept for reuse; more are freed (one per concurrently encoding thread and
/// in-flight submission is the steady state).
constexpr std::size_t max_idle_allocators = 32;

Device pick_device(const ContextConfiguration& configuration) {
  if (configuration.prefer_high_performance_device) return Device::select_best();
  for (const auto& info : Device::enumerate()) {
    if (info.supports_explicit_model) return Device::open(info.index);
  }
  return Device::select_best();  // reports why nothing fits
}

BufferPoolDescriptor pool_descriptor(const ContextConfiguration& configuration) {
  return {.max_bytes = configuration.max_buffer_pool_memory.value_or(0),
          .max_buffers_per_size = configuration.max_buffers_per_size};
}

Device checked(Device device) {
  device.impl()->require_explicit_model("vecaccel::Context");
  if (!device.capabilities().push_descriptor) {
    throw Error(Errc::unsupported, "vecaccel::Context needs VK_KHR_push_descriptor, which '" +
                                       device.info().name + "' lacks");
  }
  return device;
}

}  // namespace

class ContextImpl {
 public:
  ContextImpl(Device device, const ContextConfiguration& configuration)
      : configuration_(configuration),
        device_(checked(std::move(device))),
        queue_(device_.make_command_queue(
            {.label = configuration.command_queue_label,
             .max_command_buffer_count = configuration.max_command_buffer_count})),
        residency_(device_, {.label = configuration.command_queue_label + " residency",
                             .capacity = configuration.residency_set_capacity}),
        pool_(device_.buffer_factory(), &residency_, pool_descriptor(configuration)) {
    queue_.add_residency_set(residency_.residency_set());
    profiling_ = configuration_.enable_profiling && device_.capabilities().timestamp_period_ns > 0;
  }

  ~ContextImpl() {
    try {
      queue_.wait_idle();
    } catch (const Error&) {
      // A lost device has nothing left to wait for.
    }
  }

  CommandBuffer make_command_buffer() {
    CommandBuffer cb = device_.make_command_buffer();
    cb.use_residency_set(residency_.residency_set());
    cb.set_residency_validation(configuration_.validate_residency);
    cb.impl()->set_target_queue(queue_.impl().get());
    return cb;
  }

  SubmissionBase submit(EncodeFunction encode, const ExecuteOptions& options) {
    if (options.stop.stop_requested()) {
      count_cancellation();
      throw Error(Errc::cancelled, "operation cancelled before encoding");
    }
    reclaim();
    if (residency_.has_pending_changes()) residency_.commit();

    Operation op{take_allocator(), make_command_buffer(), 0};
    const auto encode_start = Clock::now();
    try {
      op.command_buffer.begin(op.allocator);
      if (profiling_) op.command_buffer.impl()->write_begin_timestamp();
      ComputeEncoder& encoder = op.command_buffer.make_compute_encoder();
      encode(op.command_buffer, encoder);
      if (encoder.is_encoding()) encoder.end_encoding();
      if (profiling_) op.command_buffer.impl()->write_end_timestamp();
      op.command_buffer.end();
      // Buffers the operation acquired while encoding were registered after the commit above.
      if (residency_.has_pending_changes()) residency_.commit();
      op.value =
          queue_.commit(op.command_buffer, {.timeout = timeout_of(options), .stop = options.stop});
    } catch (...) {
      give_back(std::move(op.allocator));
      throw;
    }
    const auto encode_time = Clock::now() - encode_start;
    const std::uint64_t value = op.value;
    {
      std::lock_guard lock(mutex_);
      stats_.operations += 1;
      stats_.total_encode_time += std::chrono::duration_cast<std::chrono::nanoseconds>(encode_time);
      in_flight_.push_back(std::move(op));
    }
    return SubmissionBase(queue_.impl()->timeline(), value);
  }

  void wait(const SubmissionBase& submission, const ExecuteOptions& options) {
    try {
      submission.wait(WaitOptions{.timeout = timeout_of(options), .stop = options.stop});
    } catch (const Error& e) {
      if (e.code() == Errc::timeout) count_timeout();
      if (e.code() == Errc::cancelled) count_cancellation();
      throw;
    }
  }

  void cleanup() {
    queue_.wait_idle();
    reclaim();
    pool_.reset();
    std::lock_guard lock(mutex_);
    idle_allocators_.clear();
  }

  PerformanceStats performance_stats() {
    reclaim();
    std::lock_guard lock(mutex_);
    return stats_;
  }

  ContextConfiguration configuration_;
  Device device_;
  CommandQueue queue_;
  ResidencyManager residency_;
  BufferPool pool_;

 private:
  struct Operation {
    CommandAllocator allocator;
    CommandBuffer command_buffer;
    std::uint64_t value;
  };

  std::chrono::nanoseconds timeout_of(const ExecuteOptions& options) const {
    return options.timeout.value_or(configuration_.default_timeout);
  }

  CommandAllocator take_allocator() {
    std::lock_guard lock(mutex_);
    for (auto it = idle_allocators_.begin(); it != idle_allocators_.end(); ++it) {
      if (!it->is_idle()) continue;
      CommandAllocator allocator = std::move(*it);
      idle_allocators_.erase(it);
      allocator.reset();
      return allocator;
    }
    return device_.make_command_allocator();
  }

  void give_back(CommandAllocator allocator) {
    std::lock_guard lock(mutex_);
    if (idle_allocators_.size() < max_idle_allocators) {
      idle_allocators_.push_back(std::move(allocator));
    }
  }

  /// Completed operations: read their GPU time, then recycle their allocators. Allocators go
  /// back only here, after profiling read their queries.
  void reclaim() {
    std::lock_guard lock(mutex_);
    while (!in_flight_.empty()) {
      Operation& op = in_flight_.front();
      if (!queue_.impl()->timeline()->reached(op.value)) break;
      stats_.completed += 1;
      if (const auto ns = op.command_buffer.impl()->read_elapsed_ns()) {
        const std::chrono::nanoseconds gpu(*ns);
        stats_.profiled_operations += 1;
        stats_.total_gpu_time += gpu;
        stats_.last_gpu_time = gpu;
        stats_.max_gpu_time = std::max(stats_.max_gpu_time, gpu);
      }
      if (idle_allocators_.size() < max_idle_allocators) {
        idle_allocators_.push_back(std::move(op.allocator));
      }
      in_flight_.pop_front();
    }
  }

  void count_timeout() {
    std::lock_guard lock(mutex_);
    stats_.timeouts += 1;
  }
  void count_cancellation() {
    std::lock_guard lock(mutex_);
    stats_.cancellations += 1;
  }

  bool profiling_ = false;
  std::mutex mutex_;
  std::deque<Operation> in_flight_;
  std::vector<CommandAllocator> idle_allocators_;
  PerformanceStats stats_;
};

}  // namespace detail

Context::Context(const ContextConfiguration& configuration)
    : Context(detail::pick_device(configuration), configuration) {}

Context::Context(Device device, const ContextConfiguration& configuration)
    : impl_(std::make_unique<detail::ContextImpl>(std::move(device), configuration)) {}

Context::~Context() = default;

const Device& Context::device() const noexcept {
  return impl_->device_;
}
BufferPool& Context::buffer_pool() noexcept {
  return impl_->pool_;
}
BufferFactory Context::buffer_factory() const {
  return impl_->device_.buffer_factory();
}
ResidencyManager& Context::residency_manager() noexcept {
  return impl_->residency_;
}
CommandQueue& Context::command_queue() noexcept {
  return impl_->queue_;
}
const ContextConfiguration& Context::configuration() const noexcept {
  return impl_->configuration_;
}
CommandBuffer Context::make_command_buffer() {
  return impl_->make_command_buffer();
}
BufferToken Context::get_buffer(std::uint64_t size) {
  BufferToken token = impl_->pool_.acquire(size);
  // Committed now, so the operation that binds it next passes residency validation.
  if (impl_->residency_.has_pending_changes()) impl_->residency_.commit();
  return token;
}
void Context::wait(const SubmissionBase& submission, const ExecuteOptions& options) {
  impl_->wait(submission, options);
}
void Context::cleanup() {
  impl_->cleanup();
}
PerformanceStats Context::performance_stats() const {
  return impl_->performance_stats();
}
SubmissionBase Context::submit(EncodeFunction encode, const ExecuteOptions& options) {
  return impl_->submit(encode, options);
}

}  // namespace vecaccel
