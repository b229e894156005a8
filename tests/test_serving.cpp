// Issue 23: serving many threads. A Context's several queues keep the contracts per queue
// (back-pressure, timeout, cancellation, residency); concurrent small searches share one batch
// (SearchCoalescer) and each caller still gets exactly its own results and errors.
// On lavapipe (one hardware queue) the logical queues share it, as Device arranges.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "ops/search_coalescer.hpp"
#include "support/expect_error.hpp"
#include "support/reference.hpp"
#include "support/scoped_env.hpp"
#include "support/support.hpp"

using namespace vecaccel;
using namespace std::chrono_literals;
namespace vt = vecaccel::testing;

namespace {

/// Holds every queue of a context: work submitted after it waits until release(), so a test
/// decides when work completes, whatever the machine's speed.
class Gate {
 public:
  explicit Gate(Context& context)
      : context_(context), event_(context.device().make_shared_event()) {
    for (std::size_t i = 0; i < context_.command_queue_count(); ++i)
      context_.command_queue(i).wait_event(event_, 1);
  }
  ~Gate() { release(); }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  void release() {
    if (event_.signaled_value() == 1) return;
    event_.signal(1);
    for (std::size_t i = 0; i < context_.command_queue_count(); ++i)
      context_.command_queue(i).wait_idle();
  }

 private:
  Context& context_;
  SharedEvent event_;
};

/// y += x over n floats of this op's own buffers; ran(t) after t runs.
struct AddOnce {
  AddOnce(Context& context, float value)
      : device(context.device()),
        x(context.get_buffer(std::span<const float>(std::vector<float>(n, value)))),
        y(context.get_buffer(std::span<const float>(std::vector<float>(n, 0.0f)))) {}
  void operator()(CommandBuffer&, ComputeEncoder& e) {
    vt::encode_scale_add(device, e, x.buffer(), y.buffer(), n, 1.0f);
  }
  float y0() const { return y.read<float>(1)[0]; }
  static constexpr std::uint32_t n = 64;
  Device device;
  BufferToken x, y;
};

}  // namespace

TEST(MultiQueueConcurrency, AContextMakesTheQueuesConfiguredEachWithItsOwnTimeline) {
  Context context({.command_queue_label = "serve", .command_queue_count = 3});
  ASSERT_EQ(context.command_queue_count(), 3u);
  EXPECT_EQ(&context.command_queue(), &context.command_queue(0));
  EXPECT_EQ(context.command_queue(0).label(), "serve");
  EXPECT_EQ(context.command_queue(2).label(), "serve #2");
  EXPECT_NE(&context.command_queue(1).completion_event(),
            &context.command_queue(2).completion_event());
  const Error e = vt::expect_error(Errc::invalid_argument, [&] { context.command_queue(3); });
  EXPECT_NE(std::string(e.what()).find("has 3 queues"), std::string::npos) << e.what();
}

TEST(MultiQueueConcurrency, TheDefaultIsOneQueuePerHardwareQueueUpToFour) {
  Context context;
  EXPECT_GE(context.command_queue_count(), 1u);
  EXPECT_LE(context.command_queue_count(), ContextConfiguration::default_command_queues);
  const Error e = vt::expect_error(Errc::invalid_argument, [] {
    Context too_many({.command_queue_count = ContextConfiguration::max_command_queues + 1});
  });
  EXPECT_NE(std::string(e.what()).find("command_queue_count 17"), std::string::npos) << e.what();
}

