#include "vecaccel/submission.hpp"

#include <string>

#include "timeline.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel {

bool SubmissionBase::is_complete() const {
  return !timeline_ || timeline_->reached(value_);
}

void SubmissionBase::wait() const {
  if (timeline_) timeline_->wait(value_, std::nullopt);
}

bool SubmissionBase::wait_for(std::chrono::nanoseconds timeout) const {
  return !timeline_ || timeline_->wait(value_, timeout);
}

void SubmissionBase::wait(const WaitOptions& options) const {
  if (!timeline_) return;
  if (options.stop.stop_requested()) {
    throw Error(Errc::cancelled, "stopped before waiting for submission " + std::to_string(value_));
  }
  if (!timeline_->wait(value_, options.timeout, options.stop)) {
    throw Error(Errc::timeout,
                "submission " + std::to_string(value_) + " did not complete within " +
                    std::to_string(options.timeout ? options.timeout->count() / 1000 : 0) +
                    " us (the GPU work continues; its resources stay alive until it completes)");
  }
}

}  // namespace vecaccel
