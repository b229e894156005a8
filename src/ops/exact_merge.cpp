#include "ops/exact_merge.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <string>

#include "ops/work_crew.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::detail {
namespace {

// Queries a merge thread takes at least: a query costs microseconds, a thread's start tens.
constexpr std::size_t kMinQueriesPerThread = 256;

struct Candidate {
  float distance;
  std::int64_t label;
  std::size_t part;
  std::size_t slot;
};

/// One thread's buffers for order_candidates, reused query after query.
struct CandidateScratch {
  std::vector<Candidate> ordered;
  std::vector<Candidate> merged;
  std::vector<std::size_t> bounds;
};

void check_shapes(std::span<const KnnResult> parts) {
  if (parts.empty()) throw Error(Errc::invalid_argument, "exact merge: no parts to merge");
  for (std::size_t p = 0; p < parts.size(); ++p) {
    const KnnResult& part = parts[p];
    const bool same = part.rows == parts[0].rows && part.k == parts[0].k &&
                      part.labels.size() == part.rows * part.k &&
                      part.distances.size() == part.rows * part.k;
    if (same) continue;
    throw Error(Errc::invalid_argument,
                "exact merge: part " + std::to_string(p) + " holds " + std::to_string(part.rows) +
                    " x " + std::to_string(part.k) + " results (" +
                    std::to_string(part.labels.size()) + " labels, " +
                    std::to_string(part.distances.size()) + " distances), part 0 " +
                    std::to_string(parts[0].rows) + " x " + std::to_string(parts[0].k));
  }
}

/// Query q's candidates of every part (padding left out) by float32 distance, each part's own
/// order kept among equal distances, into scratch.ordered. Each part's list is in that order
/// already (float32 rounding is monotone), so adjacent parts' runs are merged pairwise in
/// log2(parts) rounds: O(k log parts) a query, not a sort. A part out of order is no search's
/// result: invalid_argument.
void order_candidates(std::span<const KnnResult> parts, std::size_t q, Metric metric,
                      CandidateScratch& scratch) {
  std::vector<Candidate>& out = scratch.ordered;
  std::vector<std::size_t>& bounds = scratch.bounds;
  out.clear();
  bounds.clear();
  const std::size_t k = parts[0].k;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    bounds.push_back(out.size());
    for (std::size_t slot = q * k; slot < (q + 1) * k; ++slot) {
      const std::int64_t label = parts[p].labels[slot];
      if (label >= 0) out.push_back({parts[p].distances[slot], label, p, slot});
    }
  }
  bounds.push_back(out.size());
  const bool smaller = smaller_is_better(metric);
  const auto before = [smaller](const Candidate& a, const Candidate& b) {
    return smaller ? a.distance < b.distance : a.distance > b.distance;
  };
  const auto at = [&bounds](std::vector<Candidate>& list, std::size_t part) {
    return list.begin() + static_cast<std::ptrdiff_t>(bounds[part]);
  };
  for (std::size_t p = 0; p < parts.size(); ++p) {
    if (std::is_sorted(at(out, p), at(out, p + 1), before)) continue;
    throw Error(Errc::invalid_argument, "exact merge: part " + std::to_string(p) +
                                            "'s distances for query " + std::to_string(q) +
                                            " are not in its metric's order");
  }
  // std::merge into a second buffer, not std::inplace_merge: that one allocates its buffer on
  // every call. Both are stable: the earlier part's candidate first among equal distances.
  const std::size_t count = parts.size();
  scratch.merged.resize(out.size());
  for (std::size_t width = 1; width < count; width *= 2) {
    for (std::size_t first = 0; first < count; first += 2 * width) {
      const std::size_t middle = std::min(first + width, count);
      const std::size_t last = std::min(first + 2 * width, count);
      std::merge(at(out, first), at(out, middle), at(out, middle), at(out, last),
                 at(scratch.merged, first), before);
    }
    out.swap(scratch.merged);
  }
}

/// Calls visit(first, last) for each run of equal float32 distances that starts within the
/// first k and holds candidates of more than one part: the runs whose order float64 decides.
template <class Visit>
void for_each_mixed_run(std::vector<Candidate>& candidates, std::size_t k, Visit visit) {
  for (std::size_t i = 0; i < candidates.size() && i < k;) {
    std::size_t end = i + 1;
    bool mixed = false;
    while (end < candidates.size() && candidates[end].distance == candidates[i].distance) {
      mixed |= candidates[end].part != candidates[i].part;
      ++end;
    }
    const auto first = candidates.begin() + static_cast<std::ptrdiff_t>(i);
    if (mixed) visit(first, candidates.begin() + static_cast<std::ptrdiff_t>(end));
    i = end;
  }
}

double dot(std::span<const float> a, std::span<const float> b) {
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i)
    sum += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return sum;
}

}  // namespace