// Back-pressure per queue: with one slot a queue, three operations held on the GPU fill the
// three queues (each goes to a queue with room), and a fourth waits for a slot until its
// timeout; then everything runs and the context stays usable.
TEST(MultiQueueConcurrency, BackPressureHoldsPerQueueAndOperationsGoToQueuesWithRoom) {
  Context context({.max_command_buffer_count = 1, .command_queue_count = 3});
  std::vector<AddOnce> ops;
  ops.reserve(4);
  for (int i = 0; i < 4; ++i)
    ops.emplace_back(context, static_cast<float>(i + 1));
  Gate gate(context);
  std::vector<Submission<void>> held;
  held.reserve(3);
  for (int i = 0; i < 3; ++i)
    held.push_back(context.execute(ops[static_cast<std::size_t>(i)], {.timeout = 10s}));
  for (std::size_t q = 0; q < 3; ++q)
    EXPECT_EQ(context.command_queue(q).last_submitted_value(), 1u) << "queue " << q;
  const Error e =
      vt::expect_error(Errc::timeout, [&] { context.execute(ops[3], {.timeout = 20ms}); });
  EXPECT_NE(std::string(e.what()).find("max_command_buffer_count"), std::string::npos) << e.what();
  gate.release();
  for (auto& submission : held)
    submission.wait();
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(ops[static_cast<std::size_t>(i)].y0(), static_cast<float>(i + 1));
  EXPECT_EQ(ops[3].y0(), 0.0f);  // the timed-out one never ran
  context.execute_and_wait(ops[3]);
  EXPECT_EQ(ops[3].y0(), 4.0f);
}

TEST(MultiQueueConcurrency, AStopWhileEveryQueueIsFullCancelsThatCallerAlone) {
  Context context({.max_command_buffer_count = 1, .command_queue_count = 2});
  AddOnce first(context, 1.0f), second(context, 2.0f), third(context, 3.0f);
  Gate gate(context);
  auto a = context.execute(first, {.timeout = 10s});
  auto b = context.execute(second, {.timeout = 10s});
  std::stop_source stop;
  auto waiting = std::async(std::launch::async, [&] {
    context.execute(third, {.timeout = 10s, .stop = stop.get_token()});
  });
  EXPECT_EQ(waiting.wait_for(20ms), std::future_status::timeout);  // no slot anywhere
  stop.request_stop();
  vt::expect_error(Errc::cancelled, [&] { waiting.get(); });
  gate.release();
  a.wait();
  b.wait();
  EXPECT_EQ(first.y0(), 1.0f);
  EXPECT_EQ(second.y0(), 2.0f);
  EXPECT_EQ(third.y0(), 0.0f);
  context.execute_and_wait(third);
  EXPECT_EQ(third.y0(), 3.0f);
}

TEST(MultiQueueConcurrency, ATimeoutOnOneQueueLeavesTheWorkToLandAndTheOthersUsable) {
  Context context({.command_queue_count = 3});
  AddOnce late(context, 5.0f), after(context, 6.0f);
  {
    Gate gate(context);
    vt::expect_error(Errc::timeout, [&] { context.execute_and_wait(late, {.timeout = 5ms}); });
    EXPECT_EQ(context.performance_stats().timeouts, 1u);
  }  // released: the timed-out work runs with its buffers alive
  EXPECT_EQ(late.y0(), 5.0f);
  context.execute_and_wait(after);
  EXPECT_EQ(after.y0(), 6.0f);
}

// Residency is checked against the context's set on whichever queue an operation goes to.
TEST(MultiQueueConcurrency, ResidencyIsValidatedOnEveryQueue) {
  Context context({.command_queue_count = 3});
  Device device = context.device();
  const Buffer stray = context.buffer_factory().make_buffer(AddOnce::n * 4ull);
  std::vector<AddOnce> resident;
  resident.reserve(3);
  for (int i = 0; i < 3; ++i)
    resident.emplace_back(context, static_cast<float>(i + 1));
  Gate gate(context);
  std::vector<Submission<void>> held;
  // Each operation goes to the queue with the fewest in flight: the held ones fill the queues
  // one by one, and the stray one meets each queue in turn.
  for (std::size_t i = 0; i < 3; ++i) {
    held.push_back(context.execute(resident[i], {.timeout = 10s}));
    vt::expect_error(Errc::residency_violation, [&] {
      context.execute([&](CommandBuffer&, ComputeEncoder& e) {
        vt::encode_scale_add(device, e, stray, resident[i].y.buffer(), AddOnce::n, 1.0f);
      });
    });
  }
  gate.release();
  for (auto& submission : held)
    submission.wait();
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_EQ(resident[i].y0(), static_cast<float>(i + 1));
}

