#include "vecaccel/flat_index.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ops/flat_index_file.hpp"
#include "ops/knn_engine.hpp"
#include "support/reference.hpp"
#include "support/temp_dir.hpp"
#include "vecaccel/vecaccel.hpp"

namespace vecaccel {
namespace {

namespace fs = std::filesystem;
namespace vt = vecaccel::testing;

constexpr Metric kMetrics[] = {Metric::l2, Metric::inner_product, Metric::cosine};

float worst(Metric metric) {
  return smaller_is_better(metric) ? std::numeric_limits<float>::infinity()
                                   : -std::numeric_limits<float>::infinity();
}

double norm(std::span<const float> v) {
  double sum = 0;
  for (const float x : v)
    sum += static_cast<double>(x) * x;
  return std::sqrt(sum);
}

/// An upper bound of |metric| for this query against any base row: the scale that float32
/// rounding errors are relative to (l2 via ||q||^2 + ||b||^2 - 2 q.b loses digits against it).
double value_scale(std::span<const float> query, double max_base_norm, Metric metric) {
  const double q = norm(query);
  switch (metric) {
    case Metric::l2:
      return (q + max_base_norm) * (q + max_base_norm);
    case Metric::inner_product:
      return q * max_base_norm;
    case Metric::cosine:
      return 1.0;
    case Metric::l1:
    case Metric::linf:  // not searched here (test_l1_linf.cpp)
      return 1.0;
  }
  return 1.0;
}

/// Checks an index's search result against the float64 reference. `ids` maps base rows to
/// the ids the index was given (empty: ids are row numbers). Returns "" or the first problem.
/// Exact: per position j the row is the float64 brute force's j-th (ties by row) and the value
/// its float64 value (within tolerance); labels are unique; padding where the base has fewer
/// than k rows.
std::string check_against_reference(const KnnResult& result, const std::vector<float>& queries,
                                    const std::vector<float>& base, std::size_t dim, std::size_t k,
                                    Metric metric, const std::vector<std::int64_t>& ids = {}) {
  const std::size_t nq = queries.size() / dim;
  const std::size_t nb = base.size() / dim;
  if (result.rows != nq || result.k != k || result.labels.size() != nq * k ||
      result.distances.size() != nq * k) {
    return "result is not " + std::to_string(nq) + " x " + std::to_string(k);
  }
  std::unordered_map<std::int64_t, std::size_t> row_of;
  for (std::size_t r = 0; r < ids.size(); ++r)
    row_of[ids[r]] = r;
  double max_base_norm = 0;
  for (std::size_t b = 0; b < nb; ++b)
    max_base_norm = std::max(max_base_norm, norm(std::span(base).subspan(b * dim, dim)));
  const vt::ExactKnn exact = vt::exact_knn(queries, base, dim, k, metric);

  for (std::size_t q = 0; q < nq; ++q) {
    const auto query = std::span(queries).subspan(q * dim, dim);
    const double scale = value_scale(query, max_base_norm, metric);
    const auto at = [&](std::size_t j) {
      return "query " + std::to_string(q) + " position " + std::to_string(j) + ": ";
    };
    std::set<std::int64_t> seen;
    for (std::size_t j = 0; j < k; ++j) {
      const std::int64_t label = result.labels[q * k + j];
      const float value = result.distances[q * k + j];
      if (j >= nb) {
        if (label != -1 || value != worst(metric)) {
          return at(j) + "expected padding, got label " + std::to_string(label) + " value " +
                 std::to_string(value);
        }
        continue;
      }
      std::int64_t row = label;
      if (!ids.empty()) {
        const auto it = row_of.find(label);
        row = it == row_of.end() ? -1 : static_cast<std::int64_t>(it->second);
      }
      if (row < 0 || static_cast<std::size_t>(row) >= nb) {
        return at(j) + "label " + std::to_string(label) + " is not an added id";
      }
      if (!seen.insert(label).second) return at(j) + "duplicate label " + std::to_string(label);
      if (row != exact.labels[q * k + j]) {
        return at(j) + "row " + std::to_string(row) + " where the float64 brute force has row " +
               std::to_string(exact.labels[q * k + j]);
      }
      const double truth = vt::reference_metric(
          query.data(), &base[static_cast<std::size_t>(row) * dim], dim, metric);
      const double best_j = exact.distances[q * k + j];
      const double tolerance = 1e-4 * std::abs(best_j) + 1e-5 * scale;
      if (std::abs(value - truth) > tolerance) {
        return at(j) + "value " + std::to_string(value) + " but label " + std::to_string(label) +
               " is at " + std::to_string(truth);
      }
      if (std::abs(value - best_j) > tolerance) {
        return at(j) + "value " + std::to_string(value) + " but the exact " +
               std::to_string(j + 1) + "-th best is " + std::to_string(best_j);
      }
      if (j > 0) {
        const float before = result.distances[q * k + j - 1];
        if (smaller_is_better(metric) ? before > value : before < value) {
          return at(j) + "not sorted";
        }
      }
    }
  }
  return "";
}

// One context per test process (gtest_discover_tests runs each test in its own process).
class FlatIndexTest : public vt::TempDirTest {
 protected:
  static void SetUpTestSuite() { context_ = new Context(); }
  static void TearDownTestSuite() {
    delete context_;
    context_ = nullptr;
  }

