#include "search/range_search.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ops/exact_merge.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::detail {
namespace {

/// Rows of a query's first search: enough that most queries end in one round.
constexpr std::size_t kFirstWidth = 64;

enum class Membership { in, out, unsure };

/// Whether a row whose exact value rounds to `value` lies within the radius: decided by the
/// float32 value unless the radius lies within one float32 step of it.
Membership by_float(float value, double radius, bool smaller_better) {
  if (std::isnan(value)) return Membership::unsure;
  const double below = std::nextafter(value, -std::numeric_limits<float>::infinity());
  const double above = std::nextafter(value, std::numeric_limits<float>::infinity());
  if (smaller_better) {
    if (above < radius) return Membership::in;
    if (below >= radius) return Membership::out;
  } else {
    if (below > radius) return Membership::in;
    if (above <= radius) return Membership::out;
  }
  return Membership::unsure;
}

bool within(double exact, double radius, bool smaller_better) {
  return smaller_better ? exact < radius : exact > radius;
}

}  // namespace

RangeResult range_by_knn(const RangeSource& source, double radius, Metric metric,
                         std::size_t max_results) {
  if (std::isnan(radius)) throw Error(Errc::invalid_argument, "range search: the radius is NaN");
  const bool smaller_better = smaller_is_better(metric);
  std::vector<std::vector<std::pair<float, std::int64_t>>> found(source.queries);
  std::vector<std::size_t> pending(source.queries);
  for (std::size_t q = 0; q < pending.size(); ++q)
    pending[q] = q;
  std::size_t total = 0;  // results of the queries done, and at least those of the pending
  const auto too_many = [&](std::size_t count) {
    return Error(Errc::invalid_argument, "range search: " + std::to_string(count) +
                                             " or more results within radius " +
                                             std::to_string(radius) + ", above max_results = " +
                                             std::to_string(max_results) + " (nothing returned)");
  };
  for (std::size_t width = std::min(source.rows, kFirstWidth); !pending.empty() && width > 0;
       width = std::min(source.rows, width * 4)) {
    const KnnResult result = source.knn(pending, width);
    std::vector<std::size_t> still;
    std::size_t lower_bound = total;
    for (std::size_t i = 0; i < pending.size(); ++i) {
      const std::size_t q = pending[i];
      std::size_t count = 0;
      for (; count < width; ++count) {
        const std::size_t slot = i * width + count;
        const std::int64_t label = result.labels[slot];
        if (label < 0) break;
        Membership m = by_float(result.distances[slot], radius, smaller_better);
        if (m == Membership::unsure)
          m = within(source.exact(q, label), radius, smaller_better) ? Membership::in
                                                                     : Membership::out;
        if (m == Membership::out) break;
      }
      if (count == width && width < source.rows) {
        still.push_back(q);
        lower_bound += width;
        continue;
      }
      total += count;
      lower_bound += count;
      found[q].clear();
      for (std::size_t j = 0; j < count; ++j)
        found[q].emplace_back(result.distances[i * width + j], result.labels[i * width + j]);
    }
    if (lower_bound > max_results) throw too_many(lower_bound);
    pending = std::move(still);
  }
  RangeResult out;
  out.lims.assign(source.queries + 1, 0);
  out.distances.reserve(total);
  out.labels.reserve(total);
  for (std::size_t q = 0; q < source.queries; ++q) {
    for (const auto& [value, label] : found[q]) {
      out.distances.push_back(value);
      out.labels.push_back(label);
    }
    out.lims[q + 1] = static_cast<std::int64_t>(out.distances.size());
  }
  return out;
}

}  // namespace vecaccel::detail
