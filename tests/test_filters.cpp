// Filtered and range search: exact over the allowed rows (a float64 brute force of them alone,
// ties by label, padding past them), whether the rows are gathered (few allowed) or masked in
// the screen (many), on held, streamed and several-device searches, float32 and uint8 rows,
// every metric; range search keeps exactly the rows on the right side of the radius by their
// float64 values, also where integer data puts distances on the radius itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/expect_error.hpp"
#include "support/reference.hpp"
#include "vecaccel/vecaccel.hpp"

namespace vecaccel {
namespace {

namespace vt = vecaccel::testing;

constexpr std::size_t kDim = 8;
constexpr std::size_t kRows = 600;
constexpr std::size_t kQueries = 5;
constexpr Metric kMetrics[] = {Metric::l2, Metric::inner_product, Metric::cosine, Metric::l1,
                               Metric::linf};

/// Small integers: many exact ties, and distances that land on integer radii.
std::vector<float> integer_rows(std::size_t n, std::uint32_t seed, int lo = -3, int hi = 3) {
  std::vector<float> out(n * kDim);
  std::uint32_t state = seed;
  for (float& v : out) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(lo +
                           static_cast<int>((state >> 16) % static_cast<unsigned>(hi - lo + 1)));
  }
  return out;
}

/// Every `step`-th row allowed, starting at `first`.
std::vector<std::int64_t> every(std::size_t step, std::size_t first = 0) {
  std::vector<std::int64_t> out;
  for (std::size_t r = first; r < kRows; r += step)
    out.push_back(static_cast<std::int64_t>(r));
  return out;
}

/// "" when result equals the float64 brute force over the allowed rows alone.
std::string check_filtered(const KnnResult& result, const std::vector<float>& queries,
                           const std::vector<float>& base, const IdFilter& filter, std::size_t k,
                           Metric metric) {
  return vt::check_filtered_knn(result, queries, base, kDim, filter, k, metric);
}

class FilterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { context_ = std::make_unique<Context>(); }
  static void TearDownTestSuite() { context_.reset(); }
  static Context& context() { return *context_; }
  static std::unique_ptr<Context> context_;
  const std::vector<float> base_ = integer_rows(kRows, 7);
  const std::vector<float> queries_ = integer_rows(kQueries, 11);
  MatrixView<const float> query_view() const {
    return {std::span<const float>(queries_), kQueries, kDim};
  }
};
std::unique_ptr<Context> FilterTest::context_;

/// Sparse (gathered), dense (masked), deny-list, bitset shorter than the base, ids past it.
std::vector<IdFilter> filters() {
  const auto sparse = every(37, 3);
  const auto dense = every(1);
  std::vector<std::int64_t> most;
  for (std::int64_t r = 0; r < static_cast<std::int64_t>(kRows); ++r)
    if (r % 5 != 0) most.push_back(r);
  most.push_back(100000);  // not in the index: ignored
  std::vector<char> short_bits(kRows / 2);
  for (std::size_t i = 0; i < short_bits.size(); ++i)
    short_bits[i] = i % 3 != 1;
  const std::span<const bool> as_bool(reinterpret_cast<const bool*>(short_bits.data()),
                                      short_bits.size());
  return {IdFilter::allow(sparse), IdFilter::allow(most), IdFilter::deny(every(4)),
          IdFilter::bitset(as_bool), IdFilter::allow(std::vector<std::int64_t>{})};
}

TEST_F(FilterTest, FlatIndexFilteredSearchEqualsTheBruteForceOfTheAllowedRows) {
  for (const Metric metric : kMetrics) {
    FlatIndex index(context(), kDim, metric);
    index.add(base_);
    for (const IdFilter& filter : filters()) {
      for (const std::size_t k : {1u, 10u, 40u, 460u}) {
        const KnnResult result = index.search(query_view(), k, filter);
        EXPECT_EQ(check_filtered(result, queries_, base_, filter, k, metric), "")
            << to_string(metric) << " k " << k;
      }
    }
  }
}