// This file is compiled with -ffp-contract=off (src/CMakeLists.txt): a fused multiply-add
// would round differently from the re-ranking shader's separate operations.
double direct_distance(std::span<const float> query, std::span<const float> row, Metric metric) {
  if (metric == Metric::inner_product) return dot(query, row);
  if (metric == Metric::l1 || metric == Metric::linf) {
    double value = 0.0;
    for (std::size_t i = 0; i < query.size(); ++i) {
      const double t = std::fabs(static_cast<double>(query[i]) - static_cast<double>(row[i]));
      value = metric == Metric::l1 ? value + t : std::max(value, t);
    }
    return value;
  }
  if (metric == Metric::l2) {
    double sum = 0.0;
    for (std::size_t i = 0; i < query.size(); ++i) {
      const double t = static_cast<double>(query[i]) - static_cast<double>(row[i]);
      sum += t * t;
    }
    return sum;
  }
  // One pass like the shader: the three sums are independent, so the order matches.
  const double denominator = std::sqrt(dot(query, query)) * std::sqrt(dot(row, row));
  return denominator > 0.0 ? dot(query, row) / denominator : 0.0;
}

std::vector<std::vector<std::size_t>> slots_needing_exact(std::span<const KnnResult> parts,
                                                          Metric metric) {
  check_shapes(parts);
  const std::size_t rows = parts[0].rows;
  // Each range's slots by its first query, then joined in query order: the lists a serial
  // loop makes.
  std::map<std::size_t, std::vector<std::vector<std::size_t>>> by_range;
  std::mutex mutex;
  WorkCrew crew(WorkCrew::threads_for(rows, kMinQueriesPerThread));
  crew.run(rows, [&](std::size_t begin, std::size_t end) {
    std::vector<std::vector<std::size_t>> slots(parts.size());
    CandidateScratch scratch;
    for (std::size_t q = begin; q < end; ++q) {
      order_candidates(parts, q, metric, scratch);
      for_each_mixed_run(scratch.ordered, parts[0].k, [&](auto first, auto last) {
        for (auto c = first; c != last; ++c)
          slots[c->part].push_back(c->slot);
      });
    }
    const std::lock_guard lock(mutex);
    by_range.emplace(begin, std::move(slots));
  });
  std::vector<std::vector<std::size_t>> slots(parts.size());
  for (const auto& [begin, range] : by_range) {
    for (std::size_t p = 0; p < parts.size(); ++p)
      slots[p].insert(slots[p].end(), range[p].begin(), range[p].end());
  }
  return slots;
}

KnnResult merge_exact(std::span<const KnnResult> parts, std::span<const std::vector<double>> exact,
                      Metric metric) {
  check_shapes(parts);
  if (exact.size() != parts.size()) {
    throw Error(Errc::invalid_argument, "exact merge: " + std::to_string(exact.size()) +
                                            " float64 value lists for " +
                                            std::to_string(parts.size()) + " parts");
  }
  const std::size_t rows = parts[0].rows;
  const std::size_t k = parts[0].k;
  const bool smaller = smaller_is_better(metric);
  const float worst =
      smaller ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
  KnnResult merged{.rows = rows,
                   .k = k,
                   .distances = std::vector<float>(rows * k, worst),
                   .labels = std::vector<std::int64_t>(rows * k, -1)};
  for (const KnnResult& part : parts) {
    merged.second_pass_queries += part.second_pass_queries;
    merged.direct_pass_queries += part.direct_pass_queries;
  }
  const auto value = [&](const Candidate& c) {
    if (c.slot >= exact[c.part].size()) {
      throw Error(Errc::invalid_argument, "exact merge: part " + std::to_string(c.part) +
                                              " has no float64 value for slot " +
                                              std::to_string(c.slot));
    }
    return exact[c.part][c.slot];
  };
  WorkCrew crew(WorkCrew::threads_for(rows, kMinQueriesPerThread));
  crew.run(rows, [&](std::size_t begin, std::size_t end) {
    CandidateScratch scratch;
    std::vector<Candidate>& candidates = scratch.ordered;
    for (std::size_t q = begin; q < end; ++q) {
      order_candidates(parts, q, metric, scratch);
      for_each_mixed_run(candidates, k, [&](auto first, auto last) {
        std::sort(first, last, [&](const Candidate& a, const Candidate& b) {
          const double va = value(a);
          const double vb = value(b);
          if (va != vb) return smaller ? va < vb : va > vb;
          return a.label < b.label;
        });
      });
      const std::size_t take = std::min(k, candidates.size());
      for (std::size_t j = 0; j < take; ++j) {
        merged.distances[q * k + j] = candidates[j].distance;
        merged.labels[q * k + j] = candidates[j].label;
      }
    }
  });
  return merged;
}

KnnResult merge_exact_reading_rows(std::span<const KnnResult> parts, std::span<const float> queries,
                                   std::size_t dim, Metric metric, const PartRows& rows) {
  const std::vector<std::vector<std::size_t>> needed = slots_needing_exact(parts, metric);
  std::vector<std::vector<double>> exact(parts.size());
  for (std::size_t p = 0; p < parts.size(); ++p) {
    if (needed[p].empty()) continue;
    std::vector<std::int64_t> labels;
    labels.reserve(needed[p].size());
    for (const std::size_t slot : needed[p])
      labels.push_back(parts[p].labels[slot]);
    const std::vector<float> vectors = rows(p, labels);
    exact[p].resize(parts[p].labels.size());
    for (std::size_t i = 0; i < needed[p].size(); ++i) {
      const std::size_t query = needed[p][i] / parts[p].k;
      exact[p][needed[p][i]] = direct_distance(queries.subspan(query * dim, dim),
                                               std::span(vectors).subspan(i * dim, dim), metric);
    }
  }
  return merge_exact(parts, exact, metric);
}

}  // namespace vecaccel::detail
