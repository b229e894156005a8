#include "id_order.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

#include "exact_merge.hpp"

namespace vecaccel::detail {
namespace {

// Rows read back at once by the full scan of a query whose ties outnumber the window.
constexpr std::size_t kScanSliceRows = 16384;
// Widest search window before the full scan: the ties at the k-th place run past this many
// rows (and past four times k) only on pathological data, where one scan costs less than
// ever wider searches.
constexpr std::size_t kMaxTieWindow = 2048;

/// Sorts before everything worse: smaller for l2, larger for similarities.
double key(Metric metric, double value) {
  return smaller_is_better(metric) ? value : -value;
}

struct Candidate {
  float value;
  std::size_t label;
  std::int64_t id;
  double exact = 0.0;  // the float64 key, read only where float32 values tie
};

class TieOrder {
 public:
  TieOrder(std::span<const float> queries, std::size_t dim, std::size_t k, Metric metric,
           const LabelledRows& rows)
      : queries_(queries), dim_(dim), k_(k), metric_(metric), rows_(rows) {}

  KnnResult run() {
    const std::size_t nq = queries_.size() / dim_;
    result_ = {nq, k_, std::vector<float>(nq * k_, worst()),
               std::vector<std::int64_t>(nq * k_, -1)};
    std::vector<std::size_t> pending(nq);
    std::iota(pending.begin(), pending.end(), std::size_t{0});
    const std::size_t real = std::min(k_, rows_.rows);
    for (std::size_t width = std::min(rows_.rows, k_ + 1); !pending.empty();
         width = std::min(rows_.rows, width * 2)) {
      if (width > std::max(kMaxTieWindow, 4 * (k_ + 1))) {
        scan_all(pending);
        break;
      }
      const KnnResult wide = rows_.search(subset(pending), width);
      std::vector<std::size_t> still;
      for (std::size_t i = 0; i < pending.size(); ++i) {
        const std::size_t at = i * width;
        // Every row tying with the k-th is in the window once the last one is worse.
        if (width < rows_.rows && wide.distances[at + width - 1] == wide.distances[at + real - 1]) {
          still.push_back(pending[i]);
          continue;
        }
        std::vector<Candidate> window;
        for (std::size_t j = 0; j < width; ++j) {
          const auto label = static_cast<std::size_t>(wide.labels[at + j]);
          window.push_back({wide.distances[at + j], label, rows_.ids[label]});
        }
        finish(pending[i], std::move(window));
      }
      pending = std::move(still);
    }
    return std::move(result_);
  }

 private:
  float worst() const {
    return smaller_is_better(metric_) ? std::numeric_limits<float>::infinity()
                                      : -std::numeric_limits<float>::infinity();
  }

  std::span<const float> query(std::size_t q) const { return queries_.subspan(q * dim_, dim_); }

  std::vector<float> subset(std::span<const std::size_t> picked) const {
    std::vector<float> out;
    out.reserve(picked.size() * dim_);
    for (const std::size_t q : picked)
      out.insert(out.end(), query(q).begin(), query(q).end());
    return out;
  }

  /// Orders a window (every row that can reach query q's top k) by value, float64 value where
  /// float32 values tie, then id, and keeps the first k.
  void finish(std::size_t q, std::vector<Candidate> window) {
    std::vector<std::size_t> tied;
    for (std::size_t j = 0; j < window.size(); ++j) {
      const bool before = j > 0 && window[j - 1].value == window[j].value;
      const bool after = j + 1 < window.size() && window[j + 1].value == window[j].value;
      if (before || after) tied.push_back(j);
    }
    std::vector<std::size_t> labels;
    for (const std::size_t j : tied)
      labels.push_back(window[j].label);
    const std::vector<float> vectors = labels.empty() ? std::vector<float>{} : rows_.fetch(labels);
    for (std::size_t i = 0; i < tied.size(); ++i) {
      window[tied[i]].exact = key(
          metric_, direct_distance(query(q), std::span(vectors).subspan(i * dim_, dim_), metric_));
    }
    std::stable_sort(window.begin(), window.end(), [&](const Candidate& a, const Candidate& b) {
      const double ka = key(metric_, a.value);
      const double kb = key(metric_, b.value);
      if (ka != kb) return ka < kb;
      if (a.exact != b.exact) return a.exact < b.exact;
      return a.id < b.id;
    });
    for (std::size_t j = 0; j < std::min(k_, window.size()); ++j) {
      result_.distances[q * k_ + j] = window[j].value;
      result_.labels[q * k_ + j] = window[j].id;
    }
  }

