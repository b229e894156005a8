// remove_ids: removed rows are gone from every search, the others keep their labels and stay
// exactly searchable, add() numbers on past every label given, and the compaction on the GPU
// moves every per-row array (vectors, norms, the float16 copy, compact bytes) across chunks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "ops/base_upload.hpp"
#include "ops/chunk_readback.hpp"
#include "ops/flat_index_file.hpp"
#include "ops/knn_engine.hpp"
#include "ops/row_compaction.hpp"
#include "support/reference.hpp"
#include "support/temp_dir.hpp"
#include "vecaccel/vecaccel.hpp"

namespace vecaccel {
namespace {

namespace fs = std::filesystem;
namespace vt = vecaccel::testing;

class RemoveIdsTest : public vt::TempDirTest {
 protected:
  static void SetUpTestSuite() { context_ = std::make_unique<Context>(); }
  static void TearDownTestSuite() { context_.reset(); }
  static Context& context() { return *context_; }
  static std::unique_ptr<Context> context_;
};
std::unique_ptr<Context> RemoveIdsTest::context_;

/// Rows of `base` whose label (labels[i], or i) is not in `removed`, and their labels.
struct Survivors {
  std::vector<float> rows;
  std::vector<std::int64_t> labels;
};

Survivors survivors(const std::vector<float>& base, std::size_t dim,
                    const std::vector<std::int64_t>& labels,
                    const std::vector<std::int64_t>& removed) {
  Survivors out;
  for (std::size_t r = 0; r < base.size() / dim; ++r) {
    if (std::find(removed.begin(), removed.end(), labels[r]) != removed.end()) continue;
    out.rows.insert(out.rows.end(), base.begin() + static_cast<std::ptrdiff_t>(r * dim),
                    base.begin() + static_cast<std::ptrdiff_t>((r + 1) * dim));
    out.labels.push_back(labels[r]);
  }
  return out;
}

std::vector<std::int64_t> iota_labels(std::size_t n, std::int64_t first = 0) {
  std::vector<std::int64_t> out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = first + static_cast<std::int64_t>(i);
  return out;
}

/// The float64 reference over the survivors (labels ascending, so ties by row are ties by
/// label), compared after mapping the result's labels to survivor rows.
std::string check_exact(const KnnResult& result, const std::vector<float>& queries,
                        const Survivors& kept, std::size_t dim, std::size_t k, Metric metric) {
  std::map<std::int64_t, std::int64_t> row_of;
  for (std::size_t i = 0; i < kept.labels.size(); ++i)
    row_of[kept.labels[i]] = static_cast<std::int64_t>(i);
  KnnResult rows = result;
  for (std::int64_t& label : rows.labels) {
    if (label < 0) continue;
    const auto it = row_of.find(label);
    if (it == row_of.end()) return "label " + std::to_string(label) + " is not a kept row's";
    label = it->second;
  }
  return vt::check_knn(rows, queries, kept.rows, dim, k, metric);
}

/// Small integers: many exact ties, which the order by label must still settle.
std::vector<float> small_integers(std::size_t n, std::size_t dim, std::uint32_t seed) {
  std::vector<float> out = vt::normal_data(n, dim, seed);
  for (float& x : out)
    x = std::round(x * 1.5f);
  return out;
}

TEST_F(RemoveIdsTest, RemainingRowsKeepTheirLabelsAndSearchStaysExact) {
  constexpr std::size_t dim = 12, n = 700, k = 10;
  const auto base = small_integers(n, dim, 1);
  const auto queries = small_integers(17, dim, 2);
  for (const Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
    SCOPED_TRACE(std::string(to_string(metric)));
    FlatIndex index(context(), dim, metric);
    index.add(base);
    std::vector<std::int64_t> removed;
    for (std::int64_t id = 0; id < static_cast<std::int64_t>(n); id += 3)
      removed.push_back(id);
    for (std::int64_t id = 400; id < 480; ++id)
      removed.push_back(id);  // a run, partly overlapping the others
    const Survivors kept = survivors(base, dim, iota_labels(n), removed);
    EXPECT_EQ(index.remove_ids(removed), n - kept.labels.size());
    EXPECT_EQ(index.size(), kept.labels.size());
    EXPECT_EQ(check_exact(index.search(queries, k), queries, kept, dim, k, metric), "");
    // A removed row's own vector finds a kept row, never itself.
    const KnnResult own = index.search(std::span(base).subspan(401 * dim, dim), 3);
    for (const std::int64_t label : own.labels)
      EXPECT_EQ(std::find(removed.begin(), removed.end(), label), removed.end()) << label;
  }
}

TEST_F(RemoveIdsTest, AddNumbersOnAsIfNothingWereRemoved) {
  constexpr std::size_t dim = 4;
  const auto base = vt::normal_data(20, dim, 3);
  FlatIndex index(context(), dim, Metric::l2);
  index.add(std::span(base).subspan(0, 10 * dim));
  // The last rows too: labels past the survivors must not be given again.
  EXPECT_EQ(index.remove_ids(std::vector<std::int64_t>{3, 8, 9}), 3u);
  index.add(std::span(base).subspan(10 * dim, 5 * dim));
  EXPECT_EQ(index.size(), 12u);
  for (std::size_t row = 10; row < 15; ++row) {
    const KnnResult r = index.search(std::span(base).subspan(row * dim, dim), 1);
    EXPECT_EQ(r.labels[0], static_cast<std::int64_t>(row)) << "row " << row;
  }
  EXPECT_EQ(index.search(std::span(base).subspan(7 * dim, dim), 1).labels[0], 7);
  // add_with_ids rows count too, as they always have.
  index.add_with_ids(std::span(base).subspan(15 * dim, 2 * dim), std::vector<std::int64_t>{90, 91});
  index.add(std::span(base).subspan(17 * dim, dim));
  EXPECT_EQ(index.search(std::span(base).subspan(17 * dim, dim), 1).labels[0], 17);
}

TEST_F(RemoveIdsTest, AbsentRepeatedAndNegativeIdsAreIgnored) {
  constexpr std::size_t dim = 8;
  const auto base = vt::normal_data(50, dim, 4);
  const auto queries = vt::normal_data(5, dim, 5);
  FlatIndex index(context(), dim, Metric::inner_product);
  index.add_with_ids(base, iota_labels(50, 1000));
  const KnnResult before = index.search(queries, 7);
  EXPECT_EQ(index.remove_ids(std::vector<std::int64_t>{-1, 0, 49, 1050, 1'000'000'000'000}), 0u);
  EXPECT_EQ(index.remove_ids({}), 0u);
  EXPECT_EQ(index.size(), 50u);
  const KnnResult after = index.search(queries, 7);
  EXPECT_EQ(after.labels, before.labels);
  EXPECT_EQ(after.distances, before.distances);
  EXPECT_EQ(index.remove_ids(std::vector<std::int64_t>{1010, 1010, 1010, 1011}), 2u);
  EXPECT_EQ(index.size(), 48u);
}

TEST_F(RemoveIdsTest, RemovingEverythingLeavesAnEmptyIndexThatNumbersOn) {
  constexpr std::size_t dim = 6;
  const auto base = vt::normal_data(30, dim, 6);
  FlatIndex index(context(), dim, Metric::cosine);
  index.add(base);
  EXPECT_EQ(index.remove_ids(iota_labels(30)), 30u);
  EXPECT_EQ(index.size(), 0u);
  const KnnResult empty = index.search(std::span(base).subspan(0, dim), 3);
  EXPECT_EQ(empty.labels, std::vector<std::int64_t>(3, -1));
  index.add(std::span(base).subspan(0, 2 * dim));
  EXPECT_EQ(index.search(std::span(base).subspan(dim, dim), 1).labels[0], 31);
}

TEST_F(RemoveIdsTest, CompactIndexesRemoveRowsExactly) {
  constexpr std::size_t dim = 16, n = 300, k = 8;
  std::vector<std::uint8_t> bytes(n * dim);
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<std::uint8_t>((i * 37 + i / 7) % 7);  // few values: many ties
  const std::vector<float> base(bytes.begin(), bytes.end());
  const auto queries = small_integers(9, dim, 7);
  FlatIndex index(context(), dim, Metric::l2, ElementType::uint8);
  index.add(std::span<const std::uint8_t>(bytes));
  std::vector<std::int64_t> removed;
  for (std::int64_t id = 1; id < static_cast<std::int64_t>(n); id += 4)
    removed.push_back(id);
  EXPECT_EQ(index.remove_ids(removed), removed.size());
  const Survivors kept = survivors(base, dim, iota_labels(n), removed);
  EXPECT_EQ(check_exact(index.search(queries, k), queries, kept, dim, k, Metric::l2), "");
  // Positions close up: position 1 holds row 2 now.
  const std::vector<float> rows = index.reconstruct(std::vector<std::size_t>{0, 1});
  EXPECT_TRUE(std::equal(rows.begin(), rows.begin() + dim, base.begin()));
  EXPECT_TRUE(std::equal(rows.begin() + dim, rows.end(), base.begin() + 2 * dim));
}

TEST_F(RemoveIdsTest, SaveAndLoadKeepLabelsTheNextLabelAndOneBytePerElement) {
  constexpr std::size_t dim = 5, n = 40;
  std::vector<std::int8_t> bytes(n * dim);
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<std::int8_t>(static_cast<int>(i * 29 % 255) - 127);
  const std::vector<float> queries(bytes.begin(), bytes.begin() + 3 * dim);
  FlatIndex index(context(), dim, Metric::l2, ElementType::int8);
  index.add(std::span<const std::int8_t>(bytes));
  ASSERT_EQ(index.remove_ids(std::vector<std::int64_t>{0, 5, 38, 39}), 4u);
  index.save(path("i8.vfi"));
  // Header, ids, one byte per element, checksum.
  EXPECT_EQ(fs::file_size(path("i8.vfi")), 48 + 36 * 8 + 36 * dim + 8);
  FlatIndex loaded = FlatIndex::load(context(), path("i8.vfi"));
  EXPECT_EQ(loaded.element_type(), ElementType::int8);
  EXPECT_EQ(loaded.size(), 36u);
  const KnnResult a = index.search(queries, 6);
  const KnnResult b = loaded.search(queries, 6);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.distances, b.distances);
  // Both number on from 40, not from 36 or 38.
  loaded.add(std::span<const std::int8_t>(bytes).subspan(0, dim));
  EXPECT_EQ(loaded.search(std::span(queries).subspan(0, dim), 1).labels[0], 40);
}

TEST_F(RemoveIdsTest, VersionOneFilesStillLoad) {
  // A version 1 file as the previous release wrote it: 32-byte header, float32 rows.
  constexpr std::size_t dim = 3, n = 4;
  const std::vector<float> rows = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const std::vector<std::int64_t> ids = {7, 8, 9, 10};
  std::vector<char> file(32);
  std::memcpy(file.data(), "VECAFLAT", 8);
  const std::uint32_t version = 1, metric = 0;
  const std::uint64_t d = dim, rows_count = n;
  std::memcpy(file.data() + 8, &version, 4);
  std::memcpy(file.data() + 12, &metric, 4);
  std::memcpy(file.data() + 16, &d, 8);
  std::memcpy(file.data() + 24, &rows_count, 8);
  const auto append = [&](const void* data, std::size_t size) {
    file.insert(file.end(), static_cast<const char*>(data), static_cast<const char*>(data) + size);
  };
  append(ids.data(), ids.size() * 8);
  append(rows.data(), rows.size() * 4);
  const std::uint64_t sum = detail::fnv1a64(std::as_bytes(std::span(file)));
  append(&sum, 8);
  std::ofstream(path("v1.vfi"), std::ios::binary)
      .write(file.data(), static_cast<std::streamsize>(file.size()));
  FlatIndex loaded = FlatIndex::load(context(), path("v1.vfi"));
  EXPECT_EQ(loaded.size(), n);
  EXPECT_EQ(loaded.element_type(), ElementType::float32);
  EXPECT_EQ(loaded.search(std::span(rows).subspan(2 * dim, dim), 1).labels[0], 9);
  loaded.add(std::span(rows).subspan(0, dim));  // numbered by position, as version 1 did
  const KnnResult both = loaded.search(std::span(rows).subspan(0, dim), 2);
  EXPECT_EQ(both.labels, (std::vector<std::int64_t>{4, 7}));  // a tie at 0: by label
}

TEST_F(RemoveIdsTest, CompactionMovesEveryPlaneAcrossChunksAsAFreshBuildWouldHoldThem) {
  // Chunks of 5 rows (far below a real chunk) with a float16 copy: the survivors must sit
  // exactly where chunks built from them alone hold them — rows, norms, copy and scales.
  constexpr std::size_t dim = 8, chunk_rows = 5, n = 23;
  const auto base = vt::normal_data(n, dim, 8);
  const detail::KnnEngine engine(context(), dim, Metric::l2);
  const auto build = [&](const std::vector<float>& rows) {
    std::vector<detail::BaseChunk> chunks;
    for (std::size_t first = 0; first < rows.size() / dim; first += chunk_rows) {
      chunks.push_back(engine.make_chunk(chunk_rows, true));
      const std::size_t count = std::min(chunk_rows, rows.size() / dim - first);
      engine.append(chunks.back(), std::span(rows).subspan(first * dim, count * dim));
    }
    return chunks;
  };
  std::vector<detail::BaseChunk> chunks = build(base);
  bool keep[n];
  std::vector<std::int64_t> removed;
  for (std::size_t r = 0; r < n; ++r) {
    keep[r] = !(r == 2 || r == 3 || (r >= 6 && r <= 12) || r == 22);
    if (!keep[r]) removed.push_back(static_cast<std::int64_t>(r));
  }
  detail::remove_rows(context(), chunks, std::span<const bool>(keep, n), chunk_rows, dim);
  const Survivors kept = survivors(base, dim, iota_labels(n), removed);
  const std::vector<detail::BaseChunk> fresh = build(kept.rows);
  ASSERT_EQ(chunks.size(), fresh.size());
  std::vector<std::size_t> all(kept.labels.size());
  for (std::size_t i = 0; i < all.size(); ++i)
    all[i] = i;
  const auto plane = [&](const std::vector<detail::BaseChunk>& cs,
                         Buffer detail::BaseChunk::*member, std::uint64_t row_bytes) {
    std::vector<Buffer> buffers;
    for (const detail::BaseChunk& c : cs)
      buffers.push_back(c.*member);
    return detail::read_back_rows(context(), buffers, chunk_rows, row_bytes, all);
  };
  EXPECT_EQ(plane(chunks, &detail::BaseChunk::vectors, dim * 4),
            plane(fresh, &detail::BaseChunk::vectors, dim * 4));
  EXPECT_EQ(plane(chunks, &detail::BaseChunk::norms, 4),
            plane(fresh, &detail::BaseChunk::norms, 4));
  EXPECT_EQ(plane(chunks, &detail::BaseChunk::halves, dim * 2),
            plane(fresh, &detail::BaseChunk::halves, dim * 2));
  EXPECT_EQ(plane(chunks, &detail::BaseChunk::half_scales, 4),
            plane(fresh, &detail::BaseChunk::half_scales, 4));
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    EXPECT_EQ(chunks[c].rows, fresh[c].rows) << "chunk " << c;
    EXPECT_GE(chunks[c].max_norm, fresh[c].max_norm) << "chunk " << c;
  }
}

