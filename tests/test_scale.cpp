// Scale: compact (uint8/int8) bases, bases streamed from mapped files through the GPU in
// passes (forced here by the memory budget), the exact merge of the passes' top k, and
// ingestion checked on several threads.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ops/base_upload.hpp"
#include "support/reference.hpp"
#include "support/temp_dir.hpp"
#include "vecaccel/vecaccel.hpp"

namespace vecaccel {
namespace {

namespace fs = std::filesystem;
namespace vt = vecaccel::testing;

constexpr Metric kMetrics[] = {Metric::l2, Metric::inner_product, Metric::cosine};

Context& shared_context() {
  static Context context;
  return context;
}

class ScaleTest : public vecaccel::testing::TempDirTest {
 protected:
  void TearDown() override {
    ::unsetenv("VECACCEL_MEMORY_BUDGET");
    TempDirTest::TearDown();
  }
};

template <class T>
std::vector<T> random_bytes(std::size_t count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(std::is_signed_v<T> ? -128 : 0,
                                           std::is_signed_v<T> ? 127 : 255);
  std::vector<T> out(count);
  for (T& v : out)
    v = static_cast<T>(value(rng));
  return out;
}

template <class T>
std::vector<float> widened(const std::vector<T>& values) {
  return {values.begin(), values.end()};
}

/// Same labels, and distances with the same bits.
void expect_same_bits(const KnnResult& a, const KnnResult& b, const std::string& what) {
  ASSERT_EQ(a.rows, b.rows) << what;
  ASSERT_EQ(a.k, b.k) << what;
  EXPECT_EQ(a.labels, b.labels) << what;
  ASSERT_EQ(a.distances.size(), b.distances.size()) << what;
  EXPECT_EQ(std::memcmp(a.distances.data(), b.distances.data(), a.distances.size() * sizeof(float)),
            0)
      << what;
}

template <class F>
std::string error_of(Errc code, F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(to_string(e.code()), to_string(code)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected an Error with code " << to_string(code);
  return "";
}

// ---------------------------------------------------------------------------------------------
// MappedVectors

TEST_F(ScaleTest, MappedVectorsReadRowsInPlaceInEveryBaseFormat) {
  const Matrix<float> f{3, 2, {1, 2, 3, 4, 5, 6}};
  const Matrix<std::uint8_t> u8{3, 2, {1, 2, 3, 4, 5, 255}};
  write_vectors(path("a.fbin"), f);
  write_vectors(path("a.fvecs"), f);
  write_vectors(path("a.npy"), f);
  write_vectors(path("a.u8bin"), u8);
  write_vectors(path("a.bvecs"), u8);
  for (const char* name : {"a.fbin", "a.fvecs", "a.npy"}) {
    const MappedVectors mapped(path(name));
    EXPECT_EQ(mapped.rows(), 3u) << name;
    EXPECT_EQ(mapped.dim(), 2u) << name;
    EXPECT_EQ(mapped.element_type(), ElementType::float32) << name;
    std::vector<float> rows(4);
    mapped.copy_rows(1, 2, std::as_writable_bytes(std::span(rows)));
    EXPECT_EQ(rows, (std::vector<float>{3, 4, 5, 6})) << name;
    EXPECT_EQ(mapped.contiguous(0, 3).empty(), std::string(name) == "a.fvecs") << name;
  }
  for (const char* name : {"a.u8bin", "a.bvecs"}) {
    const MappedVectors mapped(path(name));
    EXPECT_EQ(mapped.element_type(), ElementType::uint8) << name;
    EXPECT_EQ(std::to_integer<int>(mapped.row(2)[1]), 255) << name;
  }
}

TEST_F(ScaleTest, MappedNpyWithUnalignedDataIsCopiedNotReadInPlace) {
  // A valid .npy whose header length leaves the float data at an odd offset (numpy pads to 64,
  // other writers need not): rows are copied out rather than read as misaligned floats.
  const std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n";
  std::string bytes = "\x93NUMPY";
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(header.size());
  bytes += '\x00';
  bytes += header;
  ASSERT_NE(bytes.size() % 4, 0u);
  const float values[4] = {1, 2, 3, 4};
  bytes.append(reinterpret_cast<const char*>(values), sizeof values);
  std::FILE* file = std::fopen(path("odd.npy").c_str(), "wb");
  std::fwrite(bytes.data(), 1, bytes.size(), file);
  std::fclose(file);
  const MappedVectors mapped(path("odd.npy"));
  EXPECT_TRUE(mapped.contiguous(0, 2).empty());
  const std::vector<float> query = {3, 4};
  const KnnResult r = ops::knn(shared_context(), query, mapped, 2, Metric::l2);
  EXPECT_EQ(r.labels, (std::vector<std::int64_t>{1, 0}));
  EXPECT_EQ(r.distances, (std::vector<float>{0, 8}));
}

TEST_F(ScaleTest, MappedFilesAreCheckedLikeTheReaders) {
  write_vectors(path("a.fvecs"), Matrix<float>{2, 2, {1, 2, 3, 4}});
  {  // row 1's header says 3
    std::FILE* file = std::fopen(path("a.fvecs").c_str(), "r+b");
    const std::int32_t three = 3;
    std::fseek(file, 12, SEEK_SET);
    std::fwrite(&three, 4, 1, file);
    std::fclose(file);
  }
  const MappedVectors mapped(path("a.fvecs"));
  const auto msg = error_of(Errc::io_error, [&] { mapped.row(1); });
  EXPECT_NE(msg.find("row 1 has dimension 3, expected 2"), std::string::npos) << msg;
  write_ids(path("a.ivecs"), Matrix<std::int32_t>{1, 1, {1}});
  error_of(Errc::invalid_argument, [&] { MappedVectors{path("a.ivecs")}; });
  {
    std::FILE* file = std::fopen(path("t.fbin").c_str(), "wb");
    const std::int32_t header[2] = {4, 2};
    std::fwrite(header, 4, 2, file);
    std::fclose(file);
  }
  const auto truncated = error_of(Errc::io_error, [&] { MappedVectors{path("t.fbin")}; });
  EXPECT_NE(truncated.find("truncated: 4 x 2 needs 32 data bytes"), std::string::npos) << truncated;
  error_of(Errc::invalid_argument, [&] { mapped.row(2); });
}

TEST_F(ScaleTest, AMappedTexmexFileOfTheWrongSizeNamesARowOfAnotherDimensionFirst) {
  // Rows of dimension 2, 3, 2: 12 + 16 + 12 bytes, not a whole number of 12-byte rows. The
  // reader names row 1; the mapping called the file truncated at byte 36.
  std::FILE* file = std::fopen(path("mixed.fvecs").c_str(), "wb");
  const std::int32_t two = 2, three = 3;
  const float values[3] = {1, 2, 3};
  for (const std::int32_t dim : {two, three, two}) {
    std::fwrite(&dim, 4, 1, file);
    std::fwrite(values, 4, static_cast<std::size_t>(dim), file);
  }
  std::fclose(file);
  const auto mapped = error_of(Errc::io_error, [&] { MappedVectors{path("mixed.fvecs")}; });
  EXPECT_NE(mapped.find("mixed.fvecs: row 1 has dimension 3, expected 2 (from row 0)"),
            std::string::npos)
      << mapped;
  const auto read = error_of(Errc::io_error, [&] { (void)read_vectors(path("mixed.fvecs")); });
  EXPECT_NE(read.find("row 1 has dimension 3, expected 2 (from row 0)"), std::string::npos) << read;
  // The partial last row's header is read too: dimension 1 there, 8 of its 12 bytes present.
  write_vectors(path("last.fvecs"), Matrix<float>{2, 2, {1, 2, 3, 4}});
  {
    std::FILE* tail = std::fopen(path("last.fvecs").c_str(), "ab");
    const std::int32_t one = 1;
    std::fwrite(&one, 4, 1, tail);
    std::fwrite(values, 4, 1, tail);
    std::fclose(tail);
  }
  const auto last = error_of(Errc::io_error, [&] { MappedVectors{path("last.fvecs")}; });
  EXPECT_NE(last.find("row 2 has dimension 1, expected 2"), std::string::npos) << last;
  // Rows that all agree and a partial last row: still truncated.
  write_vectors(path("cut.fvecs"), Matrix<float>{2, 2, {1, 2, 3, 4}});
  std::filesystem::resize_file(path("cut.fvecs"), 20);
  const auto cut = error_of(Errc::io_error, [&] { MappedVectors{path("cut.fvecs")}; });
  EXPECT_NE(cut.find("truncated at byte 12: row 1 needs 12 bytes, 8 left"), std::string::npos)
      << cut;
}

// ---------------------------------------------------------------------------------------------
// Compact element types

TEST_F(ScaleTest, Uint8KnnEqualsFloat64WhereFloat32SumsAreNotExact) {
  // 255^2 * 300 > 2^24: float32 distances of these rows round; the results must not.
  const std::size_t dim = 300, n = 700, nq = 20, k = 10;
  const auto base = random_bytes<std::uint8_t>(n * dim, 1);
  const auto queries = widened(random_bytes<std::uint8_t>(nq * dim, 2));
  for (const Metric metric : kMetrics) {
    const KnnResult r = ops::knn(shared_context(), queries, std::span(base), dim, k, metric);
    EXPECT_EQ(vt::check_knn(r, queries, widened(base), dim, k, metric), "") << to_string(metric);
  }
}

TEST_F(ScaleTest, Int8KnnEqualsFloat64WhereFloat32SumsAreNotExact) {
  // 128^2 * 1100 > 2^24.
  const std::size_t dim = 1100, n = 300, nq = 16, k = 7;
  const auto base = random_bytes<std::int8_t>(n * dim, 3);
  const auto queries = vt::normal_data(nq, dim, 4);
  for (const Metric metric : kMetrics) {
    const KnnResult r = ops::knn(shared_context(), queries, std::span(base), dim, k, metric);
    EXPECT_EQ(vt::check_knn(r, queries, widened(base), dim, k, metric), "") << to_string(metric);
  }
}

TEST_F(ScaleTest, CompactFlatIndexEqualsFloatIndexBitForBit) {
  const std::size_t dim = 260, n = 900, nq = 12, k = 9;
  const auto base = random_bytes<std::uint8_t>(n * dim, 5);
  const auto queries = widened(random_bytes<std::uint8_t>(nq * dim, 6));
  for (const Metric metric : kMetrics) {
    FlatIndex compact(shared_context(), dim, metric, ElementType::uint8);
    EXPECT_EQ(compact.element_type(), ElementType::uint8);
    compact.add(std::span(base).first(400 * dim));  // two adds: the chunk grows on the GPU
    compact.add(std::span(base).subspan(400 * dim));
    EXPECT_EQ(compact.size(), n);
    FlatIndex wide(shared_context(), dim, metric);
    wide.add(widened(base));
    const KnnResult r = compact.search(queries, k);
    expect_same_bits(r, wide.search(queries, k), std::string(to_string(metric)));
    EXPECT_EQ(vt::check_knn(r, queries, widened(base), dim, k, metric), "");
  }
}

TEST_F(ScaleTest, CompactIndexRefusesOtherElementTypesAndKeepsIdsAndSaves) {
  const std::size_t dim = 4;
  FlatIndex index(shared_context(), dim, Metric::l2, ElementType::int8);
  const std::vector<float> floats(dim, 1.0f);
  const auto msg = error_of(Errc::invalid_argument, [&] { index.add(floats); });
  EXPECT_NE(msg.find("float32 rows into an index of int8 rows"), std::string::npos) << msg;
  const std::vector<std::int8_t> rows = {-128, 0, 0, 0, 5, 5, 5, 5, 127, 127, 127, 127};
  const std::vector<std::int64_t> ids = {70, 80, 90};
  index.add_with_ids(std::span(rows), ids);
  const std::vector<float> query = {-128, 0, 0, 1};
  const KnnResult r = index.search(query, 3);
  EXPECT_EQ(r.labels, (std::vector<std::int64_t>{70, 80, 90}));
  EXPECT_EQ(r.distances[0], 1.0f);
  index.save(path("i.vecaflat"));
  const FlatIndex again = FlatIndex::load(shared_context(), path("i.vecaflat"));
  EXPECT_EQ(again.element_type(), ElementType::int8);  // one byte per element, also in the file
  expect_same_bits(again.search(query, 3), r, "after save and load");
}

TEST_F(ScaleTest, ReconstructOfACompactIndexGivesItsRowsWidened) {
  const std::size_t dim = 3;
  FlatIndex index(shared_context(), dim, Metric::l2, ElementType::int8);
  const std::vector<std::int8_t> rows = {-128, 0, 1, 5, 6, 7, 127, -1, 2};
  index.add(std::span(rows));
  const std::vector<std::size_t> wanted = {2, 0};
  EXPECT_EQ(index.reconstruct(wanted), (std::vector<float>{127, -1, 2, -128, 0, 1}));
  const std::vector<std::size_t> beyond = {3};
  EXPECT_THROW((void)index.reconstruct(beyond), Error);
}

// ---------------------------------------------------------------------------------------------
// Streaming

TEST_F(ScaleTest, MemoryBudgetParsesBinaryMultiplesAndRefusesTheRest) {
  EXPECT_EQ(parse_byte_size("4096", "b"), 4096u);
  EXPECT_EQ(parse_byte_size("512M", "b"), 512u << 20);
  EXPECT_EQ(parse_byte_size("2g", "b"), std::uint64_t{2} << 30);
  EXPECT_EQ(parse_byte_size("3K", "b"), 3072u);
  for (const char* bad : {"", "M", "0", "12X", "1.5G", "-1", "99999999999999999999"}) {
    error_of(Errc::invalid_argument, [&] { parse_byte_size(bad, "b"); });
  }
  ::setenv("VECACCEL_MEMORY_BUDGET", "lots", 1);
  write_vectors(path("b.fbin"), Matrix<float>{1, 1, {1}});
  const MappedVectors base(path("b.fbin"));
  const std::vector<float> query = {1};
  const auto msg = error_of(Errc::invalid_argument,
                            [&] { ops::knn(shared_context(), query, base, 1, Metric::l2); });
  EXPECT_NE(msg.find("VECACCEL_MEMORY_BUDGET = 'lots'"), std::string::npos) << msg;
}

TEST_F(ScaleTest, StreamedSearchUploadingOnAnotherThreadEqualsInMemorySearchBitForBit) {
  const std::size_t dim = 24, n = 3000, nq = 40, k = 15;
  const auto base = vt::clustered_data(n, dim, 20, 7);
  const auto queries = vt::clustered_data(nq, dim, 20, 8);
  write_vectors(path("base.fbin"), Matrix<float>{n, dim, base});
  write_vectors(path("base.fvecs"), Matrix<float>{n, dim, base});
  // About 490 rows per pass: seven passes, each uploaded while the previous is searched.
  ::setenv("VECACCEL_MEMORY_BUDGET", "128K", 1);
  for (const char* name : {"base.fbin", "base.fvecs"}) {
    const MappedVectors mapped(path(name));
    for (const Metric metric : kMetrics) {
      std::vector<std::size_t> progress;
      const KnnResult streamed =
          ops::knn(shared_context(), queries, mapped, k, metric,
                   {.progress = [&](std::size_t done, std::size_t) { progress.push_back(done); }});
      EXPECT_EQ(progress.size(), 7u);
      EXPECT_EQ(progress.back(), n);
      const KnnResult memory = ops::knn(shared_context(), queries, base, dim, k, metric);
      expect_same_bits(streamed, memory, std::string(name) + " " + std::string(to_string(metric)));
    }
  }
}

TEST_F(ScaleTest, StreamedUint8FileEqualsInMemorySearch) {
  const std::size_t dim = 40, n = 2000, nq = 25, k = 8;
  const auto base = random_bytes<std::uint8_t>(n * dim, 9);
  const auto queries = widened(random_bytes<std::uint8_t>(nq * dim, 10));
  write_vectors(path("base.u8bin"), Matrix<std::uint8_t>{n, dim, base});
  const MappedVectors mapped(path("base.u8bin"));
  for (const Metric metric : kMetrics) {
    std::size_t passes = 0;
    const KnnResult streamed = ops::knn(
        shared_context(), queries, mapped, k, metric,
        {.progress = [&](std::size_t, std::size_t) { ++passes; }, .memory_budget = 64 << 10});
    EXPECT_GT(passes, 3u);
    expect_same_bits(streamed, ops::knn(shared_context(), queries, widened(base), dim, k, metric),
                     std::string(to_string(metric)));
  }
}

TEST_F(ScaleTest, StreamedSearchOfARowRangeEqualsASearchOfThoseRowsLabelledAsFileRows) {
  const std::size_t dim = 24, n = 1500, nq = 20, k = 9, first = 437, count = 701;
  const auto base = random_bytes<std::uint8_t>(n * dim, 11);
  const auto queries = widened(random_bytes<std::uint8_t>(nq * dim, 12));
  write_vectors(path("range.u8bin"), Matrix<std::uint8_t>{n, dim, base});
  const MappedVectors mapped(path("range.u8bin"));
  const std::vector<std::uint8_t> rows(base.begin() + first * dim,
                                       base.begin() + (first + count) * dim);
  for (const Metric metric : kMetrics) {
    std::vector<std::size_t> progress;
    const KnnResult range = ops::knn(shared_context(), queries, mapped, k, metric,
                                     {.progress =
                                          [&](std::size_t done, std::size_t total) {
                                            EXPECT_EQ(total, count);
                                            progress.push_back(done);
                                          },
                                      .memory_budget = 16 << 10,
                                      .first_row = first,
                                      .row_count = count});
    ASSERT_GT(progress.size(), 2u);
    EXPECT_EQ(progress.back(), count);
    KnnResult expected = ops::knn(shared_context(), queries, widened(rows), dim, k, metric);
    for (std::int64_t& label : expected.labels)
      label += static_cast<std::int64_t>(first);
    expect_same_bits(range, expected, std::string(to_string(metric)));
  }
  const auto outside = error_of(Errc::invalid_argument, [&] {
    (void)ops::knn(shared_context(), queries, mapped, k, Metric::l2,
                   {.first_row = 1000, .row_count = 501});
  });
  EXPECT_NE(outside.find("range.u8bin: rows 1000 to 1501 asked of its 1500 rows"),
            std::string::npos)
      << outside;
}

TEST_F(ScaleTest, RowRangesOfOneMappedFileStreamedConcurrentlyOnTwoContextsAreEachExact) {
  // As `vecaccel search --devices` streams the shares of one mapped file: a thread and a
  // Context each, passes uploaded on further threads, pages of finished passes released.
  const std::size_t dim = 16, n = 1200, nq = 10, k = 7;
  const auto base = random_bytes<std::uint8_t>(n * dim, 13);
  const auto queries = widened(random_bytes<std::uint8_t>(nq * dim, 14));
  write_vectors(path("shares.fbin"), Matrix<float>{n, dim, widened(base)});
  const MappedVectors mapped(path("shares.fbin"));
  Context second(shared_context().device());
  Context* contexts[2] = {&shared_context(), &second};
  KnnResult results[2];
  {
    std::vector<std::jthread> threads;
    for (std::size_t i = 0; i < 2; ++i) {
      threads.emplace_back([&, i] {
        results[i] =
            ops::knn(*contexts[i], queries, mapped, k, Metric::l2,
                     {.memory_budget = 8 << 10, .first_row = i * n / 2, .row_count = n / 2});
      });
    }
  }
  for (std::size_t i = 0; i < 2; ++i) {
    const auto share = widened(std::vector<std::uint8_t>(base.begin() + i * n / 2 * dim,
                                                         base.begin() + (i + 1) * n / 2 * dim));
    KnnResult expected = ops::knn(shared_context(), queries, share, dim, k, Metric::l2);
    for (std::int64_t& label : expected.labels)
      label += static_cast<std::int64_t>(i * n / 2);
    expect_same_bits(results[i], expected, "share " + std::to_string(i));
  }
}

/// A uint8 row of `dim` values whose squared norm is `target` (255s, then up to four squares).
std::vector<std::uint8_t> row_with_squared_norm(std::size_t dim, std::uint64_t target) {
  std::vector<std::uint8_t> row(dim, 0);
  constexpr std::uint64_t kMaxSquare = 65025;  // 255^2
  std::size_t i = 0;
  for (; target >= kMaxSquare; target -= kMaxSquare)
    row[i++] = 255;
  while (target > 0) {
    auto v = static_cast<std::uint64_t>(std::sqrt(static_cast<double>(target)));
    row[i++] = static_cast<std::uint8_t>(v);
    target -= v * v;
  }
  return row;
}

TEST_F(ScaleTest, StreamedMergeOrdersEqualFloat32DistancesByTheirFloat64Values) {
  // Row 1 lies at squared distance 2^24 + 1 from the zero query, row 5 at 2^24: both round to
  // the float32 16777216, and row 5 comes first although its label is higher. With one row per
  // pass, only a merge that recomputes the float64 values from the file gets this right.
  const std::size_t dim = 300;
  const std::uint64_t two24 = std::uint64_t{1} << 24;
  std::vector<std::uint8_t> base;
  const auto far = std::vector<std::uint8_t>(dim, 255);
  for (const auto& row : {far, row_with_squared_norm(dim, two24 + 1), far, far, far,
                          row_with_squared_norm(dim, two24)}) {
    base.insert(base.end(), row.begin(), row.end());
  }
  write_vectors(path("tie.u8bin"), Matrix<std::uint8_t>{6, dim, base});
  write_vectors(path("tie.fbin"), Matrix<float>{6, dim, widened(base)});
  const std::vector<float> query(dim, 0.0f);
  for (const char* name : {"tie.u8bin", "tie.fbin"}) {
    const MappedVectors mapped(path(name));
    std::size_t passes = 0;
    const KnnResult r =
        ops::knn(shared_context(), query, mapped, 3, Metric::l2,
                 {.progress = [&](std::size_t, std::size_t) { ++passes; }, .memory_budget = 4096});
    EXPECT_EQ(passes, 6u) << name;
    EXPECT_EQ(r.labels, (std::vector<std::int64_t>{5, 1, 0})) << name;
    EXPECT_EQ(r.distances[0], 16777216.0f) << name;
    EXPECT_EQ(r.distances[1], 16777216.0f) << name;
    expect_same_bits(r, ops::knn(shared_context(), query, widened(base), dim, 3, Metric::l2), name);
  }
}

TEST_F(ScaleTest, FlatIndexAddsAMappedFile) {
  const std::size_t dim = 16, n = 1000, k = 5;
  const auto base = vt::normal_data(n, dim, 11);
  write_vectors(path("b.fvecs"), Matrix<float>{n, dim, base});
  FlatIndex index(shared_context(), dim, Metric::l2);
  index.add(MappedVectors(path("b.fvecs")));
  FlatIndex wrong(shared_context(), dim + 1, Metric::l2);
  error_of(Errc::invalid_argument, [&] { wrong.add(MappedVectors(path("b.fvecs"))); });
  const auto queries = vt::normal_data(10, dim, 12);
  EXPECT_EQ(vt::check_knn(index.search(queries, k), queries, base, dim, k, Metric::l2), "");
}

// ---------------------------------------------------------------------------------------------
// Ingestion

TEST_F(ScaleTest, AddCheckedOnSeveralThreadsNamesTheFirstBadRowAndAddsNothing) {
  const std::size_t dim = 8, n = 12000;
  auto base = vt::normal_data(n, dim, 13);
  base[9000 * dim + 3] = std::nanf("");
  base[5000 * dim + 1] = INFINITY;  // with two or more threads, the two lie in different ranges
  FlatIndex index(shared_context(), dim, Metric::l2);
  index.add(std::span(base).first(100 * dim));
  const auto msg = error_of(Errc::invalid_argument, [&] { index.add(base); });
  EXPECT_NE(msg.find("base row 5100 holds inf at dimension 1"), std::string::npos) << msg;
  EXPECT_EQ(index.size(), 100u);
  base[9000 * dim + 3] = 1e20f;  // squared norm 1e40 > 2^124: the float32 screen would overflow
  base[5000 * dim + 1] = 0.0f;
  const auto norm = error_of(Errc::invalid_argument, [&] { index.add(base); });
  EXPECT_NE(norm.find("base row 9100 has squared norm"), std::string::npos) << norm;
  EXPECT_EQ(index.size(), 100u);
}

}  // namespace
}  // namespace vecaccel