  static Context& context() { return *context_; }

  static Context* context_;
};
Context* FlatIndexTest::context_ = nullptr;

std::vector<char> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void expect_io_error(Context& context, const fs::path& file, const std::string& fragment) {
  try {
    (void)FlatIndex::load(context, file);
    ADD_FAILURE() << "load of " << file << " succeeded; expected io_error (" << fragment << ")";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::io_error) << e.what();
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

void expect_invalid_argument(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected invalid_argument mentioning '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

void expect_identical(const KnnResult& a, const KnnResult& b) {
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.k, b.k);
  EXPECT_EQ(a.labels, b.labels);
  ASSERT_EQ(a.distances.size(), b.distances.size());
  for (std::size_t i = 0; i < a.distances.size(); ++i) {
    // Bitwise: a round trip or a different growth history must not change one ulp.
    ASSERT_EQ(std::bit_cast<std::uint32_t>(a.distances[i]),
              std::bit_cast<std::uint32_t>(b.distances[i]))
        << "at " << i << ": " << a.distances[i] << " vs " << b.distances[i];
  }
}

// ---- Search against the float64 reference ---------------------------------------------------

class FlatIndexReference
    : public FlatIndexTest,
      public ::testing::WithParamInterface<std::tuple<Metric, bool /* clustered */>> {};

TEST_P(FlatIndexReference, MatchesFloat64ReferenceForEveryDimensionAndK) {
  const auto [metric, clustered] = GetParam();
  constexpr std::size_t nb = 1537;  // not a multiple of any tile or segment
  constexpr std::size_t nq = 23;
  constexpr std::size_t ks[] = {1, 10, 100};
  for (const std::size_t dim : {1, 3, 37, 128}) {
    SCOPED_TRACE("dim " + std::to_string(dim));
    const auto seed = static_cast<std::uint32_t>(dim * 131 + (clustered ? 7 : 0));
    const auto base =
        clustered ? vt::clustered_data(nb, dim, 16, seed) : vt::normal_data(nb, dim, seed);
    const auto queries =
        clustered ? vt::clustered_data(nq, dim, 16, seed + 1) : vt::normal_data(nq, dim, seed + 1);
    FlatIndex index(context(), dim, metric);
    index.add(base);
    ASSERT_EQ(index.size(), nb);
    for (const std::size_t k : ks) {
      SCOPED_TRACE("k " + std::to_string(k));
      EXPECT_EQ(check_against_reference(index.search(queries, k), queries, base, dim, k, metric),
                "");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Data, FlatIndexReference,
                         ::testing::Combine(::testing::ValuesIn(kMetrics), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(to_string(std::get<0>(info.param))) +
                                  (std::get<1>(info.param) ? "_clustered" : "_normal");
                         });

// ---- Ids -------------------------------------------------------------------------------------

// Each search in flight needs its own working memory (eleven buffers). It lives in a
// residency set of its own, used by the search's command buffers: found by bench/soak, where
// eight threads' searches filled the context's set and failed with residency_set_full.
TEST(FlatIndexResidency, ConcurrentSearchesDoNotFillTheContextsResidencySet) {
  constexpr std::size_t dim = 16, nb = 3000, nq = 40, k = 5, threads = 6;
  Context context({.residency_set_capacity = 24});
  const auto base = vt::normal_data(nb, dim, 21);
  FlatIndex index(context, dim, Metric::l2);
  index.add(base);
  std::vector<std::string> failures(threads);
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        for (int round = 0; round < 3; ++round) {
          const auto queries = vt::normal_data(nq, dim, 100 + t * 10 + round);
          const KnnResult r = index.search(queries, k);
          const std::string wrong = vt::check_knn(r, queries, base, dim, k, Metric::l2);
          if (!wrong.empty()) failures[t] = wrong;
        }
      } catch (const Error& e) {
        failures[t] = e.what();
      }
    });
  }
  for (auto& w : workers)
    w.join();
  for (std::size_t t = 0; t < threads; ++t)
    EXPECT_EQ(failures[t], "") << "thread " << t;
  EXPECT_LE(context.residency_manager().statistics().total_buffers, 24u);
}

TEST_F(FlatIndexTest, AddWithIdsLabelsResultsWithTheCallersIds) {
  constexpr std::size_t dim = 16, nb = 700, nq = 9, k = 10;
  const auto base = vt::normal_data(nb, dim, 11);
  const auto queries = vt::normal_data(nq, dim, 12);
  std::vector<std::int64_t> ids(nb);
  for (std::size_t r = 0; r < nb; ++r)  // beyond 32 bits, up to the int64 limit, unordered
    ids[r] =
        (r % 2 == 0 ? std::numeric_limits<std::int64_t>::max() - 2 * static_cast<std::int64_t>(r)
                    : (std::int64_t{1} << 40) + static_cast<std::int64_t>(nb - r));
  FlatIndex index(context(), dim, Metric::l2);
  index.add_with_ids(base, ids);
  const KnnResult result = index.search(queries, k);
  EXPECT_EQ(check_against_reference(result, queries, base, dim, k, Metric::l2, ids), "");

  FlatIndex plain(context(), dim, Metric::l2);
  plain.add(base);
  const KnnResult rows = plain.search(queries, k);
  for (std::size_t i = 0; i < rows.labels.size(); ++i)
    EXPECT_EQ(result.labels[i], ids[static_cast<std::size_t>(rows.labels[i])]);
  EXPECT_EQ(result.distances, rows.distances);
}

TEST_F(FlatIndexTest, AddNumbersRowsByPositionAlsoAfterAddWithIds) {
  constexpr std::size_t dim = 8;
  const auto a = vt::normal_data(50, dim, 21);
  const auto b = vt::normal_data(50, dim, 22);
  const auto c = vt::normal_data(50, dim, 23);
  FlatIndex index(context(), dim, Metric::l2);
  index.add(a);
  std::vector<std::int64_t> b_ids(50);
  for (std::size_t i = 0; i < 50; ++i)
    b_ids[i] = 1'000'000'000'000 + static_cast<std::int64_t>(i);
  index.add_with_ids(b, b_ids);
  index.add(c);
  ASSERT_EQ(index.size(), 150u);
  // Each stored vector queried with itself finds itself (distance 0) under its id.
  const auto expect_self = [&](const std::vector<float>& set, std::size_t row, std::int64_t id) {
    const auto q = std::vector<float>(set.begin() + static_cast<std::ptrdiff_t>(row * dim),
                                      set.begin() + static_cast<std::ptrdiff_t>((row + 1) * dim));
    const KnnResult r = index.search(q, 1);
    EXPECT_EQ(r.labels[0], id) << "row " << row;
    EXPECT_NEAR(r.distances[0], 0.0f, 1e-4f);
  };
  expect_self(a, 7, 7);
  expect_self(b, 3, 1'000'000'000'003);
  expect_self(c, 0, 100);  // add() continues at the current size
  expect_self(c, 49, 149);
}

TEST_F(FlatIndexTest, DeviceBytesCountTheRowsNormsAndHalfCopyAndByteRowsTakeOneByteEach) {
  constexpr std::size_t dim = 16, rows = 100;
  FlatIndex floats(context(), dim, Metric::l2, ElementType::float32, HalfCopy::never);
  FlatIndex halves(context(), dim, Metric::l2, ElementType::float32, HalfCopy::always);
  FlatIndex bytes(context(), dim, Metric::l2, ElementType::uint8);
  EXPECT_EQ(floats.device_bytes(), 0u);
  floats.add(vt::normal_data(rows, dim, 5));
  halves.add(vt::normal_data(rows, dim, 5));
  bytes.add(std::vector<std::uint8_t>(rows * dim, 7));
  // At least the rows themselves (storage comes in chunks, so possibly more).
  EXPECT_GE(floats.device_bytes(), rows * dim * sizeof(float) + rows * sizeof(float));
  EXPECT_GE(bytes.device_bytes(), rows * dim);
  EXPECT_LT(bytes.device_bytes(), floats.device_bytes());
  EXPECT_GT(halves.device_bytes(), floats.device_bytes());  // the float16 copy beside the rows
  floats.reset();
  EXPECT_EQ(floats.device_bytes(), 0u);
}

TEST_F(FlatIndexTest, AddWithIdsNeedsOneIdPerRow) {
  FlatIndex index(context(), 4, Metric::l2);
  const auto base = vt::normal_data(10, 4, 1);
  const std::vector<std::int64_t> ids(9, 0);
  expect_invalid_argument([&] { index.add_with_ids(base, ids); }, "9 ids for 10 vectors");
  EXPECT_EQ(index.size(), 0u);
}

TEST_F(FlatIndexTest, AddWithIdsRefusesNegativeIdsNamingRowAndIdAndAddsNothing) {
  constexpr std::size_t dim = 4;
  FlatIndex index(context(), dim, Metric::l2);
  const auto base = vt::normal_data(10, dim, 2);
  index.add(base);
  // -1 is the padding label: a row labelled -1 could not be told from "no neighbour".
  for (const std::int64_t bad :
       {std::int64_t{-1}, std::int64_t{-7}, std::numeric_limits<std::int64_t>::min()}) {
    SCOPED_TRACE(bad);
    std::vector<std::int64_t> ids = {100, 101, 102, 103, 104, 105, 106, 107, 108, 109};
    ids[6] = bad;
    expect_invalid_argument([&] { index.add_with_ids(base, ids); },
                            "row 6 has id " + std::to_string(bad));
    EXPECT_EQ(index.size(), 10u);
  }
  // Nothing of a refused call reached the index: searches still find only the first rows.
  const KnnResult result = index.search(std::span(base).first(dim), 10);
  for (const std::int64_t label : result.labels) {
    EXPECT_GE(label, 0);
    EXPECT_LT(label, 10);
  }
  const std::vector<std::int64_t> zero(10, 0);  // 0 is a valid id
  index.add_with_ids(base, zero);
  EXPECT_EQ(index.size(), 20u);
}

// ---- Growth ----------------------------------------------------------------------------------

TEST_F(FlatIndexTest, GrowthOverManyAddsEqualsOneAdd) {
  constexpr std::size_t dim = 37, nb = 3001, nq = 11, k = 25;
  const auto base = vt::clustered_data(nb, dim, 10, 31);
  const auto queries = vt::clustered_data(nq, dim, 10, 32);
  FlatIndex once(context(), dim, Metric::l2);
  once.add(base);
  FlatIndex pieces(context(), dim, Metric::l2);
  // Sizes that force growth within a chunk again and again (1 row, then doublings), and an
  // add larger than the current capacity.
  const std::size_t sizes[] = {1, 2, 5, 100, 255, 1, 1000, 13};
  std::size_t done = 0;
  for (const std::size_t n : sizes) {
    pieces.add(std::span(base).subspan(done * dim, n * dim));
    done += n;
    EXPECT_EQ(pieces.size(), done);
  }
  pieces.add(std::span(base).subspan(done * dim));
  ASSERT_EQ(pieces.size(), nb);
  expect_identical(once.search(queries, k), pieces.search(queries, k));
}

TEST_F(FlatIndexTest, ManyChunksAreSearchedAsOne) {
  // A chunk holds at most chunk_rows() rows; at the largest dimension that is few rows, so
  // three chunks stay cheap. Skipped where the storage range makes chunks too large for a test.
  constexpr std::size_t dim = 16384;
  const std::size_t chunk_rows = detail::KnnEngine(context(), dim, Metric::l2).chunk_rows();
  const std::size_t nb = 2 * chunk_rows + 77;
  if (nb * dim * sizeof(float) > (std::size_t{600} << 20)) {
    GTEST_SKIP() << "chunks of " << chunk_rows << " rows at dimension " << dim
                 << " are too large for a unit test on this device";
  }
  const auto base = vt::normal_data(nb, dim, 41);
  const auto queries = vt::normal_data(3, dim, 42);
  FlatIndex index(context(), dim, Metric::inner_product);
  // Adds that straddle chunk boundaries.
  const std::size_t first = chunk_rows - 10;
  index.add(std::span(base).subspan(0, first * dim));
  index.add(std::span(base).subspan(first * dim, (chunk_rows + 20) * dim));
  index.add(std::span(base).subspan((2 * chunk_rows + 10) * dim));
  ASSERT_EQ(index.size(), nb);
  // The reference check also pins the global row numbering: each label's exact value must
  // match the value reported for it.
  EXPECT_EQ(check_against_reference(index.search(queries, 10), queries, base, dim, 10,
                                    Metric::inner_product),
            "");
}

TEST_F(FlatIndexTest, ReconstructReadsRowsBackAcrossChunksInTheOrderAsked) {
  // Dimension 16384: chunks of few rows (as above), so the rows asked for span three chunks.
  constexpr std::size_t dim = 16384;
  const std::size_t chunk_rows = detail::KnnEngine(context(), dim, Metric::l2).chunk_rows();
  const std::size_t nb = 2 * chunk_rows + 5;
  if (nb * dim * sizeof(float) > (std::size_t{600} << 20)) {
    GTEST_SKIP() << "chunks of " << chunk_rows << " rows at dimension " << dim
                 << " are too large for a unit test on this device";
  }
  const auto base = vt::normal_data(nb, dim, 43);
  FlatIndex index(context(), dim, Metric::l2);
  index.add(std::span(base).subspan(0, 3 * dim));  // a small first chunk, grown later
  index.add(std::span(base).subspan(3 * dim));
  const std::vector<std::size_t> rows = {nb - 1, 0, chunk_rows, 2, chunk_rows - 1, 0};
  const std::vector<float> got = index.reconstruct(rows);
  ASSERT_EQ(got.size(), rows.size() * dim);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_TRUE(std::equal(got.begin() + static_cast<std::ptrdiff_t>(i * dim),
                           got.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim),
                           base.begin() + static_cast<std::ptrdiff_t>(rows[i] * dim)))
        << "row " << rows[i];
  }
  try {
    index.reconstruct(std::vector<std::size_t>{1, nb});
    FAIL() << "a row past the end was read";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("row " + std::to_string(nb)), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(index.reconstruct({}).empty());
}

