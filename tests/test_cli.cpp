// Runs the built `vecaccel` binary (VECACCEL_CLI_PATH) as a user would: results, recall, and
// for every bad input the exit status, one stderr line naming the problem, and no output file.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bus_error_guard.hpp"
#include "support/reference.hpp"
#include "support/temp_dir.hpp"
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

class CliTest : public vecaccel::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    io_ = dir_ / "io";
    fs::create_directories(io_);
    fs::create_directories(dir_ / "data");
  }

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
  /// progress bar may appear). `file_size_limit` (bytes, 0 for none) makes writing beyond it
  /// fail with EFBIG, the way a full disk fails.
  CliResult run(const std::vector<std::string>& args, rlim_t file_size_limit = 0) const {
    std::vector<std::string> all = {VECACCEL_CLI_PATH};
    all.insert(all.end(), args.begin(), args.end());
    return run_program(all, file_size_limit);
  }

  /// Runs a program (all[0], a path) with stdout/stderr captured as run() does; `meanwhile`
  /// (if any) is called with its process id while it runs.
  CliResult run_program(std::vector<std::string> all, rlim_t file_size_limit = 0,
                        const std::function<void(pid_t)>& meanwhile = {}) const {
    const fs::path out = io_ / "stdout", err = io_ / "stderr";
    const std::vector<char*> argv = c_argv(all);
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(o, STDOUT_FILENO);
      ::dup2(e, STDERR_FILENO);
      if (file_size_limit != 0) {
        ::signal(SIGXFSZ, SIG_IGN);  // fail the write instead of killing the process
        const rlimit limit{.rlim_cur = file_size_limit, .rlim_max = RLIM_INFINITY};
        ::setrlimit(RLIMIT_FSIZE, &limit);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    if (meanwhile) meanwhile(pid);
    int status = 0;
    ::waitpid(pid, &status, 0);
    CliResult result;
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = slurp(out);
    result.err = slurp(err);
    return result;
  }

  static std::vector<char*> c_argv(std::vector<std::string>& args) {
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    return argv;
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

  fs::path io_;
};

Matrix<float> matrix(std::size_t rows, std::size_t dim, std::vector<float> values) {
  return {.rows = rows, .dim = dim, .values = std::move(values)};
}

// ---- Results ---------------------------------------------------------------------------------

/// Small integers: equal distances are true ties, within and across shards or ranks.
std::vector<float> small_integers(std::size_t count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(-2, 2);
  std::vector<float> out(count);
  for (float& x : out)
    x = static_cast<float>(value(rng));
  return out;
}

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

TEST_F(CliTest, BaseLargerThanTheMemoryBudgetIsStreamedWithTheSameResults) {
  constexpr std::size_t dim = 20, nb = 3000, nq = 30;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> byte(0, 255);
  Matrix<std::uint8_t> base{nb, dim, std::vector<std::uint8_t>(nb * dim)};
  for (auto& v : base.values)
    v = static_cast<std::uint8_t>(byte(rng));
  write_vectors(data("base.u8bin"), base);
  write_vectors(data("base.fbin"),
                Matrix<float>{nb, dim, {base.values.begin(), base.values.end()}});
  write_vectors(data("query.fvecs"), matrix(nq, dim, vt::normal_data(nq, dim, 6)));
  const auto search_into = [&](const std::string& base_file, const std::string& out) {
    return run({"search", "--base", data(base_file), "--query", data("query.fvecs"), "-k", "12",
                "--output", (dir_ / out).string(), "--json"});
  };
  const CliResult whole = search_into("base.fbin", "whole.ibin");
  ASSERT_EQ(whole.status, 0) << whole.err;
  EXPECT_NE(whole.out.find("\"streamed_passes\": 0"), std::string::npos) << whole.out;
  // 64 KiB: 292 float rows per pass of the 3,000 (236 uint8 rows: a compact row also needs its
  // bytes on the GPU).
  ::setenv("VECACCEL_MEMORY_BUDGET", "64K", 1);
  const CliResult streamed = search_into("base.fbin", "streamed.ibin");
  const CliResult bytes = search_into("base.u8bin", "bytes.ibin");
  ::unsetenv("VECACCEL_MEMORY_BUDGET");
  for (const CliResult* r : {&streamed, &bytes}) {
    ASSERT_EQ(r->status, 0) << r->err;
    EXPECT_EQ(r->out.find("\"streamed_passes\": 0"), std::string::npos) << r->out;
    EXPECT_EQ(r->err, "");
  }
  EXPECT_NE(streamed.out.find("\"streamed_passes\": 11"), std::string::npos) << streamed.out;
  EXPECT_NE(streamed.out.find("\"memory_budget_bytes\": 65536"), std::string::npos) << streamed.out;
  const std::string expected = slurp(dir_ / "whole.ibin");
  EXPECT_EQ(expected.size(), 8u + nq * 12 * 8);
  EXPECT_EQ(slurp(dir_ / "streamed.ibin"), expected);
  EXPECT_EQ(slurp(dir_ / "bytes.ibin"), expected);
}

TEST_F(CliTest, ABaseAboveTheLargestDimensionIsRefusedNamingTheFileHeldOrStreamed) {
  constexpr std::size_t dim = FlatIndex::max_dim + 4, nb = 2;
  write_vectors(data("wide.fbin"), matrix(nb, dim, std::vector<float>(nb * dim, 1.0f)));
  write_vectors(data("query.fbin"), matrix(1, dim, std::vector<float>(dim, 0.0f)));
  const auto search = [&] {
    return run({"search", "--base", data("wide.fbin"), "--query", data("query.fbin"), "-k", "1",
                "--output", (dir_ / "out.ibin").string()});
  };
  const CliResult held = search();
  // The streamed search had no such check and searched the first 65536 dimensions.
  ::setenv("VECACCEL_MEMORY_BUDGET", "64K", 1);
  const CliResult streamed = search();
  ::unsetenv("VECACCEL_MEMORY_BUDGET");
  for (const CliResult* r : {&held, &streamed}) {
    EXPECT_EQ(r->status, 1) << r->err;
    EXPECT_NE(r->err.find("wide.fbin: dimension 65540 above the 65536 a search supports"),
              std::string::npos)
        << r->err;
  }
  EXPECT_FALSE(fs::exists(dir_ / "out.ibin"));
}

TEST_F(CliTest, AMappedFileTruncatedUnderTheSearchEndsWithAnIoErrorNamingIt) {
  // What the search does when a base's file shrinks while mapped (a child process: the
  // signal ends it). It died of SIGBUS, "Bus error", before the guard.
  const fs::path path = dir_ / "shrinking.fbin";
  std::ofstream(path) << std::string(1 << 16, 'x');
  const int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  void* map = ::mmap(nullptr, 1 << 16, PROT_READ, MAP_SHARED, fd, 0);
  ASSERT_NE(map, MAP_FAILED);
  int err[2];
  ASSERT_EQ(::pipe(err), 0);
  pid_t child = -1;
  {
    const cli::BusErrorGuard guard(path.string());
    child = ::fork();
    if (child == 0) {
      ::dup2(err[1], STDERR_FILENO);
      (void)!::ftruncate(fd, 0);
      const auto value = *(static_cast<volatile const char*>(map) + 4096);
      ::_exit(value == 0 ? 3 : 4);  // not reached: the read raises SIGBUS
    }
  }
  ::close(err[1]);
  std::string message(4096, '\0');
  const ssize_t got = ::read(err[0], message.data(), message.size());
  message.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ::close(err[0]);
  ::munmap(map, 1 << 16);
  ::close(fd);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(message.find("io_error: " + path.string() + ": a page of the mapped file could not"),
            std::string::npos)
      << message;
}

TEST_F(CliTest, IbinOutputHoldsIdsAndDistancesAndServesAsGroundTruth) {
  constexpr std::size_t dim = 8, nb = 200, nq = 9, k = 4;
  write_vectors(data("base.fvecs"), matrix(nb, dim, vt::normal_data(nb, dim, 7)));
  write_vectors(data("query.fvecs"), matrix(nq, dim, vt::normal_data(nq, dim, 8)));
  const CliResult r =
      run({"search", "--base", data("base.fvecs"), "--query", data("query.fvecs"), "-k", "4",
           "--output", (dir_ / "gt.ibin").string(), "--distances", (dir_ / "d.fbin").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const GroundTruth truth = read_ground_truth(dir_ / "gt.ibin");
  EXPECT_EQ(truth.ids.rows, nq);
  EXPECT_EQ(truth.ids.dim, k);
  EXPECT_EQ(truth.distances, read_vectors(dir_ / "d.fbin"));
  const CliResult again =
      run({"search", "--base", data("base.fvecs"), "--query", data("query.fvecs"), "-k", "4",
           "--gt", (dir_ / "gt.ibin").string(), "--json"});
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.out.find("\"recall_at_1\": 1.000000"), std::string::npos) << again.out;
}

TEST_F(CliTest, GroundTruthRecallCountsTheFirstGroundTruthIdOnly) {
  // Base rows (i, 0) for i = 0..19; the nearest-first order of each query is known exactly.
  std::vector<float> base;
  for (int i = 0; i < 20; ++i) {
    base.push_back(static_cast<float>(i));
    base.push_back(0.0f);
  }
  const std::vector<float> queries = {0.1f, 0, 5.2f, 0, 19.0f, 0, 10.4f, 0};
  // Row 20, far away at (1000, 0), is every query's farthest.
  base.push_back(1000.0f);
  base.push_back(0.0f);
  // First column: query 0's nearest (rank 1), query 1's 4th nearest (5, 6, 4, 7: rank 4),
  // query 2's 17th nearest (19, 18, ..., 3: rank 17), and row 20, never among 20 results. The
  // other columns name hits, which must not count.
  const std::vector<std::int32_t> gt = {0, 5, 6, 7, 0, 1, 3, 19, 18, 20, 10, 11};
  write_vectors(data("base.fvecs"), matrix(21, 2, base));
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

TEST_F(CliTest, GraphWritesEachRowsKNearestOtherRowsExactlyWithDuplicatesAndPadding) {
  // Small integers with rows 10..14 copies of row 3: ties and duplicates before and after a row.
  constexpr std::size_t dim = 5, rows = 60;
  std::vector<float> values = small_integers(rows * dim, 11);
  for (std::size_t r = 10; r < 15; ++r)
    std::copy_n(values.begin() + 3 * dim, dim,
                values.begin() + static_cast<std::ptrdiff_t>(r * dim));
  write_vectors(data("base.fvecs"), matrix(rows, dim, values));
  for (const std::string metric : {"l2", "ip", "l1"}) {
    SCOPED_TRACE(metric);
    const CliResult r =
        run({"graph", "--base", data("base.fvecs"), "-k", "6", "--metric", metric, "--output",
             (io_ / "g.ivecs").string(), "--distances", (io_ / "g.fvecs").string()});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("k = 6 other rows"), std::string::npos) << r.out;
    const Matrix<std::int32_t> ids = read_ids(io_ / "g.ivecs");
    const Matrix<float> distances = read_vectors(io_ / "g.fvecs");
    const KnnResult graph{
        .rows = ids.rows,
        .k = ids.dim,
        .distances = distances.values,
        .labels = std::vector<std::int64_t>(ids.values.begin(), ids.values.end())};
    EXPECT_EQ(vt::check_knn_graph(graph, values, dim, 6, parse_metric(metric)), "");
  }
  // k at the rows: the last column is padding (-1, +inf).
  const std::vector<float> few(values.begin(), values.begin() + 4 * dim);
  write_vectors(data("few.fvecs"), matrix(4, dim, few));
  const CliResult padded =
      run({"graph", "--base", data("few.fvecs"), "-k", "4", "--output", (io_ / "p.ivecs").string(),
           "--distances", (io_ / "p.fvecs").string(), "--quiet"});
  ASSERT_EQ(padded.status, 0) << padded.err;
  const Matrix<std::int32_t> ids = read_ids(io_ / "p.ivecs");
  const Matrix<float> distances = read_vectors(io_ / "p.fvecs");
  const KnnResult graph{.rows = 4,
                        .k = 4,
                        .distances = distances.values,
                        .labels = std::vector<std::int64_t>(ids.values.begin(), ids.values.end())};
  EXPECT_EQ(vt::check_knn_graph(graph, few, dim, 4, Metric::l2), "");
}

TEST_F(CliTest, GraphRefusesAnOutputOverItsBaseAndAMissingOutput) {
  write_vectors(data("base.fvecs"), matrix(10, 4, small_integers(40, 2)));
  const std::string before = slurp(data("base.fvecs"));
  expect_failure({"graph", "--base", data("base.fvecs"), "-k", "2", "--output", data("x.ivecs"),
                  "--distances", data("base.fvecs")},
                 2, {"--distances", "--base", "same file"});
  expect_failure({"graph", "--base", data("base.fvecs"), "-k", "2"}, 2, {"--output"});
  expect_failure({"graph", "--base", data("base.fvecs"), "-k", "0", "--output", data("x.ivecs")}, 2,
                 {"-k"});
  EXPECT_EQ(slurp(data("base.fvecs")), before);
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
                 {data("nan.fvecs"), "row 5", "dimension 3", "nan"});
  auto queries = vt::normal_data(5, 8, 7);
  queries[std::size_t{2} * 8] = -std::numeric_limits<float>::infinity();
  write_vectors(data("inf.fvecs"), matrix(5, 8, queries));
  expect_failure(search(data("base.fvecs"), data("inf.fvecs")), 1,
                 {data("inf.fvecs"), "row 2", "column 0", "-inf"});
}

TEST_F(CliErrors, AQueryWhoseL2ValuesWouldOverflowIsRefusedNamingFileAndRowHeldOrStreamed) {
  auto queries = vt::normal_data(12, 8, 7);
  queries[std::size_t{9} * 8 + 2] = 1e20f;  // squared norm 1e40 > 2^124, though finite
  write_vectors(data("huge.fvecs"), matrix(12, 8, queries));
  // Batches of 4: the engine alone numbered the row within its batch (1), without the file.
  std::vector<std::string> args = search(data("base.fvecs"), data("huge.fvecs"));
  args.insert(args.end(), {"--batch", "4"});
  const std::vector<std::string> words = {
      data("huge.fvecs") + ": query row 9 has squared norm 1e+40", "l2"};
  expect_failure(args, 1, words);
  ::setenv("VECACCEL_MEMORY_BUDGET", "1K", 1);  // streamed: ops::knn over the mapped base
  expect_failure(args, 1, words);
  ::unsetenv("VECACCEL_MEMORY_BUDGET");
  // Cosine scales every row before the screen: nothing to refuse.
  args.insert(args.end(), {"--metric", "cosine"});
  EXPECT_EQ(run(args).status, 0);
}

TEST_F(CliErrors, KOutOfRangeIsAUsageErrorAndKPastTheBasePads) {
  expect_failure(search(data("base.fvecs"), data("query.fvecs"), "0"), 2, {"-k", "0"});
  expect_failure(search(data("base.fvecs"), data("query.fvecs"), "2147483648"), 2,
                 {"-k", "2147483648"});
  // More neighbours than the 30 base vectors: every row, then id -1 at distance +inf (as the
  // library pads).
  const CliResult r = run(search(data("base.fvecs"), data("query.fvecs"), "32"));
  ASSERT_EQ(r.status, 0) << r.err;
  const Matrix<std::int32_t> ids = read_ids(data("ids.ivecs"));
  const Matrix<float> distances = read_vectors(data("dist.fvecs"));
  ASSERT_EQ(ids.dim, 32u);
  for (std::size_t q = 0; q < ids.rows; ++q) {
    std::vector<std::int32_t> found(ids.values.begin() + static_cast<std::ptrdiff_t>(q * 32),
                                    ids.values.begin() + static_cast<std::ptrdiff_t>(q * 32 + 30));
    std::sort(found.begin(), found.end());
    for (std::int32_t i = 0; i < 30; ++i)
      EXPECT_EQ(found[static_cast<std::size_t>(i)], i) << "query " << q;
    for (std::size_t j = 30; j < 32; ++j) {
      EXPECT_EQ(ids.values[q * 32 + j], -1);
      EXPECT_EQ(distances.values[q * 32 + j], std::numeric_limits<float>::infinity());
    }
  }
}

TEST_F(CliErrors, UnknownMetricIsAUsageError) {
  auto args = search(data("base.fvecs"), data("query.fvecs"));
  args.insert(args.end(), {"--metric", "manhattan"});
  expect_failure(args, 2, {"manhattan"});
}

TEST_F(CliErrors, MetricNamesAreCaseInsensitive) {
  const auto ids_with = [&](const std::string& metric) {
    auto args = search(data("base.fvecs"), data("query.fvecs"));
    args.insert(args.end(), {"--metric", metric});
    const CliResult r = run(args);
    EXPECT_EQ(r.status, 0) << metric << ": " << r.err;
    return slurp(data("ids.ivecs"));
  };
  EXPECT_EQ(ids_with("L2"), ids_with("l2"));
  EXPECT_EQ(ids_with("IP"), ids_with("ip"));
  EXPECT_EQ(ids_with("Cosine"), ids_with("cosine"));
  EXPECT_EQ(ids_with("L1"), ids_with("l1"));
  EXPECT_EQ(ids_with("LInf"), ids_with("linf"));
}

TEST_F(CliErrors, ANumberOrPathThatIsNoneIsAUsageErrorNamingTheOptionAndTheText) {
  expect_failure(search(data("base.fvecs"), data("query.fvecs"), "abc"), 2,
                 {"-k", "'abc' is not a whole number"});
  auto batch = search(data("base.fvecs"), data("query.fvecs"));
  batch.insert(batch.end(), {"--batch", "x"});
  expect_failure(batch, 2, {"--batch", "'x' is not a whole number"});
  // An empty --output wrote nothing and exited 0.
  expect_failure({"search", "--base", data("base.fvecs"), "--query", data("query.fvecs"), "-k", "3",
                  "--output", ""},
                 2, {"--output", "empty path"});
  expect_failure({"search", "--base", data("base.fvecs"), "--query", data("query.fvecs"), "-k", "3",
                  "--distances", ""},
                 2, {"--distances", "empty path"});
}

TEST_F(CliErrors, APipelineCachePathThatIsADirectoryIsNamed) {
  const fs::path cache = dir_ / "cache";
  ::setenv("XDG_CACHE_HOME", cache.c_str(), 1);
  const std::vector<std::string> args = {
      "search", "--base", data("base.fvecs"), "--query", data("query.fvecs"), "-k", "3"};
  ASSERT_EQ(run(args).status, 0);  // writes the cache file
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(cache / "vecaccel"))
    files.push_back(entry.path());
  ASSERT_FALSE(files.empty());
  for (const fs::path& file : files) {
    fs::remove(file);
    fs::create_directories(file);
  }
  const CliResult r = run(args);
  ::unsetenv("XDG_CACHE_HOME");
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("pipeline cache '" + files[0].string() + "' is a directory"),
            std::string::npos)
      << r.err;
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

