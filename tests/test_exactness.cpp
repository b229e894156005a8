// Exactness on data built to break a float32 search: common offsets, integer pixels,
// extreme scales, ties, underflow; overflow refused. Every result is compared with a float64
// brute force (ids in its order, ties by label).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <random>
#include <span>
#include <string>

#include "ops/certificate.hpp"
#include "ops/exact_merge.hpp"
#include "ops/kernels.hpp"
#include "ops/row_centre.hpp"
#include "support/reference.hpp"
#include "support/scoped_env.hpp"
#include "vecaccel/vecaccel.hpp"

using namespace vecaccel;
namespace vt = vecaccel::testing;

namespace {

Context& shared_context() {
  static Context context;
  return context;
}

/// offset + N(0, spread) in every element: float32 norms are about (offset^2 d) while the
/// distances that decide the ranking are about spread^2 d.
std::vector<float> offset_data(std::size_t n, std::size_t dim, float offset, float spread,
                               std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, spread);
  std::vector<float> v(n * dim);
  for (auto& x : v)
    x = offset + noise(rng);
  return v;
}

/// Integer "images" in 0..255 with many zeros: a few templates, pixel noise, clipping.
std::vector<float> pixel_data(std::size_t n, std::size_t dim, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> level(0, 255);
  std::normal_distribution<float> noise(0.0f, 40.0f);
  constexpr std::size_t templates = 10;
  std::vector<float> shapes(templates * dim);
  for (auto& x : shapes)
    x = rng() % 3 == 0 ? 0.0f : static_cast<float>(level(rng));
  std::vector<float> v(n * dim);
  for (std::size_t r = 0; r < n; ++r) {
    const std::size_t t = rng() % templates;
    for (std::size_t c = 0; c < dim; ++c) {
      const float x = shapes[t * dim + c] == 0.0f ? 0.0f : shapes[t * dim + c] + noise(rng);
      v[r * dim + c] = std::round(std::clamp(x, 0.0f, 255.0f));
    }
  }
  return v;
}

/// Normal rows, each scaled by 10^e with e uniform in [-25, 25].
std::vector<float> extreme_scales(std::size_t n, std::size_t dim, std::uint32_t seed) {
  auto v = vt::normal_data(n, dim, seed);
  std::mt19937 rng(seed + 1);
  std::uniform_real_distribution<double> exponent(-25.0, 25.0);
  for (std::size_t r = 0; r < n; ++r) {
    const double scale = std::pow(10.0, exponent(rng));
    for (std::size_t c = 0; c < dim; ++c)
      v[r * dim + c] = static_cast<float>(v[r * dim + c] * scale);
  }
  return v;
}

std::string error_of(const std::function<void()>& f, Errc expected) {
  try {
    f();
  } catch (const Error& e) {
    if (e.code() != expected) return std::string("wrong code: ") + e.what();
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(Exactness, CommonOffsetWithSmallSpreadEqualsFloat64) {
  constexpr std::size_t dim = 16, nb = 6000, nq = 24;
  for (const float offset : {100.0f, 1000.0f}) {
    const auto base = offset_data(nb, dim, offset, 1.0f, 1);
    const auto queries = offset_data(nq, dim, offset, 1.0f, 2);
    for (const std::size_t k : {1u, 10u, 100u}) {
      for (const Metric metric : {Metric::l2, Metric::cosine, Metric::inner_product}) {
        const KnnResult r = ops::knn(shared_context(), queries, base, dim, k, metric);
        EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, metric), "")
            << "offset " << offset << " k " << k << " " << to_string(metric);
      }
    }
  }
}

TEST(Exactness, IntegerPixelDataAtDimension784EqualsFloat64) {
  constexpr std::size_t dim = 784, nb = 3000, nq = 20;
  const auto base = pixel_data(nb, dim, 3);
  const auto queries = pixel_data(nq, dim, 4);
  for (const std::size_t k : {10u, 100u}) {
    for (const Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
      const KnnResult r = ops::knn(shared_context(), queries, base, dim, k, metric);
      EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, metric), "")
          << "k " << k << " " << to_string(metric);
    }
  }
}

TEST(Exactness, TheLargestDimensionCountsEveryElementUpToTheLast) {
  // Rows that differ only in their last elements, at FlatIndex::max_dim and just below it: a
  // sum cut short of the row's end (lavapipe ends a loop after 65535 turns) ranks them wrong.
  for (const std::size_t dim : {FlatIndex::max_dim - 1, FlatIndex::max_dim}) {
    constexpr std::size_t nb = 6, nq = 2, k = 6;
    std::vector<float> base(nb * dim, 0.0f);
    std::vector<float> queries(nq * dim, 0.0f);
    for (std::size_t r = 0; r < nb; ++r) {
      base[r * dim + r % 3] = 1.0f;  // ties but for the last elements
      base[r * dim + dim - 1 - r / 3] = static_cast<float>(10 * r + 5);
    }
    queries[dim - 1] = 1.0f;
    queries[dim + dim - 2] = -2.0f;
    queries[dim] = 0.5f;
    for (const Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
      const KnnResult r = ops::knn(shared_context(), queries, base, dim, k, metric);
      EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, metric), "")
          << "dimension " << dim << " " << to_string(metric);
    }
  }
}

TEST(Exactness, CosineOverRowsScaledFrom1eMinus25To1e25EqualsFloat64) {
  constexpr std::size_t dim = 48, nb = 4000, nq = 16;
  const auto base = extreme_scales(nb, dim, 5);
  const auto queries = extreme_scales(nq, dim, 7);
  for (const std::size_t k : {10u, 64u}) {
    const KnnResult r = ops::knn(shared_context(), queries, base, dim, k, Metric::cosine);
    EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, Metric::cosine), "") << "k " << k;
  }
}

TEST(Exactness, ScalingARowLeavesItsCosineResultsUnchanged) {
  constexpr std::size_t dim = 32, nb = 2000, nq = 8;
  auto base = vt::normal_data(nb, dim, 8);
  const auto queries = vt::normal_data(nq, dim, 9);
  const KnnResult before = ops::knn(shared_context(), queries, base, dim, 10, Metric::cosine);
  for (std::size_t r = 0; r < nb; ++r) {  // powers of two: the scaled rows are exact
    const float scale = std::ldexp(1.0f, static_cast<int>(r % 161) - 80);
    for (std::size_t c = 0; c < dim; ++c)
      base[r * dim + c] *= scale;
  }
  const KnnResult after = ops::knn(shared_context(), queries, base, dim, 10, Metric::cosine);
  EXPECT_EQ(before.labels, after.labels);
  EXPECT_EQ(before.distances, after.distances);
}

TEST(Exactness, SquaredNormsThatOverflowFloat32AreRefusedNamingTheRow) {
  constexpr std::size_t dim = 8;
  auto base = vt::normal_data(100, dim, 10);
  const auto queries = vt::normal_data(4, dim, 11);
  base[37 * dim + 3] = 1e19f;  // squared norm 1e38: beyond what float32 l2 can represent
  for (const Metric metric : {Metric::l2, Metric::inner_product}) {
    const std::string message = error_of(
        [&] { ops::knn(shared_context(), queries, base, dim, 5, metric); }, Errc::invalid_argument);
    EXPECT_NE(message.find("base row 37"), std::string::npos) << message;
    auto bad_queries = queries;
    bad_queries[2 * dim] = -3e19f;
    const std::string query_message = error_of(
        [&] {
          ops::knn(shared_context(), bad_queries, vt::normal_data(50, dim, 12), dim, 5, metric);
        },
        Errc::invalid_argument);
    EXPECT_NE(query_message.find("query row 2"), std::string::npos) << query_message;
  }
  FlatIndex index(shared_context(), dim, Metric::l2);
  const std::string message = error_of([&] { index.add(base); }, Errc::invalid_argument);
  EXPECT_NE(message.find("base row 37"), std::string::npos) << message;
  EXPECT_EQ(index.size(), 0u) << "a refused add must add nothing";
  // Cosine does not depend on a row's scale: the same rows are searched exactly.
  const KnnResult r = ops::knn(shared_context(), queries, base, dim, 5, Metric::cosine);
  EXPECT_EQ(vt::check_knn(r, queries, base, dim, 5, Metric::cosine), "");
}