// ---- Padding and edge cases --------------------------------------------------------------------

TEST_F(FlatIndexTest, EmptyIndexSearchIsAllPadding) {
  for (const Metric metric : kMetrics) {
    FlatIndex index(context(), 5, metric);
    const KnnResult r = index.search(vt::normal_data(3, 5, 1), 4);
    EXPECT_EQ(r.rows, 3u);
    EXPECT_EQ(r.k, 4u);
    EXPECT_EQ(r.labels, std::vector<std::int64_t>(12, -1));
    EXPECT_EQ(r.distances, std::vector<float>(12, worst(metric)));
  }
}

TEST_F(FlatIndexTest, KAboveTheSizePadsAndPaddingKeepsMinusOneWithIds) {
  for (const Metric metric : kMetrics) {
    const auto base = vt::normal_data(7, 6, 51);
    const auto queries = vt::normal_data(4, 6, 52);
    const std::vector<std::int64_t> ids = {70, 71, 72, 73, 74, 75, 76};
    FlatIndex index(context(), 6, metric);
    index.add_with_ids(base, ids);
    EXPECT_EQ(check_against_reference(index.search(queries, 10), queries, base, 6, 10, metric, ids),
              "");
  }
}

TEST_F(FlatIndexTest, AnyKPadsPastTheRowsAndKZeroOrBeyond32BitsIsRejected) {
  const auto base = vt::normal_data(100, 4, 61);
  const auto queries = vt::normal_data(2, 4, 62);
  FlatIndex index(context(), 4, Metric::l2);
  index.add(base);
  for (const std::size_t k : {std::size_t{2048}, std::size_t{2049}, std::size_t{50'000}}) {
    EXPECT_EQ(check_against_reference(index.search(queries, k), queries, base, 4, k, Metric::l2),
              "")
        << "k " << k;
  }
  expect_invalid_argument([&] { (void)index.search(queries, 0); }, "k = 0");
  expect_invalid_argument([&] { (void)index.search(queries, std::size_t{1} << 31); },
                          "k = 2147483648");
  FlatIndex empty(context(), 4, Metric::l2);  // checked before looking at the data
  expect_invalid_argument([&] { (void)empty.search(queries, 0); }, "k = 0");
}

TEST_F(FlatIndexTest, NonFiniteRowsAreNamedWithTheirGlobalRowNumber) {
  FlatIndex index(context(), 3, Metric::l2);
  index.add(vt::normal_data(10, 3, 71));
  for (const float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
        -std::numeric_limits<float>::infinity()}) {
    auto more = vt::normal_data(5, 3, 72);
    more[3 * 3 + 1] = bad;  // row 3 of this add, row 13 of the index
    expect_invalid_argument([&] { index.add(more); }, "row 13");
    const std::vector<std::int64_t> ids(5, 9);
    expect_invalid_argument([&] { index.add_with_ids(more, ids); }, "row 13");
    EXPECT_EQ(index.size(), 10u) << "a rejected add changed the index";
    auto queries = vt::normal_data(4, 3, 73);
    queries[std::size_t{2} * 3] = bad;
    expect_invalid_argument([&] { (void)index.search(queries, 2); }, "row 2");
    FlatIndex empty(context(), 3, Metric::l2);
    expect_invalid_argument([&] { (void)empty.search(queries, 2); }, "row 2");
  }
  // The index still works and numbers the next rows after the 10 it holds.
  index.add(vt::normal_data(1, 3, 74));
  EXPECT_EQ(index.size(), 11u);
}

TEST_F(FlatIndexTest, DimensionMismatchAndBadDimensionsAreRejected) {
  FlatIndex index(context(), 3, Metric::cosine);
  expect_invalid_argument([&] { index.add(std::vector<float>(10, 1.0f)); }, "dimension 3");
  expect_invalid_argument([&] { (void)index.search(std::vector<float>(7, 1.0f), 1); },
                          "dimension 3");
  EXPECT_EQ(index.size(), 0u);
  expect_invalid_argument([&] { FlatIndex(context(), 0, Metric::l2); }, "dimension 0");
  expect_invalid_argument([&] { FlatIndex(context(), FlatIndex::max_dim + 1, Metric::l2); },
                          std::to_string(FlatIndex::max_dim + 1));
  // Empty inputs are no-ops / empty results, not errors.
  index.add({});
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.search({}, 3).rows, 0u);
}