// Query blocks with k <= 16 take the fused distance + selection kernel, which skips denied
// rows itself (filters allowing half the rows or more are masked, not gathered): ties of
// integer data, several splits of a larger base, denied rows nearer than any allowed one, and
// a filter allowing a row in 97 over half the base so that lists pad.
TEST_F(FilterTest, MaskedQueryBlocksInTheFusedKernelEqualTheBruteForceOfTheAllowedRows) {
  constexpr std::size_t rows = 12000, queries = 48;
  std::vector<float> base(rows * kDim);
  std::vector<float> probes(queries * kDim);
  std::uint32_t state = 5;
  for (float& v : base) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(static_cast<int>((state >> 16) % 9) - 4);
  }
  for (float& v : probes) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(static_cast<int>((state >> 16) % 9) - 4);
  }
  // Every third row is a copy of a query, and the filters deny those: a kernel that let a
  // denied row into its lists would fill them with these and leave no allowed candidate.
  std::vector<std::int64_t> most;
  for (std::size_t r = 0; r < rows; ++r) {
    if (r % 3 == 0) {
      const auto probe = std::span(probes).subspan((r / 3) % queries * kDim, kDim);
      std::copy(probe.begin(), probe.end(), base.begin() + static_cast<std::ptrdiff_t>(r * kDim));
    } else {
      most.push_back(static_cast<std::int64_t>(r));
    }
  }
  std::vector<char> bits(rows);
  for (std::size_t r = 0; r < rows; ++r)
    bits[r] = r % 3 != 0 && (r < rows / 2 || r % 97 == 1);  // the second half: a row in 97
  const std::span<const bool> as_bool(reinterpret_cast<const bool*>(bits.data()), bits.size());
  std::vector<std::int64_t> copies;
  for (std::size_t r = 0; r < rows; r += 3)
    copies.push_back(static_cast<std::int64_t>(r));
  const std::vector<IdFilter> masks = {IdFilter::allow(most), IdFilter::deny(copies),
                                       IdFilter::bitset(as_bool)};
  // (Inner product has no such trap: a query's copy need not be its best product.)
  for (const Metric metric : {Metric::l2, Metric::cosine}) {
    FlatIndex index(context(), kDim, metric);
    index.add(base);
    for (const IdFilter& filter : masks) {
      for (const std::size_t k : {1u, 10u}) {
        const KnnResult result =
            index.search(MatrixView<const float>(probes, queries, kDim), k, filter);
        EXPECT_EQ(vt::check_filtered_knn(result, probes, base, kDim, filter, k, metric), "")
            << to_string(metric) << " k " << k;
        // Exact either way (denied candidates would be dropped and their queries screened
        // again); a kernel that kept them would send every query to a second screen.
        EXPECT_LT(result.second_pass_queries, queries / 2) << to_string(metric) << " k " << k;
      }
    }
  }
}

// Masks from other languages (numpy's bool view of bytes, C buffers) hold bools other than 0
// and 1: any nonzero byte allows its id, as numpy reads it.
TEST(IdFilterBits, ABoolMaskAllowsEveryIdWhoseByteIsNonzero) {
  const std::uint8_t bytes[] = {0, 255, 2, 0, 1, 128, 0};
  std::array<bool, sizeof bytes> mask{};
  std::memcpy(mask.data(), bytes, sizeof bytes);
  const IdFilter filter = IdFilter::bitset(mask);
  for (std::size_t id = 0; id < sizeof bytes + 2; ++id) {
    EXPECT_EQ(filter.allows(static_cast<std::int64_t>(id)), id < sizeof bytes && bytes[id] != 0)
        << "id " << id;
  }
}