TEST(MultiQueueConcurrency, ThreadsOnSeveralQueuesAllComputeRight) {
  Context context({.max_command_buffer_count = 2, .command_queue_count = 3});
  constexpr int threads = 4, per_thread = 40;
  std::atomic<int> wrong{0};
  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      AddOnce op(context, static_cast<float>(t + 1));
      for (int i = 0; i < per_thread; ++i)
        context.execute_and_wait(op, {.timeout = 60s});
      if (op.y0() != static_cast<float>((t + 1) * per_thread)) ++wrong;
    });
  }
  for (auto& w : workers)
    w.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(context.performance_stats().operations, std::uint64_t{threads} * per_thread);
}

// ---------------------------------------------------------------------------------------------
// SearchCoalescer on a stand-in search: row r of a batch gets labels q*100 + j (q: the row's
// first query value), so each caller's rows and k are recognisable.

namespace {

using detail::SearchCoalescer;
constexpr std::size_t dim = 2;

/// The stand-in: counts batches and remembers their sizes; call n (1-based) waits for
/// gates[n - 1] when there is one, so that a test decides when a search ends.
struct FakeSearch {
  explicit FakeSearch(std::size_t gated = 0) : gates(gated) {
    for (auto& gate : gates)
      opened.push_back(gate.get_future().share());
  }
  std::vector<std::promise<void>> gates;
  std::vector<std::shared_future<void>> opened;
  std::atomic<int> calls{0};
  std::atomic<std::size_t> last_rows{0}, last_k{0};
  std::exception_ptr fail;  // set before a gate opens
  std::mutex seen_mutex;
  std::vector<std::optional<IdFilter>> filters;  // each call's, in call order

  KnnResult operator()(std::span<const float> queries, std::size_t k, const ExecuteOptions&,
                       const IdFilter* filter) {
    {
      std::lock_guard lock(seen_mutex);
      filters.push_back(filter ? std::optional<IdFilter>(*filter) : std::nullopt);
    }
    const auto call = static_cast<std::size_t>(calls.fetch_add(1));
    if (call < opened.size()) opened[call].wait();
    if (fail) std::rethrow_exception(fail);
    KnnResult r{.rows = queries.size() / dim, .k = k};
    for (std::size_t row = 0; row < r.rows; ++row) {
      for (std::size_t j = 0; j < k; ++j) {
        r.labels.push_back(static_cast<std::int64_t>(queries[row * dim]) * 100 +
                           static_cast<std::int64_t>(j));
        r.distances.push_back(static_cast<float>(j));
      }
    }
    last_rows = r.rows;
    last_k = k;
    return r;
  }
};

std::vector<float> query_rows(std::initializer_list<int> firsts) {
  std::vector<float> q;
  for (int f : firsts) {
    q.push_back(static_cast<float>(f));
    q.push_back(0.0f);
  }
  return q;
}

void expect_own_rows(const KnnResult& r, const std::vector<float>& queries, std::size_t k) {
  ASSERT_EQ(r.rows, queries.size() / dim);
  ASSERT_EQ(r.k, k);
  for (std::size_t row = 0; row < r.rows; ++row)
    for (std::size_t j = 0; j < k; ++j)
      ASSERT_EQ(r.labels[row * k + j],
                static_cast<std::int64_t>(queries[row * dim]) * 100 + static_cast<std::int64_t>(j));
}

void wait_until(const std::function<bool()>& condition) {
  while (!condition())
    std::this_thread::yield();
}

/// Starts a caller alone (it runs at once, no batch) and returns once its search is running,
/// so that callers coming next gather while it holds the coalescer busy.
std::future<KnnResult> start_lone_search(SearchCoalescer& coalescer, FakeSearch& fake,
                                         const std::vector<float>& queries, std::size_t k) {
  auto lone = std::async(std::launch::async,
                         [&, k] { return coalescer.search(queries, k, {}, nullptr, fake); });
  wait_until([&] { return fake.calls.load() >= 1; });
  return lone;
}

/// A lone search (k = 3, held until fake's first gate opens) and a caller gathering behind it
/// (k = 5), under a coalescer with the given regroup grace and an hour's window.
struct LoneAndGathering {
  explicit LoneAndGathering(const char* regroup_us)
      : regroup("VECACCEL_COALESCE_REGROUP_US", regroup_us) {
    coalescer.set_window(1h);
    lone = start_lone_search(coalescer, fake, lone_q, 3);
    gathering = std::async(std::launch::async,
                           [this] { return coalescer.search(gathering_q, 5, {}, nullptr, fake); });
    wait_until([&] { return coalescer.gathering() == 1; });
  }
  vt::ScopedEnv regroup;  // before the coalescer, which reads it
  SearchCoalescer coalescer{dim};
  FakeSearch fake{1};
  const std::vector<float> lone_q = query_rows({1});
  const std::vector<float> gathering_q = query_rows({2});
  std::future<KnnResult> lone, gathering;
};

}  // namespace