TEST_F(FlatIndexTest, ResetEmptiesAndAddStartsNumberingAgain) {
  FlatIndex index(context(), 4, Metric::l2);
  const auto base = vt::normal_data(30, 4, 81);
  index.add(base);
  index.reset();
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.search(std::vector<float>(4, 0.5f), 2).labels, std::vector<std::int64_t>(2, -1));
  index.add(std::span(base).subspan(0, 8));
  const KnnResult r = index.search(std::span(base).subspan(4, 4), 1);
  EXPECT_EQ(r.labels[0], 1);
  EXPECT_EQ(index.dim(), 4u);
  EXPECT_EQ(index.metric(), Metric::l2);
}

TEST_F(FlatIndexTest, MovedIndexKeepsItsData) {
  FlatIndex index(context(), 4, Metric::l2);
  const auto base = vt::normal_data(20, 4, 91);
  index.add(base);
  FlatIndex moved = std::move(index);
  EXPECT_EQ(moved.size(), 20u);
  EXPECT_EQ(moved.search(std::span(base).subspan(std::size_t{12} * 4, 4), 1).labels[0], 12);
}

// ---- Save and load -------------------------------------------------------------------------

TEST_F(FlatIndexTest, SaveLoadRoundTripIsExact) {
  for (const Metric metric : kMetrics) {
    SCOPED_TRACE(std::string(to_string(metric)));
    constexpr std::size_t dim = 37;
    const auto base = vt::normal_data(1200, dim, 101);
    const auto queries = vt::normal_data(13, dim, 102);
    FlatIndex index(context(), dim, metric);
    index.add(std::span(base).subspan(0, 500 * dim));
    std::vector<std::int64_t> ids(700);
    for (std::size_t i = 0; i < ids.size(); ++i)
      ids[i] = 5'000'000'000 + static_cast<std::int64_t>(i);  // beyond 32 bits
    index.add_with_ids(std::span(base).subspan(500 * dim), ids);
    const fs::path file = path("index.vfi");
    index.save(file);
    EXPECT_EQ(entries(), std::vector<std::string>{"index.vfi"}) << "temporary file left behind";
    EXPECT_EQ(fs::file_size(file), 48 + 1200 * 8 + 1200 * dim * 4 + 8);

    FlatIndex loaded = FlatIndex::load(context(), file);
    EXPECT_EQ(loaded.size(), index.size());
    EXPECT_EQ(loaded.dim(), dim);
    EXPECT_EQ(loaded.metric(), metric);
    expect_identical(index.search(queries, 20), loaded.search(queries, 20));
    // The loaded index goes on numbering rows where the saved one stopped. (Under the inner
    // product a vector need not be its own best match, so only l2 and cosine check this.)
    loaded.add(std::span(base).subspan(0, dim));
    if (metric == Metric::inner_product) continue;
    EXPECT_EQ(loaded.search(std::span(base).subspan(0, dim), 2).labels,
              (std::vector<std::int64_t>{0, 1200}));
  }
}

