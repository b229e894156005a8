#pragma once
// Running one task per device of a search at once, a thread each, with the search's error rule.

#include <cstddef>
#include <exception>
#include <functional>
#include <stop_token>
#include <vector>

namespace vecaccel::detail {

/// Runs task(i) for i < count, each on its own thread (inline when count is 1), and returns
/// what each threw (null where it succeeded).
std::vector<std::exception_ptr> run_each(std::size_t count,
                                         const std::function<void(std::size_t)>& task);

/// Runs task(i, stop) for i < count, each on its own thread (inline when count is 1), and
/// rethrows an error once all have ended. `stop` is stopped by the caller's stop token and, for
/// the tasks after i, by task i failing: an earlier task may still find an earlier bad row, so
/// the error rethrown is the lowest task's that is not a cancellation (else the first
/// cancellation) — the one a single device would report.
void run_per_device(std::size_t count, const std::stop_token& caller,
                    const std::function<void(std::size_t, std::stop_token)>& task);

/// Rethrows the first error that is not a cancellation (a task stopped because another failed),
/// else the first cancellation; returns when there is none.
void rethrow_first(const std::vector<std::exception_ptr>& errors);

}  // namespace vecaccel::detail
