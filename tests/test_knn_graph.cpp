// knn_graph: each row's k nearest other rows, equal to a float64 brute force over the other rows
// (ties by row), whether the base is held, streamed, split over two devices or a uint8 file.

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "support/expect_error.hpp"
#include "support/reference.hpp"
#include "support/temp_dir.hpp"
#include "vecaccel/vecaccel.hpp"

namespace vecaccel {
namespace {

namespace vt = vecaccel::testing;

/// Small integers with every fifth row a copy of an earlier one: ties everywhere, duplicates
/// before and after a row.
std::vector<float> tied_rows(std::size_t rows, std::size_t dim, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(-2, 2);
  std::vector<float> out(rows * dim);
  for (float& v : out)
    v = static_cast<float>(value(rng));
  for (std::size_t r = 5; r < rows; r += 5) {
    const std::size_t from = rng() % r;
    std::copy_n(out.begin() + static_cast<std::ptrdiff_t>(from * dim), dim,
                out.begin() + static_cast<std::ptrdiff_t>(r * dim));
  }
  return out;
}

class KnnGraph : public vt::TempDirTest {
 protected:
  static constexpr std::size_t kDim = 6;
  static constexpr std::size_t kRows = 160;

  Context context_;
  const std::vector<float> base_ = tied_rows(kRows, kDim, 7);
  const SearchBase view_{MatrixView<const float>(base_, kRows, kDim)};
};

TEST_F(KnnGraph, EachRowsListIsTheFloat64BruteForceOverTheOtherRowsForEveryMetric) {
  for (const Metric metric :
       {Metric::l2, Metric::inner_product, Metric::cosine, Metric::l1, Metric::linf}) {
    SCOPED_TRACE(to_string(metric));
    const SearchResult graph = knn_graph(context_, view_, 7, metric);
    EXPECT_EQ(vt::check_knn_graph(graph.knn, base_, kDim, 7, metric), "");
  }
}

TEST_F(KnnGraph, ARowIsLeftOutByPositionEvenWhereMoreThanKCopiesOfItRankFirst) {
  // Rows 0..5 are one vector: row 4's k = 3 nearest others are rows 0, 1, 2 at distance 0,
  // though row 4 itself ties with them (and ranks after them by label).
  std::vector<float> rows(10 * kDim, 1.0F);
  for (std::size_t r = 6; r < 10; ++r)
    rows[r * kDim] = static_cast<float>(r);
  const SearchResult graph =
      knn_graph(context_, SearchBase(MatrixView<const float>(rows, 10, kDim)), 3, Metric::l2);
  EXPECT_EQ(
      std::vector<std::int64_t>(graph.knn.labels.begin() + 4 * 3, graph.knn.labels.begin() + 5 * 3),
      (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(std::vector<std::int64_t>(graph.knn.labels.begin(), graph.knn.labels.begin() + 3),
            (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(vt::check_knn_graph(graph.knn, rows, kDim, 3, Metric::l2), "");
}

TEST_F(KnnGraph, KAtOrAboveTheRowsPadsWithMinusOneAndTheWorstDistance) {
  const std::vector<float> rows(base_.begin(), base_.begin() + 4 * kDim);
  const SearchBase base(MatrixView<const float>(rows, 4, kDim));
  for (const std::size_t k : {3, 4, 9}) {
    for (const Metric metric : {Metric::l2, Metric::inner_product}) {
      const SearchResult graph = knn_graph(context_, base, k, metric);
      EXPECT_EQ(vt::check_knn_graph(graph.knn, rows, kDim, k, metric), "") << "k = " << k;
    }
  }
}

TEST_F(KnnGraph, StreamedOnTwoDevicesAndAUint8FileRangeGiveTheSameExactGraph) {
  Context second(Device::open(0));
  Context* const devices[] = {&context_, &second};
  const SearchResult held = knn_graph(context_, view_, 5, Metric::l2);
  const SearchResult streamed = knn_graph(devices, view_, 5, Metric::l2, {.memory_budget = 2048});
  EXPECT_EQ(streamed.plan.handling, BaseHandling::streamed);
  EXPECT_EQ(streamed.knn.labels, held.knn.labels);
  EXPECT_EQ(streamed.knn.distances, held.knn.distances);

  // Rows 40..139 of a uint8 file: labels stay file rows.
  std::vector<std::uint8_t> bytes(base_.size());
  std::vector<float> widened(base_.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<std::uint8_t>(base_[i] + 2);
    widened[i] = bytes[i];
  }
  write_vectors(path("base.u8bin"), Matrix<std::uint8_t>{kRows, kDim, bytes});
  const MappedVectors file(path("base.u8bin"));
  constexpr std::size_t first = 40, count = 100;
  KnnResult range =
      knn_graph(devices, SearchBase(file, first, count), 5, Metric::l2, {.memory_budget = 1024})
          .knn;
  for (std::int64_t& label : range.labels) {
    ASSERT_GE(label, static_cast<std::int64_t>(first));
    label -= static_cast<std::int64_t>(first);
  }
  const std::vector<float> expected(widened.begin() + first * kDim,
                                    widened.begin() + (first + count) * kDim);
  EXPECT_EQ(vt::check_knn_graph(range, expected, kDim, 5, Metric::l2), "");
}

TEST_F(KnnGraph, DropSelfRemovesTheOwnLabelWhereverItStands) {
  // Row 0 (label 10) finds itself second; row 1 (label 11) not at all (k + 1 ties ahead).
  const KnnResult self{
      .rows = 2, .k = 3, .distances = {0, 0, 1, 0, 0, 0}, .labels = {3, 10, 4, 1, 2, 5}};
  const KnnResult graph = drop_self(self, 2, 10);
  EXPECT_EQ(graph.labels, (std::vector<std::int64_t>{3, 4, 1, 2}));
  EXPECT_EQ(graph.distances, (std::vector<float>{0, 1, 0, 0}));
  EXPECT_TRUE(vt::mentions(
      vt::expect_error(Errc::invalid_argument, [&] { drop_self(self, 3, 10); }), "k + 1"));
}

TEST_F(KnnGraph, KZeroAndAFlatIndexBaseAreRefused) {
  EXPECT_TRUE(vt::mentions(
      vt::expect_error(Errc::invalid_argument, [&] { knn_graph(context_, view_, 0, Metric::l2); }),
      "k = 0"));
  FlatIndex index(context_, kDim, Metric::l2);
  index.add(base_);
  EXPECT_TRUE(
      vt::mentions(vt::expect_error(Errc::invalid_argument,
                                    [&] { knn_graph(context_, SearchBase(index), 3, Metric::l2); }),
                   "FlatIndex"));
}

TEST_F(KnnGraph, ZeroWidthRowsAndARowThatIsNotFiniteAreRefusedNamingThem) {
  const std::vector<float> none;
  EXPECT_TRUE(vt::mentions(
      vt::expect_error(
          Errc::invalid_argument,
          [&] { knn_graph(context_, MatrixView<const float>(none, 4, 0), 1, Metric::l2); }),
      "dimension must be at least 1"));
  std::vector<float> rows = base_;
  rows[2 * kDim + 1] = std::numeric_limits<float>::quiet_NaN();
  const MatrixView<const float> view(rows, rows.size() / kDim, kDim);
  EXPECT_TRUE(vt::mentions(
      vt::expect_error(Errc::invalid_argument, [&] { knn_graph(context_, view, 1, Metric::l2); }),
      "base row 2 holds nan at dimension 1: values must be finite"));
}

}  // namespace
}  // namespace vecaccel