// A caller alone runs at once: with an hour's window, waiting for companions would hang, and
// with a second's regroup grace, waiting for the callers of its own last search (itself) would
// take seconds.
TEST(CoalescerConcurrency, ACallerAloneNeverWaitsForCompanions) {
  vt::ScopedEnv regroup("VECACCEL_COALESCE_REGROUP_US", "1000000");
  SearchCoalescer coalescer(dim);
  coalescer.set_window(1h);
  FakeSearch fake;
  const auto q = query_rows({7});
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i)
    expect_own_rows(coalescer.search(q, 4, {}, nullptr, fake), q, 4);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_EQ(fake.calls.load(), 3);
}

// Two threads searching in turn: the second gathers while the first runs alone. When that
// search ends, the group waits for the first caller to come back instead of starting at once
// (which would leave the first caller to gather alone behind it, and so on, one query a
// batch), and the two then share every batch.
TEST(CoalescerConcurrency, AnIdleGroupWaitsForTheCallersOfTheBatchThatJustEnded) {
  LoneAndGathering callers("1000000");
  callers.fake.gates[0].set_value();
  expect_own_rows(callers.lone.get(), callers.lone_q, 3);
  std::this_thread::sleep_for(20ms);  // the group would have started by now
  EXPECT_EQ(callers.fake.calls.load(), 1);
  EXPECT_EQ(callers.coalescer.gathering(), 1u);
  const auto again_q = query_rows({3});
  expect_own_rows(callers.coalescer.search(again_q, 2, {}, nullptr, callers.fake), again_q, 2);
  expect_own_rows(callers.gathering.get(), callers.gathering_q, 5);
  EXPECT_EQ(callers.fake.calls.load(), 2);
  EXPECT_EQ(callers.fake.last_rows.load(), 2u);
}

// The wait for callers who do not come back is bounded by the grace: the group starts then.
TEST(CoalescerConcurrency, AnIdleGroupStartsWhenTheCallersOfTheLastBatchDoNotComeBack) {
  LoneAndGathering callers("50000");
  const auto ended = std::chrono::steady_clock::now();
  callers.fake.gates[0].set_value();
  expect_own_rows(callers.lone.get(), callers.lone_q, 3);
  expect_own_rows(callers.gathering.get(), callers.gathering_q, 5);
  EXPECT_GE(std::chrono::steady_clock::now() - ended, 50ms);
  EXPECT_EQ(callers.fake.calls.load(), 2);
  EXPECT_EQ(callers.fake.last_rows.load(), 1u);
}

