// l1 and linf on every search path — held (streaming and tiled screens), streamed through a
// memory budget below the base, sharded, uint8/int8 bases, ops::knn and ops::distances —
// against the float64 reference (element order, no FMA), on data built to break float32
// search: ties, duplicated rows, large offsets, integers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ops/certificate.hpp"
#include "support/reference.hpp"
#include "support/temp_dir.hpp"
#include "vecaccel/vecaccel.hpp"

namespace vecaccel {
namespace {

namespace vt = vecaccel::testing;

constexpr Metric kMetrics[] = {Metric::l1, Metric::linf};

class L1LinfTest : public vt::TempDirTest {
 protected:
  static void SetUpTestSuite() { context_ = std::make_unique<Context>(); }
  static void TearDownTestSuite() { context_.reset(); }
  static Context& context() { return *context_; }
  static std::unique_ptr<Context> context_;
};
std::unique_ptr<Context> L1LinfTest::context_;

/// Integers in [-range, range]: float32 sums are exact, so equal distances are true ties.
std::vector<float> integers(std::size_t n, std::size_t dim, int range, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(-range, range);
  std::vector<float> out(n * dim);
  for (float& x : out)
    x = static_cast<float>(value(rng));
  return out;
}

/// Every row repeated `times` times in a row: exact ties of whole rows, by label.
std::vector<float> repeated(const std::vector<float>& rows, std::size_t dim, std::size_t times) {
  std::vector<float> out;
  for (std::size_t r = 0; r < rows.size() / dim; ++r) {
    for (std::size_t t = 0; t < times; ++t)
      out.insert(out.end(), rows.begin() + static_cast<std::ptrdiff_t>(r * dim),
                 rows.begin() + static_cast<std::ptrdiff_t>((r + 1) * dim));
  }
  return out;
}

std::vector<float> offset(std::vector<float> rows, float by) {
  for (float& x : rows)
    x += by;
  return rows;
}

/// The reference check of a held search; `certified`: every query must be proven by the
/// first screen (no direct float64 pass), which pins the screen and its bound, not only the
/// exact fallback.
std::string held_search(Context& context, const std::vector<float>& base,
                        const std::vector<float>& queries, std::size_t dim, std::size_t k,
                        Metric metric, bool certified = false) {
  FlatIndex index(context, dim, metric);
  index.add(base);
  const KnnResult result = index.search(queries, k);
  if (certified && result.second_pass_queries != 0) {
    return std::to_string(result.second_pass_queries) + " queries not certified by the screen";
  }
  return vt::check_knn(result, queries, base, dim, k, metric);
}

TEST_F(L1LinfTest, HeldSearchesEqualTheFloat64ReferenceOnBothScreens) {
  // 5 queries stream the base (the vec4 kernel at dimension 16, the scalar one at 13); 40 run
  // the tiled kernel. Normal data, and an offset of 1000 where a norm-based bound would fail.
  for (const Metric metric : kMetrics) {
    for (const std::size_t dim : {std::size_t{13}, std::size_t{16}}) {
      for (const std::size_t nq : {std::size_t{5}, std::size_t{40}}) {
        SCOPED_TRACE(std::string(to_string(metric)) + " d=" + std::to_string(dim) +
                     " nq=" + std::to_string(nq));
        const auto base = vt::normal_data(900, dim, 1);
        const auto queries = vt::normal_data(nq, dim, 2);
        EXPECT_EQ(held_search(context(), base, queries, dim, 10, metric, true), "");
        EXPECT_EQ(held_search(context(), offset(base, 1000.0f), offset(queries, 1000.0f), dim, 10,
                              metric, true),
                  "");
      }
    }
  }
}

TEST_F(L1LinfTest, TiesAndDuplicatedRowsAreOrderedByLabel) {
  for (const Metric metric : kMetrics) {
    SCOPED_TRACE(std::string(to_string(metric)));
    constexpr std::size_t dim = 8;
    // Few distinct values: most distances tie, and every row appears three times.
    const auto base = repeated(integers(200, dim, 2, 3), dim, 3);
    const auto queries = integers(36, dim, 2, 4);
    EXPECT_EQ(held_search(context(), base, queries, dim, 25, metric), "");
    EXPECT_EQ(
        held_search(context(), base, std::vector<float>(queries.begin(), queries.begin() + 24), dim,
                    7, metric),
        "");
    // A large offset on integers: the differences stay exact integers.
    EXPECT_EQ(
        held_search(context(), offset(base, 65536.0f), offset(queries, 65536.0f), dim, 9, metric),
        "");
  }
}

TEST_F(L1LinfTest, CompactBasesAndOpsKnnEqualTheReference) {
  constexpr std::size_t dim = 20, n = 600, k = 12;
  std::mt19937 rng(5);
  std::vector<std::uint8_t> u8(n * dim);
  std::vector<std::int8_t> i8(n * dim);
  for (std::size_t i = 0; i < u8.size(); ++i) {
    u8[i] = static_cast<std::uint8_t>(rng() % 6 * 51);  // 0, 51, ..., 255: many ties
    i8[i] = static_cast<std::int8_t>(static_cast<int>(rng() % 256) - 128);
  }
  const std::vector<float> u8_rows(u8.begin(), u8.end()), i8_rows(i8.begin(), i8.end());
  const auto queries = integers(33, dim, 127, 6);
  for (const Metric metric : kMetrics) {
    SCOPED_TRACE(std::string(to_string(metric)));
    FlatIndex bytes(context(), dim, metric, ElementType::uint8);
    bytes.add(std::span<const std::uint8_t>(u8));
    EXPECT_EQ(vt::check_knn(bytes.search(queries, k), queries, u8_rows, dim, k, metric), "");
    const KnnResult signed_rows =
        ops::knn(context(), queries, std::span<const std::int8_t>(i8), dim, k, metric);
    EXPECT_EQ(vt::check_knn(signed_rows, queries, i8_rows, dim, k, metric), "");
    EXPECT_EQ(vt::check_knn(ops::knn(context(), queries, i8_rows, dim, k, metric), queries, i8_rows,
                            dim, k, metric),
              "");
  }
}

TEST_F(L1LinfTest, StreamedSearchBelowTheMemoryBudgetEqualsTheReference) {
  constexpr std::size_t dim = 12, n = 1500, k = 10;
  const auto base = offset(integers(n, dim, 40, 7), 300.0f);
  const auto queries = offset(integers(21, dim, 40, 8), 300.0f);
  write_vectors(path("base.fvecs"), Matrix<float>{n, dim, base});
  const MappedVectors mapped(path("base.fvecs"));
  for (const Metric metric : kMetrics) {
    SCOPED_TRACE(std::string(to_string(metric)));
    std::size_t passes = 0;
    const KnnResult streamed = ops::knn(
        context(), queries, mapped, k, metric,
        {.progress = [&](std::size_t, std::size_t) { ++passes; }, .memory_budget = 32 << 10});
    EXPECT_GT(passes, 3u) << "the base must not fit one pass";
    EXPECT_EQ(vt::check_knn(streamed, queries, base, dim, k, metric), "");
  }
}

TEST_F(L1LinfTest, ShardedSearchEqualsTheReference) {
  constexpr std::size_t dim = 9, n = 500, k = 15;
  const auto base = repeated(integers(n / 2, dim, 3, 9), dim, 2);
  const auto queries = integers(40, dim, 3, 10);
  constexpr std::uint32_t twice[] = {0, 0};
  for (const Metric metric : kMetrics) {
    SCOPED_TRACE(std::string(to_string(metric)));
    ShardedIndex index(twice, dim, metric);
    index.add(base);
    EXPECT_EQ(vt::check_knn(index.search(queries, k), queries, base, dim, k, metric), "");
  }
}

TEST_F(L1LinfTest, DistancesAreTheScreenedValuesWithinTheirBound) {
  constexpr std::size_t dim = 37;
  const auto base = vt::normal_data(70, dim, 11);
  const auto queries = vt::normal_data(40, dim, 12);  // the tiled kernel
  for (const Metric metric : kMetrics) {
    SCOPED_TRACE(std::string(to_string(metric)));
    const std::vector<float> got = ops::distances(context(), queries, base, dim, metric);
    for (std::size_t q = 0; q < 40; ++q) {
      for (std::size_t b = 0; b < 70; ++b) {
        const double truth = vt::reference_metric(&queries[q * dim], &base[b * dim], dim, metric);
        const double bound = detail::screen_error_bound(metric, dim, 0.0, 0.0,
                                                        detail::ScreenPrecision::float32, truth);
        ASSERT_LE(std::abs(got[q * 70 + b] - truth), bound) << "query " << q << " row " << b;
      }
    }
  }
}

TEST_F(L1LinfTest, SavedIndexesKeepTheirMetric) {
  constexpr std::size_t dim = 7;
  const auto base = integers(120, dim, 5, 13);
  const auto queries = integers(6, dim, 5, 14);
  for (const Metric metric : kMetrics) {
    SCOPED_TRACE(std::string(to_string(metric)));
    FlatIndex index(context(), dim, metric);
    index.add(base);
    index.save(path("index.vfi"));
    const FlatIndex loaded = FlatIndex::load(context(), path("index.vfi"));
    EXPECT_EQ(loaded.metric(), metric);
    const KnnResult a = index.search(queries, 5);
    const KnnResult b = loaded.search(queries, 5);
    EXPECT_EQ(a.labels, b.labels);
    EXPECT_EQ(a.distances, b.distances);
  }
}

TEST(L1LinfNames, ParseInAnyCaseAndRoundTrip) {
  EXPECT_EQ(parse_metric("L1"), Metric::l1);
  EXPECT_EQ(parse_metric("LINF"), Metric::linf);
  EXPECT_EQ(parse_metric("Linf"), Metric::linf);
  EXPECT_EQ(to_string(Metric::l1), "l1");
  EXPECT_EQ(to_string(Metric::linf), "linf");
  EXPECT_TRUE(smaller_is_better(Metric::l1));
  EXPECT_TRUE(smaller_is_better(Metric::linf));
  try {
    parse_metric("l3");
    ADD_FAILURE() << "l3 parsed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("l1 or linf"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vecaccel