TEST_F(FilterTest, FewerAllowedRowsThanKArePaddedWithMinusOne) {
  FlatIndex index(context(), kDim, Metric::l2);
  index.add(base_);
  const std::vector<std::int64_t> three = {5, 17, 599};
  const KnnResult result = index.search(query_view(), 8, IdFilter::allow(three));
  for (std::size_t q = 0; q < kQueries; ++q) {
    for (std::size_t j = 3; j < 8; ++j) {
      EXPECT_EQ(result.labels[q * 8 + j], -1);
      EXPECT_EQ(result.distances[q * 8 + j], std::numeric_limits<float>::infinity());
    }
  }
  EXPECT_EQ(check_filtered(result, queries_, base_, IdFilter::allow(three), 8, Metric::l2), "");
}

// The rows of a gathered search go to a spare chunk of an earlier, larger one: only its own
// rows count (the rows past them still hold the earlier search's, which would otherwise fill
// the padding), and concurrent searches each gather into a chunk of their own.
TEST_F(FilterTest, GatheredSearchesSeeOnlyTheirOwnRowsInASpareChunkSequentiallyAndConcurrently) {
  FlatIndex index(context(), kDim, Metric::l2);
  index.add(base_);
  const IdFilter large = IdFilter::allow(every(3));
  const IdFilter three = IdFilter::allow(std::vector<std::int64_t>{5, 17, 599});
  const IdFilter sparse = IdFilter::allow(every(37, 3));
  for (const IdFilter* filter : {&large, &three, &sparse, &large, &three}) {
    const KnnResult result = index.search(query_view(), 8, *filter);
    EXPECT_EQ(check_filtered(result, queries_, base_, *filter, 8, Metric::l2), "");
  }
  std::vector<std::thread> threads;
  std::vector<std::string> errors(4);
  for (std::size_t t = 0; t < errors.size(); ++t) {
    threads.emplace_back([&, t] {
      const IdFilter& filter = t % 2 == 0 ? large : sparse;
      for (int i = 0; i < 3; ++i) {
        const KnnResult result = index.search(query_view(), 8, filter);
        errors[t] += check_filtered(result, queries_, base_, filter, 8, Metric::l2);
      }
    });
  }
  for (std::thread& thread : threads)
    thread.join();
  for (const std::string& error : errors)
    EXPECT_EQ(error, "");
}

TEST_F(FilterTest, FilterOnUint8IndexAndCallerIdsUsesTheIds) {
  std::vector<std::uint8_t> bytes(base_.size());
  std::vector<float> widened(base_.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<std::uint8_t>(base_[i] + 3);
    widened[i] = bytes[i];
  }
  FlatIndex index(context(), kDim, Metric::l2, ElementType::uint8);
  index.add(std::span<const std::uint8_t>(bytes));
  for (const IdFilter& filter : filters()) {
    const KnnResult result = index.search(query_view(), 12, filter);
    EXPECT_EQ(check_filtered(result, queries_, widened, filter, 12, Metric::l2), "");
  }
  // Caller ids: the filter names ids, not positions.
  FlatIndex with_ids(context(), kDim, Metric::l2);
  std::vector<std::int64_t> ids(kRows);
  for (std::size_t r = 0; r < kRows; ++r)
    ids[r] = static_cast<std::int64_t>(1000 + r);
  with_ids.add_with_ids(base_, ids);
  const std::vector<std::int64_t> allowed_ids = {1003, 1040, 1077, 1500};
  const KnnResult result = with_ids.search(query_view(), 4, IdFilter::allow(allowed_ids));
  const std::vector<std::int64_t> positions = {3, 40, 77, 500};
  KnnResult by_position = result;
  for (std::int64_t& label : by_position.labels)
    if (label >= 0) label -= 1000;
  EXPECT_EQ(check_filtered(by_position, queries_, base_, IdFilter::allow(positions), 4, Metric::l2),
            "");
}

