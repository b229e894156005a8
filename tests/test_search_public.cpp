// The search planner as a client sees it: this test is built against include/ alone (no src/
// include path, tests/CMakeLists.txt), as a program using the installed headers would be. A base
// larger than the memory budget is streamed over two devices — the same device twice — and the
// devices' top k merged: the result is the float64 brute force's, ties by label.

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "support/reference.hpp"
#include "support/temp_dir.hpp"
#include "vecaccel/vecaccel.hpp"

namespace vecaccel {
namespace {

namespace vt = vecaccel::testing;

/// Small integers: many equal distances, within a device's share and across the two.
std::vector<float> small_integers(std::size_t rows, std::size_t dim, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(-3, 3);
  std::vector<float> out(rows * dim);
  for (float& v : out)
    v = static_cast<float>(value(rng));
  return out;
}

class PublicSearch : public vt::TempDirTest {
 protected:
  static constexpr std::size_t kDim = 12;
  static constexpr std::size_t kRows = 1500;
  static constexpr std::size_t kQueries = 9;
  static constexpr std::size_t kK = 10;

  /// Two contexts on the first device.
  void SetUp() override {
    vt::TempDirTest::SetUp();
    for (int i = 0; i < 2; ++i)
      owned_.push_back(std::make_unique<Context>(Device::open(0)));
    for (const auto& context : owned_)
      devices_.push_back(context.get());
  }