TEST_F(CliErrors, GroundTruthIdOutsideTheBaseNamesFileRowColumnIdAndN) {
  // The base has N = 30 rows: -1 and 30 are no row of it and would silently count as misses.
  for (const std::int32_t bad : {-1, 30}) {
    SCOPED_TRACE(bad);
    std::vector<std::int32_t> ids = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    ids[3 * 2 + 1] = bad;  // query 3, column 1
    write_ids(data("gt.ivecs"), {.rows = 5, .dim = 2, .values = ids});
    auto args = search(data("base.fvecs"), data("query.fvecs"));
    args.insert(args.end(), {"--gt", data("gt.ivecs")});
    expect_failure(args, 1,
                   {data("gt.ivecs"), "row 3", "column 1", "id " + std::to_string(bad), "N = 30"});
  }
}

// ---- Outputs: never over an input, all or nothing --------------------------------------------

TEST_F(CliErrors, SearchOutputNamingAnInputIsRefusedWithExit2) {
  write_ids(data("gt.ivecs"), {.rows = 5, .dim = 1, .values = {0, 1, 2, 3, 4}});
  const std::string gt_before = slurp(data("gt.ivecs"));
  const std::string base_before = slurp(data("base.fvecs"));
  const std::vector<std::string> common = {
      "search", "--base", data("base.fvecs"), "--query", data("query.fvecs"), "-k", "3"};
  const auto with = [&](std::vector<std::string> extra) {
    auto args = common;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  expect_failure(with({"--gt", data("gt.ivecs"), "--output", data("gt.ivecs")}), 2,
                 {"--output", "--gt", data("gt.ivecs"), "same file"});
  expect_failure(with({"--distances", data("base.fvecs")}), 2,
                 {"--distances", "--base", data("base.fvecs"), "same file"});
  // Another spelling of the same path, and another name (a hard link) of the same file.
  const std::string dotted = (dir_ / "data" / "." / "query.fvecs").string();
  expect_failure(with({"--distances", dotted}), 2, {"--distances", "--query", dotted});
  fs::create_hard_link(data("base.fvecs"), data("link.fvecs"));
  expect_failure(with({"--distances", data("link.fvecs")}), 2,
                 {"--distances", data("link.fvecs"), "--base"});
  fs::remove(data("link.fvecs"));
  // The two outputs in one file: the ids would be lost under the distances.
  expect_failure(with({"--output", data("x.npy"), "--distances", data("x.npy")}), 2,
                 {"--output", "--distances", data("x.npy")});
  EXPECT_EQ(slurp(data("gt.ivecs")), gt_before);
  EXPECT_EQ(slurp(data("base.fvecs")), base_before);
}

TEST_F(CliErrors, UnwritableOutputDirectoryFailsBeforeSearchingAndWritesNothing) {
  const std::string missing = (dir_ / "data" / "nodir" / "dist.fvecs").string();
  expect_failure({"search", "--base", data("base.fvecs"), "--query", data("query.fvecs"), "-k", "3",
                  "--output", data("ids.ivecs"), "--distances", missing},
                 1, {"--distances", missing, "No such file or directory"});
  expect_failure({"search", "--base", data("base.fvecs"), "--query", data("query.fvecs"), "-k", "3",
                  "--output", (dir_ / "data" / "base.fvecs" / "ids.ivecs").string()},
                 1, {"--output", "Not a directory"});
}

TEST_F(CliErrors, FailedSecondOutputLeavesNeitherOutputNorTemporaries) {
  // k = 30: ids.ivecs takes 5 x (4 + 120) = 620 bytes, dist.npy 128 + 600 = 728; with files
  // limited to 680 bytes the ids fit and the distances fail.
  const auto before = data_entries();
  const CliResult r =
      run({"search", "--base", data("base.fvecs"), "--query", data("query.fvecs"), "-k", "30",
           "--output", data("ids.ivecs"), "--distances", data("dist.npy")},
          680);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find(data("dist.npy")), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("File too large"), std::string::npos) << r.err;
  EXPECT_EQ(data_entries(), before) << "an output or a temporary was left behind";
}

