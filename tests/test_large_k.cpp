// Any k (issue 22, item 5): searches for thousands to a hundred thousand neighbours are exact
// on every path — held, streamed, sharded, uint8/int8 bases — through the many-workgroup radix
// selection and the global-memory sort (issue 21, item 4); k above the rows pads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ops/select_rows.hpp"
#include "support/reference.hpp"
#include "vecaccel/vecaccel.hpp"

namespace vecaccel {
namespace {

namespace vt = vecaccel::testing;

Context& shared_context() {
  static Context context;
  return context;
}

/// Small integers: float64 sums are exact, so equal distances are true ties, many of them at
/// the k-th place.
std::vector<float> small_integers(std::size_t rows, std::size_t dim, std::uint32_t seed,
                                  int range = 3) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(-range, range);
  std::vector<float> out(rows * dim);
  for (float& x : out)
    x = static_cast<float>(value(rng));
  return out;
}

std::vector<float> widened(const std::vector<std::uint8_t>& bytes) {
  return {bytes.begin(), bytes.end()};
}

KnnResult held_search(const std::vector<float>& base, const std::vector<float>& queries,
                      std::size_t dim, std::size_t k, Metric metric) {
  FlatIndex index(shared_context(), dim, metric);
  index.add(base);
  return index.search(queries, k);
}

}  // namespace

TEST(LargeK, ThousandsOfNeighboursEqualTheFloat64BruteForce) {
  constexpr std::size_t dim = 8, nb = 24000, nq = 3;
  const auto base = vt::normal_data(nb, dim, 11);
  const auto queries = vt::normal_data(nq, dim, 12);
  for (const std::size_t k : {1000u, 2048u, 5000u, 20000u}) {
    const KnnResult r = held_search(base, queries, dim, k, Metric::l2);
    EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, Metric::l2), "") << "k " << k;
    EXPECT_EQ(r.direct_pass_queries, 0u) << "k " << k << ": the certificates hold";
  }
  for (const Metric metric : {Metric::inner_product, Metric::cosine}) {
    const KnnResult r = ops::knn(shared_context(), queries, base, dim, 5000, metric);
    EXPECT_EQ(vt::check_knn(r, queries, base, dim, 5000, metric), "") << to_string(metric);
  }
}

TEST(LargeK, AHundredThousandNeighboursOfALargerBaseAreExact) {
  constexpr std::size_t dim = 4, nb = 120000, nq = 2, k = 100000;
  const auto base = vt::normal_data(nb, dim, 21);
  const auto queries = vt::normal_data(nq, dim, 22);
  const KnnResult r = held_search(base, queries, dim, k, Metric::l2);
  EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, Metric::l2), "");
}

// Two tiles of one search, as the screen selects them when a distance tile outgrows its
// buffer: the second selects from the first's candidates and its own columns, skipping values
// worse than the running worst. Values from few levels: ties across the k-th place. Widths
// and k that are multiples of 4 take the 16-byte loads; the others the loads one by one.
// Clustered values all share one first-digit bin, more keys than pass 1 compacts: the later
// passes read the whole row; spread ones put a few hundred there, which they read alone.
struct RowSelectionCase {
  std::uint32_t cols, k;
  bool clustered;
};

class RowSelection : public ::testing::TestWithParam<RowSelectionCase> {};