TEST(CoalescerConcurrency, CallersArrivingDuringASearchShareOneBatchEachWithItsOwnK) {
  SearchCoalescer coalescer(dim);
  coalescer.set_window(1h);  // the group starts when the running search ends, not by time
  FakeSearch fake(1);
  const auto first_q = query_rows({1});
  auto first = start_lone_search(coalescer, fake, first_q, 3);
  const std::vector<std::vector<float>> qs = {query_rows({2}), query_rows({3, 4}), query_rows({5}),
                                              query_rows({6, 7, 8})};
  const std::size_t ks[] = {1, 9, 4, 2};
  std::vector<std::future<KnnResult>> callers;
  for (std::size_t i = 0; i < qs.size(); ++i) {
    callers.push_back(std::async(
        std::launch::async, [&, i] { return coalescer.search(qs[i], ks[i], {}, nullptr, fake); }));
  }
  wait_until([&] { return coalescer.gathering() == 7; });
  fake.gates[0].set_value();
  expect_own_rows(first.get(), first_q, 3);
  for (std::size_t i = 0; i < qs.size(); ++i)
    expect_own_rows(callers[i].get(), qs[i], ks[i]);
  EXPECT_EQ(fake.calls.load(), 2);  // the lone search, then one batch for the four callers
  EXPECT_EQ(fake.last_rows.load(), 7u);
  EXPECT_EQ(fake.last_k.load(), 9u);
}

// VECACCEL_COALESCE_MAX_QUERIES bounds a batch: a group closes, and runs, as soon as it
// holds that many queries, without waiting for the running search; the next caller opens a
// group of its own.
TEST(CoalescerConcurrency, AGroupRunsAsSoonAsItHoldsTheConfiguredQueries) {
  vt::ScopedEnv limit("VECACCEL_COALESCE_MAX_QUERIES", "2");
  SearchCoalescer coalescer(dim);
  coalescer.set_window(1h);
  FakeSearch fake(1);
  const auto lone_q = query_rows({1});
  auto lone = start_lone_search(coalescer, fake, lone_q, 3);
  EXPECT_FALSE(coalescer.accepts(3, 3)) << "more queries than a batch holds search alone";
  const std::vector<std::vector<float>> qs = {query_rows({2}), query_rows({3}), query_rows({4})};
  std::vector<std::future<KnnResult>> callers;
  for (std::size_t i = 0; i < qs.size(); ++i) {
    callers.push_back(std::async(std::launch::async,
                                 [&, i] { return coalescer.search(qs[i], 5, {}, nullptr, fake); }));
    if (i == 1) {
      // The pair ran while the lone search still holds the GPU.
      expect_own_rows(callers[0].get(), qs[0], 5);
      expect_own_rows(callers[1].get(), qs[1], 5);
      EXPECT_EQ(fake.last_rows.load(), 2u);
    }
  }
  wait_until([&] { return coalescer.gathering() == 1; });
  fake.gates[0].set_value();
  expect_own_rows(lone.get(), lone_q, 3);
  expect_own_rows(callers[2].get(), qs[2], 5);
  EXPECT_EQ(fake.calls.load(), 3);
}

// A member whose limit passes leaves; the batch runs on a thread with a later deadline, so the
// member is not stuck in it. A stopped member leaves too. The others get their results.
TEST(CoalescerConcurrency, ATimedOutAndAStoppedCallerLeaveAndTheOthersGetTheirResults) {
  SearchCoalescer coalescer(dim);
  coalescer.set_window(1h);
  FakeSearch fake(1);
  const auto lone = query_rows({1});
  auto first = start_lone_search(coalescer, fake, lone, 2);
  const auto patient_q = query_rows({2}), hasty_q = query_rows({3}), stopped_q = query_rows({4});
  std::stop_source stop;
  auto patient = std::async(std::launch::async,
                            [&] { return coalescer.search(patient_q, 5, {}, nullptr, fake); });
  auto stopped = std::async(std::launch::async, [&] {
    return coalescer.search(stopped_q, 5, {.stop = stop.get_token()}, nullptr, fake);
  });
  wait_until([&] { return coalescer.gathering() == 2; });
  // Joins, then times out while the group still waits for the running search.
  const Error timed_out = vt::expect_error(
      Errc::timeout, [&] { coalescer.search(hasty_q, 5, {.timeout = 10ms}, nullptr, fake); });
  EXPECT_NE(std::string(timed_out.what()).find("0.01 s"), std::string::npos) << timed_out.what();
  stop.request_stop();
  vt::expect_error(Errc::cancelled, [&] { stopped.get(); });
  EXPECT_EQ(coalescer.gathering(), 1u);
  fake.gates[0].set_value();
  expect_own_rows(first.get(), lone, 2);
  expect_own_rows(patient.get(), patient_q, 5);
  EXPECT_EQ(fake.last_rows.load(), 1u);  // those who left are not searched
}

