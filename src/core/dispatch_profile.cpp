#include "dispatch_profile.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

#include "device_impl.hpp"

namespace vecaccel::detail {

DispatchProfile::DispatchProfile(DeviceImpl& device, const CommandList& list)
    : device_(&device),
      names_(list.work_names()),
      pool_(device.call("creating a dispatch-profile query pool", [&] {
        return vk::raii::QueryPool(
            device.device(),
            vk::QueryPoolCreateInfo{.queryType = vk::QueryType::eTimestamp,
                                    .queryCount = static_cast<std::uint32_t>(names_.size()) + 1});
      })) {}

void DispatchProfile::report(std::string_view label) const {
  std::vector<std::uint64_t> ticks(names_.size() + 1);
  const auto result =
      static_cast<vk::Result>(device_->device().getDispatcher()->vkGetQueryPoolResults(
          *device_->device(), *pool_, 0, static_cast<std::uint32_t>(ticks.size()),
          ticks.size() * sizeof(std::uint64_t), ticks.data(), sizeof(std::uint64_t),
          VK_QUERY_RESULT_64_BIT));
  if (result != vk::Result::eSuccess) return;
  const double period_ns = device_->capabilities().timestamp_period_ns;
  struct Total {
    std::uint32_t count = 0;
    double us = 0.0;
  };
  std::map<std::string, Total> totals;
  for (std::size_t i = 0; i < names_.size(); ++i) {
    const std::uint64_t spent = ticks[i + 1] >= ticks[i] ? ticks[i + 1] - ticks[i] : 0;
    Total& t = totals[names_[i]];
    t.count += 1;
    t.us += static_cast<double>(spent) * period_ns / 1e3;
  }
  std::vector<std::pair<std::string, Total>> sorted(totals.begin(), totals.end());
  std::ranges::sort(sorted, [](const auto& a, const auto& b) { return a.second.us > b.second.us; });
  double all = 0.0;
  std::string line;
  for (const auto& [name, t] : sorted) {
    all += t.us;
    char entry[160];
    std::snprintf(entry, sizeof entry, "; %s x%u %.1f", name.c_str(), t.count, t.us);
    line += entry;
  }
  std::fprintf(stderr, "vecaccel gpu %.*s: %.1f us%s\n", static_cast<int>(label.size()),
               label.data(), all, line.c_str());
}

}  // namespace vecaccel::detail