// Base rows repeat five patterns: far more rows tie at each query's k-th distance than the
// screen proposes, so no certificate can hold and every query takes the direct pass.
TEST(Exactness, FailedCertificatesTakeTheDirectPassAndStayExact) {
  constexpr std::size_t dim = 24, nb = 5000, nq = 12, patterns = 5, k = 10;
  const auto pattern = vt::normal_data(patterns, dim, 13);
  std::vector<float> base(nb * dim);
  for (std::size_t r = 0; r < nb; ++r) {
    std::copy_n(pattern.begin() + static_cast<std::ptrdiff_t>((r % patterns) * dim), dim,
                base.begin() + static_cast<std::ptrdiff_t>(r * dim));
  }
  const auto queries = vt::normal_data(nq, dim, 14);
  for (const Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
    const KnnResult r = ops::knn(shared_context(), queries, base, dim, k, metric);
    EXPECT_EQ(r.second_pass_queries, nq) << to_string(metric);
    EXPECT_EQ(r.direct_pass_queries, nq) << to_string(metric) << ": no screen separates ties";
    EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, metric), "") << to_string(metric);
  }
}

TEST(Exactness, WellSeparatedDataNeedsNoSecondPass) {
  constexpr std::size_t dim = 32, nb = 5000, nq = 20;
  const auto base = vt::normal_data(nb, dim, 15);
  const auto queries = vt::normal_data(nq, dim, 16);
  const KnnResult r = ops::knn(shared_context(), queries, base, dim, 10, Metric::l2);
  EXPECT_EQ(r.second_pass_queries, 0u);
  EXPECT_EQ(r.direct_pass_queries, 0u);
  EXPECT_EQ(vt::check_knn(r, queries, base, dim, 10, Metric::l2), "");
}

// Values around 1e-22: their squares underflow float32, so the screen sees zeros; the
// certificate cannot vouch for it and the float64 pass ranks them.
TEST(Exactness, ValuesWhoseSquaresUnderflowFloat32EqualFloat64) {
  constexpr std::size_t dim = 16, nb = 2000, nq = 6;
  auto base = vt::normal_data(nb, dim, 17);
  auto queries = vt::normal_data(nq, dim, 18);
  for (auto& x : base)
    x *= 1e-22f;
  for (auto& x : queries)
    x *= 1e-22f;
  const KnnResult r = ops::knn(shared_context(), queries, base, dim, 10, Metric::l2);
  EXPECT_EQ(vt::check_knn(r, queries, base, dim, 10, Metric::l2), "");
}

// Blocks of more than 32 queries are screened with float16 products on tensor cores where the
// device has them; the same adversarial data must still come out equal to float64 (queries
// whose certificate fails are screened again with three terms, then directly).
TEST(Exactness, TensorCoreScreenEqualsFloat64OnAdversarialData) {
  const Capabilities& caps = shared_context().device().capabilities();
  if (!caps.cooperative_matrix) {
    GTEST_SKIP() << "the device has no float16 cooperative matrices (lavapipe has none): this "
                    "runs on a GPU that has them";
  }
  constexpr std::size_t nq = 160;
  struct Case {
    std::string name;
    std::size_t dim;
    std::vector<float> base, queries;
  };
  const std::vector<Case> cases = {
      {"normal", 128, vt::normal_data(20000, 128, 21), vt::normal_data(nq, 128, 22)},
      {"offset 1000", 16, offset_data(6000, 16, 1000.0f, 1.0f, 23),
       offset_data(nq, 16, 1000.0f, 1.0f, 24)},
      {"pixels", 784, pixel_data(3000, 784, 25), pixel_data(nq, 784, 26)},
      {"scales 1e+-25", 48, extreme_scales(4000, 48, 27), extreme_scales(nq, 48, 28)},
  };
  for (const Case& c : cases) {
    for (const Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
      if (c.name == "scales 1e+-25" && metric != Metric::cosine) continue;  // overflow
      for (const std::size_t k : {1u, 10u, 100u}) {
        const KnnResult r = ops::knn(shared_context(), c.queries, c.base, c.dim, k, metric);
        EXPECT_EQ(vt::check_knn(r, c.queries, c.base, c.dim, k, metric), "")
            << c.name << " k " << k << " " << to_string(metric);
        std::printf("[ tensor  ] %s %s k=%zu: %zu of %zu queries screened again\n", c.name.c_str(),
                    std::string(to_string(metric)).c_str(), k, r.second_pass_queries, nq);
      }
    }
  }
}

// Tensor cores over float16 copies take every block of more than 8 queries where the index
// keeps a copy (d >= 384 by default): a few queries in 32-row blocks, more in 128-row ones,
// the last block partly empty. Every shape equals float64 on normal and pixel data, each
// metric, k from 1 to 100.
TEST(Exactness, TensorCoresOverFloat16CopiesEqualFloat64ForEveryQueryBlockShape) {
  const Capabilities& caps = shared_context().device().capabilities();
  if (!caps.cooperative_matrix) {
    GTEST_SKIP() << "the device has no float16 cooperative matrices (lavapipe has none): this "
                    "runs on a GPU that has them";
  }
  constexpr std::size_t dim = 512;
  const std::vector<std::pair<std::string, std::vector<float>>> bases = {
      {"normal", vt::normal_data(3000, dim, 31)},
      {"pixels", pixel_data(3000, dim, 32)},
      // Rows of the distance tile not 16-byte aligned: the epilogue's one-by-one stores.
      {"normal, 2999 rows", vt::normal_data(2999, dim, 35)}};
  for (const auto& [name, base] : bases) {
    for (const Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
      FlatIndex index(shared_context(), dim, metric, ElementType::float32, HalfCopy::always);
      index.add(base);
      for (const std::size_t nq : {9u, 32u, 33u, 300u}) {
        const auto queries =
            name != "pixels" ? vt::normal_data(nq, dim, 33) : pixel_data(nq, dim, 34);
        for (const std::size_t k : {1u, 10u, 100u}) {
          const KnnResult r = index.search(queries, k);
          EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, metric), "")
              << name << " " << to_string(metric) << " queries " << nq << " k " << k;
          std::printf("[ copies  ] %s %s %zu queries k=%zu: %zu screened again\n", name.c_str(),
                      std::string(to_string(metric)).c_str(), nq, k, r.second_pass_queries);
        }
      }
    }
  }
}

// k = 2048: the screen proposes a margin past k and the certificates hold, also where the
// candidates outnumber what one workgroup's shared memory sorts (lavapipe: 2048). With the
// candidates capped at k, no certificate could hold and every query took the float64 direct
// pass over the whole base (500k x 64, k = 2048: 4.5 s on an H100 instead of ~10 ms).
TEST(Exactness, KOf2048IsCertifiedWithoutTheDirectPass) {
  Context& context = shared_context();
  constexpr std::size_t dim = 64, nb = 20000, nq = 20, k = 2048;
  const auto base = vt::normal_data(nb, dim, 41);
  const auto queries = vt::normal_data(nq, dim, 42);
  for (const Metric metric : {Metric::l2, Metric::inner_product}) {
    const KnnResult r = ops::knn(context, queries, base, dim, k, metric);
    EXPECT_EQ(r.direct_pass_queries, 0u) << to_string(metric);
    EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, metric), "") << to_string(metric);
  }
}

