#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "support/reference.hpp"
#include "vecaccel/vecaccel.hpp"

using namespace vecaccel;
namespace vt = vecaccel::testing;

namespace {

struct Shape {
  std::size_t dim, base, queries, k;
};

std::string name_of(Metric m) {
  return std::string(to_string(m));
}

class KnnReference : public ::testing::TestWithParam<std::tuple<Shape, Metric, bool>> {};

}  // namespace

TEST_P(KnnReference, MatchesFloat64Reference) {
  const auto [shape, metric, clustered] = GetParam();
  static Context context;
  const std::uint32_t seed = static_cast<std::uint32_t>(shape.dim * 7919 + shape.base + shape.k);
  const auto base = clustered ? vt::clustered_data(shape.base, shape.dim, 20, seed)
                              : vt::normal_data(shape.base, shape.dim, seed);
  const auto queries = clustered ? vt::clustered_data(shape.queries, shape.dim, 20, seed + 1)
                                 : vt::normal_data(shape.queries, shape.dim, seed + 1);
  const KnnResult result = ops::knn(context, queries, base, shape.dim, shape.k, metric);
  EXPECT_EQ(vt::check_knn(result, queries, base, shape.dim, shape.k, metric), "");
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, KnnReference,
    ::testing::Combine(::testing::Values(Shape{1, 1000, 5, 10}, Shape{3, 2000, 7, 1},
                                         Shape{37, 3001, 9, 100}, Shape{128, 5000, 17, 10},
                                         Shape{129, 4099, 5, 1024}, Shape{1000, 1500, 3, 10},
                                         Shape{16, 9000, 4, 2048}, Shape{8, 20, 3, 50},
                                         // The fused kernel: several splits and query
                                         // blocks, a dimension that is not a whole stage.
                                         Shape{20, 20000, 70, 16},
                                         // The 16-byte-load distance tile, then radix select.
                                         Shape{36, 3000, 70, 100}),
                       ::testing::Values(Metric::l2, Metric::inner_product, Metric::cosine),
                       ::testing::Bool()),
    [](const auto& info) {
      const Shape& s = std::get<0>(info.param);
      return "d" + std::to_string(s.dim) + "_n" + std::to_string(s.base) + "_k" +
             std::to_string(s.k) + "_" + name_of(std::get<1>(info.param)) +
             (std::get<2>(info.param) ? "_clustered" : "_normal");
    });

TEST(Ops, DistancesMatchFloat64AndZeroVectorsHaveCosineZero) {
  Context context;
  constexpr std::size_t dim = 37, nq = 9, nb = 130;
  auto queries = vt::normal_data(nq, dim, 1);
  auto base = vt::normal_data(nb, dim, 2);
  std::fill_n(base.begin(), dim, 0.0f);  // base row 0 is the zero vector
  for (Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
    const auto d = ops::distances(context, queries, base, dim, metric);
    ASSERT_EQ(d.size(), nq * nb);
    for (std::size_t q = 0; q < nq; ++q) {
      for (std::size_t b = 0; b < nb; ++b) {
        const double truth = vt::reference_metric(&queries[q * dim], &base[b * dim], dim, metric);
        ASSERT_NEAR(d[q * nb + b], truth, 1e-4 * std::abs(truth) + 1e-4) << name_of(metric);
      }
      if (metric == Metric::cosine) EXPECT_EQ(d[q * nb], 0.0f);
    }
  }
}

TEST(Ops, DistancesOfLongRowsForAFewQueriesMatchFloat64) {
  // The streaming kernel (a few queries) gave each subgroup 32 rows: 32 x 16383 / 8 turns of
  // its loops on lavapipe, whose loops end after 65535 turns, and the sums came out short.
  Context context;
  constexpr std::size_t dim = 16383, nq = 2, nb = 2000;
  const auto queries = vt::normal_data(nq, dim, 3);
  const auto base = vt::normal_data(nb, dim, 4);
  const auto d = ops::distances(context, queries, base, dim, Metric::inner_product);
  ASSERT_EQ(d.size(), nq * nb);
  for (std::size_t q = 0; q < nq; ++q) {
    for (std::size_t b = 0; b < nb; ++b) {
      const double truth =
          vt::reference_metric(&queries[q * dim], &base[b * dim], dim, Metric::inner_product);
      ASSERT_NEAR(d[q * nb + b], truth, 1e-2) << "query " << q << ", base row " << b;
    }
  }
}

