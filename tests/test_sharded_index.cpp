// ShardedIndex: a search sharded over several devices equals one device's, bit for bit. CI has
// one lavapipe device; listing it twice gives two logical devices, two contexts, two shards.
#include "vecaccel/sharded_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stop_token>
#include <string>
#include <vector>

#include "ops/exact_merge.hpp"
#include "vecaccel/vecaccel.hpp"

namespace vecaccel {
namespace {

constexpr Metric kMetrics[] = {Metric::l2, Metric::inner_product, Metric::cosine};
constexpr std::uint32_t kSameDeviceTwice[] = {0, 0};

/// Small integers: float64 sums are exact, so equal distances are true ties — between rows of
/// both shards, and at the boundary of the top k.
std::vector<float> small_integers(std::size_t rows, std::size_t dim, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(-2, 2);
  std::vector<float> out(rows * dim);
  for (float& x : out)
    x = static_cast<float>(value(rng));
  return out;
}

KnnResult one_device(std::span<const float> base, std::span<const float> queries, std::size_t dim,
                     std::size_t k, Metric metric, std::span<const std::int64_t> ids = {}) {
  Context context(Device::open(0));
  FlatIndex index(context, dim, metric);
  if (ids.empty()) {
    index.add(base);
  } else {
    index.add_with_ids(base, ids);
  }
  return index.search(queries, k);
}

void expect_bit_identical(const KnnResult& sharded, const KnnResult& single) {
  ASSERT_EQ(sharded.rows, single.rows);
  ASSERT_EQ(sharded.k, single.k);
  EXPECT_EQ(sharded.labels, single.labels);
  ASSERT_EQ(sharded.distances.size(), single.distances.size());
  for (std::size_t i = 0; i < single.distances.size(); ++i) {
    EXPECT_EQ(std::bit_cast<std::uint32_t>(sharded.distances[i]),
              std::bit_cast<std::uint32_t>(single.distances[i]))
        << "slot " << i << ": " << sharded.distances[i] << " vs " << single.distances[i];
  }
}

/// One candidate of a hand-made part: its float64 value and label.
struct Scored {
  double value;
  std::int64_t label;
};

/// `parts` parts of `rows` x `k` results as searches give them: each part ordered by float64
/// value (then label), distances rounded to float32, fewer than k candidates padded. Values
/// come from a small pool with pairs equal in float32 but not in float64, and equal float64
/// values across parts (the label decides): every case of the exact merge. `all` gets each
/// query's candidates of every part.
std::vector<KnnResult> hand_made_parts(std::size_t parts, std::size_t rows, std::size_t k,
                                       Metric metric, std::vector<std::vector<Scored>>& all) {
  std::mt19937 rng(7);
  const double sign = smaller_is_better(metric) ? 1.0 : -1.0;
  std::vector<double> pool;
  for (int i = 0; i < 6; ++i) {
    pool.push_back(sign * (1.0 + i * 0x1p-10));
    pool.push_back(sign * (1.0 + i * 0x1p-10 + 0x1p-40));  // the same float32
  }
  std::uniform_int_distribution<std::size_t> pick(0, pool.size() - 1), count(0, k);
  const auto better = [sign](const Scored& a, const Scored& b) {
    return a.value != b.value ? sign * a.value < sign * b.value : a.label < b.label;
  };
  std::vector<KnnResult> out(parts);
  all.assign(rows, {});
  std::int64_t next_label = 0;
  for (KnnResult& part : out) {
    part = {.rows = rows,
            .k = k,
            .distances = std::vector<float>(rows * k, static_cast<float>(sign * INFINITY)),
            .labels = std::vector<std::int64_t>(rows * k, -1)};
    for (std::size_t q = 0; q < rows; ++q) {
      std::vector<Scored> mine(count(rng));
      for (Scored& s : mine)
        s = {pool[pick(rng)], next_label++};
      std::sort(mine.begin(), mine.end(), better);
      for (std::size_t j = 0; j < mine.size(); ++j) {
        part.distances[q * k + j] = static_cast<float>(mine[j].value);
        part.labels[q * k + j] = mine[j].label;
      }
      all[q].insert(all[q].end(), mine.begin(), mine.end());
    }
  }
  for (auto& list : all)
    std::sort(list.begin(), list.end(), better);
  return out;
}

TEST(ExactMerge, ManyPartsMergeToTheOrderOfFloat64ThenLabel) {
  for (const Metric metric : {Metric::l2, Metric::inner_product}) {
    for (const std::size_t count : {2u, 3u, 5u, 8u}) {
      SCOPED_TRACE(std::string(to_string(metric)) + ", " + std::to_string(count) + " parts");
      // Enough queries that the merge splits them among threads.
      constexpr std::size_t rows = 3000, k = 6;
      std::vector<std::vector<Scored>> all;
      const std::vector<KnnResult> parts = hand_made_parts(count, rows, k, metric, all);
      const auto needed = detail::slots_needing_exact(parts, metric);
      std::vector<std::vector<double>> exact(count);
      for (std::size_t p = 0; p < count; ++p) {
        exact[p].assign(rows * k, std::nan(""));
        for (const std::size_t slot : needed[p]) {
          const std::int64_t label = parts[p].labels[slot];
          const auto& list = all[slot / k];
          exact[p][slot] = std::find_if(list.begin(), list.end(), [label](const Scored& s) {
                             return s.label == label;
                           })->value;
        }
      }
      const KnnResult merged = detail::merge_exact(parts, exact, metric);
      for (std::size_t q = 0; q < rows; ++q) {
        for (std::size_t j = 0; j < k; ++j) {
          const bool padded = j >= all[q].size();
          EXPECT_EQ(merged.labels[q * k + j], padded ? -1 : all[q][j].label)
              << "query " << q << " position " << j;
          if (!padded) EXPECT_EQ(merged.distances[q * k + j], static_cast<float>(all[q][j].value));
        }
      }
    }
  }
}

TEST(ExactMerge, APartOutOfItsMetricsOrderIsRefusedNamingItAndTheFirstSuchQuery) {
  std::vector<std::vector<Scored>> all;
  // Queries 2 and 2900 out of order, far apart: the threads merging them both fail, and the
  // first query is the one reported, as a serial merge would.
  std::vector<KnnResult> parts = hand_made_parts(3, 3000, 2, Metric::l2, all);
  for (const std::size_t query : {std::size_t{2900}, std::size_t{2}}) {
    const std::size_t slot = query * 2;  // the query's first slot at k = 2
    parts[2].labels[slot] = 90;
    parts[2].labels[slot + 1] = 91;
    parts[2].distances[slot] = 5.0f;
    parts[2].distances[slot + 1] = 4.0f;
  }
  const std::vector<std::vector<double>> exact(3, std::vector<double>(std::size_t{3000} * 2, 0.0));
  for (const bool merging : {false, true}) {
    try {
      if (merging) {
        (void)detail::merge_exact(parts, exact, Metric::l2);
      } else {
        (void)detail::slots_needing_exact(parts, Metric::l2);
      }
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("part 2's distances for query 2 "), std::string::npos)
          << e.what();
    }
  }
}

TEST(ShardedIndex, SameDeviceTwiceEqualsOneDeviceBitForBitWithTiesOnEveryMetric) {
  constexpr std::size_t dim = 6;
  constexpr std::size_t k = 12;
  const std::vector<float> base = small_integers(301, dim, 7);
  const std::vector<float> queries = small_integers(23, dim, 8);
  for (const Metric metric : kMetrics) {
    SCOPED_TRACE(std::string(to_string(metric)));
    ShardedIndex sharded(kSameDeviceTwice, dim, metric);
    // Uneven adds: the blocks land in both shards in pieces.
    sharded.add(std::span(base).first(100 * dim));
    sharded.add(std::span(base).subspan(100 * dim));
    ASSERT_EQ(sharded.size(), 301u);
    EXPECT_EQ(sharded.shard_size(0), 151u);
    EXPECT_EQ(sharded.shard_size(1), 150u);
    expect_bit_identical(sharded.search(queries, k), one_device(base, queries, dim, k, metric));
  }
}

/// Two rows whose float64 values round to one float32 distance, the better one with the larger
/// label and in the other shard: ordering equal float32 distances by label would swap them.
struct FloatTie {
  Metric metric;
  std::vector<float> worse_row;   // label 0, shard 0
  std::vector<float> better_row;  // label 4, shard 1
  std::vector<float> far_row;     // fills rows 1-3 and 5-7
  std::vector<float> query;
};

TEST(ShardedIndex, EqualFloat32DistancesOfDifferentShardsAreOrderedByFloat64) {
  const float tiny = std::ldexp(1.0f, -13);  // changes the float64 value, not the float32
  const FloatTie cases[] = {
      {Metric::l2, {1, tiny}, {1, 0}, {50, 50}, {0, 0}},
      {Metric::inner_product, {1, 0}, {1, tiny * tiny}, {-1, -1}, {1, 1}},
      {Metric::cosine, {1, tiny}, {1, 0}, {-1, 1}, {1, 0}},
  };
  for (const FloatTie& c : cases) {
    SCOPED_TRACE(std::string(to_string(c.metric)));
    std::vector<float> base;
    for (std::size_t row = 0; row < 8; ++row) {
      const auto& v = row == 0 ? c.worse_row : row == 4 ? c.better_row : c.far_row;
      base.insert(base.end(), v.begin(), v.end());
    }
    const double worse = detail::direct_distance(c.query, c.worse_row, c.metric);
    const double better = detail::direct_distance(c.query, c.better_row, c.metric);
    ASSERT_NE(worse, better);  // the data is what the test says
    ASSERT_EQ(static_cast<float>(worse), static_cast<float>(better));

    ShardedIndex sharded(kSameDeviceTwice, 2, c.metric);
    sharded.add(base);
    const KnnResult result = sharded.search(c.query, 3);
    EXPECT_EQ(result.labels[0], 4);
    EXPECT_EQ(result.labels[1], 0);
    expect_bit_identical(result, one_device(base, c.query, 2, 3, c.metric));
  }
}

TEST(ShardedIndex, CallersIdsOutOfOrderLabelResultsAndBreakTies) {
  constexpr std::size_t dim = 4;
  const std::vector<float> base = small_integers(120, dim, 11);
  const std::vector<float> queries = small_integers(9, dim, 12);
  std::vector<std::int64_t> ids(120);
  for (std::size_t i = 0; i < ids.size(); ++i)
    ids[i] = static_cast<std::int64_t>((i * 37) % 120) * 1000 + 5;  // a permutation, scaled
  for (const Metric metric : kMetrics) {
    SCOPED_TRACE(std::string(to_string(metric)));
    ShardedIndex sharded(kSameDeviceTwice, dim, metric);
    sharded.add_with_ids(base, ids);
    expect_bit_identical(sharded.search(queries, 10),
                         one_device(base, queries, dim, 10, metric, ids));
  }
}

TEST(ShardedIndex, KAboveTheSizePadsLikeOneDevice) {
  const std::vector<float> base = small_integers(3, 2, 1);
  const std::vector<float> queries = small_integers(2, 2, 2);
  ShardedIndex sharded(kSameDeviceTwice, 2, Metric::l2);
  sharded.add(base);
  const KnnResult result = sharded.search(queries, 5);
  EXPECT_EQ(result.labels[3], -1);
  EXPECT_EQ(result.labels[4], -1);
  expect_bit_identical(result, one_device(base, queries, 2, 5, Metric::l2));
}

/// uint8 and int8 rows of four values: many equal distances, within and across the shards,
/// so the merge reads rows back from the compact shards to order them.
TEST(ShardedIndex, CompactShardsEqualOneCompactDeviceBitForBitWithTies) {
  constexpr std::size_t dim = 5;
  constexpr std::size_t k = 9;
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> value(0, 3);
  std::vector<std::uint8_t> u8(257 * dim);
  std::vector<std::int8_t> i8(u8.size());
  for (std::size_t i = 0; i < u8.size(); ++i) {
    u8[i] = static_cast<std::uint8_t>(60 * value(rng));
    i8[i] = static_cast<std::int8_t>(u8[i] - 100);
  }
  std::vector<float> queries(13 * dim);
  for (float& q : queries)
    q = static_cast<float>(60 * value(rng) - 50);
  const auto check = [&](auto rows, ElementType type, Metric metric) {
    ShardedIndex sharded(kSameDeviceTwice, dim, metric, type);
    EXPECT_EQ(sharded.element_type(), type);
    sharded.add(rows.first(100 * dim));
    sharded.add(rows.subspan(100 * dim));
    Context context(Device::open(0));
    FlatIndex one(context, dim, metric, type);
    one.add(rows);
    expect_bit_identical(sharded.search(queries, k), one.search(queries, k));
  };
  for (const Metric metric : kMetrics) {
    SCOPED_TRACE(std::string(to_string(metric)));
    check(std::span<const std::uint8_t>(u8), ElementType::uint8, metric);
    check(std::span<const std::int8_t>(i8), ElementType::int8, metric);
  }
}

TEST(ShardedIndex, RowsOfAnotherElementTypeAreRefusedNamingBoth) {
  ShardedIndex sharded(kSameDeviceTwice, 2, Metric::l2, ElementType::uint8);
  const std::vector<float> floats = {1, 2};
  try {
    sharded.add(floats);
    FAIL() << "float32 rows accepted by a uint8 index";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("float32 rows into an index of uint8 rows"),
              std::string::npos)
        << e.what();
  }
  const std::vector<std::uint8_t> odd = {1, 2, 3};
  EXPECT_THROW(sharded.add(std::span<const std::uint8_t>(odd)), Error);
  EXPECT_EQ(sharded.size(), 0u);
}

