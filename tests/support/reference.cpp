#include "support/reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <utility>

namespace vecaccel::testing {

namespace {

/// std::normal_distribution<float> over std::mt19937 as libstdc++ computes it (the polar
/// method over generate_canonical<float, 24>), number for number, so every test keeps its data;
/// without generate_canonical's two long double logarithms a number, which clang does not fold
/// and which took most of the big tests' time under the sanitizers.
class NormalSource {
 public:
  NormalSource(float mean, float stddev) : mean_(mean), stddev_(stddev) {}

  float operator()(std::mt19937& rng) {
    float value = 0.0f;
    if (saved_available_) {
      saved_available_ = false;
      value = saved_;
    } else {
      float x = 0.0f, y = 0.0f, r2 = 0.0f;
      do {
        // float times float, then minus a double, as the library writes it.
        x = static_cast<float>(2.0f * canonical(rng) - 1.0);
        y = static_cast<float>(2.0f * canonical(rng) - 1.0);
        r2 = x * x + y * y;
      } while (r2 > 1.0 || r2 == 0.0);
      const float mult = std::sqrt(-2 * std::log(r2) / r2);
      saved_ = x * mult;
      saved_available_ = true;
      value = y * mult;
    }
    return value * stddev_ + mean_;
  }

 private:
  static float canonical(std::mt19937& rng) {
    const float value = static_cast<float>(rng()) / 4294967296.0f;
    return value >= 1.0f ? std::nextafter(1.0f, 0.0f) : value;
  }

  float mean_, stddev_;
  float saved_ = 0.0f;
  bool saved_available_ = false;
};

}  // namespace

std::vector<float> normal_data(std::size_t n, std::size_t dim, std::uint32_t seed) {
  std::mt19937 rng(seed);
  NormalSource dist(0.0f, 1.0f);
  std::vector<float> v(n * dim);
  for (auto& x : v)
    x = dist(rng);
  return v;
}

std::vector<float> clustered_data(std::size_t n, std::size_t dim, std::size_t clusters,
                                  std::uint32_t seed) {
  std::mt19937 rng(seed);
  NormalSource centre(0.0f, 4.0f);
  NormalSource spread(0.0f, 0.05f);
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
  double dot = 0, na = 0, nb = 0, l2 = 0, l1 = 0, linf = 0;
  for (std::size_t j = 0; j < dim; ++j) {
    const double x = a[j], y = b[j];
    dot += x * y;
    na += x * x;
    nb += y * y;
    l2 += (x - y) * (x - y);
    l1 += std::fabs(x - y);
    linf = std::max(linf, std::fabs(x - y));
  }
  switch (metric) {
    case Metric::l2:
      return l2;
    case Metric::inner_product:
      return dot;
    case Metric::cosine:
      return (na > 0 && nb > 0) ? dot / (std::sqrt(na) * std::sqrt(nb)) : 0.0;
    case Metric::l1:
      return l1;
    case Metric::linf:
      return linf;
  }
  return 0;
}

ExactKnn exact_knn(const std::vector<float>& queries, const std::vector<float>& base,
                   std::size_t dim, std::size_t k, Metric metric) {
  const std::size_t nq = queries.size() / dim;
  const std::size_t nb = base.size() / dim;
  // Sorting sign * value ascending puts the best first for either direction of the metric.
  const double sign = smaller_is_better(metric) ? 1.0 : -1.0;
  const double worst = sign * std::numeric_limits<double>::infinity();
  ExactKnn out{.rows = nq,
               .k = k,
               .distances = std::vector<double>(nq * k, worst),
               .labels = std::vector<std::int64_t>(nq * k, -1)};
  std::vector<std::pair<double, std::int64_t>> ranked(nb);
  const std::size_t top = std::min(k, nb);
  for (std::size_t q = 0; q < nq; ++q) {
    for (std::size_t b = 0; b < nb; ++b) {
      ranked[b] = {sign * reference_metric(&queries[q * dim], &base[b * dim], dim, metric),
                   static_cast<std::int64_t>(b)};
    }
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(top),
                      ranked.end());
    for (std::size_t i = 0; i < top; ++i) {
      out.distances[q * k + i] = sign * ranked[i].first;
      out.labels[q * k + i] = ranked[i].second;
    }
  }
  return out;
}

namespace {

/// Compares a result with the float64 brute force `exact`, of which each row has `available`
/// real entries (the rest padding); `value_of(row, label)` is the float64 value of a label a
/// result has where the brute force has another (for the message).
template <class ValueOf>
std::string compare_exact(const KnnResult& result, const ExactKnn& exact, std::size_t available,
                          Metric metric, ValueOf value_of) {
  const std::size_t nq = exact.rows;
  const std::size_t k = exact.k;
  const double sign = smaller_is_better(metric) ? 1.0 : -1.0;
  if (result.rows != nq || result.k != k || result.labels.size() != nq * k ||
      result.distances.size() != nq * k) {
    return "result shape differs from " + std::to_string(nq) + " x " + std::to_string(k);
  }
  const auto where = [](std::size_t q, std::size_t i) {
    return "query " + std::to_string(q) + " position " + std::to_string(i) + ": ";
  };
  // Exact: the float64 brute force's ids in its order (ties by label), each distance its
  // float64 value rounded to float32 (within an ulp: the GPU sums in another order).
  for (std::size_t q = 0; q < nq; ++q) {
    for (std::size_t i = 0; i < k; ++i) {
      const std::int64_t label = result.labels[q * k + i];
      const float value = result.distances[q * k + i];
      if (i >= available) {
        const float worst = static_cast<float>(sign * std::numeric_limits<double>::infinity());
        if (label != -1 || value != worst) return where(q, i) + "expected padding";
        continue;
      }
      const std::int64_t expected = exact.labels[q * k + i];
      const double truth = exact.distances[q * k + i];
      if (label != expected) {
        return where(q, i) + "label " + std::to_string(label) + " (exact " +
               std::to_string(value_of(q, label)) + ") where the float64 brute force has " +
               std::to_string(expected) + " (exact " + std::to_string(truth) + ")";
      }
      const auto rounded = static_cast<float>(truth);
      if (value != rounded && std::nextafter(value, rounded) != rounded) {
        return where(q, i) + "distance " + std::to_string(value) + " but exact " +
               std::to_string(truth);
      }
    }
  }
  return "";
}

}  // namespace