// A few queries stream the index's float16 copy of its rows (half the bytes); the copy only
// screens, so results equal float64 and the index without a copy, bit for bit, on data built
// against it: a common offset, pixels, rows from 1e-25 to 1e25 (cosine), rows whose small
// elements fall below float16's normal range at the row's scale, and rows below 2^-114 whose
// scale is clamped. Added in pieces, so that chunks grow and keep their copies.
TEST(Exactness, FewQueriesOverTheFloat16CopyEqualFloat64AndTheIndexWithoutIt) {
  constexpr std::size_t nq = 5;
  auto wide_range = vt::normal_data(3000, 32, 51);
  for (std::size_t i = 0; i < wide_range.size(); i += 3)
    wide_range[i] *= 1e-9f;  // 2^-30 of the row's largest: float16 subnormals or zeros
  auto tiny = vt::normal_data(3000, 32, 52);
  for (auto& x : tiny)
    x *= 1e-36f;  // scaled by the clamped 2^100: float16 subnormals
  struct Case {
    std::string name;
    std::size_t dim;
    std::vector<float> base, queries;
    std::vector<Metric> metrics;
  };
  const std::vector<Metric> all = {Metric::l2, Metric::inner_product, Metric::cosine};
  const std::vector<Case> cases = {
      {"offset 1000", 16, offset_data(6000, 16, 1000.0f, 1.0f, 53),
       offset_data(nq, 16, 1000.0f, 1.0f, 54), all},
      {"pixels", 784, pixel_data(2000, 784, 55), pixel_data(nq, 784, 56), all},
      {"scales 1e+-25",
       48,
       extreme_scales(4000, 48, 57),
       extreme_scales(nq, 48, 58),
       {Metric::cosine}},
      {"wide range", 32, wide_range, vt::normal_data(nq, 32, 59), all},
      {"tiny", 32, tiny, vt::normal_data(nq, 32, 60), all},
  };
  for (const Case& c : cases) {
    for (const Metric metric : c.metrics) {
      FlatIndex with(shared_context(), c.dim, metric, ElementType::float32, HalfCopy::always);
      FlatIndex without(shared_context(), c.dim, metric, ElementType::float32, HalfCopy::never);
      const std::size_t rows = c.base.size() / c.dim;
      for (std::size_t r = 0; r < rows; r += rows / 3 + 1) {
        const std::size_t n = std::min(rows / 3 + 1, rows - r);
        const auto piece = std::span(c.base).subspan(r * c.dim, n * c.dim);
        with.add(piece);
        without.add(piece);
      }
      for (const std::size_t k : {1u, 10u, 100u}) {
        const KnnResult a = with.search(c.queries, k);
        const KnnResult b = without.search(c.queries, k);
        EXPECT_EQ(vt::check_knn(a, c.queries, c.base, c.dim, k, metric), "")
            << c.name << " k " << k << " " << to_string(metric);
        EXPECT_EQ(a.labels, b.labels) << c.name << " k " << k << " " << to_string(metric);
        EXPECT_EQ(a.distances, b.distances) << c.name << " k " << k << " " << to_string(metric);
      }
    }
  }
}

// Data far from the origin (a common offset of 1000, spread 1) has norms about 1000 times its
// distances' spread: an l2 copy made about the origin errs by more than the gaps between
// neighbours and no query's certificate holds. Made about the rows' mean, the copy's error
// follows the spread, and every query is certified by the first screen — after the index
// grew in pieces, after rows were removed (copies moved and remade), and after a reset that
// gives new rows (about another offset) a centre of their own.
TEST(Exactness, L2CopiesAboutTheRowsMeanCertifyDataFarFromTheOrigin) {
  constexpr std::size_t dim = 16, nb = 6000, nq = 5, k = 10;
  FlatIndex index(shared_context(), dim, Metric::l2, ElementType::float32, HalfCopy::always);
  auto base = offset_data(nb, dim, 1000.0f, 1.0f, 71);
  const auto queries = offset_data(nq, dim, 1000.0f, 1.0f, 72);
  for (std::size_t r = 0; r < nb; r += 1500)
    index.add(std::span(base).subspan(r * dim, 1500 * dim));
  const auto expect_certified = [&](const std::vector<float>& rows,
                                    const std::vector<float>& probes, const char* when) {
    const KnnResult r = index.search(probes, k);
    EXPECT_EQ(vt::check_knn(r, probes, rows, dim, k, Metric::l2), "") << when;
    EXPECT_EQ(r.second_pass_queries, 0u) << when;
    EXPECT_EQ(r.direct_pass_queries, 0u) << when;
  };
  expect_certified(base, queries, "added in pieces");

  std::vector<std::int64_t> removed;
  for (std::int64_t id = 0; id < static_cast<std::int64_t>(nb); id += 7)
    removed.push_back(id);
  ASSERT_EQ(index.remove_ids(removed), removed.size());
  std::vector<float> kept;
  for (std::size_t r = 0; r < nb; ++r) {
    const auto row = std::span(base).subspan(r * dim, dim);
    if (r % 7 != 0) kept.insert(kept.end(), row.begin(), row.end());
  }
  // Labels of the kept rows stay theirs: compare against the kept rows' own search.
  const KnnResult after = index.search(queries, k);
  FlatIndex plain(shared_context(), dim, Metric::l2, ElementType::float32, HalfCopy::never);
  std::vector<std::int64_t> kept_ids;
  for (std::size_t r = 0; r < nb; ++r) {
    if (r % 7 != 0) kept_ids.push_back(static_cast<std::int64_t>(r));
  }
  plain.add_with_ids(kept, kept_ids);
  const KnnResult expected = plain.search(queries, k);
  EXPECT_EQ(after.labels, expected.labels);
  EXPECT_EQ(after.distances, expected.distances);
  EXPECT_EQ(after.second_pass_queries, 0u) << "after remove_ids";

  index.reset();
  base = offset_data(nb, dim, -30000.0f, 1.0f, 73);
  index.add(base);
  expect_certified(base, offset_data(nq, dim, -30000.0f, 1.0f, 74), "after reset");
}

// The float32 screens' expanded form |q|^2 + |x|^2 - 2 q.x errs by about d 2^-24 (|q| + |x|)^2:
// on data far from the origin that is more than the gaps between neighbours, and every query
// failed its certificate and took the float64 direct pass (a pass over the whole base per
// query, read back to the host). Screened again with l2 in direct form, (q - x)^2 summed, whose
// error follows the distances, they are certified: by the streaming kernel (5 queries) and
// the tiled one (40), at dimensions with and without 16-byte rows, filtered too.
TEST(Exactness, L2FarFromTheOriginIsCertifiedInDirectFormWithoutTheFloat64Pass) {
  constexpr std::size_t nb = 6000, k = 10;
  for (const std::size_t dim : {16u, 30u}) {
    const auto base = offset_data(nb, dim, 1000.0f, 1.0f, 81);
    FlatIndex index(shared_context(), dim, Metric::l2, ElementType::float32, HalfCopy::never);
    index.add(base);
    for (const std::size_t nq : {5u, 40u}) {
      const auto queries = offset_data(nq, dim, 1000.0f, 1.0f, 82);
      const KnnResult r = index.search(queries, k);
      EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, Metric::l2), "") << dim << " " << nq;
      EXPECT_GT(r.second_pass_queries, 0u) << "the expanded form certified offset data?";
      EXPECT_EQ(r.direct_pass_queries, 0u) << dim << " " << nq;
      std::vector<std::int64_t> odd;
      for (std::int64_t id = 1; id < static_cast<std::int64_t>(nb); id += 2)
        odd.push_back(id);
      const KnnResult filtered = index.search(queries, k, IdFilter::allow(odd));
      EXPECT_EQ(filtered.direct_pass_queries, 0u) << dim << " " << nq << " filtered";
      for (const std::int64_t label : filtered.labels)
        EXPECT_EQ(label % 2, 1) << dim << " " << nq;
    }
  }
}

