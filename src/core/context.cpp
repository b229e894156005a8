#include "vecaccel/context.hpp"

#include <algorithm>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "access.hpp"
#include "command_buffer_impl.hpp"
#include "context_core.hpp"
#include "device_impl.hpp"
#include "lifetime.hpp"
#include "queue_impl.hpp"
#include "residency_set_impl.hpp"
#include "timeline.hpp"
#include "timeout_text.hpp"
#include "vecaccel/command_allocator.hpp"

namespace vecaccel {
namespace detail {
namespace {

using Clock = std::chrono::steady_clock;

BufferPoolDescriptor pool_descriptor(const ContextConfiguration& configuration) {
  return {.max_bytes = configuration.max_buffer_pool_memory.value_or(0),
          .max_buffers_per_size = configuration.max_buffers_per_size};
}

}  // namespace

class ContextImpl {
 public:
  ContextImpl(Device device, const ContextConfiguration& configuration)
      : core_(std::move(device), configuration, "vecaccel::Context"),
        configuration_(core_.configuration),
        device_(core_.device),
        queue_(core_.queue),
        residency_(device_, {.label = configuration.command_queue_label + " residency",
                             .capacity = configuration.residency_set_capacity}),
        pool_(device_.buffer_factory(), &residency_, pool_descriptor(configuration)) {
    queue_.add_residency_set(residency_.residency_set());
    // The set is shared with other registrations (the kNN engine's chunks and scratch): when it
    // would overflow, the pool's idle cached buffers give up theirs. Without this one overflow
    // left the staged registrations in place, and every later operation of the context failed
    // with residency_set_full (found by bench/soak).
    residency_.set_overflow_handler([this] { pool_.reset(); });
    profiling_ = configuration_.enable_profiling && device_.capabilities().timestamp_period_ns > 0;
  }

  /// Operation records go back to recycle() while the members are alive.
  ~ContextImpl() {
    residency_.set_overflow_handler({});
    detail::Access::impl(queue_)->drain();
  }

  CommandBuffer make_command_buffer() {
    CommandBuffer cb = device_.make_command_buffer();
    cb.use_residency_set(residency_.residency_set());
    cb.set_residency_validation(configuration_.validate_residency);
    detail::Access::impl(cb)->set_target_queue(detail::Access::impl(queue_).get());
    return cb;
  }

  SubmissionBase submit(EncodeFunction encode, const ExecuteOptions& options) {
    if (options.stop.stop_requested()) {
      count_cancellation();
      throw Error(Errc::cancelled, "operation cancelled before encoding");
    }
    core_.collect();
    commit_residency();

    std::unique_ptr<Operation> op = take_operation();
    const auto encode_start = Clock::now();
    std::uint64_t value = 0;
    try {
      op->command_buffer.begin(op->allocator);
      detail::Access::impl(op->command_buffer)
          ->keep_only_residency_set(detail::Access::impl(residency_.residency_set()));
      if (profiling_) detail::Access::impl(op->command_buffer)->write_begin_timestamp();
      ComputeEncoder& encoder = op->command_buffer.make_compute_encoder();
      encode(op->command_buffer, encoder);
      if (encoder.is_encoding()) encoder.end_encoding();
      if (profiling_) detail::Access::impl(op->command_buffer)->write_end_timestamp();
      op->command_buffer.end();
      // Buffers the operation acquired while encoding were registered after the commit above.
      commit_residency();
      value = commit(op->command_buffer, options);
    } catch (...) {
      // The command buffer goes first: another thread may take the allocator at once, and
      // resetting it while a recording from it is alive fails.
      CommandAllocator allocator = std::move(op->allocator);
      op.reset();
      core_.give_back(std::move(allocator));
      throw;
    }
    const auto encode_time = Clock::now() - encode_start;
    {
      std::lock_guard lock(mutex_);
      stats_.operations += 1;
      stats_.total_encode_time += std::chrono::duration_cast<std::chrono::nanoseconds>(encode_time);
    }
    // The record comes back to recycle() once the operation completed.
    core_.releases()->defer_destroy(value, op.get(), &ContextImpl::completed);
    static_cast<void>(op.release());  // defer_destroy owns the record now
    return SubmissionBase(detail::Access::impl(queue_)->timeline(), value);
  }

  void wait(const SubmissionBase& submission, const ExecuteOptions& options) {
    try {
      submission.wait(WaitOptions{.timeout = timeout_of(options), .stop = options.stop});
    } catch (const Error& e) {
      if (e.code() == Errc::cancelled) count_cancellation();
      if (e.code() != Errc::timeout) throw;
      count_timeout();
      throw naming_the_limit(e, options);
    }
  }

  void commit_residency() {
    if (residency_.has_pending_changes()) residency_.commit();
  }

