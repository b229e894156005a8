// Runs the built `vecaccel` binary (VECACCEL_CLI_PATH) as a user would: results, recall, and
// for every bad input the exit status, one stderr line naming the problem, and no output file.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "support/reference.hpp"
#include "vecaccel/vecaccel.hpp"

namespace vecaccel {
namespace {

namespace fs = std::filesystem;
namespace vt = vecaccel::testing;

struct CliResult {
  int status = -1;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::size_t line_count(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device device;
    dir_ = fs::temp_directory_path() /
           ("vecaccel-cli-" + std::to_string(::getpid()) + "-" + std::to_string(device()));
    io_ = dir_ / "io";
    fs::create_directories(io_);
    fs::create_directories(dir_ / "data");
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// A file in the data directory, which the checks below expect to hold only inputs.
  std::string data(const std::string& name) const { return (dir_ / "data" / name).string(); }

  std::vector<std::string> data_entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_ / "data"))
      names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  /// Runs the tool with stdout/stderr captured in files (stderr is not a terminal, so no
  /// progress bar may appear).
  CliResult run(const std::vector<std::string>& args) const {
    const fs::path out = io_ / "stdout", err = io_ / "stderr";
    std::vector<std::string> all = {VECACCEL_CLI_PATH};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    argv.reserve(all.size() + 1);
    for (auto& a : all)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(o, STDOUT_FILENO);
      ::dup2(e, STDERR_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    CliResult result;
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = slurp(out);
    result.err = slurp(err);
    return result;
  }

  /// A failing run: the exit status, exactly one stderr line holding every fragment, and no
  /// file created in the data directory.
  void expect_failure(const std::vector<std::string>& args, int status,
                      const std::vector<std::string>& fragments) {
    const auto before = data_entries();
    const CliResult r = run(args);
    EXPECT_EQ(r.status, status) << r.err;
    EXPECT_EQ(line_count(r.err), 1u) << "stderr: " << r.err;
    for (const auto& fragment : fragments)
      EXPECT_NE(r.err.find(fragment), std::string::npos) << "'" << fragment << "' in " << r.err;
    EXPECT_EQ(data_entries(), before) << "an output file was left behind";
  }

  fs::path dir_;
  fs::path io_;
};

Matrix<float> matrix(std::size_t rows, std::size_t dim, std::vector<float> values) {
  return {.rows = rows, .dim = dim, .values = std::move(values)};
}

// ---- Results ---------------------------------------------------------------------------------

TEST_F(CliTest, SearchEqualsFlatIndexSearchBatchByBatch) {
  constexpr std::size_t dim = 24, nb = 2000, nq = 37, k = 10, batch = 16;
  const auto base = vt::normal_data(nb, dim, 1);
  const auto queries = vt::normal_data(nq, dim, 2);
  write_vectors(data("base.npy"), matrix(nb, dim, base));
  write_vectors(data("query.fvecs"), matrix(nq, dim, queries));
  const CliResult r = run({"search", "--base", data("base.npy"), "--query", data("query.fvecs"),
                           "-k", "10", "--metric", "ip", "--output", data("ids.ivecs"),
                           "--distances", data("dist.fvecs"), "--batch", std::to_string(batch)});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "") << "nothing but errors may go to stderr when it is not a terminal";
  EXPECT_NE(r.out.find("queries/s"), std::string::npos) << r.out;

  const Matrix<std::int32_t> ids = read_ids(data("ids.ivecs"));
  const Matrix<float> distances = read_vectors(data("dist.fvecs"));
  ASSERT_EQ(ids.rows, nq);
  ASSERT_EQ(ids.dim, k);
  ASSERT_EQ(distances.rows, nq);
  ASSERT_EQ(distances.dim, k);

