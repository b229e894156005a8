// The search contract where hostile probes found it broken (issue 24, item 5): searches have
// no hidden time limit, a limit that fires names itself; cosine rows of subnormal values are
// exact; rows added with ids come out ties by id; add() waits only for running searches; a
// memory budget below one row is refused.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <future>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/expect_error.hpp"
#include "support/reference.hpp"
#include "vecaccel/vecaccel.hpp"
#include "writer_preferring_mutex.hpp"

namespace vecaccel {
namespace {

namespace vt = vecaccel::testing;
using namespace std::chrono_literals;

/// Holds the context's queues: GPU work submitted after it waits until release() (or the
/// destructor), so a test decides when work completes, whatever the machine's speed. release()
/// also waits for that work, so that what it reads may go afterwards.
class QueueGate {
 public:
  explicit QueueGate(Context& context)
      : context_(context), event_(context.device().make_shared_event()) {
    for (std::size_t i = 0; i < context_.command_queue_count(); ++i)
      context_.command_queue(i).wait_event(event_, 1);
  }
  ~QueueGate() { release(); }
  QueueGate(const QueueGate&) = delete;
  QueueGate& operator=(const QueueGate&) = delete;
  void release() {
    if (event_.signaled_value() == 1) return;
    event_.signal(1);
    for (std::size_t i = 0; i < context_.command_queue_count(); ++i)
      context_.command_queue(i).wait_idle({});
  }