  std::vector<std::unique_ptr<Context>> owned_;
  std::vector<Context*> devices_;
  const std::vector<float> base_ = small_integers(kRows, kDim, 3);
  const std::vector<float> queries_ = small_integers(kQueries, kDim, 4);
  const MatrixView<const float> query_view_{queries_, kQueries, kDim};
};

TEST_F(PublicSearch, AMappedBaseLargerThanTheBudgetIsStreamedOnTheSameDeviceTwiceExactly) {
  write_vectors(path("base.fbin"), Matrix<float>{kRows, kDim, base_});
  const MappedVectors file(path("base.fbin"));
  // 52 bytes a row on the device: the 750 rows of each share take 39,000, the budget 8 KiB.
  constexpr std::uint64_t budget = 8 * 1024;
  ASSERT_GT(kRows * (kDim + 1) * sizeof(float), budget);
  for (const Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
    SCOPED_TRACE(to_string(metric));
    std::size_t reported = 0;
    const SearchResult result =
        search(devices_, SearchBase(file), query_view_, kK, metric,
               {.memory_budget = budget, .progress = [&](const SearchProgress& p) {
                  EXPECT_EQ(p.phase, SearchPhase::streaming);
                  EXPECT_EQ(p.total, kRows);
                  reported = p.done;
                }});
    EXPECT_EQ(result.plan.handling, BaseHandling::streamed);
    ASSERT_EQ(result.plan.shares.size(), 2u);
    EXPECT_EQ(result.passes, result.plan.passes());
    EXPECT_GT(result.passes, 2u);
    EXPECT_EQ(reported, kRows);
    EXPECT_EQ(vt::check_knn(result.knn, queries_, base_, kDim, kK, metric), "");
  }
}

TEST_F(PublicSearch, RowsInMemoryHeldOrStreamedOnTwoDevicesGiveOneDevicesResultBitForBit) {
  const SearchBase base(MatrixView<const float>(base_, kRows, kDim));
  const SearchResult one = search(*devices_[0], base, query_view_, kK, Metric::l2);
  EXPECT_EQ(one.plan.handling, BaseHandling::held);
  EXPECT_EQ(vt::check_knn(one.knn, queries_, base_, kDim, kK, Metric::l2), "");
  const SearchResult held = search(devices_, base, query_view_, kK, Metric::l2, {.query_batch = 4});
  const SearchResult streamed =
      search(devices_, base, query_view_, kK, Metric::l2, {.memory_budget = 4096});
  EXPECT_EQ(held.plan.handling, BaseHandling::held);
  EXPECT_EQ(streamed.plan.handling, BaseHandling::streamed);
  for (const SearchResult* r : {&held, &streamed}) {
    EXPECT_EQ(r->knn.labels, one.knn.labels);
    EXPECT_EQ(r->knn.distances, one.knn.distances);
  }
}

TEST_F(PublicSearch, AUint8FileRangeKeepsItsFileRowsAsLabels) {
  std::vector<std::uint8_t> bytes(kRows * kDim);
  std::vector<float> widened(bytes.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<std::uint8_t>(base_[i] + 3);
    widened[i] = bytes[i];
  }
  write_vectors(path("base.u8bin"), Matrix<std::uint8_t>{kRows, kDim, bytes});
  const MappedVectors file(path("base.u8bin"));
  constexpr std::size_t first = 500, rows = 700;
  const SearchResult result = search(devices_, SearchBase(file, first, rows), query_view_, kK,
                                     Metric::l2, {.memory_budget = 4096});
  const std::vector<float> range(widened.begin() + first * kDim,
                                 widened.begin() + (first + rows) * kDim);
  KnnResult relabelled = result.knn;
  for (std::int64_t& label : relabelled.labels)
    label -= static_cast<std::int64_t>(first);
  EXPECT_EQ(vt::check_knn(relabelled, queries_, range, kDim, kK, Metric::l2), "");
}

TEST_F(PublicSearch, ABadRowIsNamedByItsBaseRowTheLowestShareFirst) {
  std::vector<float> values = base_;
  for (const std::size_t row : {740, 760, 1400})
    values[row * kDim + 2] = std::numeric_limits<float>::quiet_NaN();
  const SearchBase base(MatrixView<const float>(values, kRows, kDim));
  const std::vector<std::optional<std::uint64_t>> budgets = {std::nullopt, 4096};
  for (const std::optional<std::uint64_t>& budget : budgets) {
    try {
      search(devices_, base, query_view_, kK, Metric::l2, {.memory_budget = budget});
      ADD_FAILURE() << "a NaN row was searched";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("base row 740 "), std::string::npos) << e.what();
    }
  }
}

TEST_F(PublicSearch, AFlatIndexIsSearchedWhereItIsHeld) {
  FlatIndex index(*devices_[0], kDim, Metric::inner_product);
  index.add(base_);
  const SearchResult result =
      search({}, SearchBase(index), query_view_, kK, Metric::inner_product, {.query_batch = 2});
  EXPECT_EQ(vt::check_knn(result.knn, queries_, base_, kDim, kK, Metric::inner_product), "");
  EXPECT_THROW(search({}, SearchBase(index), query_view_, kK, Metric::l2), Error);
}

TEST_F(PublicSearch, PartsSearchedApartMergeExactlyFromTheirFloat64Values) {
  // As mpirun's ranks do: each part searched on its own, its values computed where its rows
  // are, the merge done elsewhere.
  const std::size_t half = kRows / 2;
  std::vector<KnnResult> parts;
  std::vector<std::vector<double>> exact;
  for (std::size_t p = 0; p < 2; ++p) {
    const std::vector<float> rows(base_.begin() + p * half * kDim,
                                  base_.begin() + (p + 1) * half * kDim);
    const SearchBase base(MatrixView<const float>(rows, half, kDim));
    KnnResult part = search(*devices_[p], base, query_view_, kK, Metric::l2).knn;
    exact.push_back(exact_values(part, query_view_, base, Metric::l2));
    for (std::int64_t& label : part.labels)
      label += static_cast<std::int64_t>(p * half);
    parts.push_back(std::move(part));
  }
  const KnnResult merged = merge_exact(parts, exact, Metric::l2);
  EXPECT_EQ(vt::check_knn(merged, queries_, base_, kDim, kK, Metric::l2), "");
}

TEST_F(PublicSearch, BadRequestsAreRefusedNamingWhat) {
  const SearchBase base(MatrixView<const float>(base_, kRows, kDim));
  EXPECT_THROW(search({}, base, query_view_, kK, Metric::l2), Error);
  const std::vector<float> narrow(kQueries * 3, 0.0f);
  try {
    search(devices_, base, MatrixView<const float>(narrow, kQueries, 3), kK, Metric::l2);
    ADD_FAILURE() << "queries of another dimension were searched";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dim 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("dim 12"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vecaccel