// The member with a time limit does not run the batch (the one without a limit does), so its
// limit holds while the batch itself is held.
TEST(CoalescerConcurrency, AMemberTimesOutWhileItsBatchIsHeld) {
  SearchCoalescer coalescer(dim);
  coalescer.set_window(1h);
  FakeSearch fake(2);
  const auto lone = query_rows({1}), patient_q = query_rows({2}), hasty_q = query_rows({3});
  auto first = start_lone_search(coalescer, fake, lone, 1);
  auto hasty = std::async(std::launch::async, [&] {
    return coalescer.search(hasty_q, 1, {.timeout = 200ms}, nullptr, fake);
  });
  auto patient = std::async(std::launch::async,
                            [&] { return coalescer.search(patient_q, 1, {}, nullptr, fake); });
  wait_until([&] { return coalescer.gathering() == 2; });
  fake.gates[0].set_value();  // the lone search ends; the batch starts and is held
  expect_own_rows(first.get(), lone, 1);
  vt::expect_error(Errc::timeout, [&] { hasty.get(); });
  fake.gates[1].set_value();
  expect_own_rows(patient.get(), patient_q, 1);
}

TEST(CoalescerConcurrency, ABatchFailureReachesEveryMemberAndTheCoalescerRecovers) {
  SearchCoalescer coalescer(dim);
  coalescer.set_window(1h);
  FakeSearch fake(1);
  const auto lone = query_rows({1}), a_q = query_rows({2}), b_q = query_rows({3});
  auto first = start_lone_search(coalescer, fake, lone, 1);
  auto a =
      std::async(std::launch::async, [&] { return coalescer.search(a_q, 1, {}, nullptr, fake); });
  auto b =
      std::async(std::launch::async, [&] { return coalescer.search(b_q, 2, {}, nullptr, fake); });
  wait_until([&] { return coalescer.gathering() == 2; });
  fake.fail = std::make_exception_ptr(Error(Errc::out_of_device_memory, "stand-in failure"));
  fake.gates[0].set_value();
  vt::expect_error(Errc::out_of_device_memory, [&] { first.get(); });
  vt::expect_error(Errc::out_of_device_memory, [&] { a.get(); });
  vt::expect_error(Errc::out_of_device_memory, [&] { b.get(); });
  fake.fail = nullptr;
  expect_own_rows(coalescer.search(a_q, 3, {}, nullptr, fake), a_q, 3);
}