 private:
  Context& context_;
  SharedEvent event_;
};

// A billion-row ground truth takes minutes: a search has no limit unless the caller gives one.
// The context's default_timeout (here 1 ms) is for the caller's own execute() calls.
TEST(SearchTimeLimit, SearchesAndTheirUploadsIgnoreTheContextsDefaultTimeout) {
  Context context(ContextConfiguration{.default_timeout = 1ms});
  constexpr std::size_t dim = 16, k = 5;
  const auto base = vt::normal_data(500, dim, 61);
  const auto queries = vt::normal_data(20, dim, 62);
  FlatIndex index(context, dim, Metric::l2);
  index.add(base);

  QueueGate gate(context);
  auto held = std::async(std::launch::async, [&] { return index.search(queries, k); });
  auto streamed = std::async(std::launch::async,
                             [&] { return ops::knn(context, queries, base, dim, k, Metric::l2); });
  // Far past the default timeout, the GPU is let go: both searches still finish.
  std::this_thread::sleep_for(100ms);
  gate.release();
  EXPECT_EQ(vt::check_knn(held.get(), queries, base, dim, k, Metric::l2), "");
  EXPECT_EQ(vt::check_knn(streamed.get(), queries, base, dim, k, Metric::l2), "");
}

TEST(SearchTimeLimit, ASearchTimeoutNamesTheLimitInSecondsAndHowToChangeIt) {
  Context context;
  constexpr std::size_t dim = 16;
  const auto base = vt::normal_data(500, dim, 63);
  FlatIndex index(context, dim, Metric::l2);
  index.add(base);
  QueueGate gate(context);
  const std::string message = vt::error_of(
      [&] {
        index.search(std::vector<float>(base.begin(), base.begin() + dim), 3, {.timeout = 20ms});
      },
      Errc::timeout);
  EXPECT_NE(message.find("time limit of 0.02 s"), std::string::npos) << message;
  EXPECT_NE(message.find("ExecuteOptions::timeout"), std::string::npos) << message;
  EXPECT_NE(message.find("no limit unless one is given"), std::string::npos) << message;
}

TEST(SearchTimeLimit, AnExecuteTimeoutNamesTheDefaultTimeoutItRanUnder) {
  Context context(ContextConfiguration{.default_timeout = 20ms});
  QueueGate gate(context);
  const std::string message = vt::error_of(
      [&] { context.execute_and_wait([](CommandBuffer&, ComputeEncoder&) {}); }, Errc::timeout);
  EXPECT_NE(message.find("default_timeout of 0.02 s"), std::string::npos) << message;
  EXPECT_NE(message.find("pass ExecuteOptions::timeout"), std::string::npos) << message;
  const std::string given = vt::error_of(
      [&] { context.execute_and_wait([](CommandBuffer&, ComputeEncoder&) {}, {.timeout = 30ms}); },
      Errc::timeout);
  EXPECT_NE(given.find("ExecuteOptions::timeout of 0.03 s"), std::string::npos) << given;
}

/// n x dim values scaled down so that every row's largest magnitude is subnormal (below
/// 2^-127, where scaling by a float power of two overflowed), with a zero row among them.
std::vector<float> subnormal_rows(std::size_t n, std::size_t dim, std::uint32_t seed) {
  std::vector<float> rows = vt::normal_data(n, dim, seed);
  for (float& v : rows)
    v = std::ldexp(std::round(v * 8.0f) / 8.0f, -132);
  std::fill_n(rows.begin(), dim, 0.0f);
  return rows;
}

TEST(SubnormalCosine, RowsAndQueriesWhoseLargestValueIsSubnormalAreExact) {
  Context context;
  constexpr std::size_t dim = 8, k = 6;
  const auto base = subnormal_rows(300, dim, 71);
  const auto queries = subnormal_rows(12, dim, 72);
  ASSERT_LT(*std::max_element(base.begin(), base.end()), std::ldexp(1.0f, -127));
  FlatIndex index(context, dim, Metric::cosine);  // staged by the uploader
  index.add(base);
  EXPECT_EQ(vt::check_knn(index.search(queries, k), queries, base, dim, k, Metric::cosine), "");
  // ops::knn stages its base through the engine itself.
  EXPECT_EQ(vt::check_knn(ops::knn(context, queries, base, dim, k, Metric::cosine), queries, base,
                          dim, k, Metric::cosine),
            "");
}

/// `copies` equal rows (all ones) labelled with descending ids, and after them `others` rows
/// further from the origin with ascending ids: the ties at the top are inserted largest id
/// first.
struct TiedRows {
  std::vector<float> rows;
  std::vector<std::int64_t> ids;
};
TiedRows tied_rows(std::size_t copies, std::size_t others, std::size_t dim) {
  TiedRows out;
  for (std::size_t i = 0; i < copies; ++i) {
    out.rows.insert(out.rows.end(), dim, 1.0f);
    out.ids.push_back(static_cast<std::int64_t>(1000 + copies - i));
  }
  for (std::size_t i = 0; i < others; ++i) {
    out.rows.insert(out.rows.end(), dim, 2.0f + static_cast<float>(i));
    out.ids.push_back(static_cast<std::int64_t>(i));
  }
  return out;
}

/// The ids a search must return: the k smallest tied ids, ascending.
std::vector<std::int64_t> expected_ids(std::size_t k) {
  std::vector<std::int64_t> out;
  for (std::size_t j = 0; j < k; ++j)
    out.push_back(static_cast<std::int64_t>(1001 + j));
  return out;
}

TEST(TiesById, AddWithIdsOrdersTiesByIdAlsoAtTheKthPlace) {
  Context context;
  constexpr std::size_t dim = 4, copies = 6, k = 3;
  const TiedRows tied = tied_rows(copies, 5, dim);
  const std::vector<float> query(dim, 1.0f);
  for (const ElementType type : {ElementType::float32, ElementType::uint8}) {
    FlatIndex index(context, dim, Metric::l2, type);
    if (type == ElementType::float32) {
      index.add_with_ids(tied.rows, tied.ids);
    } else {
      const std::vector<std::uint8_t> bytes(tied.rows.begin(), tied.rows.end());
      index.add_with_ids(bytes, tied.ids);
    }
    const KnnResult result = index.search(query, k);
    EXPECT_EQ(result.labels, expected_ids(k)) << to_string(type);
    EXPECT_EQ(result.distances, std::vector<float>(k, 0.0f)) << to_string(type);
  }
}

TEST(TiesById, ShardedIndexOrdersTiesById) {
  constexpr std::uint32_t same_device_twice[] = {0, 0};
  constexpr std::size_t dim = 4, copies = 7, k = 4;
  const TiedRows tied = tied_rows(copies, 3, dim);
  ShardedIndex index(same_device_twice, dim, Metric::inner_product);
  index.add_with_ids(tied.rows, tied.ids);
  const std::vector<float> query(dim, -1.0f);  // the all-ones rows are the best similarities
  EXPECT_EQ(index.search(query, k).labels, expected_ids(k));
}

// More ties than the widest window of searches (id_order.cpp: 2048 rows): the full scan.
TEST(TiesById, MoreTiesThanTheWidestSearchWindowAreOrderedById) {
  Context context;
  constexpr std::size_t dim = 2, copies = 2048 + 100, k = 2;
  const TiedRows tied = tied_rows(copies, 4, dim);
  FlatIndex index(context, dim, Metric::l2);
  index.add_with_ids(tied.rows, tied.ids);
  const KnnResult result = index.search(std::vector<float>(dim, 1.0f), k);
  EXPECT_EQ(result.labels, expected_ids(k));
}

// The index's lock (FlatIndex, ShardedIndex): a waiting writer (add) holds back new readers
// (searches), so two threads searching in a loop cannot keep add() out. std::shared_mutex on
// glibc let try_lock_shared() in past a waiting writer.
TEST(WriterPreferringMutex, AWaitingWriterHoldsBackNewReadersAndGetsInAfterTheRunningOnes) {
  detail::WriterPreferringMutex mutex;
  std::shared_lock running(mutex);
  auto writer = std::async(std::launch::async, [&] { std::unique_lock lock(mutex); });
  while (!mutex.writer_waiting())
    std::this_thread::yield();
  EXPECT_FALSE(mutex.try_lock_shared()) << "a new reader went in past the waiting writer";
  EXPECT_EQ(writer.wait_for(0s), std::future_status::timeout);  // the running reader holds it
  running.unlock();
  writer.get();
  EXPECT_TRUE(mutex.try_lock_shared());
  mutex.unlock_shared();
}

// A budget that holds no row streamed the base one row per pass (minutes for seconds of work).
TEST(MemoryBudget, ABudgetSmallerThanOneRowIsRefusedNamingBothSizes) {
  Context context;
  constexpr std::size_t dim = 64;
  const std::vector<std::uint8_t> base(50 * dim, 7);
  const std::vector<float> query(dim, 1.0f);
  const std::string message = vt::error_of(
      [&] { ops::knn(context, query, base, dim, 3, Metric::l2, {.memory_budget = 100}); },
      Errc::invalid_argument);
  EXPECT_NE(message.find("memory budget of 100 bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("takes 324 bytes"), std::string::npos) << message;  // 64 x 4 + 4 + 64
}

}  // namespace
}  // namespace vecaccel