TEST_F(FilterTest, OpsKnnStreamedAndSeveralDeviceSearchesAreFilteredExactly) {
  Context second;
  Context* const devices[] = {&context(), &second};
  const MatrixView<const float> base(std::span<const float>(base_), kRows, kDim);
  for (const IdFilter& filter : filters()) {
    EXPECT_EQ(check_filtered(ops::knn(context(), query_view(), base, 10, Metric::l2, filter),
                             queries_, base_, filter, 10, Metric::l2),
              "");
    SearchOptions streamed{.memory_budget = 4096};
    streamed.filter = filter;
    const SearchResult s = search(devices, base, query_view(), 10, Metric::inner_product, streamed);
    EXPECT_EQ(check_filtered(s.knn, queries_, base_, filter, 10, Metric::inner_product), "");
    SearchOptions held;
    held.filter = filter;
    const SearchResult h = search(devices, base, query_view(), 10, Metric::l1, held);
    EXPECT_EQ(h.plan.handling, BaseHandling::held);
    EXPECT_EQ(check_filtered(h.knn, queries_, base_, filter, 10, Metric::l1), "");
  }
}

TEST_F(FilterTest, ShardedIndexFilteredSearchEqualsTheBruteForce) {
  constexpr std::uint32_t twice[] = {0, 0};
  ShardedIndex index(twice, kDim, Metric::l2);
  index.add(base_);
  for (const IdFilter& filter : filters()) {
    const KnnResult result = index.search(queries_, 10, filter);
    EXPECT_EQ(check_filtered(result, queries_, base_, filter, 10, Metric::l2), "");
  }
}

RangeResult reference_range(const std::vector<float>& queries, const std::vector<float>& base,
                            double radius, Metric metric) {
  return vt::exact_range(queries, base, kDim, radius, metric);
}

void expect_same(const RangeResult& got, const RangeResult& want, const std::string& what) {
  EXPECT_EQ(got.lims, want.lims) << what;
  EXPECT_EQ(got.labels, want.labels) << what;
  EXPECT_EQ(got.distances, want.distances) << what;
}

TEST_F(FilterTest, RangeSearchKeepsExactlyTheRowsWithinTheRadiusEvenOnIt) {
  // Integer data: l2, l1, linf and inner products are integers, so radius 12 sits on many
  // distances (excluded) and 12.5 halfway between.
  for (const Metric metric : kMetrics) {
    FlatIndex index(context(), kDim, metric);
    index.add(base_);
    const double radii[] = {metric == Metric::cosine ? 0.5
                            : metric == Metric::linf ? 3.0
                                                     : 12.0,
                            metric == Metric::cosine ? 0.25 : 12.5};
    for (const double radius : radii) {
      const RangeResult got = index.range_search(query_view(), radius);
      expect_same(got, reference_range(queries_, base_, radius, metric),
                  std::string(to_string(metric)) + " radius " + std::to_string(radius));
    }
  }
}

TEST_F(FilterTest, RangeSearchOnStreamedShardedAndFilteredSearches) {
  Context second;
  Context* const devices[] = {&context(), &second};
  const MatrixView<const float> base(std::span<const float>(base_), kRows, kDim);
  const RangeResult want = reference_range(queries_, base_, 10.0, Metric::l2);
  expect_same(range_search(devices, base, query_view(), 10.0, Metric::l2, {.memory_budget = 4096}),
              want, "streamed on two devices");
  SearchOptions filtered;
  filtered.filter = IdFilter::deny(every(2));
  const vt::AllowedRows odd = vt::allowed_rows(base_, kDim, *filtered.filter);
  RangeResult odd_want = reference_range(queries_, odd.rows, 10.0, Metric::l2);
  for (std::int64_t& label : odd_want.labels)
    label = odd.labels[static_cast<std::size_t>(label)];
  expect_same(range_search(context(), base, query_view(), 10.0, Metric::l2, filtered), odd_want,
              "filtered");
}

TEST_F(FilterTest, RangeSearchOverMaxResultsNamesTheCountAndReturnsNothing) {
  FlatIndex index(context(), kDim, Metric::l2);
  index.add(base_);
  const Error e = vt::expect_error(Errc::invalid_argument,
                                   [&] { (void)index.range_search(query_view(), 1e9, 10); });
  EXPECT_TRUE(vt::mentions(e, "max_results = 10")) << e.what();
}

}  // namespace
}  // namespace vecaccel