TEST_F(RemoveIdsTest, CompactionInSlicesSmallerThanTheGapsIsExact) {
  // One plane of 4-byte row numbers in chunks of 4 rows, moved through a 3-row scratch.
  constexpr std::size_t chunk_rows = 4, n = 14;
  detail::RowPlane plane{.chunks = {}, .row_bytes = 4};
  std::vector<std::uint32_t> expected;
  bool keep[n];
  for (std::size_t c = 0; c * chunk_rows < n; ++c) {
    Buffer chunk = context().buffer_factory().make_buffer(chunk_rows * 4, StorageMode::shared);
    for (std::size_t i = 0; i < chunk_rows; ++i) {
      const auto value = static_cast<std::uint32_t>(c * chunk_rows + i);
      std::memcpy(chunk.mapped().data() + i * 4, &value, 4);
    }
    context().residency_manager().register_buffer(chunk, ResidencyMode::persistent);
    plane.chunks.push_back(chunk);
  }
  context().residency_manager().commit();
  for (std::size_t r = 0; r < n; ++r) {
    keep[r] = r % 3 != 1 && r != 5;
    if (keep[r]) expected.push_back(static_cast<std::uint32_t>(r));
  }
  const std::vector<detail::RowMove> moves =
      detail::compaction_moves(std::span<const bool>(keep, n));
  detail::compact_rows(context(), std::vector<detail::RowPlane>{plane}, chunk_rows, moves, 12);
  std::vector<std::size_t> positions(expected.size());
  for (std::size_t i = 0; i < positions.size(); ++i)
    positions[i] = i;
  const std::vector<std::byte> got =
      detail::read_back_rows(context(), plane.chunks, chunk_rows, 4, positions);
  std::vector<std::uint32_t> values(expected.size());
  std::memcpy(values.data(), got.data(), got.size());
  EXPECT_EQ(values, expected);
}