TEST_P(RowSelection, RunningCandidatesAndANewTileKeepTheBestOfBoth) {
  Context& context = shared_context();
  Device device = context.device();
  constexpr std::size_t rows = 3;
  // Plain locals, not a structured binding: clang 14's lambdas cannot capture those.
  const std::uint32_t cols = GetParam().cols;
  const std::uint32_t k = GetParam().k;
  const bool clustered = GetParam().clustered;
  std::mt19937 rng(33);
  std::vector<float> first(rows * cols), second(rows * cols);
  // Clustered: [1, 1.19), inside the first-digit bin [1, 1.25).
  const float step = clustered ? 0x1p-14f : 0.5f;
  const float base = clustered ? 1.0f : 0.0f;
  for (float& v : first)
    v = base + static_cast<float>(rng() % 3000) * step;
  for (float& v : second)
    v = base + static_cast<float>(rng() % 3000) * step - (clustered ? 0.0f : 100.0f);
  const auto bytes = [](std::size_t n) { return n * sizeof(float); };
  BufferToken a = context.get_buffer(std::span<const float>(first));
  BufferToken b = context.get_buffer(std::span<const float>(second));
  BufferToken running_values = context.get_buffer(bytes(rows * k));
  BufferToken running_labels = context.get_buffer(bytes(rows * k));
  BufferToken values = context.get_buffer(bytes(rows * k));
  BufferToken labels = context.get_buffer(bytes(rows * k));
  BufferToken state =
      context.get_buffer(detail::row_select_state_bytes(device.capabilities(), rows, k + cols, k));
  context
      .execute([&](CommandBuffer&, ComputeEncoder& e) {
        detail::encode_row_select(device, e,
                                  {.b_values = a.buffer(),
                                   .b_cols = cols,
                                   .b_stride = cols,
                                   .rows = rows,
                                   .k = k,
                                   .out_values = running_values.buffer(),
                                   .out_labels = running_labels.buffer(),
                                   .out_stride = k,
                                   .state = state.buffer()});
        e.barrier({running_values.buffer(), running_labels.buffer(), state.buffer()},
                  Stage::dispatch, Stage::dispatch);
        detail::encode_row_select(device, e,
                                  {.a_values = running_values.buffer(),
                                   .a_labels = running_labels.buffer(),
                                   .a_cols = k,
                                   .a_stride = k,
                                   .b_values = b.buffer(),
                                   .b_cols = cols,
                                   .b_stride = cols,
                                   .b_label_offset = cols,
                                   .rows = rows,
                                   .k = k,
                                   .bounded = true,
                                   .out_values = values.buffer(),
                                   .out_labels = labels.buffer(),
                                   .out_stride = k,
                                   .state = state.buffer()});
      })
      .wait();
  const auto got_values = values.read<float>(rows * k);
  const auto got_labels = labels.read<std::int32_t>(rows * k);
  for (std::uint32_t r = 0; r < rows; ++r) {
    // Label l < cols is column l of the first tile, else column l - cols of the second.
    std::vector<std::pair<float, std::int32_t>> all;
    for (std::uint32_t c = 0; c < cols; ++c) {
      all.emplace_back(first[r * cols + c], static_cast<std::int32_t>(c));
      all.emplace_back(second[r * cols + c], static_cast<std::int32_t>(cols + c));
    }
    std::sort(all.begin(), all.end());
    std::vector<std::pair<float, std::int32_t>> got;
    for (std::uint32_t i = 0; i < k; ++i)
      got.emplace_back(got_values[r * k + i], got_labels[r * k + i]);
    EXPECT_EQ(got[k - 1].first, all[k - 1].first)
        << "row " << r << ": the last slot holds the k-th";
    std::sort(got.begin(), got.end());
    for (std::uint32_t i = 0; i < k; ++i) {
      ASSERT_EQ(got[i].first, all[i].first) << "row " << r << " rank " << i;
      const auto label = got[i].second;
      ASSERT_TRUE(label >= 0 && label < static_cast<std::int32_t>(2 * cols));
      const float value = label < static_cast<std::int32_t>(cols) ? first[r * cols + label]
                                                                  : second[r * cols + label - cols];
      ASSERT_EQ(value, got[i].first) << "row " << r << ": label " << label;
      if (i > 0) ASSERT_NE(label, got[i - 1].second) << "row " << r << ": a label twice";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(LargeK, RowSelection,
                         ::testing::Values(RowSelectionCase{6000, 700, false},
                                           RowSelectionCase{5999, 701, false},
                                           RowSelectionCase{6002, 703, false},
                                           RowSelectionCase{6000, 700, true},
                                           RowSelectionCase{5999, 701, true}));

// Many queries over a base whose distance tile outgrows one buffer (64 MiB on lavapipe): the
// whole search over several tiles.
TEST(LargeK, SeveralDistanceTilesKeepTheRunningCandidatesExact) {
  constexpr std::size_t dim = 4, nb = 24000, nq = 720, k = 300;
  const auto base = vt::normal_data(nb, dim, 31);
  const auto queries = vt::normal_data(nq, dim, 32);
  const KnnResult r = ops::knn(shared_context(), queries, base, dim, k, Metric::l2);
  EXPECT_EQ(vt::check_knn(r, queries, base, dim, k, Metric::l2), "");
}

// Integer rows, each twice, far from the origin: distances tie in large groups across the
// k-th place (the screen's candidates end inside a group of equal values), duplicated rows tie
// exactly, and the offset makes the screen's error large against the distances' spread.
TEST(LargeK, TiesDuplicatedRowsAndOffsetsStayExact) {
  constexpr std::size_t dim = 4, distinct = 4000, nq = 3, k = 3000;
  std::vector<float> base = small_integers(distinct, dim, 41);
  base.insert(base.end(), base.begin(), base.end());
  std::vector<float> queries = small_integers(nq, dim, 42);
  for (const Metric metric : {Metric::l2, Metric::inner_product}) {
    EXPECT_EQ(
        vt::check_knn(held_search(base, queries, dim, k, metric), queries, base, dim, k, metric),
        "")
        << to_string(metric);
  }
  std::vector<float> shifted = base;
  for (float& x : shifted)
    x += 1000.0f;
  std::vector<float> near = queries;
  for (float& x : near)
    x += 1000.0f;
  EXPECT_EQ(vt::check_knn(held_search(shifted, near, dim, k, Metric::l2), near, shifted, dim, k,
                          Metric::l2),
            "");
}

TEST(LargeK, KAboveTheRowsPadsWithMinusOneAndTheWorstValue) {
  constexpr std::size_t dim = 6, nb = 1500, nq = 2, k = 5000;
  const auto base = vt::normal_data(nb, dim, 51);
  const auto queries = vt::normal_data(nq, dim, 52);
  for (const Metric metric : {Metric::l2, Metric::inner_product}) {
    EXPECT_EQ(
        vt::check_knn(held_search(base, queries, dim, k, metric), queries, base, dim, k, metric),
        "")
        << to_string(metric);
    EXPECT_EQ(vt::check_knn(ops::knn(shared_context(), queries, base, dim, k, metric), queries,
                            base, dim, k, metric),
              "")
        << to_string(metric);
  }
}

// A uint8 base streamed in passes smaller than k (the last pass pads), merged exactly.
TEST(LargeK, AStreamedUint8BaseInPassesSmallerThanKIsExact) {
  constexpr std::size_t dim = 8, nb = 12000, nq = 3, k = 3000;
  std::mt19937 rng(61);
  std::vector<std::uint8_t> base(nb * dim);
  for (auto& b : base)
    b = static_cast<std::uint8_t>(rng() % 16);  // few values: ties
  const auto queries = small_integers(nq, dim, 62, 8);
  // Passes of about 5100 rows: 44 device bytes a row, 3/8 of the budget a pass.
  const KnnResult r = ops::knn(shared_context(), queries, std::span<const std::uint8_t>(base), dim,
                               k, Metric::l2, {.memory_budget = 600'000});
  EXPECT_EQ(vt::check_knn(r, queries, widened(base), dim, k, Metric::l2), "");
}

TEST(LargeK, AnInt8BaseIsExact) {
  constexpr std::size_t dim = 8, nb = 9000, nq = 2, k = 2500;
  std::mt19937 rng(71);
  std::vector<std::int8_t> base(nb * dim);
  for (auto& b : base)
    b = static_cast<std::int8_t>(static_cast<int>(rng() % 256) - 128);
  const auto queries = vt::normal_data(nq, dim, 72);
  const KnnResult r = ops::knn(shared_context(), queries, std::span<const std::int8_t>(base), dim,
                               k, Metric::inner_product);
  EXPECT_EQ(vt::check_knn(r, queries, std::vector<float>(base.begin(), base.end()), dim, k,
                          Metric::inner_product),
            "");
}

// Two shards of one lavapipe device: each shard's k best, merged exactly.
TEST(LargeK, AShardedSearchIsExact) {
  constexpr std::size_t dim = 4, nb = 10000, nq = 2, k = 4000;
  constexpr std::uint32_t same_device_twice[] = {0, 0};
  const auto base = small_integers(nb, dim, 81);
  const auto queries = small_integers(nq, dim, 82);
  ShardedIndex index(same_device_twice, dim, Metric::l2);
  index.add(base);
  EXPECT_EQ(vt::check_knn(index.search(queries, k), queries, base, dim, k, Metric::l2), "");
}

}  // namespace vecaccel
