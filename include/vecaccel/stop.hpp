#pragma once
// When a blocking call gives up: a deadline and a stop token, both optional.

#include <chrono>
#include <optional>
#include <stop_token>

namespace vecaccel {

struct WaitOptions {
  /// How long the call may block; empty waits as long as it takes.
  std::optional<std::chrono::nanoseconds> timeout;
  /// Checked before blocking and while blocked; a stop request throws Errc::cancelled.
  std::stop_token stop;
};

}  // namespace vecaccel