TEST(Exactness, AFloat16CopyForADimensionNotAMultipleOf4IsRefused) {
  const std::string message = error_of(
      [] { FlatIndex(shared_context(), 30, Metric::l2, ElementType::float32, HalfCopy::always); },
      Errc::invalid_argument);
  EXPECT_NE(message.find("dimension 30"), std::string::npos) << message;
  FlatIndex automatic(shared_context(), 30, Metric::l2);  // automatic: no copy, no error
  automatic.add(vt::normal_data(100, 30, 61));
  const auto queries = vt::normal_data(3, 30, 62);
  EXPECT_EQ(vt::check_knn(automatic.search(queries, 5), queries, vt::normal_data(100, 30, 61), 30,
                          5, Metric::l2),
            "");
}

// Rows whose l2 distances to the query tie in float64 summed without fused multiply-adds but
// not with them (found by search: each pair holds the same elements in another order). The
// reference rounds every multiply and add on its own; a re-ranking shader or host merge whose
// compiler contracted `sum + t * t` into an fma ranks the pair the other way.
TEST(Exactness, TiesOfTheUnfusedFloat64SumBreakByLabelWhateverTheCompilerMayFuse) {
  constexpr std::size_t dim = 4;
  const std::vector<std::array<float, dim>> pairs = {
      {5.104861884319689e-07f, 6.940200591998291e-07f, 1.4532351997331716e-06f,
       2.5528049718559487e-06f},
      {1.4532351997331716e-06f, 2.5528049718559487e-06f, 6.940200591998291e-07f,
       5.104861884319689e-07f},
      {2.387357369570964e-07f, 6.082451022848545e-07f, 1.3212476801527373e-07f,
       4.5942631032858117e-08f},
      {6.082451022848545e-07f, 2.387357369570964e-07f, 4.5942631032858117e-08f,
       1.3212476801527373e-07f},
      {9.819500945695836e-08f, 1.8296685766472365e-07f, 2.5194351493951217e-08f,
       4.019326027560055e-08f},
      {1.8296685766472365e-07f, 9.819500945695836e-08f, 4.019326027560055e-08f,
       2.5194351493951217e-08f},
  };
  std::vector<float> base;
  for (const auto& row : pairs)
    base.insert(base.end(), row.begin(), row.end());
  const std::vector<float> queries(dim, 1.5f);
  for (std::size_t p = 0; p < pairs.size(); p += 2) {
    const auto a = std::span(base).subspan(p * dim, dim);
    const auto b = std::span(base).subspan((p + 1) * dim, dim);
    ASSERT_EQ(vt::reference_metric(queries.data(), a.data(), dim, Metric::l2),
              vt::reference_metric(queries.data(), b.data(), dim, Metric::l2))
        << "pair " << p / 2 << ": the reference sums with fused multiply-adds";
  }
  const KnnResult r = ops::knn(shared_context(), queries, base, dim, pairs.size(), Metric::l2);
  EXPECT_EQ(vt::check_knn(r, queries, base, dim, pairs.size(), Metric::l2), "");
  FlatIndex index(shared_context(), dim, Metric::l2);
  index.add(base);
  const KnnResult again = index.search(queries, pairs.size());
  EXPECT_EQ(again.labels, r.labels);
}

namespace {

/// Byte-valued rows (uint8: 0..255, int8: -128..127) as floats, drawn from `levels` values
/// spread over the type's range: few levels make many equal distances (ties by label), and
/// `duplicates` of every row repeat it exactly.
std::vector<float> byte_rows(std::size_t n, std::size_t dim, ElementType type, int levels,
                             std::uint32_t seed) {
  std::mt19937 rng(seed);
  const int lowest = type == ElementType::int8 ? -128 : 0;
  std::uniform_int_distribution<int> level(0, levels - 1);
  std::vector<float> v(n * dim);
  for (auto& x : v) {
    const int value = lowest + level(rng) * 255 / (levels - 1);  // integer steps
    x = static_cast<float>(value);
  }
  for (std::size_t r = 1; r < n; r += 7)  // exact duplicates of the row before
    std::copy_n(v.begin() + static_cast<std::ptrdiff_t>((r - 1) * dim), dim,
                v.begin() + static_cast<std::ptrdiff_t>(r * dim));
  return v;
}

/// Byte-valued floats as the bytes a uint8 / int8 buffer holds (int8: two's complement).
std::vector<std::uint8_t> as_bytes(const std::vector<float>& values, ElementType type) {
  std::vector<std::uint8_t> out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    out[i] = type == ElementType::int8
                 ? static_cast<std::uint8_t>(static_cast<std::int8_t>(values[i]))
                 : static_cast<std::uint8_t>(values[i]);
  }
  return out;
}

template <class T>
std::vector<T> narrowed(const std::vector<float>& values) {
  std::vector<T> out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i)
    out[i] = static_cast<T>(values[i]);
  return out;
}

}  // namespace

// A uint8 / int8 index searched with byte-valued queries in blocks takes the integer
// tensor-core screen (exact products, ScreenPrecision::integer): results equal float64 with
// ties by label, on data full of equal distances and duplicate rows, for every product metric,
// at a dimension that is a multiple of 16 but not of the matrices' 32 and at one whose values
// exceed 2^24 (rounded once to float32). Most certificates hold: a kernel whose values were
// wrong would send its queries to the float64 direct pass instead.
TEST(Exactness, IntegerTensorCoreScreenEqualsFloat64OnUint8AndInt8DataWithTies) {
  Context& context = shared_context();
  if (!context.device().capabilities().integer_cooperative_matrix) {
    GTEST_SKIP() << "the device has no integer cooperative matrices (lavapipe has none): this "
                    "runs on a GPU that has them";
  }
  constexpr std::size_t nb = 3000, nq = 130;  // two query blocks, the second mostly empty
  for (const ElementType type : {ElementType::uint8, ElementType::int8}) {
    for (const std::size_t dim : {std::size_t{48}, std::size_t{128}, std::size_t{1040}}) {
      for (const int levels : {4, 256}) {
        const auto base = byte_rows(nb, dim, type, levels, 61);
        const auto queries = byte_rows(nq, dim, type, levels, 62);
        for (const Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
          FlatIndex index(context, dim, metric, type);
          if (type == ElementType::uint8)
            index.add(std::span<const std::uint8_t>(narrowed<std::uint8_t>(base)));
          else
            index.add(std::span<const std::int8_t>(narrowed<std::int8_t>(base)));
          for (const std::size_t k : {1u, 10u, 100u}) {
            if (dim > 128 && k != 10) continue;  // the float64 reference's time
            const KnnResult r = index.search(queries, k);
            const std::string what = std::string(to_string(type)) + " d " + std::to_string(dim) +
                                     " levels " + std::to_string(levels) + " " +
                                     std::string(to_string(metric)) + " k " + std::to_string(k);
            EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, metric), "") << what;
            if (levels == 256) EXPECT_LT(r.direct_pass_queries, nq / 2) << what;
            std::printf("[ integer ] %s: %zu of %zu queries searched directly\n", what.c_str(),
                        r.direct_pass_queries, nq);
          }
        }
      }
    }
  }
}