  void cleanup() {
    core_.wait_idle();
    pool_.reset();
    core_.clear_allocators();
    std::lock_guard lock(mutex_);
    idle_operations_.clear();
  }

  PerformanceStats performance_stats() {
    core_.collect();
    const auto waits = detail::Access::impl(queue_)->timeline()->wait_counts();
    std::lock_guard lock(mutex_);
    PerformanceStats stats = stats_;
    stats.waits_spun = waits.spun;
    stats.waits_blocked = waits.blocked;
    return stats;
  }

  ContextCore core_;
  const ContextConfiguration& configuration_;
  Device& device_;
  CommandQueue& queue_;
  ResidencyManager residency_;
  BufferPool pool_;

 private:
  /// One operation's allocator and command buffer, reused once the operation completed
  /// instead of a new command buffer and record per operation (issue 10, item 6). The command
  /// buffer keeps its Vulkan recording: an operation that records the same commands again
  /// submits it as it is (CommandBufferImpl::set_reuse_recording).
  struct Operation {
    Operation(ContextImpl& c, CommandAllocator a, CommandBuffer cb)
        : context(c), allocator(std::move(a)), command_buffer(std::move(cb)) {
      detail::Access::impl(command_buffer)->set_reuse_recording(true);
    }
    ContextImpl& context;
    CommandAllocator allocator;
    CommandBuffer command_buffer;
    /// The thread that last encoded into it: a thread that repeats an operation gets back the
    /// record holding its recording (with many threads, the last record freed rarely does).
    std::thread::id thread;
  };
  /// Completed operations kept for reuse (one per concurrently encoding thread and in-flight
  /// operation is the steady state); more are freed.
  static constexpr std::size_t max_idle_operations = 32;

  /// A completed operation's record (the calling thread's last one if idle), or a new one.
  /// Its allocator is idle (recycle() runs only once the operation completed); the command
  /// buffer resets it when it records anew.
  std::unique_ptr<Operation> take_operation() {
    const std::thread::id self = std::this_thread::get_id();
    std::unique_ptr<Operation> op;
    {
      std::lock_guard lock(mutex_);
      if (!idle_operations_.empty()) {
        auto mine = std::find_if(idle_operations_.rbegin(), idle_operations_.rend(),
                                 [&](const auto& idle) { return idle->thread == self; });
        if (mine == idle_operations_.rend()) mine = idle_operations_.rbegin();
        op = std::move(*mine);
        idle_operations_.erase(std::next(mine).base());
      }
    }
    if (!op) op = std::make_unique<Operation>(*this, core_.take_allocator(), make_command_buffer());
    op->thread = self;
    return op;
  }

  /// The release list's callback for an operation record (ReleaseQueue::defer_destroy).
  static void completed(void* op) noexcept {
    auto* operation = static_cast<Operation*>(op);
    operation->context.recycle(std::unique_ptr<Operation>(operation));
  }

  std::chrono::nanoseconds timeout_of(const ExecuteOptions& options) const {
    return options.timeout.value_or(configuration_.default_timeout);
  }

  /// A timeout's error, naming the limit it ran under and how to change it.
  Error naming_the_limit(const Error& timeout, const ExecuteOptions& options) const {
    return Error(Errc::timeout,
                 message_of(timeout) + "; the limit was " +
                     execute_limit_text(options.timeout, configuration_.default_timeout));
  }

  /// Commits through the queue, which waits for a slot (back-pressure) within the limit.
  std::uint64_t commit(CommandBuffer& command_buffer, const ExecuteOptions& options) {
    try {
      return queue_.commit(command_buffer, {.timeout = timeout_of(options), .stop = options.stop});
    } catch (const Error& e) {
      if (e.code() != Errc::timeout) throw;
      throw naming_the_limit(e, options);
    }
  }

  /// A completed operation: read its GPU time, then keep the record for reuse (only here,
  /// after profiling read its queries).
  void recycle(std::unique_ptr<Operation> op) noexcept {
    std::lock_guard lock(mutex_);
    stats_.completed += 1;
    if (const auto ns = detail::Access::impl(op->command_buffer)->read_elapsed_ns()) {
      const std::chrono::nanoseconds gpu(*ns);
      stats_.profiled_operations += 1;
      stats_.total_gpu_time += gpu;
      stats_.last_gpu_time = gpu;
      stats_.max_gpu_time = std::max(stats_.max_gpu_time, gpu);
    }
    if (idle_operations_.size() >= max_idle_operations) return;  // freed instead
    try {
      idle_operations_.push_back(std::move(op));
    } catch (...) {
      // No room to keep it: the record is freed instead.
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
  PerformanceStats stats_;
  std::vector<std::unique_ptr<Operation>> idle_operations_;
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
  impl_->commit_residency();
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
