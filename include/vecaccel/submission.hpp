#pragma once
// Submission<R>: the handle execute() returns at once. Completion is a value on the timeline
// of the queue that ran the operation (a Context may have several, each with its own
// timeline); the result R was produced when the operation was encoded and is handed out by
// get() once the GPU has finished. Copyable; thread-safe. Dropping it does not cancel or
// shorten the GPU work, whose resources the context keeps alive until it completes.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "vecaccel/stop.hpp"

namespace vecaccel {

namespace detail {
class Timeline;
}

class SubmissionBase {
 public:
  SubmissionBase() = default;
  SubmissionBase(std::shared_ptr<detail::Timeline> timeline, std::uint64_t value) noexcept
      : timeline_(std::move(timeline)), value_(value) {}

  bool is_complete() const;
  /// Waits without limit. Throws device_lost.
  void wait() const;
  /// False when the time ran out first. Throws device_lost.
  bool wait_for(std::chrono::nanoseconds timeout) const;
  /// Throws timeout (naming the value and the time), cancelled or device_lost.
  void wait(const WaitOptions& options) const;
  /// The value that marks completion on the timeline of the queue that ran the operation.
  /// Values of one queue grow in submission order; values of submissions that ran on
  /// different queues of a context are unrelated (neither order nor completion follows from
  /// comparing them).
  std::uint64_t timeline_value() const noexcept { return value_; }

 private:
  std::shared_ptr<detail::Timeline> timeline_;
  std::uint64_t value_ = 0;
};

template <class R>
class Submission : public SubmissionBase {
 public:
  Submission(SubmissionBase base, std::shared_ptr<R> result)
      : SubmissionBase(std::move(base)), result_(std::move(result)) {}
  /// Waits for completion, then returns the operation's result.
  const R& get() const {
    wait();
    return *result_;
  }

 private:
  std::shared_ptr<R> result_;
};

template <>
class Submission<void> : public SubmissionBase {
 public:
  explicit Submission(SubmissionBase base) : SubmissionBase(std::move(base)) {}
  void get() const { wait(); }
};

}  // namespace vecaccel