// The integer kernel alone: every value it writes is the float32 rounding of the exact
// integer l2 or inner product, bit for bit (cosine: within its bound of the exact cosine), over
// blocks that are partly empty (150 queries, 300 rows), a dimension not a multiple of 32 and
// one whose values exceed 2^24; the byte-norm kernel's norms are exact.
TEST(Exactness, IntegerTensorCoreKernelWritesTheRoundedExactValues) {
  Context& context = shared_context();
  Device device = context.device();
  if (!device.capabilities().integer_cooperative_matrix) {
    GTEST_SKIP() << "the device has no integer cooperative matrices (lavapipe has none): this "
                    "runs on a GPU that has them";
  }
  constexpr std::uint32_t nq = 150, nb = 300;
  const auto buffer = [&](std::uint64_t bytes) {
    Buffer b = context.buffer_factory().make_buffer(
        {.size = bytes, .storage = StorageMode::private_, .label = "integer kernel test"});
    context.residency_manager().register_buffer(b, ResidencyMode::persistent);
    return b;
  };
  for (const ElementType type : {ElementType::uint8, ElementType::int8}) {
    for (const std::uint32_t dim : {48u, 4096u}) {
      const auto q = byte_rows(nq, dim, type, 256, 71);
      const auto x = byte_rows(nb, dim, type, 256, 72);
      const auto qb = as_bytes(q, type);
      const auto xb = as_bytes(x, type);
      Buffer queries = buffer(qb.size()), base = buffer(xb.size()),
             query_norms = buffer(std::uint64_t{nq} * 4),
             base_norms = buffer(std::uint64_t{nb} * 4), out = buffer(std::uint64_t{nq} * nb * 4);
      context.residency_manager().commit();
      for (const Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
        BufferToken up_q = context.get_buffer(std::span<const std::uint8_t>(qb));
        BufferToken up_x = context.get_buffer(std::span<const std::uint8_t>(xb));
        BufferToken down =
            context.get_buffer(std::uint64_t{nq} * nb * 4 + std::uint64_t{nq + nb} * 4);
        context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
          e.copy_buffer(up_q.buffer(), 0, queries, 0, qb.size());
          e.copy_buffer(up_x.buffer(), 0, base, 0, xb.size());
          e.barrier({queries, base}, Stage::blit, Stage::dispatch);
          detail::encode_byte_norms(device, e, queries, nq, dim, type, query_norms);
          detail::encode_byte_norms(device, e, base, nb, dim, type, base_norms);
          e.barrier({query_norms, base_norms}, Stage::dispatch, Stage::dispatch);
          detail::encode_distances_int_coop(device, e,
                                            {.queries = queries,
                                             .base = base,
                                             .query_norms = query_norms,
                                             .base_norms = base_norms,
                                             .out = out,
                                             .num_queries = nq,
                                             .num_base = nb,
                                             .dim = dim,
                                             .out_stride = nb,
                                             .metric = metric},
                                            type);
          e.barrier({out, query_norms, base_norms}, Stage::dispatch, Stage::blit);
          e.copy_buffer(out, 0, down.buffer(), 0, std::uint64_t{nq} * nb * 4);
          e.copy_buffer(query_norms, 0, down.buffer(), std::uint64_t{nq} * nb * 4,
                        std::uint64_t{nq} * 4);
          e.copy_buffer(base_norms, 0, down.buffer(), std::uint64_t{nq} * (nb + 1) * 4,
                        std::uint64_t{nb} * 4);
        });
        const auto values = down.read<float>(std::size_t{nq} * nb);
        const auto norms = down.read<std::uint32_t>(nq + nb, std::size_t{nq} * nb * 4);
        int wrong = 0;
        for (std::uint32_t i = 0; i < nq && wrong < 5; ++i) {
          for (std::uint32_t j = 0; j < nb && wrong < 5; ++j) {
            std::int64_t dot = 0, nqq = 0, nxx = 0;
            for (std::uint32_t t = 0; t < dim; ++t) {
              const auto a = static_cast<std::int64_t>(q[std::size_t{i} * dim + t]);
              const auto b = static_cast<std::int64_t>(x[std::size_t{j} * dim + t]);
              dot += a * b;
              nqq += a * a;
              nxx += b * b;
            }
            if (j == 0) EXPECT_EQ(norms[i], static_cast<std::uint32_t>(nqq)) << "query " << i;
            if (i == 0) EXPECT_EQ(norms[nq + j], static_cast<std::uint32_t>(nxx)) << "row " << j;
            const float got = values[std::size_t{i} * nb + j];
            bool ok = false;
            if (metric == Metric::cosine) {
              const double exact =
                  nqq == 0 || nxx == 0
                      ? 0.0
                      : static_cast<double>(dot) /
                            std::sqrt(static_cast<double>(nqq) * static_cast<double>(nxx));
              ok = std::fabs(got - exact) <= 0x1p-19;
            } else {
              const std::int64_t exact = metric == Metric::l2 ? nqq + nxx - 2 * dot : dot;
              ok = got == static_cast<float>(exact);
            }
            if (!ok) {
              ++wrong;
              ADD_FAILURE() << to_string(type) << " d " << dim << " " << to_string(metric)
                            << " query " << i << " row " << j << ": " << got;
            }
          }
        }
      }
    }
  }
}

// The integer screen's norms (byte_norms.comp) on any device: exact uint32 sums of squares of
// uint8 and int8 elements, up to the largest dimension, where the sum nears 2^32 (255^2 65536).
TEST(Exactness, ByteNormsAreExactUpToTheLargestDimension) {
  Context& context = shared_context();
  Device device = context.device();
  for (const ElementType type : {ElementType::uint8, ElementType::int8}) {
    for (const std::uint32_t dim : {48u, 65536u}) {
      constexpr std::uint32_t rows = 3;
      std::vector<float> values = byte_rows(rows, dim, type, 256, 81);
      for (std::uint32_t i = 0; i < dim; ++i)  // row 0 at the type's extreme
        values[i] = type == ElementType::int8 ? -128.0f : 255.0f;
      const auto bytes = as_bytes(values, type);
      Buffer matrix = context.buffer_factory().make_buffer(
          {.size = bytes.size(), .storage = StorageMode::private_, .label = "byte rows"});
      Buffer norms = context.buffer_factory().make_buffer({.size = std::uint64_t{rows} * 4,
                                                           .storage = StorageMode::private_,
                                                           .label = "byte norms"});
      context.residency_manager().register_buffer(matrix, ResidencyMode::persistent);
      context.residency_manager().register_buffer(norms, ResidencyMode::persistent);
      context.residency_manager().commit();
      BufferToken up = context.get_buffer(std::span<const std::uint8_t>(bytes));
      BufferToken down = context.get_buffer(std::uint64_t{rows} * 4);
      context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
        e.copy_buffer(up.buffer(), 0, matrix, 0, bytes.size());
        e.barrier({matrix}, Stage::blit, Stage::dispatch);
        detail::encode_byte_norms(device, e, matrix, rows, dim, type, norms);
        e.barrier({norms}, Stage::dispatch, Stage::blit);
        e.copy_buffer(norms, 0, down.buffer(), 0, std::uint64_t{rows} * 4);
      });
      const auto got = down.read<std::uint32_t>(rows);
      for (std::uint32_t r = 0; r < rows; ++r) {
        std::uint64_t exact = 0;
        for (std::uint32_t i = 0; i < dim; ++i) {
          const auto v = static_cast<std::int64_t>(values[std::size_t{r} * dim + i]);
          exact += static_cast<std::uint64_t>(v * v);
        }
        EXPECT_EQ(got[r], exact) << to_string(type) << " d " << dim << " row " << r;
      }
    }
  }
}