TEST(Ops, TopKMatchesAStableSortForEveryK) {
  Context context;
  constexpr std::size_t rows = 5, cols = 20000;
  // Few distinct values: every row is full of ties, which must come out ordered by column.
  std::vector<float> values(rows * cols);
  std::mt19937 rng(3);
  for (auto& v : values)
    v = static_cast<float>(rng() % 5000) * 0.25f - 300.0f;
  for (bool largest : {false, true}) {
    // Each row's stable order, sorted once for all the k below rather than once per k.
    std::vector<std::vector<std::int64_t>> orders(rows, std::vector<std::int64_t>(cols));
    for (std::size_t row = 0; row < rows; ++row) {
      std::iota(orders[row].begin(), orders[row].end(), 0);
      const float* v = &values[row * cols];
      std::stable_sort(orders[row].begin(), orders[row].end(),
                       [&](auto a, auto b) { return largest ? v[a] > v[b] : v[a] < v[b]; });
    }
    // From 5000 on, beyond what one workgroup sorts: selection and sort in global memory.
    for (std::size_t k : {1, 10, 17, 32, 100, 1024, 2048, 5000, 20000}) {
      const KnnResult r = ops::top_k(context, values, rows, cols, k, largest);
      for (std::size_t row = 0; row < rows; ++row) {
        const std::vector<std::int64_t>& order = orders[row];
        const float* v = &values[row * cols];
        for (std::size_t i = 0; i < k; ++i) {
          ASSERT_EQ(r.labels[row * k + i], order[i])
              << "k=" << k << " largest=" << largest << " row=" << row << " i=" << i;
          ASSERT_EQ(r.distances[row * k + i], v[order[i]]);
        }
      }
    }
  }
}

// Every kNN path (streaming for a few queries, fused for k <= 16, distance tile + register
// selection, distance tile + radix selection) returns the float64 brute force's ids: the same
// ids on the same data, whichever path the shape picks.
TEST(Ops, EveryKnnPathReturnsTheFloat64Ids) {
  Context context;
  constexpr std::size_t dim = 64, nb = 12345;
  const auto base = vt::normal_data(nb, dim, 6);
  const auto all_queries = vt::normal_data(70, dim, 5);
  for (const auto [nq, k] :
       {std::pair<std::size_t, std::size_t>{6, 50}, {70, 8}, {70, 20}, {70, 40}}) {
    const std::vector<float> queries(all_queries.begin(),
                                     all_queries.begin() + static_cast<std::ptrdiff_t>(nq * dim));
    for (Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
      const KnnResult r = ops::knn(context, queries, base, dim, k, metric);
      EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, metric), "")
          << name_of(metric) << " nq " << nq << " k " << k;
    }
  }
}

// Base rows repeat five patterns, so every query sees 1/5 of the base at exactly its best
// distance: each path must return the smallest labels of that group, in order.
TEST(Ops, TiesAreOrderedByLabelOnEveryPath) {
  Context context;
  constexpr std::size_t dim = 32, nb = 20000, patterns = 5;
  const auto pattern = vt::normal_data(patterns, dim, 11);
  std::vector<float> base(nb * dim);
  for (std::size_t r = 0; r < nb; ++r) {
    std::copy_n(pattern.begin() + static_cast<std::ptrdiff_t>((r % patterns) * dim), dim,
                base.begin() + static_cast<std::ptrdiff_t>(r * dim));
  }
  // k = 300: the many-workgroup radix selection (k' >= 256).
  for (const auto [nq, k] :
       {std::pair<std::size_t, std::size_t>{3, 10}, {70, 16}, {70, 40}, {70, 300}}) {
    auto queries = vt::normal_data(nq, dim, 12);
    for (std::size_t q = 0; q < nq; ++q) {  // near pattern q % 5: a clear best group
      for (std::size_t c = 0; c < dim; ++c)
        queries[q * dim + c] = pattern[(q % patterns) * dim + c] + 0.01f * queries[q * dim + c];
    }
    const KnnResult r = ops::knn(context, queries, base, dim, k, Metric::l2);
    for (std::size_t q = 0; q < nq; ++q) {
      for (std::size_t i = 0; i < k; ++i) {
        ASSERT_EQ(r.labels[q * k + i], static_cast<std::int64_t>(q % patterns + i * patterns))
            << "nq " << nq << " k " << k << " query " << q << " rank " << i;
        ASSERT_EQ(r.distances[q * k + i], r.distances[q * k]) << "query " << q << " rank " << i;
      }
    }
  }
}

TEST(Ops, BaseLargerThanTheStorageBufferRangeIsProcessedInChunks) {
  Context context;
  constexpr std::size_t dim = 1000;
  const std::uint64_t range = context.device().capabilities().max_storage_buffer_range;
  const std::size_t nb = static_cast<std::size_t>(range / (dim * 4)) * 2 + 777;
  if (nb > 200000) GTEST_SKIP() << "storage range too large to exceed cheaply here";
  const auto base = vt::normal_data(nb, dim, 8);
  const auto queries = vt::normal_data(2, dim, 9);
  const KnnResult r = ops::knn(context, queries, base, dim, 5, Metric::l2);
  EXPECT_EQ(vt::check_knn(r, queries, base, dim, 5, Metric::l2), "");
}

