#include "support/reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace vecaccel::testing {

std::vector<float> normal_data(std::size_t n, std::size_t dim, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n * dim);
  for (auto& x : v)
    x = dist(rng);
  return v;
}

std::vector<float> clustered_data(std::size_t n, std::size_t dim, std::size_t clusters,
                                  std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> centre(0.0f, 4.0f);
  std::normal_distribution<float> spread(0.0f, 0.05f);
  std::vector<float> centres(clusters * dim);
  for (auto& x : centres)
    x = centre(rng);
  std::vector<float> v(n * dim);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = rng() % clusters;
    for (std::size_t j = 0; j < dim; ++j)
      v[i * dim + j] = centres[c * dim + j] + spread(rng);
  }
  return v;
}

double reference_metric(const float* a, const float* b, std::size_t dim, Metric metric) {
  double dot = 0, na = 0, nb = 0, l2 = 0;
  for (std::size_t j = 0; j < dim; ++j) {
    const double x = a[j], y = b[j];
    dot += x * y;
    na += x * x;
    nb += y * y;
    l2 += (x - y) * (x - y);
  }
  switch (metric) {
    case Metric::l2:
      return l2;
    case Metric::inner_product:
      return dot;
    case Metric::cosine:
      return (na > 0 && nb > 0) ? dot / (std::sqrt(na) * std::sqrt(nb)) : 0.0;
  }
  return 0;
}

std::string check_knn(const KnnResult& result, const std::vector<float>& queries,
                      const std::vector<float>& base, std::size_t dim, std::size_t k,
                      Metric metric) {
  const std::size_t nq = queries.size() / dim;
  const std::size_t nb = base.size() / dim;
  const bool smaller = smaller_is_better(metric);
  if (result.rows != nq || result.k != k || result.labels.size() != nq * k ||
      result.distances.size() != nq * k) {
    return "result shape differs from " + std::to_string(nq) + " x " + std::to_string(k);
  }
  const auto where = [](std::size_t q, std::size_t i) {
    return "query " + std::to_string(q) + " position " + std::to_string(i) + ": ";
  };
  for (std::size_t q = 0; q < nq; ++q) {
    std::vector<double> exact(nb);
    double scale = 0;
    for (std::size_t b = 0; b < nb; ++b) {
      exact[b] = reference_metric(&queries[q * dim], &base[b * dim], dim, metric);
      scale = std::max(scale, std::abs(exact[b]));
    }
    std::vector<double> sorted = exact;
    std::sort(sorted.begin(), sorted.end());
    if (!smaller) std::reverse(sorted.begin(), sorted.end());
    const double tolerance_floor = 1e-5 * std::max(scale, 1e-3);
    std::set<std::int64_t> seen;
    for (std::size_t i = 0; i < k; ++i) {
      const std::int64_t label = result.labels[q * k + i];
      const float value = result.distances[q * k + i];
      if (i >= nb) {
        const float worst = smaller ? std::numeric_limits<float>::infinity()
                                    : -std::numeric_limits<float>::infinity();
        if (label != -1 || value != worst) return where(q, i) + "expected padding";
        continue;
      }
      if (label < 0 || static_cast<std::size_t>(label) >= nb) {
        return where(q, i) + "label " + std::to_string(label) + " out of range";
      }
      if (!seen.insert(label).second)
        return where(q, i) + "duplicate label " + std::to_string(label);
      const double truth = exact[static_cast<std::size_t>(label)];
      const double tolerance = 1e-4 * std::abs(truth) + tolerance_floor;
      if (std::abs(value - truth) > tolerance) {
        return where(q, i) + "distance " + std::to_string(value) + " but exact " +
               std::to_string(truth);
      }
      const double kth = sorted[std::min(k, nb) - 1];
      const bool member = smaller ? truth <= kth + tolerance : truth >= kth - tolerance;
      if (!member) {
        return where(q, i) + "label " + std::to_string(label) + " (exact " + std::to_string(truth) +
               ") is not in the top " + std::to_string(k) + " (k-th " + std::to_string(kth) + ")";
      }
      if (i > 0 && result.labels[q * k + i - 1] >= 0) {
        const float prev = result.distances[q * k + i - 1];
        const bool ordered = smaller ? prev <= value : prev >= value;
        if (!ordered) return where(q, i) + "row not sorted";
        if (prev == value && result.labels[q * k + i - 1] > label)
          return where(q, i) + "tie not ordered by label";
      }
    }
  }
  return "";
}

}  // namespace vecaccel::testing