namespace {

/// A float16 value from its bits, exactly (subnormals included).
double from_half(std::uint16_t bits) {
  const int exponent = (bits >> 10) & 0x1f;
  const double fraction = bits & 0x3ff;
  const double magnitude =
      exponent == 0 ? std::ldexp(fraction, -24) : std::ldexp(1024.0 + fraction, exponent - 25);
  return (bits & 0x8000) != 0 ? -magnitude : magnitude;
}

}  // namespace

// The certificate bounds a float16 copy's error by what half_rows measured of each row in
// float32 (certificate.cpp, copy_relative_error): that bound must cover the copy's true
// relative error, computed here in float64 from the copy's bits, on every kind of row:
// normal values, integers (copied exactly: nothing measured), elements 2^-30 below their
// row's largest (float16 subnormals or zeros), rows below 2^-114 (their scale clamped),
// zero rows, and rows spanning float32's whole range.
TEST(Exactness, Float16CopysMeasuredErrorBoundsItsTrueError) {
  Context& context = shared_context();
  Device device = context.device();
  constexpr std::uint32_t dim = 48;
  std::vector<std::vector<float>> kinds = {vt::normal_data(64, dim, 91), pixel_data(64, dim, 92)};
  kinds.push_back(vt::normal_data(64, dim, 93));
  for (std::size_t i = 0; i < kinds.back().size(); i += 3)
    kinds.back()[i] *= 1e-9f;
  kinds.push_back(vt::normal_data(64, dim, 94));
  for (auto& x : kinds.back())
    x *= 1e-36f;
  kinds.push_back(std::vector<float>(std::size_t{64} * dim, 0.0f));
  kinds.push_back(extreme_scales(64, dim, 95));
  std::vector<float> rows;
  for (const auto& k : kinds)
    rows.insert(rows.end(), k.begin(), k.end());
  const auto n = static_cast<std::uint32_t>(rows.size() / dim);
  const std::uint64_t per_row = std::uint64_t{n} * 4;  // bytes of one float a row
  const auto make = [&](std::uint64_t bytes) {
    Buffer b = context.buffer_factory().make_buffer(
        {.size = bytes, .storage = StorageMode::private_, .label = "copy test"});
    context.residency_manager().register_buffer(b, ResidencyMode::persistent);
    return b;
  };
  Buffer matrix = make(rows.size() * 4), halves = make(rows.size() * 2), scales = make(per_row),
         errors = make(per_row);
  context.residency_manager().commit();
  BufferToken up = context.get_buffer(std::span<const float>(rows));
  BufferToken down = context.get_buffer(rows.size() * 2 + 2 * per_row);
  context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
    e.copy_buffer(up.buffer(), 0, matrix, 0, rows.size() * 4);
    e.barrier({matrix}, Stage::blit, Stage::dispatch);
    detail::encode_half_rows(device, e, matrix, 0, n, dim, {halves, scales, errors});
    e.barrier({halves, scales, errors}, Stage::dispatch, Stage::blit);
    e.copy_buffer(halves, 0, down.buffer(), 0, rows.size() * 2);
    e.copy_buffer(scales, 0, down.buffer(), rows.size() * 2, per_row);
    e.copy_buffer(errors, 0, down.buffer(), rows.size() * 2 + per_row, per_row);
  });
  const auto bits = down.read<std::uint16_t>(rows.size());
  const auto unscale = down.read<float>(n, rows.size() * 2);
  const auto measured = down.read<float>(n, rows.size() * 2 + per_row);
  for (std::uint32_t r = 0; r < n; ++r) {
    double lost = 0.0, squares = 0.0;
    for (std::uint32_t i = 0; i < dim; ++i) {
      const double x = rows[std::size_t{r} * dim + i];
      const double copy = from_half(bits[std::size_t{r} * dim + i]) * unscale[r];
      lost += (x - copy) * (x - copy);
      squares += x * x;
    }
    const double exact = squares > 0.0 ? std::sqrt(lost / squares) : 0.0;
    const double bound = detail::copy_relative_error(measured[r], dim);
    // Where the bound is the worst case of faithful rounding, subnormal losses are bounded
    // apart (certificate.cpp): only a measured bound must cover everything.
    if (bound < 0x1p-10) EXPECT_LE(exact, bound) << "row " << r << " of kind " << r / 64;
    EXPECT_GE(measured[r], 0.0f) << "row " << r;
  }
  // Normal rows round to about 2^-12 of their norm, far below the worst case; integers and
  // zeros are copied exactly.
  for (std::uint32_t r = 0; r < 64; ++r) {
    EXPECT_LT(measured[r], 0x1p-11f) << "normal row " << r;
    EXPECT_GT(measured[r], 0.0f) << "normal row " << r;
    EXPECT_EQ(measured[64 + r], 0.0f) << "integer row " << r;
    EXPECT_EQ(measured[256 + r], 0.0f) << "zero row " << r;
  }
}

// Integer-valued rows (pixels, counts, quantised features stored as float32) are copied to
// float16 exactly: the certificate then bounds a screen over the copy by its float32
// arithmetic alone. Rows that share most of their values have inner products far apart in
// norm but close to each other: the worst case of faithful rounding (2^-10 of |q||x|) is
// wider than their gaps and failed every certificate; the measured (zero) copy error certifies
// every query in the first screen.
TEST(Exactness, IntegerValuedRowsAreCertifiedThroughTheirExactFloat16Copy) {
  constexpr std::size_t dim = 64, nb = 3000, nq = 5, k = 10;
  std::mt19937 rng(97);
  std::uniform_int_distribution<int> level(100, 200), nudge(-3, 3);
  std::vector<float> common(dim);
  for (auto& x : common)
    x = static_cast<float>(level(rng));
  const auto near_common = [&](std::size_t n) {
    std::vector<float> v(n * dim);
    for (std::size_t i = 0; i < v.size(); ++i)
      v[i] = common[i % dim] + static_cast<float>(nudge(rng));
    return v;
  };
  const auto base = near_common(nb);
  const auto queries = near_common(nq);
  // (Cosine values of such rows are within float32's own error of each other: its screens
  // fail whatever the copy.)
  for (const Metric metric : {Metric::inner_product, Metric::l2}) {
    FlatIndex index(shared_context(), dim, metric, ElementType::float32, HalfCopy::always);
    index.add(base);
    const KnnResult r = index.search(queries, k);
    EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, metric), "") << to_string(metric);
    EXPECT_EQ(r.second_pass_queries, 0u) << to_string(metric);
  }
}

// Integer-valued rows keep integer values about an integer centre, so their centred float16
// copies stay exact (docs/exactness.md, "Measured copy errors"); other rows are centred on
// their mean.
TEST(Exactness, IntegerRowsAreCentredOnTheirRoundedMean) {
  constexpr std::size_t dim = 3;
  const std::vector<float> integers = {0, 1, 255, 1, 2, 254, 1, 2, 0};
  const std::vector<float> fractions = {0.5f, 1, 3, 1, 2, 4, 1, 2, 2};
  const auto centre_of = [&](const std::vector<float>& rows) {
    return detail::make_row_centre(shared_context(), dim, rows.size() / dim,
                                   [&](std::size_t r) {
                                     const auto row = std::span(rows).subspan(r * dim, dim);
                                     return std::vector<float>(row.begin(), row.end());
                                   })
        ->values;
  };
  EXPECT_EQ(centre_of(integers), (std::vector<float>{1.0f, 2.0f, 170.0f}));
  EXPECT_EQ(centre_of(fractions), (std::vector<float>{2.5f / 3.0f, 5.0f / 3.0f, 3.0f}));
}