  /// More rows tie at the k-th place than a search returns: every row's float64 value, read
  /// back slice by slice (once for all these queries), decides; each query keeps its best k.
  void scan_all(std::span<const std::size_t> picked) {
    const auto better = [](const Candidate& a, const Candidate& b) {
      return a.exact != b.exact ? a.exact < b.exact : a.id < b.id;
    };
    const std::vector<std::size_t> labels = rows_.all_labels();
    std::vector<std::vector<Candidate>> best(picked.size());
    for (std::size_t first = 0; first < labels.size(); first += kScanSliceRows) {
      const auto slice =
          std::span(labels).subspan(first, std::min(kScanSliceRows, labels.size() - first));
      const std::vector<float> vectors = rows_.fetch(slice);
      for (std::size_t p = 0; p < picked.size(); ++p) {
        for (std::size_t i = 0; i < slice.size(); ++i) {
          const double value = direct_distance(query(picked[p]),
                                               std::span(vectors).subspan(i * dim_, dim_), metric_);
          best[p].push_back(
              {static_cast<float>(value), slice[i], rows_.ids[slice[i]], key(metric_, value)});
        }
        const std::size_t kept = std::min(k_, best[p].size());
        std::partial_sort(best[p].begin(), best[p].begin() + static_cast<std::ptrdiff_t>(kept),
                          best[p].end(), better);
        best[p].resize(kept);
      }
    }
    for (std::size_t p = 0; p < picked.size(); ++p) {
      for (std::size_t j = 0; j < best[p].size(); ++j) {
        result_.distances[picked[p] * k_ + j] = best[p][j].value;
        result_.labels[picked[p] * k_ + j] = best[p][j].id;
      }
    }
  }

  std::span<const float> queries_;
  std::size_t dim_;
  std::size_t k_;
  Metric metric_;
  const LabelledRows& rows_;
  KnnResult result_;
};

}  // namespace

std::optional<std::string> negative_id_problem(std::span<const std::int64_t> ids) {
  const auto negative =
      std::find_if(ids.begin(), ids.end(), [](std::int64_t id) { return id < 0; });
  if (negative == ids.end()) return std::nullopt;
  return "row " + std::to_string(negative - ids.begin()) + " has id " + std::to_string(*negative) +
         "; ids must be >= 0 (-1 labels padding in results)";
}

bool ids_ascend(std::span<const std::int64_t> ids, std::size_t appended_from,
                bool ascending_before) {
  if (!ascending_before) return false;
  const std::size_t from = appended_from == 0 ? 0 : appended_from - 1;
  return std::is_sorted(ids.begin() + static_cast<std::ptrdiff_t>(from), ids.end());
}

KnnResult search_ties_by_id(std::span<const float> queries, std::size_t dim, std::size_t k,
                            Metric metric, const LabelledRows& rows) {
  if (rows.ids_ascending) {
    // Row order is id order: the search's ties are already by id.
    KnnResult result = rows.search(queries, k);
    for (std::int64_t& label : result.labels) {
      if (label >= 0) label = rows.ids[static_cast<std::size_t>(label)];
    }
    return result;
  }
  return TieOrder(queries, dim, k, metric, rows).run();
}

}  // namespace vecaccel::detail
