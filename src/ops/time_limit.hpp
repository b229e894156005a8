#pragma once
// Time limits of library work. The context's default_timeout is for the caller's own
// execute()/execute_and_wait() calls (docs/architecture.md): a search over a billion rows takes
// minutes, so searches and the uploads, copies and downloads the library runs for the caller
// have no limit unless the caller gives one (ExecuteOptions::timeout).

#include <chrono>

#include "vecaccel/acceleration_context.hpp"

namespace vecaccel::detail {

/// "No limit" for WaitOptions / ExecuteOptions (an empty ExecuteOptions::timeout would mean
/// the context's default_timeout instead).
inline constexpr std::chrono::nanoseconds no_time_limit = std::chrono::nanoseconds::max();

/// Options for the library's own GPU work: no time limit, no stop.
inline ExecuteOptions without_time_limit() {
  return {.timeout = no_time_limit, .stop = {}};
}

}  // namespace vecaccel::detail