namespace {

/// keys.glsl's order_key: unsigned order is the selection order (largest: inverted).
std::uint32_t order_key(float v, bool largest) {
  const auto bits = std::bit_cast<std::uint32_t>(v);
  const std::uint32_t ordered = (bits & 0x80000000u) != 0 ? ~bits : (bits | 0x80000000u);
  return largest ? ~ordered : ordered;
}

/// Rows built so that a streaming selection works hardest: each row better than every row
/// before it (every value enters, the rooms fill every block), identical rows (ties settled
/// by label alone), and normal rows.
std::vector<float> stream_rows(std::size_t n, std::size_t dim, int kind) {
  if (kind == 2) return vt::normal_data(n, dim, 77);
  std::vector<float> rows(n * dim, 0.0f);
  for (std::size_t r = 0; r < n; ++r)
    rows[r * dim] = kind == 0 ? static_cast<float>(n - r) : 1.0f;
  return rows;
}

}  // namespace

// The streaming screen (knn_stream.glsl) keeps each split's k best of exactly the values the
// streaming distance kernel writes (one source for both: stream_rows.glsl), with ties broken
// by label, denied rows left out and nothing worse than a query's bound kept — on rows that
// make every value enter, on ties, and on normal rows.
TEST(Exactness, StreamingScreenKeepsEachSplitsBestOfTheStreamedDistances) {
  Context& context = shared_context();
  Device device = context.device();
  constexpr std::uint32_t dim = 32, n = 5000;
  if (!detail::stream_shape(device.capabilities(), 1, dim)) {
    GTEST_SKIP() << "the streaming screen runs on CPU drivers only";
  }
  for (int kind = 0; kind < 3; ++kind) {
    const auto base = stream_rows(n, dim, kind);
    for (const std::uint32_t nq : {1u, 3u, 8u, 12u}) {
      const auto shape = detail::stream_shape(device.capabilities(), nq, dim);
      ASSERT_TRUE(shape.has_value());
      const std::uint32_t split = 2 * shape->block_rows;
      const std::uint32_t splits = (n + split - 1) / split;
      auto queries = vt::normal_data(nq, dim, 78);
      if (kind == 0) std::fill(queries.begin(), queries.end(), 0.0f);
      for (const Metric metric : {Metric::l2, Metric::inner_product}) {
        const bool largest = metric == Metric::inner_product;
        BufferToken q = context.get_buffer(std::span<const float>(queries));
        BufferToken b = context.get_buffer(std::span<const float>(base));
        BufferToken qn = context.get_buffer(std::uint64_t{nq} * 4);
        BufferToken bn = context.get_buffer(std::uint64_t{n} * 4);
        BufferToken distances = context.get_buffer(std::uint64_t{nq} * n * 4);
        context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
          detail::encode_row_norms(device, e, q.buffer(), 0, nq, dim, qn.buffer(), 0);
          detail::encode_row_norms(device, e, b.buffer(), 0, n, dim, bn.buffer(), 0);
          e.barrier({qn.buffer(), bn.buffer()}, Stage::dispatch, Stage::dispatch);
          detail::encode_distances(device, e,
                                   {.queries = q.buffer(),
                                    .base = b.buffer(),
                                    .query_norms = qn.buffer(),
                                    .base_norms = bn.buffer(),
                                    .out = distances.buffer(),
                                    .num_queries = nq,
                                    .num_base = n,
                                    .dim = dim,
                                    .out_stride = n,
                                    .metric = metric});
        });
        const auto values = distances.read<float>(std::size_t{nq} * n);
        for (const std::uint32_t k : {1u, 7u, 16u}) {
          for (const bool masked : {false, true}) {
            for (const bool bounded : {false, true}) {
              // Each query's row: its bound (the median value), then k slots a split.
              const std::uint32_t stride = 1 + splits * k;
              std::vector<float> slots(std::size_t{nq} * stride, 0.0f);
              std::vector<std::uint32_t> bound_keys(nq, 0xffffffffu);
              for (std::uint32_t m = 0; m < nq; ++m) {
                const auto first = values.begin() + static_cast<std::ptrdiff_t>(m) * n;
                std::vector<float> row(first, first + n);
                std::nth_element(row.begin(), row.begin() + n / 2, row.end());
                slots[std::size_t{m} * stride] = row[n / 2];
                if (bounded) bound_keys[m] = order_key(row[n / 2], largest);
              }
              std::vector<std::uint32_t> allowed((n + 31) / 32, 0xffffffffu);
              if (masked) {
                for (std::uint32_t r = 0; r < n; ++r)
                  if (r % 3 != 1) allowed[r / 32] &= ~(1u << (r % 32));
              }
              BufferToken out = context.get_buffer(std::span<const float>(slots));
              BufferToken labels = context.get_buffer(std::uint64_t{nq} * stride * 4);
              BufferToken bits = context.get_buffer(std::span<const std::uint32_t>(allowed));
              context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
                detail::encode_knn_stream(device, e,
                                          {.distances = {.queries = q.buffer(),
                                                         .base = b.buffer(),
                                                         .query_norms = qn.buffer(),
                                                         .base_norms = bn.buffer(),
                                                         .num_queries = nq,
                                                         .num_base = n,
                                                         .dim = dim,
                                                         .metric = metric},
                                           .split_length = split,
                                           .k = k,
                                           .largest = largest,
                                           .out_values = out.buffer(),
                                           .out_labels = labels.buffer(),
                                           .out_stride = stride,
                                           .out_offset = 1,
                                           .bound = bounded ? out.buffer() : Buffer{},
                                           .bound_stride = stride,
                                           .allowed = masked ? bits.buffer() : Buffer{}});
              });
              const auto got_values = out.read<float>(std::size_t{nq} * stride);
              const auto got_labels = labels.read<std::int32_t>(std::size_t{nq} * stride);
              const std::string what = "kind " + std::to_string(kind) + " queries " +
                                       std::to_string(nq) + " " + std::string(to_string(metric)) +
                                       " k " + std::to_string(k) + (masked ? " masked" : "") +
                                       (bounded ? " bounded" : "");
              for (std::uint32_t m = 0; m < nq; ++m) {
                for (std::uint32_t s = 0; s < splits; ++s) {
                  std::vector<std::pair<std::uint32_t, std::int32_t>> kept;
                  for (std::uint32_t r = s * split; r < std::min(n, (s + 1) * split); ++r) {
                    const std::uint32_t key = order_key(values[m * n + r], largest);
                    const bool allow = !masked || (allowed[r / 32] >> (r % 32) & 1u) != 0;
                    if (allow && key <= bound_keys[m]) kept.emplace_back(key, r);
                  }
                  std::sort(kept.begin(), kept.end());
                  for (std::uint32_t i = 0; i < k; ++i) {
                    const std::size_t slot = m * stride + 1 + s * k + i;
                    const std::int32_t label = i < kept.size() ? kept[i].second : -1;
                    ASSERT_EQ(got_labels[slot], label)
                        << what << " query " << m << " split " << s << " rank " << i;
                    if (label >= 0) {
                      ASSERT_EQ(got_values[slot], values[m * n + label]) << what;
                    } else {
                      ASSERT_TRUE(std::isinf(got_values[slot])) << what << ": padding";
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

namespace {

/// A row's float32 squared norm in strand order (shaders/strands.glsl): 32 chains of
/// multiply-adds over the elements of each residue mod 32, added in order. GLSL's fma may run
/// fused (NVIDIA) or as a multiply and an add (lavapipe): `fused` picks which.
std::uint32_t strand_norm_bits(std::span<const float> row, bool fused) {
  std::array<float, 32> strand{};
  for (std::size_t i = 0; i < row.size(); ++i) {
    float& s = strand[i % 32];
    if (fused) {
      s = std::fma(row[i], row[i], s);
    } else {
      const float square = row[i] * row[i];
      s += square;
    }
  }
  float sum = 0.0f;
  for (const float s : strand)
    sum += s;
  return std::bit_cast<std::uint32_t>(sum);
}

}  // namespace

// The row kernels take a subgroup a row or (CPU drivers, many rows) a thread a row
// (kernels.cpp RowSpread): both sum in strand order, so a row's norm, centred norm, float16
// copy, scale and measured error are the same bits whichever took it, and the norms are the
// host's strand-order sums.
TEST(Exactness, RowKernelsGiveARowTheSameBitsWhetherASubgroupOrAThreadTakesIt) {
  Context& context = shared_context();
  Device device = context.device();
  constexpr std::uint32_t dim = 200, many = 9000, few = 40;
  auto rows = vt::normal_data(many, dim, 81);
  for (std::size_t i = 0; i < rows.size(); i += 7)
    rows[i] *= 1e3f;  // a spread of magnitudes: rounding that depends on the order shows
  const std::vector<float> centre_values(dim, 0.25f);
  BufferToken matrix = context.get_buffer(std::span<const float>(rows));
  BufferToken centre = context.get_buffer(std::span<const float>(centre_values));
  struct Out {
    BufferToken norms, halves, scales, errors, centred_norms;
  };
  const auto outputs = [&](std::uint64_t n) {
    return Out{context.get_buffer(n * 4), context.get_buffer(n * dim * 2),
               context.get_buffer(n * 4), context.get_buffer(n * 4), context.get_buffer(n * 4)};
  };
  Out all = outputs(many), some = outputs(few);
  context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
    for (auto [out, n] : {std::pair{&all, many}, std::pair{&some, few}}) {
      detail::encode_row_norms(device, e, matrix.buffer(), 0, n, dim, out->norms.buffer(), 0);
      detail::encode_half_rows(device, e, matrix.buffer(), 0, n, dim,
                               {out->halves.buffer(), out->scales.buffer(), out->errors.buffer()},
                               {centre.buffer(), out->centred_norms.buffer()});
    }
  });
  const auto words = [](BufferToken& t, std::size_t n) { return t.read<std::uint32_t>(n); };
  const auto first_few = [&](BufferToken& t, std::size_t n) {
    auto v = words(t, n);
    v.resize(few * (n / many));
    return v;
  };
  EXPECT_EQ(words(some.norms, few), first_few(all.norms, many));
  EXPECT_EQ(words(some.centred_norms, few), first_few(all.centred_norms, many));
  EXPECT_EQ(words(some.scales, few), first_few(all.scales, many));
  EXPECT_EQ(words(some.errors, few), first_few(all.errors, many));
  EXPECT_EQ(words(some.halves, std::size_t{few} * dim / 2),
            first_few(all.halves, std::size_t{many} * dim / 2));
  // The device's norms are the host's strand-order sums, with its fma fused or split.
  const auto device_norms = words(some.norms, few);
  const auto device_centred_norms = words(some.centred_norms, few);
  std::array<int, 2> matches{};  // rows (plain and centred) whose norms match, split / fused
  for (std::uint32_t r = 0; r < few; ++r) {
    const std::span<const float> row(rows.data() + std::size_t{r} * dim, dim);
    std::vector<float> centred(dim);
    for (std::uint32_t i = 0; i < dim; ++i)
      centred[i] = row[i] - centre_values[i];
    for (const bool fused : {false, true}) {
      matches[fused] +=
          static_cast<int>(device_norms[r] == strand_norm_bits(row, fused)) +
          static_cast<int>(device_centred_norms[r] == strand_norm_bits(centred, fused));
    }
  }
  EXPECT_TRUE(matches[0] == 2 * few || matches[1] == 2 * few)
      << "of " << 2 * few << " norms, " << matches[0] << " match the host's strand order with "
      << "split multiply-adds and " << matches[1] << " with fused ones";
}

TEST(Exactness, RerankGivesTheHostsFloat64BitsWhicheverWayItTakesItsSlots) {
  Context& context = shared_context();
  Device device = context.device();
  constexpr std::uint32_t nq = 3, n = 500, label_begin = 50, chunk_rows = 400;
  constexpr std::uint32_t slots = 150, stride = 160;  // a partial block of staged slots
  std::mt19937 rng(91);
  std::uniform_int_distribution<std::int32_t> any_label(0, 599);  // some in other chunks
  std::vector<std::int32_t> labels(std::size_t{nq} * stride, 0);
  for (auto& label : labels)
    label = any_label(rng);
  for (const std::uint32_t dim : {3u, 37u, 200u}) {
    auto queries = vt::normal_data(nq, dim, 92);
    auto base = vt::normal_data(n, dim, 93);
    for (std::size_t i = 0; i < base.size(); i += 5)
      base[i] *= 1e3f;  // rounding that depends on the order shows
    for (std::size_t i = 3; i < base.size(); i += 11)
      base[i] = std::ldexp(base[i], -140);  // subnormal elements
    BufferToken q = context.get_buffer(std::span<const float>(queries));
    // The chunk: rows label_begin .. label_begin + chunk_rows of the base.
    BufferToken chunk = context.get_buffer(std::span<const float>(base).subspan(
        std::size_t{label_begin} * dim, std::size_t{chunk_rows} * dim));
    BufferToken l = context.get_buffer(std::span<const std::int32_t>(labels));
    for (const Metric metric :
         {Metric::l2, Metric::inner_product, Metric::cosine, Metric::l1, Metric::linf}) {
      for (const bool direct : {false, true}) {
        const std::uint32_t count = direct ? chunk_rows : slots;
        const std::uint32_t row_stride = direct ? chunk_rows : stride;
        const std::vector<double> untouched(std::size_t{nq} * row_stride, -7.0);
        std::vector<double> expected = untouched;
        for (std::uint32_t m = 0; m < nq; ++m) {
          for (std::uint32_t j = 0; j < count; ++j) {
            const std::int64_t label =
                direct ? std::int64_t{label_begin} + j : labels[std::size_t{m} * stride + j];
            if (label < label_begin || label >= label_begin + chunk_rows) continue;
            expected[std::size_t{m} * row_stride + j] = detail::direct_distance(
                std::span<const float>(queries).subspan(std::size_t{m} * dim, dim),
                std::span<const float>(base).subspan(static_cast<std::size_t>(label) * dim, dim),
                metric);
          }
        }
        for (const auto mode : {detail::RerankSlots::thread, detail::RerankSlots::subgroup,
                                detail::RerankSlots::staged}) {
          BufferToken exact = context.get_buffer(std::span<const double>(untouched));
          context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
            detail::encode_rerank(device, e,
                                  {.queries = q.buffer(),
                                   .base = chunk.buffer(),
                                   .labels = l.buffer(),
                                   .exact = exact.buffer(),
                                   .num_queries = nq,
                                   .slots = count,
                                   .dim = dim,
                                   .label_begin = label_begin,
                                   .chunk_rows = chunk_rows,
                                   .stride = row_stride,
                                   .direct = direct,
                                   .metric = metric,
                                   .slots_by = mode});
          });
          const auto got = exact.read<double>(expected.size());
          std::size_t differ = 0, first = 0;
          for (std::size_t i = expected.size(); i-- > 0;) {
            if (std::bit_cast<std::uint64_t>(got[i]) == std::bit_cast<std::uint64_t>(expected[i]))
              continue;
            ++differ;
            first = i;
          }
          EXPECT_EQ(differ, 0u) << "slots of dim " << dim << ", metric " << to_string(metric)
                                << (direct ? ", direct" : ", candidates") << ", mode "
                                << static_cast<int>(mode) << " differ, the first " << first << ": "
                                << std::setprecision(17) << got[first] << " against "
                                << expected[first];
        }
      }
    }
  }
}
