// The deprecated class is defined here; its own definitions are not uses to warn about.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include "vecaccel/legacy_context.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "access.hpp"
#include "command_buffer_impl.hpp"
#include "context_core.hpp"
#include "device_impl.hpp"
#include "queue_impl.hpp"
#include "timeline.hpp"
#include "timeout_text.hpp"
#include "vecaccel/command_allocator.hpp"
#include "vecaccel/command_queue.hpp"
#include "vecaccel/shared_event.hpp"

namespace vecaccel::detail {
namespace {

using Clock = std::chrono::steady_clock;

/// Metal 3's completed handlers: one per submission, run in submission order on a thread of
/// the context's own, which then wakes the waiters of that submission. (The device's listener
/// thread is not used: an entry there holds the queue's timeline and with it the device, so
/// the listener could end up dropping the device's last reference on its own thread.)
class CompletionHandlers {
 public:
  explicit CompletionHandlers(std::shared_ptr<Timeline> timeline)
      : timeline_(std::move(timeline)),
        thread_([this](const std::stop_token& stop) { run(stop); }) {}

  /// Stops after the handlers of every reached submission ran; the owner waits for its queue
  /// first, so normally that is all of them.
  ~CompletionHandlers() {
    thread_.request_stop();
    changed_.notify_all();
  }

  CompletionHandlers(const CompletionHandlers&) = delete;
  CompletionHandlers& operator=(const CompletionHandlers&) = delete;

  void add(std::uint64_t value) {
    {
      std::lock_guard lock(mutex_);
      pending_.push_back(value);
    }
    changed_.notify_all();
  }

  /// True once the handler of value ran; false at the deadline or on a stop request. Throws
  /// device_lost when the device failed first.
  bool wait(std::uint64_t value, Clock::time_point deadline, const std::stop_token& stop) {
    std::unique_lock lock(mutex_);
    changed_.wait_until(lock, stop, deadline, [&] { return completed_ >= value || failed_; });
    if (completed_ >= value) return true;
    if (failed_) {
      throw Error(Errc::device_lost,
                  "submission " + std::to_string(value) + " never completed: " + failure_);
    }
    return false;
  }

 private:
  /// A blocked wait wakes this often to notice a stop request.
  static constexpr auto slice = std::chrono::milliseconds(20);

  void run(const std::stop_token& stop) {
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
      changed_.wait(lock, stop, [&] { return !pending_.empty(); });
      if (pending_.empty()) continue;
      const std::uint64_t target = pending_.front();
      lock.unlock();
      std::uint64_t reached = 0;
      std::string failure;
      try {
        if (timeline_->wait(target, slice)) reached = timeline_->completed_value();
      } catch (const Error& e) {
        failure = e.what();
      }
      lock.lock();
      if (!failure.empty()) {
        failed_ = true;
        failure_ = failure;
        pending_.clear();
      }
      // The queue completes in order: every submission up to reached is done.
      while (!pending_.empty() && pending_.front() <= reached) {
        pending_.pop_front();
      }
      completed_ = std::max(completed_, reached);
      changed_.notify_all();
    }
  }

  std::shared_ptr<Timeline> timeline_;
  std::mutex mutex_;
  std::condition_variable_any changed_;
  std::deque<std::uint64_t> pending_;
  std::uint64_t completed_ = 0;
  bool failed_ = false;
  std::string failure_;
  std::jthread thread_;  // last: it starts once everything above exists
};

}  // namespace

class LegacyContextImpl {
 public:
  LegacyContextImpl(Device device, const ContextConfiguration& configuration)
      : core_(std::move(device), configuration, "vecaccel::LegacyContext"),
        configuration_(core_.configuration),
        device_(core_.device),
        queue_(core_.queue),
        pool_(device_.buffer_factory(), nullptr,
              {.max_bytes = configuration.max_buffer_pool_memory.value_or(0),
               .max_buffers_per_size = configuration.max_buffers_per_size}) {}

