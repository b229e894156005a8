// plan_search: the hold / stream decision for every device of a search (search.hpp). Pure: no
// device is touched, so it is unit-tested without a GPU (test_search_plan).

#include <algorithm>
#include <string>

#include "ops/streamed_search.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/search.hpp"

namespace vecaccel {

std::size_t SearchPlan::passes() const noexcept {
  if (handling == BaseHandling::held) return 0;
  std::size_t passes = 0;
  for (const PlannedShare& share : shares)
    passes += (share.rows + share.rows_per_pass - 1) / share.rows_per_pass;
  return passes;
}

std::string SearchPlan::description() const {
  const std::string devices =
      std::to_string(shares.size()) + (shares.size() == 1 ? " device" : " devices");
  if (handling == BaseHandling::held) return "held on " + devices;
  std::size_t widest = 0;
  std::uint64_t budget = shares.front().memory_budget;
  for (const PlannedShare& share : shares) {
    widest = std::max(widest, share.rows_per_pass);
    budget = std::min(budget, share.memory_budget);
  }
  return "streamed on " + devices + ", " + std::to_string(passes()) + " passes of up to " +
         std::to_string(widest) + " rows (budget " + std::to_string(budget) + " bytes)";
}

SearchPlan plan_search(const PlanInput& input) {
  if (input.budgets.empty()) {
    throw Error(Errc::invalid_argument, "search plan: no devices (no memory budgets) given");
  }
  if (input.dim == 0) throw Error(Errc::invalid_argument, "search plan: dimension must be >= 1");
  // Devices beyond the base's rows would get empty shares: they take none.
  const std::size_t count = std::max<std::size_t>(1, std::min(input.budgets.size(), input.rows));
  SearchPlan plan;
  plan.shares.reserve(count);
  bool stream = false;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t first = input.rows * i / count;
    const std::size_t rows = input.rows * (i + 1) / count - first;
    const std::uint64_t budget = input.budgets[i];
    const bool fits = detail::rows_fit_held(budget, input.dim, input.type, rows);
    stream = stream || (!fits && input.streamable);
    plan.shares.push_back({.device = i,
                           .first_row = first,
                           .rows = rows,
                           .memory_budget = budget,
                           .rows_per_pass = rows,
                           .fits = fits});
  }
  if (!stream) return plan;
  plan.handling = BaseHandling::streamed;
  for (PlannedShare& share : plan.shares) {
    share.rows_per_pass =
        detail::stream_rows_per_pass(share.memory_budget, input.dim, input.type, share.rows);
    share.fits = true;
  }
  return plan;
}

}  // namespace vecaccel