namespace {

/// The base rows sorted by descending norm: for queries near the origin, every later tile
/// holds better rows than the ones before it.
std::vector<float> sorted_worst_to_best(const std::vector<float>& base, std::size_t dim) {
  const std::size_t nb = base.size() / dim;
  std::vector<double> norms(nb);
  for (std::size_t r = 0; r < nb; ++r) {
    for (std::size_t c = 0; c < dim; ++c)
      norms[r] += double(base[r * dim + c]) * base[r * dim + c];
  }
  std::vector<std::size_t> order(nb);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return norms[a] > norms[b]; });
  std::vector<float> sorted(base.size());
  for (std::size_t r = 0; r < nb; ++r) {
    std::copy_n(base.begin() + static_cast<std::ptrdiff_t>(order[r] * dim), dim,
                sorted.begin() + static_cast<std::ptrdiff_t>(r * dim));
  }
  return sorted;
}

}  // namespace

// Past the first tile, selection starts from the running k-th best: the radix selection
// keeps only values that can beat it (its first tile is two segments, 16,384 columns for
// k = 100) and the fused kernel (k <= 16) starts its lists there (its tiles are 524,288
// rows). Random order (few values survive) and a base sorted from worst to best (every
// tile beats the last, so survivors overflow and the full selection runs) must both stay
// exact.
TEST(Ops, LaterTilesStartFromTheRunningBoundAndStayExact) {
  Context context;
  constexpr std::size_t dim = 4, nq = 20;  // above the streaming path's 8, one query block
  for (const auto [k, nb] : {std::pair<std::size_t, std::size_t>{100, 100000}, {16, 1100000}}) {
    const auto random = vt::normal_data(nb, dim, 21);
    const auto queries = vt::normal_data(nq, dim, 22);
    for (const bool sorted : {false, true}) {
      const auto base = sorted ? sorted_worst_to_best(random, dim) : random;
      const KnnResult r = ops::knn(context, queries, base, dim, k, Metric::l2);
      EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, Metric::l2), "")
          << "k " << k << " sorted " << sorted;
    }
  }
}

TEST(Ops, KPastTheBaseSizePadsWithMinusOneAndTheWorstValue) {
  Context context;
  const auto base = vt::normal_data(3, 4, 1);
  const auto queries = vt::normal_data(2, 4, 2);
  for (Metric metric : {Metric::l2, Metric::inner_product}) {
    const KnnResult r = ops::knn(context, queries, base, 4, 5, metric);
    EXPECT_EQ(vt::check_knn(r, queries, base, 4, 5, metric), "");
    EXPECT_EQ(r.labels[4], -1);
  }
}

// 512 queries of 512 floats (1 MiB) go in two batches, the second staged while the GPU runs
// the first: both paths exact, and a NaN in the second batch is reported with its row after
// the first batch's work has drained, with the context still usable.
TEST(Ops, LargeQueryBatchesOverlapAndStayExact) {
  Context context;
  constexpr std::size_t dim = 512, nq = 512, nb = 1500;
  const auto base = vt::normal_data(nb, dim, 31);
  auto queries = vt::normal_data(nq, dim, 32);
  for (const std::size_t k : {10u, 40u}) {  // fused, then distance tiles + selection
    const KnnResult r = ops::knn(context, queries, base, dim, k, Metric::l2);
    EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, Metric::l2), "") << "k " << k;
  }
  queries[(nq - 1) * dim + 7] = std::numeric_limits<float>::infinity();
  try {
    ops::knn(context, queries, base, dim, 10, Metric::l2);
    ADD_FAILURE() << "an infinite query was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("row 511"), std::string::npos) << e.what();
  }
  const auto again = ops::knn(context, std::span(queries).first(dim), base, dim, 3, Metric::l2);
  EXPECT_EQ(vt::check_knn(again, std::vector<float>(queries.begin(), queries.begin() + dim), base,
                          dim, 3, Metric::l2),
            "");
}

TEST(Ops, BadInputsAreClearErrors) {
  Context context;
  const auto base = vt::normal_data(10, 4, 1);
  auto queries = vt::normal_data(3, 4, 2);
  const auto code = [&](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::pair(e.code(), std::string(e.what()));
    }
    return std::pair(Errc::unsupported, std::string("no error"));
  };
  EXPECT_EQ(code([&] { ops::knn(context, queries, base, 4, 0, Metric::l2); }).first,
            Errc::invalid_argument);
  EXPECT_EQ(
      code([&] { ops::knn(context, queries, base, 4, std::size_t{1} << 31, Metric::l2); }).first,
      Errc::invalid_argument)
      << "k beyond 32 bits";
  EXPECT_EQ(code([&] { ops::knn(context, queries, base, 3, 1, Metric::l2); }).first,
            Errc::invalid_argument);
  queries[2 * 4 + 1] = std::numeric_limits<float>::quiet_NaN();
  const auto [errc, message] = code([&] { ops::knn(context, queries, base, 4, 1, Metric::l2); });
  EXPECT_EQ(errc, Errc::invalid_argument);
  EXPECT_NE(message.find("row 2"), std::string::npos) << message;
  EXPECT_THROW(parse_metric("manhattan"), Error);
  EXPECT_EQ(parse_metric("ip"), Metric::inner_product);
}