  /// Everything in flight completes (or the device is lost) before the pool goes.
  ~LegacyContextImpl() { detail::Access::impl(queue_)->drain(); }

  LegacyContextImpl(const LegacyContextImpl&) = delete;
  LegacyContextImpl& operator=(const LegacyContextImpl&) = delete;

  SubmissionBase submit(EncodeFunction encode, const ExecuteOptions& options) {
    if (options.stop.stop_requested()) {
      throw Error(Errc::cancelled, "operation cancelled before encoding");
    }
    CommandAllocator allocator = core_.take_allocator();
    std::uint64_t value = 0;
    try {
      value = record_and_commit(allocator, encode, options);
    } catch (...) {
      core_.give_back(std::move(allocator));
      throw;
    }
    // The queue's release list keeps the allocator alive; reuse waits for is_idle().
    core_.give_back(std::move(allocator));
    handlers_.add(value);  // Metal's addCompletedHandler
    return SubmissionBase(detail::Access::impl(queue_.completion_event()), value);
  }

  void wait(const SubmissionBase& submission, const ExecuteOptions& options) {
    const std::uint64_t value = submission.timeline_value();
    if (options.stop.stop_requested()) {
      throw Error(Errc::cancelled,
                  "stopped before waiting for submission " + std::to_string(value));
    }
    const auto timeout = options.timeout.value_or(configuration_.default_timeout);
    if (handlers_.wait(value, Clock::now() + timeout, options.stop)) return;
    if (options.stop.stop_requested()) {
      throw Error(Errc::cancelled, "stopped while waiting for submission " + std::to_string(value));
    }
    throw Error(Errc::timeout,
                "submission " + std::to_string(value) + " did not complete within " +
                    execute_limit_text(options.timeout, configuration_.default_timeout) +
                    " (the GPU work continues; its buffers stay alive until it completes)");
  }

  ContextCore core_;
  const ContextConfiguration& configuration_;
  Device& device_;
  CommandQueue& queue_;
  BufferPool pool_;

 private:
  std::uint64_t record_and_commit(CommandAllocator& allocator, EncodeFunction encode,
                                  const ExecuteOptions& options) {
    CommandBuffer command_buffer = device_.make_command_buffer();
    // The implicit model: nothing to declare; the queue's release list keeps every buffer the
    // submission uses alive until it completes.
    command_buffer.set_residency_validation(false);
    detail::Access::impl(command_buffer)->set_retain_buffers(true);
    command_buffer.begin(allocator);
    ComputeEncoder& encoder = command_buffer.make_compute_encoder();
    encode(command_buffer, encoder);
    if (encoder.is_encoding()) encoder.end_encoding();
    command_buffer.end();
    return queue_.commit(command_buffer,
                         {.timeout = options.timeout.value_or(configuration_.default_timeout),
                          .stop = options.stop});
  }

  CompletionHandlers handlers_{detail::Access::impl(queue_.completion_event())};
};

}  // namespace vecaccel::detail

namespace vecaccel {

LegacyContext::LegacyContext(const ContextConfiguration& configuration)
    : LegacyContext(detail::pick_device(configuration), configuration) {}

LegacyContext::LegacyContext(Device device, const ContextConfiguration& configuration)
    : impl_(std::make_unique<detail::LegacyContextImpl>(std::move(device), configuration)) {}

LegacyContext::~LegacyContext() = default;

const Device& LegacyContext::device() const noexcept {
  return impl_->device_;
}
BufferPool& LegacyContext::buffer_pool() noexcept {
  return impl_->pool_;
}
BufferToken LegacyContext::get_buffer(std::uint64_t size) {
  return impl_->pool_.acquire(size);
}
void LegacyContext::wait(const SubmissionBase& submission, const ExecuteOptions& options) {
  impl_->wait(submission, options);
}
SubmissionBase LegacyContext::submit(EncodeFunction encode, const ExecuteOptions& options) {
  return impl_->submit(encode, options);
}

}  // namespace vecaccel
