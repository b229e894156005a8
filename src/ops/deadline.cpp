// Deadline (knn_engine.hpp): one time limit and stop token for a whole search.
#include <algorithm>
#include <string>

#include "knn_engine.hpp"
#include "timeout_text.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::detail {

Deadline Deadline::after(std::optional<std::chrono::nanoseconds> limit, std::stop_token stop) {
  const std::chrono::nanoseconds given = limit.value_or(no_time_limit);
  const auto now = std::chrono::steady_clock::now();
  // Saturates: nanoseconds::max() means no limit.
  const auto at = given >= std::chrono::steady_clock::time_point::max() - now
                      ? std::chrono::steady_clock::time_point::max()
                      : now + given;
  return {at, given, std::move(stop)};
}

WaitOptions Deadline::wait_options() const {
  if (at == std::chrono::steady_clock::time_point::max()) return {no_time_limit, stop};
  const auto left =
      std::max(at - std::chrono::steady_clock::now(), std::chrono::steady_clock::duration::zero());
  return {std::chrono::duration_cast<std::chrono::nanoseconds>(left), stop};
}

ExecuteOptions Deadline::execute_options() const {
  const WaitOptions left = wait_options();
  return {.timeout = left.timeout, .stop = left.stop};
}

void Deadline::check_stop(std::string_view progress) const {
  if (stop.stop_requested()) {
    throw Error(Errc::cancelled, "kNN search stopped after " + std::string(progress));
  }
}

void Deadline::wait(const SubmissionBase& submission, std::string_view what) const {
  try {
    submission.wait(wait_options());
  } catch (const Error& e) {
    if (e.code() != Errc::timeout) throw;
    throw timeout_error(what);
  }
}

Error Deadline::timeout_error(std::string_view what) const {
  return Error(Errc::timeout, std::string(what) +
                                  " did not finish within the search's time limit of " +
                                  seconds_text(limit) +
                                  " (the timeout the caller gave: ExecuteOptions::timeout, "
                                  "StreamOptions::timeout or Python's timeout=; searches have no "
                                  "limit unless one is given)");
}

}  // namespace vecaccel::detail