// Equal filters (copies or built apart) share a batch; other filters, and no filter, gather in
// groups of their own: one batch per filter, each run with its group's filter.
TEST(CoalescerConcurrency, CallersGatherOnlyWithEqualFiltersOneBatchPerFilter) {
  SearchCoalescer coalescer(dim);
  coalescer.set_window(1h);
  FakeSearch fake(1);
  const auto lone = query_rows({1});
  auto first = start_lone_search(coalescer, fake, lone, 2);
  const std::vector<std::int64_t> evens = {0, 2, 4}, odds = {1, 3};
  const IdFilter a1 = IdFilter::allow(evens), a2 = IdFilter::allow(evens),
                 b = IdFilter::allow(odds);
  const std::vector<std::vector<float>> qs = {query_rows({2}), query_rows({3, 4}), query_rows({5}),
                                              query_rows({6}), query_rows({7, 8})};
  const IdFilter* filters[] = {&a1, &a2, &b, nullptr, nullptr};
  std::vector<std::future<KnnResult>> callers;
  for (std::size_t i = 0; i < qs.size(); ++i) {
    callers.push_back(std::async(
        std::launch::async, [&, i] { return coalescer.search(qs[i], 3, {}, filters[i], fake); }));
  }
  wait_until([&] { return coalescer.gathering() == 7; });
  fake.gates[0].set_value();
  expect_own_rows(first.get(), lone, 2);
  for (std::size_t i = 0; i < qs.size(); ++i)
    expect_own_rows(callers[i].get(), qs[i], 3);
  ASSERT_EQ(fake.calls.load(), 4);  // the lone search, then a batch for a, one for b, one for none
  std::size_t with_a = 0, with_b = 0, without = 0;
  for (std::size_t call = 1; call < fake.filters.size(); ++call) {
    const auto& f = fake.filters[call];
    with_a += f && *f == a1;
    with_b += f && *f == b;
    without += !f;
  }
  EXPECT_EQ(with_a, 1u);
  EXPECT_EQ(with_b, 1u);
  EXPECT_EQ(without, 1u);
}

TEST(CoalescerConcurrency, FiltersAreEqualWhenTheyAllowTheSameIdsTheSameWay) {
  const std::vector<std::int64_t> ids = {5, 1, 3, 3};
  const std::vector<std::int64_t> sorted = {1, 3, 5};
  EXPECT_TRUE(IdFilter::allow(ids) == IdFilter::allow(sorted));
  EXPECT_FALSE(IdFilter::allow(ids) == IdFilter::deny(ids));
  const std::vector<std::uint64_t> bits = {0b101, 0}, more = {0b101, 1};
  EXPECT_TRUE(IdFilter::bitset(bits, 64) == IdFilter::bitset(more, 64));  // bits past the size
  EXPECT_FALSE(IdFilter::bitset(bits, 64) == IdFilter::bitset(bits, 65));
}

TEST(CoalescerConcurrency, AZeroWindowTurnsCoalescingOff) {
  SearchCoalescer coalescer(dim);
  EXPECT_TRUE(coalescer.accepts(1, 10));
  EXPECT_FALSE(coalescer.accepts(SearchCoalescer::max_batch_queries + 1, 10));
  EXPECT_FALSE(coalescer.accepts(1, SearchCoalescer::max_k + 1));
  coalescer.set_window(0ns);
  EXPECT_FALSE(coalescer.accepts(1, 10));
  vt::expect_error(Errc::invalid_argument, [&] { coalescer.set_window(-1ns); });
}

// ---------------------------------------------------------------------------------------------
// FlatIndex: many threads of small searches with mixed k (coalesced or not, as they meet), one
// caller with a NaN query who alone gets the error; every result equals the float64 reference.

namespace {

template <class Make>
void hammer_index(Make make_index, const std::vector<float>& base, std::size_t d, Metric metric) {
  Context context({.command_queue_count = 2});
  auto index = make_index(context);
  index.set_coalescing_window(2ms);
  constexpr int threads = 6, rounds = 2;
  const std::size_t ks[] = {1, 3, 10, 17, 5, 64};
  std::vector<std::string> failures(threads);
  std::atomic<int> bad_errors{0};
  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const std::size_t k = ks[t];
      const std::size_t nq = 1 + static_cast<std::size_t>(t % 3);
      for (int r = 0; r < rounds; ++r) {
        auto queries = vt::normal_data(nq, d, static_cast<std::uint32_t>(100 * t + r));
        if (t == threads - 1 && r == 1) {
          queries[d + 1 < queries.size() ? d + 1 : 0] = std::numeric_limits<float>::quiet_NaN();
          try {
            index.search(queries, k);
          } catch (const Error& e) {
            if (e.code() == Errc::invalid_argument) ++bad_errors;
          }
          continue;
        }
        const std::string diff =
            vt::check_knn(index.search(queries, k), queries, base, d, k, metric);
        if (!diff.empty() && failures[t].empty()) failures[t] = diff;
      }
    });
  }
  for (auto& w : workers)
    w.join();
  for (int t = 0; t < threads; ++t)
    EXPECT_EQ(failures[t], "") << "thread " << t;
  EXPECT_EQ(bad_errors.load(), 1);
}

}  // namespace

