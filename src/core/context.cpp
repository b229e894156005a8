#include "vecaccel/context.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
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
#include "util/settings.hpp"
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
      : core_(std::move(device), configuration, "vecaccel::Context", true),
        configuration_(core_.configuration),
        device_(core_.device),
        residency_(device_, {.label = configuration.command_queue_label + " residency",
                             .capacity = configuration.residency_set_capacity}),
        pool_(device_.buffer_factory(), &residency_, pool_descriptor(configuration)),
        lanes_(core_.queues.size()) {
    for (std::size_t i = 0; i < lanes_.size(); ++i) {
      CommandQueue& queue = core_.queues[i];
      queue.add_residency_set(residency_.residency_set());
      lanes_[i].queue = detail::Access::impl(queue).get();
    }
    // The set is shared with other registrations (the kNN engine's chunks and scratch): when it
    // would overflow, the pool's idle cached buffers give up theirs. Without this one overflow
    // left the staged registrations in place, and every later operation of the context failed
    // with residency_set_full (found by bench/soak).
    residency_.set_overflow_handler([this] { pool_.reset(); });
    profiling_ = configuration_.enable_profiling && device_.capabilities().timestamp_period_ns > 0;
    // Read once here, not per recording: a malformed value fails the context's creation.
    profile_dispatches_ =
        detail::profile_dispatches_setting() && device_.capabilities().timestamp_period_ns > 0;
  }

  /// Operation records go back to recycle() while the members are alive.
  ~ContextImpl() {
    residency_.set_overflow_handler({});
    for (Lane& lane : lanes_)
      lane.queue->drain();
  }

  CommandBuffer make_command_buffer() { return make_command_buffer(*lanes_.front().queue); }

  SubmissionBase submit(EncodeFunction encode, const ExecuteOptions& options) {
    if (options.stop.stop_requested()) {
      count_cancellation();
      throw Error(Errc::cancelled, "operation cancelled before encoding");
    }
    Lane& lane = pick_lane();
    lane.queue->collect();
    commit_residency();

    std::unique_ptr<Operation> op = take_operation(lane);
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
      value = commit(*lane.queue, op->command_buffer, options);
    } catch (...) {
      // The command buffer goes first: another thread may take the allocator at once, and
      // resetting it while a recording from it is alive fails.
      CommandAllocator allocator = std::move(op->allocator);
      op.reset();
      core_.give_back(std::move(allocator));
      throw;
    }
    operations_.fetch_add(1, std::memory_order_relaxed);
    encode_ns_.fetch_add((Clock::now() - encode_start).count(), std::memory_order_relaxed);
    // The record comes back to recycle() once the operation completed.
    lane.queue->releases()->defer_destroy(value, op.get(), &ContextImpl::completed);
    static_cast<void>(op.release());  // defer_destroy owns the record now
    return SubmissionBase(lane.queue->timeline(), value);
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
    for (Lane& lane : lanes_) {
      std::lock_guard lock(lane.mutex);
      lane.idle.clear();
    }
  }

  PerformanceStats performance_stats() {
    core_.collect();
    PerformanceStats stats;
    {
      std::lock_guard lock(profile_mutex_);
      stats = profile_;
    }
    stats.operations = operations_.load(std::memory_order_relaxed);
    stats.completed = completed_.load(std::memory_order_relaxed);
    stats.timeouts = timeouts_.load(std::memory_order_relaxed);
    stats.cancellations = cancellations_.load(std::memory_order_relaxed);
    stats.total_encode_time = std::chrono::nanoseconds(encode_ns_.load(std::memory_order_relaxed));
    for (const Lane& lane : lanes_) {
      const auto waits = lane.queue->timeline()->wait_counts();
      stats.waits_spun += waits.spun;
      stats.waits_blocked += waits.blocked;
    }
    return stats;
  }

  CommandQueue& command_queue(std::size_t index) {
    if (index >= core_.queues.size()) {
      throw Error(Errc::invalid_argument, "command_queue(" + std::to_string(index) +
                                              "): the context has " +
                                              std::to_string(core_.queues.size()) + " queues");
    }
    return core_.queues[index];
  }

  ContextCore core_;
  const ContextConfiguration& configuration_;
  Device& device_;
  ResidencyManager residency_;
  BufferPool pool_;

 private:
  struct Operation;
  /// One queue and the operation records recorded for it: threads on different lanes share
  /// no lock on the way to the GPU but the residency set's (read) and the device's.
  struct Lane {
    QueueImpl* queue = nullptr;
    std::mutex mutex;
    std::vector<std::unique_ptr<Operation>> idle;  // under mutex
  };

  /// One operation's allocator and command buffer, reused once the operation completed
  /// instead of a new command buffer and record per operation (issue 10, item 6). The command
  /// buffer keeps its Vulkan recording: an operation that records the same commands again
  /// submits it as it is (CommandBufferImpl::set_reuse_recording).
  struct Operation {
    Operation(ContextImpl& c, Lane& l, CommandAllocator a, CommandBuffer cb)
        : context(c), lane(l), allocator(std::move(a)), command_buffer(std::move(cb)) {
      detail::Access::impl(command_buffer)->set_reuse_recording(true);
      detail::Access::impl(command_buffer)->set_profile_dispatches(c.profile_dispatches_);
    }
    ContextImpl& context;
    Lane& lane;
    CommandAllocator allocator;
    CommandBuffer command_buffer;
    /// The thread that last encoded into it: a thread that repeats an operation gets back the
    /// record holding its recording (with many threads, the last record freed rarely does).
    std::thread::id thread;
  };
  /// Completed operations kept for reuse per lane (one per concurrently encoding thread and
  /// in-flight operation is the steady state); more are freed.
  static constexpr std::size_t max_idle_operations = 32;

  CommandBuffer make_command_buffer(const QueueImpl& queue) {
    CommandBuffer cb = device_.make_command_buffer();
    cb.use_residency_set(residency_.residency_set());
    cb.set_residency_validation(configuration_.validate_residency);
    detail::Access::impl(cb)->set_target_queue(&queue);
    return cb;
  }

  /// The lane with the fewest submissions in flight; on a tie the calling thread's own (by its
  /// id), whose idle records hold its recordings.
  Lane& pick_lane() {
    if (lanes_.size() == 1) return lanes_.front();
    const std::size_t home =
        std::hash<std::thread::id>{}(std::this_thread::get_id()) % lanes_.size();
    std::size_t best = home;
    std::uint64_t fewest = lanes_[home].queue->in_flight();
    for (std::size_t i = 1; i < lanes_.size() && fewest > 0; ++i) {
      const std::size_t lane = (home + i) % lanes_.size();
      const std::uint64_t in_flight = lanes_[lane].queue->in_flight();
      if (in_flight < fewest) {
        fewest = in_flight;
        best = lane;
      }
    }
    return lanes_[best];
  }

  /// A completed operation's record of the lane (the calling thread's last one if idle), or a
  /// new one. Its allocator is idle (recycle() runs only once the operation completed); the
  /// command buffer resets it when it records anew.
  std::unique_ptr<Operation> take_operation(Lane& lane) {
    const std::thread::id self = std::this_thread::get_id();
    std::unique_ptr<Operation> op;
    {
      std::lock_guard lock(lane.mutex);
      if (!lane.idle.empty()) {
        auto mine = std::find_if(lane.idle.rbegin(), lane.idle.rend(),
                                 [&](const auto& idle) { return idle->thread == self; });
        if (mine == lane.idle.rend()) mine = lane.idle.rbegin();
        op = std::move(*mine);
        lane.idle.erase(std::next(mine).base());
      }
    }
    if (!op) {
      op = std::make_unique<Operation>(*this, lane, core_.take_allocator(),
                                       make_command_buffer(*lane.queue));
    }
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
  std::uint64_t commit(QueueImpl& queue, CommandBuffer& command_buffer,
                       const ExecuteOptions& options) {
    CommandBuffer* one[] = {&command_buffer};
    try {
      return queue.commit(one, {.timeout = timeout_of(options), .stop = options.stop});
    } catch (const Error& e) {
      if (e.code() != Errc::timeout) throw;
      throw naming_the_limit(e, options);
    }
  }

  /// A completed operation: read its GPU time, then keep the record for reuse (only here,
  /// after profiling read its queries).
  void recycle(std::unique_ptr<Operation> op) noexcept {
    completed_.fetch_add(1, std::memory_order_relaxed);
    detail::Access::impl(op->command_buffer)->report_dispatch_profile();
    if (const auto ns = detail::Access::impl(op->command_buffer)->read_elapsed_ns()) {
      const std::chrono::nanoseconds gpu(*ns);
      std::lock_guard lock(profile_mutex_);
      profile_.profiled_operations += 1;
      profile_.total_gpu_time += gpu;
      profile_.last_gpu_time = gpu;
      profile_.max_gpu_time = std::max(profile_.max_gpu_time, gpu);
    }
    Lane& lane = op->lane;
    std::lock_guard lock(lane.mutex);
    if (lane.idle.size() >= max_idle_operations) return;  // freed instead
    try {
      lane.idle.push_back(std::move(op));
    } catch (...) {
      // No room to keep it: the record is freed instead.
    }
  }

  void count_timeout() { timeouts_.fetch_add(1, std::memory_order_relaxed); }
  void count_cancellation() { cancellations_.fetch_add(1, std::memory_order_relaxed); }

  bool profiling_ = false;
  bool profile_dispatches_ = false;  // VECACCEL_PROFILE_DISPATCHES
  // Counted without a lock: every operation counts, from every thread.
  std::atomic<std::uint64_t> operations_{0};
  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::uint64_t> timeouts_{0};
  std::atomic<std::uint64_t> cancellations_{0};
  std::atomic<std::int64_t> encode_ns_{0};
  std::mutex profile_mutex_;
  PerformanceStats profile_;  // the GPU times alone, under profile_mutex_
  std::vector<Lane> lanes_;
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
  return impl_->core_.queue;
}
CommandQueue& Context::command_queue(std::size_t index) {
  return impl_->command_queue(index);
}
std::size_t Context::command_queue_count() const noexcept {
  return impl_->core_.queues.size();
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
