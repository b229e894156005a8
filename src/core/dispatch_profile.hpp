#pragma once
// Where a command buffer's GPU time goes (VECACCEL_PROFILE_DISPATCHES=1): a timestamp after
// every dispatch, copy and fill, read once the submission completed and printed by pipeline.
// A diagnostic: the timestamps wait for all earlier work, so commands that would have
// overlapped run one after another, and each one's time is what it adds to those before it.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "command_list.hpp"
#include "vk.hpp"

namespace vecaccel::detail {

class DeviceImpl;

class DispatchProfile {
 public:
  /// Queries for list's work; the device must outlive the profile.
  DispatchProfile(DeviceImpl& device, const CommandList& list);

  vk::QueryPool pool() const noexcept { return *pool_; }

  /// Once the submission that ran the list completed: one line to stderr, each pipeline's
  /// count and total microseconds, longest first, after `label`.
  void report(std::string_view label) const;

 private:
  const DeviceImpl* device_;
  std::vector<std::string> names_;
  vk::raii::QueryPool pool_;
};

}  // namespace vecaccel::detail