TEST(ShardedIndex, ARefusedBatchAddsNothingToAnyShardAndNamesTheGlobalRow) {
  std::vector<float> base = small_integers(10, 2, 3);
  ShardedIndex sharded(kSameDeviceTwice, 2, Metric::l2);
  sharded.add(std::span(base).first(4));  // rows 0 and 1
  base[2 * 8 + 1] = std::nanf("");        // row 8 of the batch: global row 10
  try {
    sharded.add(base);
    FAIL() << "NaN accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("row 10"), std::string::npos) << e.what();
  }
  EXPECT_EQ(sharded.size(), 2u);
  EXPECT_EQ(sharded.shard_size(0) + sharded.shard_size(1), 2u);
  const std::vector<std::int64_t> negative = {1, 2, -3};
  EXPECT_THROW(sharded.add_with_ids(std::span(base).first(6), negative), Error);
  EXPECT_EQ(sharded.size(), 2u);
}

TEST(ShardedIndex, ANormThatWouldOverflowFloat32IsRefusedBeforeAnyShardTakesARow) {
  std::vector<float> base = small_integers(9, 2, 6);
  // Row 7: squared norm 9e38, above 2^124, though the value itself is finite.
  base[std::size_t{7} * 2] = 3e19f;
  for (const Metric metric : {Metric::l2, Metric::inner_product}) {
    SCOPED_TRACE(std::string(to_string(metric)));
    ShardedIndex sharded(kSameDeviceTwice, 2, metric);
    try {
      sharded.add(base);
      FAIL() << "an overflowing norm was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("base row 7 has squared norm"), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(sharded.shard_size(0) + sharded.shard_size(1), 0u);
  }
  ShardedIndex cosine(kSameDeviceTwice, 2, Metric::cosine);  // cosine rows are scaled: no limit
  cosine.add(base);
  EXPECT_EQ(cosine.size(), 9u);
}

TEST(ShardedIndex, ShardErrorsSurfaceAsVecaccelErrors) {
  ShardedIndex sharded(kSameDeviceTwice, 3, Metric::l2);
  sharded.add(small_integers(10, 3, 4));
  const std::vector<float> bad_query = {1, 2, std::numeric_limits<float>::infinity()};
  try {
    sharded.search(bad_query, 2);
    FAIL() << "Inf query accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
  }
  EXPECT_THROW(sharded.search(small_integers(1, 3, 5), 0), Error);
}

TEST(ShardedIndex, AStopRequestCancelsEveryShard) {
  ShardedIndex sharded(kSameDeviceTwice, 3, Metric::l2);
  sharded.add(small_integers(50, 3, 4));
  std::stop_source stop;
  stop.request_stop();
  try {
    sharded.search(small_integers(4, 3, 5), 2, {.timeout = {}, .stop = stop.get_token()});
    FAIL() << "a stopped search returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::cancelled) << e.what();
  }
  // Still usable.
  EXPECT_EQ(sharded.search(small_integers(4, 3, 5), 2).rows, 4u);
}

TEST(ShardedIndex, DeviceListsAreChecked) {
  EXPECT_THROW(ShardedIndex(std::span<const std::uint32_t>{}, 4, Metric::l2), Error);
  const std::uint32_t beyond[] = {static_cast<std::uint32_t>(Device::enumerate().size())};
  try {
    ShardedIndex index(beyond, 4, Metric::l2);
    FAIL() << "a device index out of range was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
  }
  const std::vector<std::uint32_t> all = ShardedIndex::all_devices();
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(ShardedIndex(4, Metric::l2).shard_count(), all.size());
}

TEST(ShardedIndex, ResetEmptiesEveryShard) {
  ShardedIndex sharded(kSameDeviceTwice, 2, Metric::l2);
  sharded.add(small_integers(7, 2, 1));
  sharded.reset();
  EXPECT_EQ(sharded.size(), 0u);
  EXPECT_EQ(sharded.shard_size(0) + sharded.shard_size(1), 0u);
  sharded.add(small_integers(3, 2, 1));
  EXPECT_EQ(sharded.search(small_integers(1, 2, 2), 3).labels[2] >= 0, true);
}

}  // namespace
}  // namespace vecaccel
