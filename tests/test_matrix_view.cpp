// MatrixView: rows with their shape stated, and the overloads of add, search, knn and distances
// that refuse a dimension other than the index's or the base's (issue 25: 3 queries of 128
// floats given to a 96-dimensional index read as 4 wrong rows).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "support/expect_error.hpp"
#include "vecaccel/vecaccel.hpp"

using namespace vecaccel;
namespace vt = vecaccel::testing;
using vt::expect_error;
using vt::mentions;

namespace {

std::vector<float> ramp(std::size_t count) {
  std::vector<float> values(count);
  for (std::size_t i = 0; i < count; ++i)
    values[i] = static_cast<float>(i % 17) - 8.0f;
  return values;
}

}  // namespace

TEST(MatrixView, ChecksItsShapeAgainstItsData) {
  const std::vector<float> data(12);
  const MatrixView<const float> view(data, 3, 4);
  EXPECT_EQ(view.rows(), 3u);
  EXPECT_EQ(view.dim(), 4u);
  EXPECT_EQ(view.row(2).data(), data.data() + 8);
  Error e = expect_error(Errc::invalid_argument, [&] { MatrixView<const float>(data, 4, 4); });
  EXPECT_TRUE(mentions(e, "a matrix of 4 rows x 4 needs 16 elements; its data holds 12"))
      << e.what();
  e = expect_error(Errc::invalid_argument,
                   [&] { MatrixView<const float>(data, std::size_t{1} << 62, 8); });
  EXPECT_TRUE(mentions(e, "overflows; its data holds 12 elements")) << e.what();
  std::vector<float> mutable_data(12);
  const MatrixView<const float> read_only = MatrixView<float>(mutable_data, 2, 6);
  EXPECT_EQ(read_only.dim(), 6u);
}

TEST(MatrixView, AnIndexRefusesQueriesOfAnotherDimension) {
  Context context;
  FlatIndex index(context, 96, Metric::l2);
  const std::vector<float> base = ramp(10 * 96);
  index.add(MatrixView<const float>(base, 10, 96));
  const std::vector<float> queries = ramp(3 * 128);  // 384 floats: 4 rows of 96 to a span
  EXPECT_EQ(index.search(queries, 2).rows, 4u);      // the misreading the checked form prevents
  const Error e = expect_error(Errc::invalid_argument,
                               [&] { index.search(MatrixView<const float>(queries, 3, 128), 2); });
  EXPECT_TRUE(mentions(e, "queries have dim 128, the index has dim 96")) << e.what();
  const MatrixView<const float> right(std::span<const float>(queries).first(2 * 96), 2, 96);
  const KnnResult checked = index.search(right, 3);
  const KnnResult unchecked = index.search(right.data(), 3);
  EXPECT_EQ(checked.labels, unchecked.labels);
  EXPECT_EQ(checked.distances, unchecked.distances);
}

TEST(MatrixView, AnIndexRefusesRowsOfAnotherDimensionAndAddsNothing) {
  Context context;
  FlatIndex index(context, 96, Metric::inner_product);
  const std::vector<float> rows = ramp(3 * 128);
  const Error e = expect_error(Errc::invalid_argument,
                               [&] { index.add(MatrixView<const float>(rows, 3, 128)); });
  EXPECT_TRUE(mentions(e, "vectors have dim 128, the index has dim 96")) << e.what();
  EXPECT_EQ(index.size(), 0u);
  FlatIndex bytes(context, 4, Metric::l2, ElementType::uint8);
  const std::vector<std::uint8_t> byte_rows(12, 7);
  expect_error(Errc::invalid_argument,
               [&] { bytes.add(MatrixView<const std::uint8_t>(byte_rows, 2, 6)); });
  bytes.add(MatrixView<const std::uint8_t>(byte_rows, 3, 4));
  EXPECT_EQ(bytes.size(), 3u);
}

TEST(MatrixView, KnnAndDistancesRefuseQueriesAndBaseOfDifferentDimensions) {
  Context context;
  const std::vector<float> base = ramp(8 * 6);
  const std::vector<float> queries = ramp(4 * 4);  // 16 floats
  const MatrixView<const float> base_rows(base, 8, 6);
  const MatrixView<const float> query_rows(queries, 4, 4);
  Error e = expect_error(Errc::invalid_argument,
                         [&] { ops::knn(context, query_rows, base_rows, 2, Metric::l2); });
  EXPECT_TRUE(mentions(e, "queries have dim 4, the base has dim 6")) << e.what();
  e = expect_error(Errc::invalid_argument,
                   [&] { ops::distances(context, query_rows, base_rows, Metric::l2); });
  EXPECT_TRUE(mentions(e, "queries have dim 4, the base has dim 6")) << e.what();
  const MatrixView<const float> same(std::span<const float>(queries).first(12), 2, 6);
  const KnnResult checked = ops::knn(context, same, base_rows, 3, Metric::l2);
  const KnnResult unchecked = ops::knn(context, same.data(), base, 6, 3, Metric::l2);
  EXPECT_EQ(checked.labels, unchecked.labels);
  EXPECT_EQ(ops::distances(context, same, base_rows, Metric::l2),
            ops::distances(context, same.data(), base, 6, Metric::l2));
}

TEST(MatrixView, AddWithIdsAndAShardedIndexRefuseAnotherDimensionAndAddNothing) {
  Context context;
  FlatIndex index(context, 96, Metric::l2);
  const std::vector<float> rows = ramp(3 * 128);  // 4 rows of 96, read as a span
  const std::vector<std::int64_t> ids{7, 8, 9};
  const Error e = expect_error(Errc::invalid_argument, [&] {
    index.add_with_ids(MatrixView<const float>(rows, 3, 128), ids);
  });
  EXPECT_TRUE(mentions(e, "vectors have dim 128, the index has dim 96")) << e.what();
  EXPECT_EQ(index.size(), 0u);
  index.add_with_ids(MatrixView<const float>(std::span(rows).first(3 * 96), 3, 96), ids);
  EXPECT_EQ(index.size(), 3u);

  const std::vector<std::uint32_t> two{0, 0};
  ShardedIndex sharded(two, 96, Metric::l2);
  expect_error(Errc::invalid_argument, [&] { sharded.add(MatrixView<const float>(rows, 3, 128)); });
  expect_error(Errc::invalid_argument,
               [&] { sharded.add_with_ids(MatrixView<const float>(rows, 3, 128), ids); });
  EXPECT_EQ(sharded.size(), 0u);
  sharded.add_with_ids(MatrixView<const float>(std::span(rows).first(3 * 96), 3, 96), ids);
  const Error q = expect_error(Errc::invalid_argument, [&] {
    sharded.search(MatrixView<const float>(std::span(rows).first(128), 1, 128), 1);
  });
  EXPECT_TRUE(mentions(q, "queries have dim 128, the index has dim 96")) << q.what();
  const KnnResult r = sharded.search(MatrixView<const float>(std::span(rows).first(96), 1, 96), 1);
  EXPECT_EQ(r.labels, std::vector<std::int64_t>{7});  // query = row 0 = id 7
}