  Context context;
  FlatIndex index(context, dim, Metric::inner_product);
  index.add(base);
  for (std::size_t q0 = 0; q0 < nq; q0 += batch) {
    const std::size_t n = std::min(batch, nq - q0);
    const KnnResult expected = index.search(std::span(queries).subspan(q0 * dim, n * dim), k);
    for (std::size_t i = 0; i < n * k; ++i) {
      EXPECT_EQ(ids.values[q0 * k + i], expected.labels[i]) << "query " << q0 + i / k;
      EXPECT_EQ(distances.values[q0 * k + i], expected.distances[i]) << "query " << q0 + i / k;
    }
  }
}

TEST_F(CliTest, GroundTruthRecallCountsTheFirstGroundTruthIdOnly) {
  // Base rows (i, 0) for i = 0..19; the nearest-first order of each query is known exactly.
  std::vector<float> base;
  for (int i = 0; i < 20; ++i) {
    base.push_back(static_cast<float>(i));
    base.push_back(0.0f);
  }
  const std::vector<float> queries = {0.1f, 0, 5.2f, 0, 19.0f, 0, 10.4f, 0};
  // First column: query 0's nearest (rank 1), query 1's 4th nearest (5, 6, 4, 7: rank 4),
  // query 2's 17th nearest (19, 18, ..., 3: rank 17), and an id that is never returned. The
  // other columns name hits, which must not count.
  const std::vector<std::int32_t> gt = {0, 5, 6, 7, 0, 1, 3, 19, 18, 99, 10, 11};
  write_vectors(data("base.fvecs"), matrix(20, 2, base));
  write_vectors(data("query.fvecs"), matrix(4, 2, queries));
  write_ids(data("gt.ivecs"), {.rows = 4, .dim = 3, .values = gt});
  const CliResult r = run({"search", "--base", data("base.fvecs"), "--query", data("query.fvecs"),
                           "-k", "20", "--gt", data("gt.ivecs"), "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\"recall_at_1\": 0.250000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"recall_at_10\": 0.500000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"recall_at_20\": 0.750000"), std::string::npos) << r.out;

  const CliResult text = run({"search", "--base", data("base.fvecs"), "--query",
                              data("query.fvecs"), "-k", "5", "--gt", data("gt.ivecs")});
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("recall@1   0.2500"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("recall@5   0.5000"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("recall@10"), std::string::npos) << "recall@10 needs k >= 10";
}

TEST_F(CliTest, HelpDefinesRecall) {
  const CliResult r = run({"search", "--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("1-recall@R"), std::string::npos) << r.out;
}

TEST_F(CliTest, BenchAndDemoRunOnSmallSizes) {
  const CliResult bench = run({"bench", "--n", "3000", "--dim", "16", "--queries", "20", "-k", "5",
                               "--repeat", "2", "--json"});
  ASSERT_EQ(bench.status, 0) << bench.err;
  EXPECT_NE(bench.out.find("\"queries_per_second\""), std::string::npos) << bench.out;
  EXPECT_NE(bench.out.find("\"tflops\""), std::string::npos) << bench.out;
  const CliResult demo = run({"demo", "--n", "5000", "--dim", "16", "--queries", "40"});
  ASSERT_EQ(demo.status, 0) << demo.err;
  EXPECT_NE(demo.out.find("recall@10 = 1.0000"), std::string::npos) << demo.out;
  EXPECT_NE(demo.out.find("result   ok"), std::string::npos) << demo.out;
  EXPECT_EQ(demo.err, "");
}

// ---- Bad inputs ------------------------------------------------------------------------------

class CliErrors : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    write_vectors(data("base.fvecs"), matrix(30, 8, vt::normal_data(30, 8, 3)));
    write_vectors(data("query.fvecs"), matrix(5, 8, vt::normal_data(5, 8, 4)));
  }

  /// search with the given base and query, asking for both outputs in the data directory.
  std::vector<std::string> search(const std::string& base, const std::string& query,
                                  const std::string& k = "3") const {
    return {"search",   "--base",          base,          "--query",         query, "-k", k,
            "--output", data("ids.ivecs"), "--distances", data("dist.fvecs")};
  }
};

TEST_F(CliErrors, MissingFile) {
  expect_failure(search(data("nope.fvecs"), data("query.fvecs")), 1, {data("nope.fvecs")});
}

TEST_F(CliErrors, TruncatedFile) {
  const std::string good = slurp(data("base.fvecs"));
  std::ofstream(data("cut.fvecs"), std::ios::binary) << good.substr(0, good.size() - 5);
  expect_failure(search(data("cut.fvecs"), data("query.fvecs")), 1, {data("cut.fvecs")});
}

TEST_F(CliErrors, DimensionMismatchBetweenBaseAndQuery) {
  write_vectors(data("q6.fvecs"), matrix(2, 6, vt::normal_data(2, 6, 5)));
  expect_failure(search(data("base.fvecs"), data("q6.fvecs")), 1,
                 {"dimension", data("q6.fvecs"), data("base.fvecs"), "6", "8"});
}

TEST_F(CliErrors, NanInBaseAndInfInQueryNameFileRowAndValue) {
  auto values = vt::normal_data(30, 8, 6);
  values[5 * 8 + 3] = std::numeric_limits<float>::quiet_NaN();
  write_vectors(data("nan.fvecs"), matrix(30, 8, values));
  expect_failure(search(data("nan.fvecs"), data("query.fvecs")), 1,
                 {data("nan.fvecs"), "row 5", "column 3", "nan"});
  auto queries = vt::normal_data(5, 8, 7);
  queries[std::size_t{2} * 8] = -std::numeric_limits<float>::infinity();
  write_vectors(data("inf.fvecs"), matrix(5, 8, queries));
  expect_failure(search(data("base.fvecs"), data("inf.fvecs")), 1,
                 {data("inf.fvecs"), "row 2", "column 0", "-inf"});
}

TEST_F(CliErrors, KOutOfRangeIsAUsageError) {
  expect_failure(search(data("base.fvecs"), data("query.fvecs"), "0"), 2, {"-k", "0"});
  expect_failure(search(data("base.fvecs"), data("query.fvecs"), "2049"), 2, {"-k", "2049"});
  // More neighbours than base vectors: also out of range, named with the base size.
  expect_failure(search(data("base.fvecs"), data("query.fvecs"), "31"), 2,
                 {"-k 31", "30", data("base.fvecs")});
}

TEST_F(CliErrors, UnknownMetricIsAUsageError) {
  auto args = search(data("base.fvecs"), data("query.fvecs"));
  args.insert(args.end(), {"--metric", "manhattan"});
  expect_failure(args, 2, {"manhattan"});
}

TEST_F(CliErrors, MissingOptionAndBadOutputExtensionAreUsageErrors) {
  expect_failure({"search", "--base", data("base.fvecs"), "-k", "3"}, 2, {"--query"});
  expect_failure({"search", "--base", data("base.fvecs"), "--query", data("query.fvecs"), "-k", "3",
                  "--output", data("ids.txt")},
                 2, {"--output", "ids.txt"});
  expect_failure({"frobnicate"}, 2, {"frobnicate"});
}

TEST_F(CliErrors, GroundTruthWithTheWrongRowCount) {
  write_ids(data("gt.ivecs"), {.rows = 4, .dim = 1, .values = {0, 1, 2, 3}});
  auto args = search(data("base.fvecs"), data("query.fvecs"));
  args.insert(args.end(), {"--gt", data("gt.ivecs")});
  expect_failure(args, 1, {data("gt.ivecs"), "4 rows", "5 rows"});
}

}  // namespace
}  // namespace vecaccel