TEST(CoalescedSearchConcurrency, ThreadsWithMixedKGetExactResultsAndOnlyTheBadCallerFails) {
  constexpr std::size_t d = 16;
  const auto base = vt::normal_data(300, d, 5);
  hammer_index(
      [&](Context& c) {
        FlatIndex index(c, d, Metric::l2);
        index.add(base);
        return index;
      },
      base, d, Metric::l2);
}

TEST(CoalescedSearchConcurrency, AnInt8IndexCoalescesExactlyToo) {
  constexpr std::size_t d = 8;
  auto base = vt::normal_data(200, d, 9);
  std::vector<std::int8_t> bytes(base.size());
  for (std::size_t i = 0; i < base.size(); ++i) {
    bytes[i] = static_cast<std::int8_t>(std::clamp(std::round(base[i] * 20.0f), -127.0f, 127.0f));
    base[i] = static_cast<float>(bytes[i]);
  }
  hammer_index(
      [&](Context& c) {
        FlatIndex index(c, d, Metric::l2, ElementType::int8);
        index.add(std::span<const std::int8_t>(bytes));
        return index;
      },
      base, d, Metric::l2);
}

// Threads with filters (two share one, one has its own, one has none, one masks half the rows)
// coalesce as they meet; each gets exactly its own filtered result.
TEST(CoalescedSearchConcurrency, FilteredCallersGetTheExactResultOfTheirOwnFilter) {
  constexpr std::size_t d = 8;
  const auto base = vt::normal_data(400, d, 31);
  Context context({.command_queue_count = 2});
  FlatIndex index(context, d, Metric::l2);
  index.add(base);
  index.set_coalescing_window(2ms);
  std::vector<std::int64_t> few, evens;
  for (std::int64_t r = 0; r < 400; ++r) {
    if (r % 37 == 3) few.push_back(r);
    if (r % 2 == 0) evens.push_back(r);
  }
  const IdFilter shared = IdFilter::allow(few);
  const std::optional<IdFilter> filters[] = {shared, shared, IdFilter::allow(evens), std::nullopt,
                                             IdFilter::deny(evens)};
  constexpr int threads = 5, rounds = 3;
  std::vector<std::string> failures(threads);
  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const std::size_t k = 4 + static_cast<std::size_t>(t) * 3;
      for (int r = 0; r < rounds; ++r) {
        const auto queries = vt::normal_data(1 + static_cast<std::size_t>(t % 2), d,
                                             static_cast<std::uint32_t>(50 * t + r));
        const std::string diff =
            filters[t] ? vt::check_filtered_knn(index.search(queries, k, *filters[t]), queries,
                                                base, d, *filters[t], k, Metric::l2)
                       : vt::check_knn(index.search(queries, k), queries, base, d, k, Metric::l2);
        if (!diff.empty() && failures[t].empty()) failures[t] = diff;
      }
    });
  }
  for (auto& w : workers)
    w.join();
  for (int t = 0; t < threads; ++t)
    EXPECT_EQ(failures[t], "") << "thread " << t;
}

// For each metric, results equal the float64 reference whether a caller was batched or not.
TEST(CoalescedSearchConcurrency, CoalescedResultsAreExactForEachMetric) {
  constexpr std::size_t d = 12;
  const auto base = vt::normal_data(250, d, 21);
  for (const Metric metric :
       {Metric::l2, Metric::inner_product, Metric::cosine, Metric::l1, Metric::linf}) {
    hammer_index(
        [&](Context& c) {
          FlatIndex index(c, d, metric);
          index.add(base);
          return index;
        },
        base, d, metric);
  }
}