// ---- Signals ---------------------------------------------------------------------------------

/// A run interrupted by a signal at a known phase: the tool's stderr is a pseudo-terminal, so
/// it draws its progress bar ("searching" once the first batch is done), and an inotify watch
/// on the data directory reports the moment an output's temporary file is created.
class CliSignals : public CliTest {
 protected:
  enum class Phase { search, output_write };

  struct Outcome {
    bool exited = false;  // else killed by a signal
    int code = -1;        // exit status, or the signal that killed it
    std::string terminal;
  };

  void SetUp() override {
    CliTest::SetUp();
    write_vectors(data("base.fvecs"), matrix(2000, 8, vt::normal_data(2000, 8, 8)));
  }

  /// Runs `vecaccel search` over `queries` queries, k = 10, with both outputs in the data
  /// directory; sends `signal` once the run reaches `phase`.
  Outcome interrupt(std::size_t queries, std::size_t batch, Phase phase, int signal) {
    write_vectors(data("query.fvecs"), matrix(queries, 8, vt::normal_data(queries, 8, 9)));
    inputs_ = data_entries();
    std::vector<std::string> all = {VECACCEL_CLI_PATH,
                                    "search",
                                    "--base",
                                    data("base.fvecs"),
                                    "--query",
                                    data("query.fvecs"),
                                    "-k",
                                    "10",
                                    "--batch",
                                    std::to_string(batch),
                                    "--output",
                                    data("ids.npy"),
                                    "--distances",
                                    data("dist.npy")};
    const std::vector<char*> argv = c_argv(all);
    const int watch = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    ::inotify_add_watch(watch, (dir_ / "data").c_str(), IN_CREATE);
    int terminal = -1;
    const pid_t pid = ::forkpty(&terminal, nullptr, nullptr, nullptr);
    if (pid == 0) {
      const int o = ::open((io_ / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(o, STDOUT_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    Outcome outcome;
    bool sent = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd fds[] = {{.fd = terminal, .events = POLLIN, .revents = 0},
                      {.fd = watch, .events = POLLIN, .revents = 0}};
      ::poll(fds, 2, 100);
      const bool temporary = fds[1].revents != 0 && temporary_created(watch);
      const bool ready = phase == Phase::search
                             ? outcome.terminal.find("searching") != std::string::npos
                             : temporary;
      if (!sent && ready) {
        ::kill(pid, signal);
        sent = true;
      }
      if (fds[0].revents != 0 && !read_some(terminal, outcome.terminal)) break;
    }
    ::close(watch);
    ::close(terminal);
    if (!sent) ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(sent) << "the run ended before the phase was seen: " << outcome.terminal;
    outcome.exited = WIFEXITED(status);
    outcome.code = outcome.exited ? WEXITSTATUS(status) : WTERMSIG(status);
    return outcome;
  }

  /// Reads the pending events: true if one created a temporary (a name with ".tmp-").
  static bool temporary_created(int watch) {
    alignas(inotify_event) char buffer[4096];
    bool found = false;
    for (ssize_t got; (got = ::read(watch, buffer, sizeof buffer)) > 0;) {
      for (ssize_t at = 0; at < got;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
        if (event->len > 0 && std::strstr(event->name, ".tmp-") != nullptr) found = true;
        at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      }
    }
    return found;
  }

  /// Appends what the terminal holds; false once the tool closed it (EIO).
  static bool read_some(int terminal, std::string& text) {
    char buffer[4096];
    const ssize_t got = ::read(terminal, buffer, sizeof buffer);
    if (got <= 0) return false;
    text.append(buffer, static_cast<std::size_t>(got));
    return true;
  }

  void expect_interrupted(const Outcome& outcome, int signal, const std::string& name) {
    EXPECT_TRUE(outcome.exited) << "killed by signal " << outcome.code
                                << " instead of exiting: " << outcome.terminal;
    EXPECT_EQ(outcome.code, 128 + signal) << outcome.terminal;
    EXPECT_NE(outcome.terminal.find("interrupted by " + name), std::string::npos)
        << outcome.terminal;
    EXPECT_EQ(data_entries(), inputs_) << "an output or a temporary was left behind";
  }

  std::vector<std::string> inputs_;
};

TEST_F(CliSignals, SigintDuringTheSearchExits130AndLeavesNoFile) {
  // One query per batch: thousands of GPU round trips, seconds even on a fast GPU.
  expect_interrupted(interrupt(20000, 1, Phase::search, SIGINT), SIGINT, "SIGINT");
}

TEST_F(CliSignals, SigtermDuringTheSearchExits143AndLeavesNoFile) {
  expect_interrupted(interrupt(20000, 1, Phase::search, SIGTERM), SIGTERM, "SIGTERM");
}

TEST_F(CliSignals, SignalWhileWritingTheOutputsLeavesNoTemporary) {
  // The signal goes out the moment the first temporary appears. Each output is synced (an
  // fsync: milliseconds) before the stop is checked, so the run nearly always stops there;
  // should it reach the renames first, it completes instead. Either way: no temporary, and
  // all outputs or none.
  const Outcome outcome = interrupt(2500, 4096, Phase::output_write, SIGINT);
  ASSERT_TRUE(outcome.exited) << "killed by signal " << outcome.code << ": " << outcome.terminal;
  if (outcome.code == 0) {
    EXPECT_EQ(read_ids(data("ids.npy")).rows, 2500u);
    EXPECT_EQ(read_vectors(data("dist.npy")).rows, 2500u);
    auto expected = inputs_;
    expected.insert(expected.end(), {"dist.npy", "ids.npy"});
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(data_entries(), expected);
    return;
  }
  expect_interrupted(outcome, SIGINT, "SIGINT");
}

TEST_F(CliTest, SigtermWhileAQueryPipeHasNoWriterExits143) {
  // open() of a named pipe waits for a writer; the tool sat there with its signals blocked,
  // and only SIGKILL ended it.
  write_vectors(data("base.fbin"), matrix(10, 4, vt::normal_data(10, 4, 1)));
  const fs::path pipe = dir_ / "query.fbin";
  ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
  const std::string base = data("base.fbin");
  const pid_t child = ::fork();
  if (child == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::execl(VECACCEL_CLI_PATH, VECACCEL_CLI_PATH, "search", "--base", base.c_str(), "--query",
            pipe.c_str(), "-k", "2", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_GT(child, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ::kill(child, SIGTERM);
  int status = 0;
  pid_t done = 0;
  for (int turn = 0; turn < 200 && done == 0; ++turn) {
    done = ::waitpid(child, &status, WNOHANG);
    if (done == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (done == 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    FAIL() << "still waiting for the pipe 10 s after SIGTERM";
  }
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 143);
}

// ---- Several devices and ranks ------------------------------------------------------------------

class CliShards : public CliTest {
 protected:
  static constexpr std::size_t kDim = 6;
  static constexpr std::size_t kRows = 801;

  void SetUp() override {
    CliTest::SetUp();
    base_ = small_integers(kRows * kDim, 21);
    write_vectors(data("base.npy"), matrix(kRows, kDim, base_));
    write_vectors(data("query.npy"), matrix(19, kDim, small_integers(19 * kDim, 22)));
  }

  /// Runs a search into ids/distances files named after `tag`; returns their bytes.
  std::string search(const std::string& tag, const std::string& metric,
                     std::vector<std::string> extra = {}, const std::string& base = "") {
    std::vector<std::string> args = {"search",
                                     "--base",
                                     base.empty() ? data("base.npy") : base,
                                     "--query",
                                     data("query.npy"),
                                     "-k",
                                     "12",
                                     "--metric",
                                     metric,
                                     "--output",
                                     (io_ / (tag + "-ids.npy")).string(),
                                     "--distances",
                                     (io_ / (tag + "-distances.npy")).string(),
                                     "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    last_ = extra.empty() || extra[0] != "mpirun" ? run(args) : run_mpi(args);
    EXPECT_EQ(last_.status, 0) << last_.err;
    return slurp(io_ / (tag + "-ids.npy")) + slurp(io_ / (tag + "-distances.npy"));
  }

  /// `mpirun -np 2 vecaccel args...` (args after a leading "mpirun" marker are dropped);
  /// `meanwhile` as run_program's.
  CliResult run_mpi(std::vector<std::string> args,
                    const std::function<void(pid_t)>& meanwhile = {}) const {
#ifdef VECACCEL_MPIEXEC
    args.erase(std::remove(args.begin(), args.end(), std::string("mpirun")), args.end());
    std::vector<std::string> all = {VECACCEL_MPIEXEC, "-np", "2", "--oversubscribe"};
    if (::getuid() == 0) all.push_back("--allow-run-as-root");  // CI containers run as root
    all.push_back(VECACCEL_CLI_PATH);
    all.insert(all.end(), args.begin(), args.end());
    return run_program(all, 0, meanwhile);
#else
    (void)args;
    (void)meanwhile;
    return {};
#endif
  }

  /// base.npy cut in two: rank 0's first `rows` rows (part0.npy), rank 1's the rest.
  void write_rank_parts(std::size_t rows) const {
    const auto cut = base_.begin() + static_cast<std::ptrdiff_t>(rows * kDim);
    write_vectors(data("part0.npy"), matrix(rows, kDim, std::vector<float>(base_.begin(), cut)));
    write_vectors(data("part1.npy"),
                  matrix(kRows - rows, kDim, std::vector<float>(cut, base_.end())));
  }

  std::vector<float> base_;
  CliResult last_;
};

TEST_F(CliShards, SearchShardedOverTheSameDeviceTwiceWritesOneDevicesOutputs) {
  for (const std::string metric : {"l2", "ip", "cosine"}) {
    SCOPED_TRACE(metric);
    const std::string one = search("one-" + metric, metric);
    EXPECT_EQ(search("two-" + metric, metric, {"--devices", "0,0"}), one);
    EXPECT_NE(last_.out.find(" + "), std::string::npos) << "both shards named: " << last_.out;
  }
}

TEST_F(CliShards, L1AndLinfEqualTheReferenceHeldStreamedAndSharded) {
  const std::vector<float> queries = read_vectors(data("query.npy")).values;
  for (const std::string metric : {"l1", "LINF"}) {
    SCOPED_TRACE(metric);
    const std::string one = search("one-" + metric, metric);
    EXPECT_EQ(search("two-" + metric, metric, {"--devices", "0,0"}), one);
    ::setenv("VECACCEL_MEMORY_BUDGET", "2K", 1);  // passes of a few dozen rows
    EXPECT_EQ(search("streamed-" + metric, metric), one);
    ::unsetenv("VECACCEL_MEMORY_BUDGET");
    // Small integers: many exact ties, which must fall by label as in the float64 reference.
    const Matrix<std::int32_t> ids = read_ids(io_ / ("one-" + metric + "-ids.npy"));
    const vt::ExactKnn exact = vt::exact_knn(queries, base_, kDim, 12, parse_metric(metric));
    ASSERT_EQ(ids.values.size(), exact.labels.size());
    for (std::size_t i = 0; i < exact.labels.size(); ++i)
      EXPECT_EQ(ids.values[i], exact.labels[i]) << "slot " << i;
  }
}

TEST_F(CliShards, SearchShardsAUint8BaseLikeOneDevice) {
  Matrix<std::uint8_t> bytes{kRows, kDim, std::vector<std::uint8_t>(kRows * kDim)};
  for (std::size_t i = 0; i < base_.size(); ++i)
    bytes.values[i] = static_cast<std::uint8_t>(base_[i] + 2);
  write_vectors(data("base.u8bin"), bytes);
  const std::string one = search("one-u8", "l2", {}, data("base.u8bin"));
  EXPECT_EQ(search("two-u8", "l2", {"--devices", "0,0"}, data("base.u8bin")), one);
}

TEST_F(CliShards, DevicesStreamAMappedBaseAboveTheMemoryBudgetLikeOneDevice) {
  // 801 rows of 6 small integers (ties across the shards): 267 a device, over 4 KiB each.
  // The sharded search refused such a base; it now streams each device's share.
  for (const std::string metric : {"l2", "ip", "cosine"}) {
    SCOPED_TRACE(metric);
    const std::string one = search("one-" + metric, metric);
    ::setenv("VECACCEL_MEMORY_BUDGET", "4K", 1);
    const std::string three = search("three-" + metric, metric, {"--devices", "0,0,0", "--json"});
    ::unsetenv("VECACCEL_MEMORY_BUDGET");
    EXPECT_EQ(three, one);
    EXPECT_NE(last_.out.find("\"memory_budget_bytes\": 4096"), std::string::npos) << last_.out;
    EXPECT_NE(last_.out.find("\"streamed_passes\": "), std::string::npos) << last_.out;
    EXPECT_EQ(last_.out.find("\"streamed_passes\": 0"), std::string::npos) << last_.out;
  }
  ::setenv("VECACCEL_MEMORY_BUDGET", "4K", 1);
  search("text", "l2", {"--devices", "0,0,0"});
  ::unsetenv("VECACCEL_MEMORY_BUDGET");
  EXPECT_NE(last_.out.find("(budget 4.10 KB)"), std::string::npos) << last_.out;
}

TEST_F(CliShards, ABudgetThatCannotBeKeptOrReadIsRefusedByOneDeviceAndByDevices) {
  // A base read from a pipe cannot be streamed: held whole, over the budget, it is refused
  // before any work (one device ignored the budget); a malformed budget is refused for any base.
  const std::string bytes = slurp(data("base.npy"));
  const auto search_with = [&](const std::string& budget, const std::string& base,
                               const std::string& devices) {
    std::vector<std::string> args = {"search",  "--base",          base,
                                     "--query", data("query.npy"), "-k",
                                     "3",       "--output",        (io_ / "ids.npy").string()};
    if (!devices.empty()) args.insert(args.end(), {"--devices", devices});
    ::setenv("VECACCEL_MEMORY_BUDGET", budget.c_str(), 1);
    CliResult r = run(args);
    ::unsetenv("VECACCEL_MEMORY_BUDGET");
    return r;
  };
  for (const std::string devices : {"", "0,0"}) {
    SCOPED_TRACE(devices);
    const fs::path pipe = dir_ / ("base" + devices + ".npy");
    ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
    std::jthread writer([&] {
      std::ofstream out(pipe, std::ios::binary);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    });
    const CliResult piped = search_with("4K", pipe.string(), devices);
    writer.join();
    EXPECT_EQ(piped.status, 1) << piped.err;
    const std::string rows = devices.empty() ? "801" : "401";
    const std::string mode = devices.empty() ? "search" : "--devices";
    const std::string expected =
        std::string(rows)
            .append(
                " rows of dimension 6 per device exceed VECACCEL_MEMORY_BUDGET = 4K (4096 "
                "bytes), and ")
            .append(mode)
            .append(" streams only a base file it can map");
    EXPECT_NE(piped.err.find(expected), std::string::npos) << piped.err;
    const CliResult malformed = search_with("lots", data("base.npy"), devices);
    EXPECT_EQ(malformed.status, 1) << malformed.err;
    EXPECT_NE(malformed.err.find("VECACCEL_MEMORY_BUDGET = 'lots'"), std::string::npos)
        << malformed.err;
  }
  EXPECT_FALSE(fs::exists(io_ / "ids.npy"));
}

TEST_F(CliShards, DevicesNameTheBadRowOneDeviceNamesWhicheverShareFailsFirst) {
  // Bad rows near the end of the first share and at the start of the others: the later shares
  // failed first, and the row named changed from run to run.
  std::vector<float> values = base_;
  for (const std::size_t row : {260, 268, 540})
    values[row * kDim + 1] = std::numeric_limits<float>::quiet_NaN();
  write_vectors(data("nan.npy"), matrix(kRows, kDim, values));
  for (int turn = 0; turn < 3; ++turn) {
    ::setenv("VECACCEL_MEMORY_BUDGET", "4K", 1);
    const CliResult r = run({"search", "--base", data("nan.npy"), "--query", data("query.npy"),
                             "-k", "3", "--devices", "0,0,0"});
    ::unsetenv("VECACCEL_MEMORY_BUDGET");
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.err.find("nan.npy: base row 260 holds nan"), std::string::npos) << r.err;
  }
}

TEST_F(CliShards, DevicesThatAreNoDeviceIndexAreAUsageError) {
  const std::string count = std::to_string(Device::enumerate().size());
  for (const std::string& devices : std::vector<std::string>{"0,x", "0,,0", "-1", count}) {
    SCOPED_TRACE(devices);
    expect_failure({"search", "--base", data("base.npy"), "--query", data("query.npy"), "-k", "3",
                    "--devices", devices},
                   2, {"--devices", "not a device index"});
  }
  // The valid range is stated, not computed on the reader: "0..1 - 1" said one device.
  const std::size_t n = Device::enumerate().size();
  expect_failure({"search", "--base", data("base.npy"), "--query", data("query.npy"), "-k", "3",
                  "--devices", count},
                 2,
                 {n == 1 ? std::string("this machine has one device, index 0")
                         : "indices 0 to " + std::to_string(n - 1)});
}

#ifdef VECACCEL_CLI_WITHOUT_MPI
TEST_F(CliShards, AToolBuiltWithoutMpiRefusesToRunAsOneOfSeveralRanks) {
  // What Open MPI's launcher tells each rank; every rank would search the whole base.
  ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  const fs::path ids = io_ / "ids.npy";
  const CliResult r = run({"search", "--base", data("base.npy"), "--query", data("query.npy"), "-k",
                           "3", "--output", ids.string()});
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("built without MPI"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(ids));
}
#endif

#ifdef VECACCEL_MPIEXEC
TEST_F(CliShards, MpirunTwoRanksWriteWhatOneProcessWritesFromASharedOrPerRankBase) {
  for (const std::string metric : {"l2", "cosine"}) {
    SCOPED_TRACE(metric);
    const std::string one = search("one-" + metric, metric);
    EXPECT_EQ(search("mpi-" + metric, metric, {"mpirun"}), one);
    EXPECT_NE(last_.out.find("2 MPI ranks"), std::string::npos) << last_.out;
  }
  // One file per rank: rank 0 holds the first 300 rows, rank 1 the rest.
  write_rank_parts(300);
  EXPECT_EQ(search("per-rank", "l2", {"mpirun"}, data("part{rank}.npy")), search("one", "l2"));
}

TEST_F(CliShards, MpirunStreamsARanksSliceAboveTheMemoryBudgetLikeOneProcess) {
  // Each rank's 400 rows exceed 4 KiB: mpirun refused them; each rank now streams its slice
  // (of the shared file, or its own file) through its GPU.
  write_rank_parts(300);
  for (const std::string metric : {"l2", "ip"}) {
    SCOPED_TRACE(metric);
    const std::string one = search("one-" + metric, metric);
    ::setenv("VECACCEL_MEMORY_BUDGET", "4K", 1);
    const std::string shared = search("mpi-" + metric, metric, {"mpirun", "--json"});
    const std::string shared_out = last_.out;
    const std::string per_rank =
        search("per-rank-" + metric, metric, {"mpirun", "--json"}, data("part{rank}.npy"));
    ::unsetenv("VECACCEL_MEMORY_BUDGET");
    EXPECT_EQ(shared, one);
    EXPECT_EQ(per_rank, one);
    EXPECT_NE(shared_out.find("\"memory_budget_bytes\": 4096"), std::string::npos) << shared_out;
    EXPECT_NE(last_.out.find("\"streamed_passes\": "), std::string::npos) << last_.out;
    EXPECT_EQ(last_.out.find("\"streamed_passes\": 0"), std::string::npos) << last_.out;
  }
}

TEST_F(CliShards, MpirunReportsEveryRanksPassesAndNamesAFileRow) {
  // Rank 0's 10 rows fit 4 KiB, rank 1's 791 are streamed: the report showed rank 0's
  // search alone (no passes, no budget).
  write_rank_parts(10);
  ::setenv("VECACCEL_MEMORY_BUDGET", "4K", 1);
  const std::string streamed =
      search("per-rank", "l2", {"mpirun", "--json"}, data("part{rank}.npy"));
  ::unsetenv("VECACCEL_MEMORY_BUDGET");
  const std::string report = last_.out;
  EXPECT_EQ(streamed, search("one", "l2"));
  EXPECT_NE(report.find("\"streamed_passes\": "), std::string::npos) << report;
  EXPECT_EQ(report.find("\"streamed_passes\": 0"), std::string::npos) << report;
  EXPECT_NE(report.find("\"memory_budget_bytes\": 4096"), std::string::npos) << report;
  // A shared base held whole: rank 1 holds rows 400-800 from its row 0, and named row 600
  // as 200.
  std::vector<float> values = base_;
  values[600 * kDim] = std::numeric_limits<float>::infinity();
  write_vectors(data("inf.npy"), matrix(kRows, kDim, values));
  const CliResult r =
      run_mpi({"search", "--base", data("inf.npy"), "--query", data("query.npy"), "-k", "3"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("inf.npy: base row 600 holds inf"), std::string::npos) << r.err;
}

TEST_F(CliShards, MpirunSearchesAUint8BaseLikeOneProcess) {
  // Ranks read their rows through a mapping, one byte per element; they read the whole file
  // as float32 before, and refused a uint8 .npy.
  Matrix<std::uint8_t> bytes{kRows, kDim, std::vector<std::uint8_t>(kRows * kDim)};
  for (std::size_t i = 0; i < base_.size(); ++i)
    bytes.values[i] = static_cast<std::uint8_t>(base_[i] + 2);
  write_vectors(data("base.u8bin"), bytes);
  // The library writes no uint8 .npy: version 1.0 by hand, the header padded to 64 bytes.
  std::string header = "{'descr': '|u1', 'fortran_order': False, 'shape': (" +
                       std::to_string(kRows) + ", " + std::to_string(kDim) + "), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ').push_back('\n');
  std::ofstream npy(data("base-u8.npy"), std::ios::binary);
  npy << "\x93NUMPY" << '\x01' << '\x00' << static_cast<char>(header.size() % 256)
      << static_cast<char>(header.size() / 256) << header;
  npy.write(reinterpret_cast<const char*>(bytes.values.data()),
            static_cast<std::streamsize>(bytes.values.size()));
  npy.close();
  const std::string one = search("one-u8", "l2", {}, data("base.u8bin"));
  EXPECT_EQ(search("mpi-u8bin", "l2", {"mpirun"}, data("base.u8bin")), one);
  EXPECT_EQ(search("mpi-u8npy", "l2", {"mpirun"}, data("base-u8.npy")), one);
}

TEST_F(CliShards, MpirunOutputNamingARanksBaseFileIsRefusedAndTheFileKept) {
  // The check compared the outputs with the path "part{rank}.npy" itself: rank 0 then wrote
  // its distances over part1.npy, rank 1's base.
  write_vectors(data("part0.npy"), matrix(300, kDim, std::vector<float>(300 * kDim, 1.0f)));
  write_vectors(data("part1.npy"), matrix(300, kDim, std::vector<float>(300 * kDim, 2.0f)));
  const std::string before = slurp(data("part1.npy"));
  const CliResult r = run_mpi({"search", "--base", data("part{rank}.npy"), "--query",
                               data("query.npy"), "-k", "3", "--distances", data("part1.npy")});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("are the same file"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(data("part1.npy")), before);
}

TEST_F(CliShards, MpirunUsageErrorIsPrintedOnceAndExits2) {
  // Every rank finds it before any rank reads a file; each printed it.
  write_vectors(data("part0.npy"), matrix(300, kDim, std::vector<float>(300 * kDim, 1.0f)));
  const CliResult r = run_mpi({"search", "--base", data("part0.npy"), "--query", data("query.npy"),
                               "-k", "3", "--output", (io_ / "ids.txt").string()});
  EXPECT_EQ(r.status, 2) << r.err;
  // Ours once (mpirun adds lines of its own about the exit status).
  const std::size_t first = r.err.find("vecaccel: ");
  ASSERT_NE(first, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("vecaccel: ", first + 1), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ids.txt", first), std::string::npos) << r.err;
}

/// The children of `parent` that hold `file` open.
std::vector<pid_t> children_with_open(pid_t parent, const fs::path& file) {
  std::vector<pid_t> found;
  std::error_code error;
  for (const auto& process : fs::directory_iterator("/proc", error)) {
    const std::string name = process.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(process.path() / "stat");
    std::string pid, command, state;
    pid_t ppid = 0;
    stat >> pid >> command >> state >> ppid;  // the tool's command name holds no space
    if (ppid != parent) continue;
    for (const auto& fd : fs::directory_iterator(process.path() / "fd", error)) {
      if (fs::read_symlink(fd.path(), error) == file) found.push_back(std::stoi(name));
    }
  }
  return found;
}

TEST_F(CliShards, MpirunRanksStoppedBySigtermExit143WithTheMessageOnce) {
  // The ranks wait in a query pipe no one writes to; SIGTERM reaches them there. MPI_Init's
  // threads left it unblocked: a rank died of the signal without a word.
  const fs::path pipe = dir_ / "query.npy";
  ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
  const CliResult r =
      run_mpi({"search", "--base", data("base.npy"), "--query", pipe.string(), "-k", "3"},
              [&](pid_t mpirun) {
                std::vector<pid_t> ranks;
                for (int turn = 0; turn < 1200 && ranks.size() < 2; ++turn) {
                  std::this_thread::sleep_for(std::chrono::milliseconds(50));
                  ranks = children_with_open(mpirun, pipe);
                }
                EXPECT_EQ(ranks.size(), 2u) << "the ranks never opened the query pipe";
                for (const pid_t rank : ranks)
                  ::kill(rank, SIGTERM);
              });
  EXPECT_EQ(r.status, 143) << r.err;
  const std::size_t first = r.err.find("vecaccel: interrupted by SIGTERM");
  ASSERT_NE(first, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("vecaccel: ", first + 1), std::string::npos) << r.err;
}

TEST_F(CliShards, MpirunARankThatFailsMakesBothExitNonZeroWithTheMessageOnce) {
  // part1.npy is missing: rank 1 fails to read it, rank 0 waits at the next agreement.
  write_vectors(data("part0.npy"), matrix(300, kDim, std::vector<float>(300 * kDim, 1.0f)));
  const fs::path ids = io_ / "ids.npy";
  const CliResult r = run_mpi({"search", "--base", data("part{rank}.npy"), "--query",
                               data("query.npy"), "-k", "3", "--output", ids.string()});
  EXPECT_EQ(r.status, 1) << r.err;
  std::size_t messages = 0;
  for (std::size_t at = r.err.find("vecaccel: "); at != std::string::npos;
       at = r.err.find("vecaccel: ", at + 1))
    ++messages;
  EXPECT_EQ(messages, 1u) << r.err;
  EXPECT_NE(r.err.find("part1.npy"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(ids));
}
#endif

// ---- --filter and --radius ----------------------------------------------------------------------

class CliFilterRange : public CliShards {
 protected:
  void SetUp() override {
    CliShards::SetUp();
    queries_ = read_vectors(data("query.npy")).values;
  }

  /// An .ivecs whose rows have the given lengths (the last takes what is left) over `ids`.
  void write_ragged_ivecs(const std::string& name, const std::vector<std::int64_t>& ids,
                          const std::vector<std::size_t>& lengths) const {
    std::ofstream out(data(name), std::ios::binary);
    std::size_t at = 0;
    for (std::size_t row = 0; row <= lengths.size(); ++row) {
      const std::size_t length = row < lengths.size() ? lengths[row] : ids.size() - at;
      const auto n = static_cast<std::int32_t>(length);
      out.write(reinterpret_cast<const char*>(&n), 4);
      for (std::size_t i = 0; i < length; ++i, ++at) {
        const auto id = static_cast<std::int32_t>(ids[at]);
        out.write(reinterpret_cast<const char*>(&id), 4);
      }
    }
  }

  /// The float64 brute force over the base rows `allowed` lists (ids past the base ignored),
  /// labelled by base row.
  vt::ExactKnn exact_filtered(const std::vector<std::int64_t>& allowed, Metric metric,
                              std::size_t k) const {
    std::vector<std::int64_t> rows;
    for (const std::int64_t id : allowed)
      if (id < static_cast<std::int64_t>(kRows)) rows.push_back(id);
    std::sort(rows.begin(), rows.end());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
    std::vector<float> sub;
    for (const std::int64_t row : rows)
      sub.insert(sub.end(), base_.begin() + static_cast<std::ptrdiff_t>(row * kDim),
                 base_.begin() + static_cast<std::ptrdiff_t>((row + 1) * kDim));
    vt::ExactKnn exact = vt::exact_knn(queries_, sub, kDim, k, metric);
    for (std::int64_t& label : exact.labels)
      if (label >= 0) label = rows[static_cast<std::size_t>(label)];
    return exact;
  }

  /// The ids and distances a search tagged `tag` wrote equal `exact` (labels, and each
  /// distance the float64 value rounded to float32).
  void expect_knn_files(const std::string& tag, const vt::ExactKnn& exact) const {
    const Matrix<std::int32_t> ids = read_ids(io_ / (tag + "-ids.npy"));
    const Matrix<float> distances = read_vectors(io_ / (tag + "-distances.npy"));
    ASSERT_EQ(ids.values.size(), exact.labels.size());
    for (std::size_t i = 0; i < exact.labels.size(); ++i) {
      EXPECT_EQ(ids.values[i], exact.labels[i]) << tag << " slot " << i;
      EXPECT_EQ(distances.values[i], static_cast<float>(exact.distances[i]))
          << tag << " slot " << i;
    }
  }

  /// A range search into lims/ids/distances .npy files named after `tag`; their bytes.
  std::string range(const std::string& tag, const std::string& metric, const std::string& radius,
                    const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {
        "search",   "--base", data("base.npy"), "--query", data("query.npy"),
        "--radius", radius,   "--metric",       metric,    "--quiet"};
    const std::vector<std::pair<std::string, std::string>> outputs = {
        {"--lims", "lims"}, {"--output", "ids"}, {"--distances", "distances"}};
    const auto file = [&](const std::string& name) {
      return io_ / std::string(tag).append("-").append(name).append(".npy");
    };
    for (const auto& [option, name] : outputs)
      args.insert(args.end(), {option, file(name).string()});
    args.insert(args.end(), extra.begin(), extra.end());
    last_ = run(args);
    EXPECT_EQ(last_.status, 0) << last_.err;
    std::string bytes;
    for (const auto& [option, name] : outputs)
      bytes += slurp(file(name));
    return bytes;
  }

  /// What a range search tagged `tag` wrote, read back (1-D .npy: lims and ids int64,
  /// distances float32).
  RangeResult read_range(const std::string& tag) const {
    return {.lims = read_id_list(io_ / (tag + "-lims.npy")),
            .distances = read_vectors(io_ / (tag + "-distances.npy")).values,
            .labels = read_id_list(io_ / (tag + "-ids.npy"))};
  }

  std::vector<float> queries_;
};

TEST_F(CliFilterRange, FilterReturnsTheExactNearestAmongTheListedRowsHeldStreamedAndSharded) {
  // Sparse (gathered: every 9th row, repeats and ids past the base) and dense (masked: all but
  // every 5th row) lists over small integers, whose many ties fall by row as in the reference.
  std::vector<std::int64_t> sparse = {9000, 801, 4, 4};
  for (std::int64_t row = 13; row < static_cast<std::int64_t>(kRows); row += 9)
    sparse.push_back(row);
  write_ragged_ivecs("sparse.ivecs", sparse, {3, 0, 5});
  std::vector<std::int64_t> dense;
  for (std::int64_t row = 0; row < static_cast<std::int64_t>(kRows); ++row)
    if (row % 5 != 0) dense.push_back(row);
  write_array(data("dense.npy"), std::span<const std::int64_t>(dense));
  for (const std::string metric : {"l2", "ip", "l1"}) {
    for (const auto& [name, ids] : {std::pair{"sparse.ivecs", &sparse}, {"dense.npy", &dense}}) {
      SCOPED_TRACE(metric + " " + name);
      const std::string tag = metric + "-" + name;
      const std::string held = search(tag, metric, {"--filter", data(name)});
      expect_knn_files(tag, exact_filtered(*ids, parse_metric(metric), 12));
      EXPECT_EQ(search("two-" + tag, metric, {"--filter", data(name), "--devices", "0,0"}), held);
      ::setenv("VECACCEL_MEMORY_BUDGET", "2K", 1);  // passes of a few dozen rows
      EXPECT_EQ(search("streamed-" + tag, metric, {"--filter", data(name)}), held);
      ::unsetenv("VECACCEL_MEMORY_BUDGET");
    }
  }
}

TEST_F(CliFilterRange, FilterOfFewerRowsThanKPadsAndEveryFileLayoutListsTheSameRows) {
  // Five rows for k = 12: the rest is padding (id -1, +inf). The same ids as a 3-D int32 .npy,
  // a 1-D int64 .npy and an .ibin give the same bytes.
  const std::vector<std::int64_t> five = {700, 3, 250, 3, 64, 65};
  write_ragged_ivecs("five.ivecs", five, {1, 0, 4});
  const std::string want = search("ivecs", "l2", {"--filter", data("five.ivecs")});
  expect_knn_files("ivecs", exact_filtered(five, Metric::l2, 12));
  const Matrix<std::int32_t> ids = read_ids(io_ / "ivecs-ids.npy");
  EXPECT_EQ(ids.values[5], -1);
  write_array(data("five.npy"), std::span<const std::int64_t>(five));
  EXPECT_EQ(search("npy", "l2", {"--filter", data("five.npy")}), want);
  write_ids(data("five.ibin"), Matrix<std::int32_t>{2, 3, {700, 3, 250, 3, 64, 65}});
  EXPECT_EQ(search("ibin", "l2", {"--filter", data("five.ibin")}), want);
  {
    std::string header = "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 1, 2), }";
    header.append(64 - (10 + header.size() + 1) % 64, ' ').push_back('\n');
    std::ofstream npy(data("five-3d.npy"), std::ios::binary);
    npy << "\x93NUMPY" << '\x01' << '\x00' << static_cast<char>(header.size()) << '\x00' << header;
    for (const std::int64_t id : five) {
      const auto value = static_cast<std::int32_t>(id);
      npy.write(reinterpret_cast<const char*>(&value), 4);
    }
  }
  EXPECT_EQ(search("npy3d", "l2", {"--filter", data("five-3d.npy")}), want);
#ifdef VECACCEL_MPIEXEC
  // Each rank searches its slice: the global ids are shifted to the slice's labels, and a
  // per-rank file's rows are numbered on from the ranks before it.
  EXPECT_EQ(search("mpi", "l2", {"mpirun", "--filter", data("five.ivecs")}), want);
  write_rank_parts(300);
  EXPECT_EQ(
      search("mpi-parts", "l2", {"mpirun", "--filter", data("five.ivecs")}, data("part{rank}.npy")),
      want);
#endif
}

TEST_F(CliFilterRange, AFilterWithANegativeIdOrThatCannotBeReadIsNamed) {
  write_array(data("neg.npy"), std::span<const std::int64_t>(std::vector<std::int64_t>{4, 9, -3}));
  const std::vector<std::string> search_args = {
      "search", "--base", data("base.npy"), "--query", data("query.npy"), "-k", "3", "--filter"};
  const auto with = [&](const std::string& filter) {
    std::vector<std::string> args = search_args;
    args.push_back(filter);
    return args;
  };
  expect_failure(with(data("neg.npy")), 1,
                 {"neg.npy: id -3 at position 2 (0-based, in file order) is negative"});
  expect_failure(with(data("missing.ivecs")), 1, {"missing.ivecs", "cannot open"});
  expect_failure(with(data("query.npy")), 1,
                 {"query.npy", "dtype '<f4' unsupported, need '<i4' or '<i8'"});
  write_vectors(data("rows.fvecs"), matrix(1, 2, {1, 2}));
  expect_failure(with(data("rows.fvecs")), 1, {"rows.fvecs", "ids are listed in .ivecs"});
  std::vector<std::string> over = with(data("neg.npy"));
  over.insert(over.end(), {"--output", data("neg.npy")});
  expect_failure(over, 2, {"--output", "--filter", "are the same file"});
}

TEST_F(CliFilterRange, RadiusWritesFaissShapedArraysEqualToTheReferenceForEveryMetric) {
  // Small integers: l2, l1, linf and inner products are integers, and many fall on the radius
  // itself (kept only strictly inside); 0.5 is between them.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"l2", "12"}, {"l2", "12.5"}, {"ip", "3"}, {"cosine", "0.5"}, {"l1", "8"}, {"linf", "2"}};
  for (const auto& [metric, radius] : cases) {
    SCOPED_TRACE(::testing::Message() << metric << " radius " << radius);
    const std::string tag = std::string(metric).append("-").append(radius);
    range(tag, metric, radius);
    const RangeResult want =
        vt::exact_range(queries_, base_, kDim, std::stod(radius), parse_metric(metric));
    const RangeResult got = read_range(tag);
    EXPECT_EQ(got.lims, want.lims);
    EXPECT_EQ(got.labels, want.labels);
    EXPECT_EQ(got.distances, want.distances);
    EXPECT_EQ(got.lims.size(), queries_.size() / kDim + 1);
    EXPECT_NE(slurp(io_ / (tag + "-ids.npy")).find("'descr': '<i8'"), std::string::npos);
    EXPECT_NE(slurp(io_ / (tag + "-distances.npy")).find("'descr': '<f4'"), std::string::npos);
  }
  EXPECT_NE(last_.out.find("results    "), std::string::npos) << last_.out;
}

TEST_F(CliFilterRange, RadiusStreamedShardedAndFilteredEqualsTheReference) {
  const std::string held = range("held", "l2", "10");
  EXPECT_EQ(range("two", "l2", "10", {"--devices", "0,0", "--json"}), held);
  EXPECT_NE(last_.out.find("\"results\": "), std::string::npos) << last_.out;
  ::setenv("VECACCEL_MEMORY_BUDGET", "2K", 1);
  const std::string streamed = range("streamed", "l2", "10");
  ::unsetenv("VECACCEL_MEMORY_BUDGET");
  EXPECT_EQ(streamed, held);
  // Odd rows only: the reference over them alone, labelled by base row.
  std::vector<std::int64_t> odd;
  std::vector<float> odd_rows;
  for (std::size_t row = 1; row < kRows; row += 2) {
    odd.push_back(static_cast<std::int64_t>(row));
    odd_rows.insert(odd_rows.end(), base_.begin() + static_cast<std::ptrdiff_t>(row * kDim),
                    base_.begin() + static_cast<std::ptrdiff_t>((row + 1) * kDim));
  }
  write_array(data("odd.npy"), std::span<const std::int64_t>(odd));
  range("odd", "l2", "10", {"--filter", data("odd.npy")});
  RangeResult want = vt::exact_range(queries_, odd_rows, kDim, 10.0, Metric::l2);
  for (std::int64_t& label : want.labels)
    label = odd[static_cast<std::size_t>(label)];
  const RangeResult got = read_range("odd");
  EXPECT_EQ(got.lims, want.lims);
  EXPECT_EQ(got.labels, want.labels);
  EXPECT_EQ(got.distances, want.distances);
}

TEST_F(CliFilterRange, RadiusOptionsThatDoNotGoTogetherAreUsageErrors) {
  const std::vector<std::string> base = {"search", "--base", data("base.npy"), "--query",
                                         data("query.npy")};
  const auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const std::string lims = data("lims.npy");
  expect_failure(with({"--radius", "3", "-k", "2", "--lims", lims}), 2,
                 {"-k and --radius exclude each other"});
  expect_failure(with({}), 2, {"-k or --radius is required"});
  expect_failure(with({"--radius", "3"}), 2, {"--radius needs --lims"});
  expect_failure(with({"-k", "2", "--lims", lims}), 2, {"--lims", "range search only"});
  expect_failure(with({"-k", "2", "--max-results", "5"}), 2, {"--max-results", "range search"});
  expect_failure(with({"--radius", "3", "--lims", lims, "--max-results", "-1"}), 2,
                 {"--max-results", "'-1'"});
  expect_failure(with({"--radius", "3", "--lims", lims, "--max-results", "18446744073709551616"}),
                 2, {"--max-results", "18446744073709551616"});
  expect_failure(with({"--radius", "3", "--lims", data("lims.ivecs")}), 2,
                 {"--lims", "lims.ivecs", "must be .npy"});
  expect_failure(with({"--radius", "3", "--lims", lims, "--output", data("ids.ivecs")}), 2,
                 {"--output", "ids.ivecs", "must be .npy"});
  expect_failure(with({"--radius", "3", "--lims", lims, "--gt", data("query.npy")}), 2,
                 {"--gt", "recall"});
  expect_failure(with({"--radius", "nan", "--lims", lims}), 2, {"--radius", "not a finite"});
  expect_failure(with({"--radius", "3", "--lims", data("query.npy")}), 2,
                 {"--lims", "--query", "are the same file"});
}

TEST_F(CliFilterRange, RadiusOverMaxResultsNamesTheCountAndWritesNothing) {
  // Every row is within 1e9: 19 x 801 = 15219 results.
  std::vector<std::string> args = {
      "search",        "--base",      data("base.npy"), "--query",        data("query.npy"),
      "--radius",      "1e9",         "--lims",         data("lims.npy"), "--output",
      data("ids.npy"), "--distances", data("d.npy"),    "--max-results",  "15218"};
  expect_failure(args, 1, {"15219", "max_results = 15218"});
  args.back() = "15219";
  const CliResult r = run(args);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_id_list(data("lims.npy")).back(), 15219);
#ifdef VECACCEL_MPIEXEC
  const CliResult mpi = run_mpi({"search", "--base", data("base.npy"), "--query", data("query.npy"),
                                 "--radius", "3", "--lims", (io_ / "mpi-lims.npy").string()});
  EXPECT_EQ(mpi.status, 1) << mpi.err;
  EXPECT_NE(mpi.err.find("--radius under mpirun is not supported"), std::string::npos) << mpi.err;
  EXPECT_FALSE(fs::exists(io_ / "mpi-lims.npy"));
#endif
}

}  // namespace
}  // namespace vecaccel
