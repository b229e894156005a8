#include "cpu_reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace vecaccel::reference {
namespace {

double dot(std::span<const float> a, std::span<const float> b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    sum += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return sum;
}

}  // namespace

double distance(std::span<const float> a, std::span<const float> b, Metric metric) {
  switch (metric) {
    case Metric::l2: {
      double sum = 0;
      for (std::size_t i = 0; i < a.size(); ++i) {
        const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
        sum += d * d;
      }
      return sum;
    }
    case Metric::inner_product:
      return dot(a, b);
    case Metric::cosine: {
      const double norms = std::sqrt(dot(a, a)) * std::sqrt(dot(b, b));
      return norms == 0 ? 0.0 : dot(a, b) / norms;
    }
    case Metric::l1:
    case Metric::linf: {
      double value = 0;
      for (std::size_t i = 0; i < a.size(); ++i) {
        const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
        value = metric == Metric::l1 ? value + d : std::max(value, d);
      }
      return value;
    }
  }
  return 0;
}

ExactKnn exact_knn(std::span<const float> queries, std::span<const float> base, std::size_t dim,
                   std::size_t k, Metric metric) {
  const std::size_t nq = queries.size() / dim;
  const std::size_t nb = base.size() / dim;
  const bool smaller = smaller_is_better(metric);
  constexpr double infinity = std::numeric_limits<double>::infinity();
  const double worst = smaller ? infinity : -infinity;
  ExactKnn out{.rows = nq,
               .k = k,
               .distances = std::vector<double>(nq * k, worst),
               .labels = std::vector<std::int64_t>(nq * k, -1)};
  std::vector<double> values(nb);
  std::vector<std::size_t> order(nb);
  const std::size_t take = std::min(k, nb);
  for (std::size_t q = 0; q < nq; ++q) {
    const auto query = queries.subspan(q * dim, dim);
    for (std::size_t b = 0; b < nb; ++b)
      values[b] = distance(query, base.subspan(b * dim, dim), metric);
    std::iota(order.begin(), order.end(), std::size_t{0});
    const auto better = [&](std::size_t x, std::size_t y) {
      if (values[x] != values[y]) return smaller ? values[x] < values[y] : values[x] > values[y];
      return x < y;
    };
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(take), order.end(),
                      better);
    for (std::size_t j = 0; j < take; ++j) {
      out.distances[q * k + j] = values[order[j]];
      out.labels[q * k + j] = static_cast<std::int64_t>(order[j]);
    }
  }
  return out;
}

}  // namespace vecaccel::reference