TEST_F(FlatIndexTest, SaveReadsLargeChunksBackInSeveralSlices) {
  // save() downloads through a 16 MiB staging buffer: 36,000 x 128 floats (18 MB) need two.
  constexpr std::size_t dim = 128, nb = 36'000;
  const auto base = vt::normal_data(nb, dim, 161);
  const auto queries = vt::normal_data(4, dim, 162);
  FlatIndex index(context(), dim, Metric::l2);
  index.add(base);
  index.save(path("big.vfi"));
  FlatIndex loaded = FlatIndex::load(context(), path("big.vfi"));
  expect_identical(index.search(queries, 5), loaded.search(queries, 5));
  // Rows from both slices come back as they went in: each finds itself at distance 0.
  for (const std::size_t row : {std::size_t{0}, std::size_t{20'000}, nb - 1}) {
    const KnnResult r = loaded.search(std::span(base).subspan(row * dim, dim), 1);
    EXPECT_EQ(r.labels[0], static_cast<std::int64_t>(row));
    EXPECT_EQ(r.distances[0], 0.0f) << "row " << row;
  }
}

TEST_F(FlatIndexTest, EmptyIndexRoundTrips) {
  FlatIndex index(context(), 9, Metric::cosine);
  index.save(path("empty.vfi"));
  FlatIndex loaded = FlatIndex::load(context(), path("empty.vfi"));
  EXPECT_EQ(loaded.size(), 0u);
  EXPECT_EQ(loaded.dim(), 9u);
  EXPECT_EQ(loaded.metric(), Metric::cosine);
}

TEST_F(FlatIndexTest, SaveOverwritesAtomicallyAndFailsCleanly) {
  FlatIndex index(context(), 4, Metric::l2);
  index.add(vt::normal_data(10, 4, 111));
  index.save(path("a.vfi"));
  index.add(vt::normal_data(5, 4, 112));
  index.save(path("a.vfi"));  // replaces the old file
  EXPECT_EQ(FlatIndex::load(context(), path("a.vfi")).size(), 15u);
  EXPECT_EQ(entries(), std::vector<std::string>{"a.vfi"});
  try {
    index.save(path("missing-dir") / "b.vfi");
    ADD_FAILURE() << "save into a missing directory succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::io_error);
    EXPECT_NE(std::string(e.what()).find("b.vfi"), std::string::npos) << e.what();
  }
  EXPECT_EQ(entries(), std::vector<std::string>{"a.vfi"});
}

class FlatIndexFileDamage : public FlatIndexTest {
 protected:
  void SetUp() override {
    FlatIndexTest::SetUp();
    FlatIndex index(context(), 5, Metric::inner_product);
    index.add(vt::normal_data(40, 5, 121));
    index.save(path("good.vfi"));
    good_ = read_file(path("good.vfi"));
    ASSERT_EQ(good_.size(), 48u + 40 * 8 + 40 * 5 * 4 + 8);
  }
  std::vector<char> good_;
};

TEST_F(FlatIndexFileDamage, MissingFileIsIoError) {
  expect_io_error(context(), path("nope.vfi"), "cannot open");
}

TEST_F(FlatIndexFileDamage, EveryTruncationIsIoError) {
  for (const std::size_t size :
       {std::size_t{0}, std::size_t{7}, std::size_t{31}, std::size_t{39}, std::size_t{40},
        std::size_t{47}, std::size_t{55}, std::size_t{48 + 40 * 8}, good_.size() / 2,
        good_.size() - 8, good_.size() - 1}) {
    SCOPED_TRACE("size " + std::to_string(size));
    write_file(path("cut.vfi"),
               std::vector<char>(good_.begin(), good_.begin() + static_cast<std::ptrdiff_t>(size)));
    expect_io_error(context(), path("cut.vfi"), "cut.vfi");
  }
  auto longer = good_;
  longer.push_back(0);
  write_file(path("long.vfi"), longer);
  expect_io_error(context(), path("long.vfi"), "size mismatch");
}

TEST_F(FlatIndexFileDamage, EveryFlippedByteIsIoError) {
  struct Case {
    std::size_t offset;
    const char* problem;
  };
  const Case cases[] = {
      {0, "bad magic"},
      {8, "unknown format version"},
      {12, "unknown metric code"},
      {16, "dimension"},
      {24, "rows"},
      {32, "unknown element type"},
      {36, "reserved header field"},
      {40, "checksum mismatch"},
      {48 + 3 * 8, "checksum mismatch"},
      {48 + 40 * 8 + 17, "checksum mismatch"},
      {good_.size() - 3, "checksum mismatch"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("offset " + std::to_string(c.offset));
    auto bytes = good_;
    bytes[c.offset] = static_cast<char>(bytes[c.offset] ^ 0x40);
    write_file(path("bad.vfi"), bytes);
    expect_io_error(context(), path("bad.vfi"), c.problem);
  }
  // Every single-byte flip anywhere is caught (sampled densely across the file).
  for (std::size_t offset = 0; offset < good_.size(); offset += 7) {
    auto bytes = good_;
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x01);
    write_file(path("bad.vfi"), bytes);
    expect_io_error(context(), path("bad.vfi"), "bad.vfi");
  }
}

TEST_F(FlatIndexFileDamage, NegativeIdUnderAValidChecksumIsIoErrorNamingRowAndId) {
  // A crafted file: row 2's id set to -5 and the checksum recomputed, so only the id check
  // can catch it.
  auto bytes = good_;
  const std::int64_t bad = -5;
  std::memcpy(bytes.data() + 64, &bad, sizeof bad);  // after the 48-byte header: row 2's id
  const auto payload = std::as_bytes(std::span(bytes).first(bytes.size() - 8));
  const std::uint64_t sum = detail::fnv1a64(payload);
  std::memcpy(bytes.data() + bytes.size() - 8, &sum, sizeof sum);
  write_file(path("crafted.vfi"), bytes);
  try {
    FlatIndex::load(context(), path("crafted.vfi"));
    ADD_FAILURE() << "a file with id -5 loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::io_error) << e.what();
    const std::string message = e.what();
    for (const std::string& fragment :
         {path("crafted.vfi").string(), std::string("row 2"), std::string("id -5")}) {
      EXPECT_NE(message.find(fragment), std::string::npos) << fragment << " in " << message;
    }
  }
}

// ---- Threads ---------------------------------------------------------------------------------

TEST_F(FlatIndexTest, ConcurrentSearchesGiveTheSerialResults) {
  constexpr std::size_t dim = 32, k = 10;
  const auto base = vt::normal_data(2000, dim, 131);
  FlatIndex index(context(), dim, Metric::cosine);
  index.add(base);
  std::vector<std::vector<float>> queries;
  std::vector<KnnResult> expected;
  for (std::uint32_t t = 0; t < 4; ++t) {
    queries.push_back(vt::normal_data(5 + t, dim, 140 + t));
    expected.push_back(index.search(queries.back(), k));
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 6; ++i) {
        const KnnResult r = index.search(queries[t], k);
        if (r.labels != expected[t].labels || r.distances != expected[t].distances) ++mismatches;
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(FlatIndexTest, SearchesDuringAddsSeeAConsistentIndex) {
  constexpr std::size_t dim = 16;
  const auto base = vt::normal_data(3000, dim, 151);
  FlatIndex index(context(), dim, Metric::l2);
  index.add(std::span(base).subspan(0, 100 * dim));
  // Queries are copies of rows added first: whatever adds run meanwhile (growing and
  // replacing chunks), each search must find them under their own row numbers.
  const std::vector<float> queries(base.begin(), base.begin() + 10 * dim);
  std::atomic<bool> adding{true};
  std::atomic<int> wrong{0};
  std::atomic<int> searches{0};
  std::thread searcher([&] {
    while (adding.load() || searches.load() < 3) {
      const KnnResult r = index.search(queries, 1);
      for (std::size_t q = 0; q < 10; ++q)
        if (r.labels[q] != static_cast<std::int64_t>(q)) ++wrong;
      ++searches;
    }
  });
  for (std::size_t row = 100; row < 3000; row += 145) {
    const std::size_t n = std::min<std::size_t>(145, 3000 - row);
    index.add(std::span(base).subspan(row * dim, n * dim));
    std::this_thread::yield();
  }
  adding = false;
  searcher.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(index.size(), 3000u);
}

}  // namespace

// ---- Cancellation and time limits -------------------------------------------------------------

TEST_F(FlatIndexTest, StoppedSearchThrowsCancelledAndTheIndexStaysUsable) {
  constexpr std::size_t dim = 16;
  const auto base = vt::normal_data(4000, dim, 41);
  const auto queries = vt::normal_data(600, dim, 42);
  FlatIndex index(context(), dim, Metric::l2);
  index.add(base);
  std::stop_source stop;
  stop.request_stop();
  try {
    index.search(queries, 10, {.stop = stop.get_token()});
    ADD_FAILURE() << "a stopped search returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::cancelled) << e.what();
  }
  EXPECT_EQ(check_against_reference(index.search(queries, 10), queries, base, dim, 10, Metric::l2),
            "");
}

TEST_F(FlatIndexTest, SearchPastItsTimeoutThrowsTimeoutAndTheIndexStaysUsable) {
  constexpr std::size_t dim = 64;
  const auto base = vt::normal_data(20000, dim, 43);
  // One batch of GPU work, still running when the search gives up: the next search waits for
  // it (2,000 queries made that wait 6 s of CPU on lavapipe, for nothing the test checks).
  const auto queries = vt::normal_data(200, dim, 44);
  FlatIndex index(context(), dim, Metric::l2);
  index.add(base);
  try {
    index.search(queries, 10, {.timeout = std::chrono::nanoseconds(1)});
    ADD_FAILURE() << "a search finished within a nanosecond";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::timeout) << e.what();
  }
  const auto few = std::vector<float>(queries.begin(), queries.begin() + 8 * dim);
  EXPECT_EQ(check_against_reference(index.search(few, 10), few, base, dim, 10, Metric::l2), "");
}

}  // namespace vecaccel