std::string check_knn(const KnnResult& result, const std::vector<float>& queries,
                      const std::vector<float>& base, std::size_t dim, std::size_t k,
                      Metric metric) {
  const std::size_t nb = base.size() / dim;
  return compare_exact(result, exact_knn(queries, base, dim, k, metric), nb, metric,
                       [&](std::size_t q, std::int64_t label) {
                         return label >= 0 && static_cast<std::size_t>(label) < nb
                                    ? reference_metric(&queries[q * dim],
                                                       &base[static_cast<std::size_t>(label) * dim],
                                                       dim, metric)
                                    : std::nan("");
                       });
}

ExactKnn exact_knn_graph(const std::vector<float>& base, std::size_t dim, std::size_t k,
                         Metric metric) {
  const std::size_t n = base.size() / dim;
  ExactKnn out{.rows = n, .k = k, .distances = {}, .labels = {}};
  for (std::size_t r = 0; r < n; ++r) {
    // Row r against every other row; labels past r shift back to the base's numbering.
    const std::vector<float> query(base.begin() + static_cast<std::ptrdiff_t>(r * dim),
                                   base.begin() + static_cast<std::ptrdiff_t>((r + 1) * dim));
    std::vector<float> others = base;
    others.erase(others.begin() + static_cast<std::ptrdiff_t>(r * dim),
                 others.begin() + static_cast<std::ptrdiff_t>((r + 1) * dim));
    ExactKnn row = exact_knn(query, others, dim, k, metric);
    for (std::int64_t& label : row.labels) {
      if (label >= static_cast<std::int64_t>(r)) ++label;
    }
    out.labels.insert(out.labels.end(), row.labels.begin(), row.labels.end());
    out.distances.insert(out.distances.end(), row.distances.begin(), row.distances.end());
  }
  return out;
}

std::string check_knn_graph(const KnnResult& result, const std::vector<float>& base,
                            std::size_t dim, std::size_t k, Metric metric) {
  const std::size_t n = base.size() / dim;
  return compare_exact(result, exact_knn_graph(base, dim, k, metric), n == 0 ? 0 : n - 1, metric,
                       [&](std::size_t q, std::int64_t label) {
                         return label >= 0 && static_cast<std::size_t>(label) < n
                                    ? reference_metric(&base[q * dim],
                                                       &base[static_cast<std::size_t>(label) * dim],
                                                       dim, metric)
                                    : std::nan("");
                       });
}

RangeResult exact_range(const std::vector<float>& queries, const std::vector<float>& base,
                        std::size_t dim, double radius, Metric metric) {
  RangeResult out;
  out.lims.push_back(0);
  const bool smaller = smaller_is_better(metric);
  for (std::size_t q = 0; q < queries.size() / dim; ++q) {
    std::vector<std::pair<double, std::int64_t>> kept;
    for (std::size_t r = 0; r < base.size() / dim; ++r) {
      const double v = reference_metric(&queries[q * dim], &base[r * dim], dim, metric);
      if (smaller ? v < radius : v > radius) kept.emplace_back(smaller ? v : -v, r);
    }
    std::sort(kept.begin(), kept.end());
    for (const auto& [key, label] : kept) {
      out.distances.push_back(static_cast<float>(smaller ? key : -key));
      out.labels.push_back(label);
    }
    out.lims.push_back(static_cast<std::int64_t>(out.labels.size()));
  }
  return out;
}

AllowedRows allowed_rows(const std::vector<float>& base, std::size_t dim, const IdFilter& filter) {
  AllowedRows out;
  for (std::size_t r = 0; r < base.size() / dim; ++r) {
    if (!filter.allows(static_cast<std::int64_t>(r))) continue;
    out.rows.insert(out.rows.end(), base.begin() + static_cast<std::ptrdiff_t>(r * dim),
                    base.begin() + static_cast<std::ptrdiff_t>((r + 1) * dim));
    out.labels.push_back(static_cast<std::int64_t>(r));
  }
  return out;
}

std::string check_filtered_knn(KnnResult result, const std::vector<float>& queries,
                               const std::vector<float>& base, std::size_t dim,
                               const IdFilter& filter, std::size_t k, Metric metric) {
  const AllowedRows allowed = allowed_rows(base, dim, filter);
  for (std::int64_t& label : result.labels) {
    if (label < 0) continue;
    const auto at = std::lower_bound(allowed.labels.begin(), allowed.labels.end(), label);
    if (at == allowed.labels.end() || *at != label) return "denied row " + std::to_string(label);
    label = at - allowed.labels.begin();
  }
  return check_knn(result, queries, allowed.rows, dim, k, metric);
}

}  // namespace vecaccel::testing