TEST_F(RemoveIdsTest, ShardedIndexRemovesFromEveryShardAndStaysExact) {
  constexpr std::size_t dim = 6, n = 240, k = 9;
  const auto base = small_integers(n, dim, 9);
  const auto queries = small_integers(11, dim, 10);
  constexpr std::uint32_t twice[] = {0, 0};
  ShardedIndex index(twice, dim, Metric::l2);
  index.add(base);
  std::vector<std::int64_t> removed;
  for (std::int64_t id = 0; id < static_cast<std::int64_t>(n); id += 5)
    removed.push_back(id);
  removed.push_back(119);  // the last of shard 0 (120, shard 1's first, is a multiple of 5)
  removed.push_back(121);
  EXPECT_EQ(index.remove_ids(removed), 50u);
  EXPECT_EQ(index.size(), n - 50);
  EXPECT_EQ(index.shard_size(0) + index.shard_size(1), n - 50);
  const Survivors kept = survivors(base, dim, iota_labels(n), removed);
  EXPECT_EQ(check_exact(index.search(queries, k), queries, kept, dim, k, Metric::l2), "");
  EXPECT_EQ(index.remove_ids(removed), 0u);
  // New rows are numbered on from 240 and balance the shards again.
  index.add(std::span(base).subspan(0, 4 * dim));
  EXPECT_EQ(index.search(std::span(base).subspan(0, dim), 1).labels[0], 240);
  EXPECT_EQ(index.remove_ids(iota_labels(n + 4)), n - 50 + 4);
  EXPECT_EQ(index.size(), 0u);
}

}  // namespace
}  // namespace vecaccel
