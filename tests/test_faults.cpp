// Fault injection: the Vulkan calls a program must survive failing (allocation, submission,
// wait, mapping, timeline read) are made to fail one at a time, at every point an operation
// reaches them. Every failure must surface as a vecaccel::Error with the right code, leave no
// device memory behind, and leave the context usable after exhaustion; after a device loss
// the context fails cleanly with device_lost and a new context works.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/access.hpp"
#include "device_impl.hpp"
#include "fault_injection.hpp"
#include "support/support.hpp"
#include "vecaccel/vecaccel.hpp"

namespace vecaccel {
namespace {

namespace fs = std::filesystem;
namespace vt = vecaccel::testing;
using detail::FaultInjection;
using detail::FaultSite;
using detail::ScopedFault;

constexpr std::size_t dim = 16;
constexpr std::size_t base_rows = 300;
constexpr std::size_t query_rows = 4;
constexpr std::size_t k = 5;
/// A sweep that needs more points than this has stopped terminating.
constexpr std::uint64_t max_points = 400;

constexpr vk::Result exhaustion[] = {vk::Result::eErrorOutOfDeviceMemory,
                                     vk::Result::eErrorOutOfHostMemory};

std::vector<float> random_floats(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> out(n);
  for (auto& x : out)
    x = dist(rng);
  return out;
}

const std::vector<float>& base() {
  static const std::vector<float> values = random_floats(base_rows * dim, 1);
  return values;
}
const std::vector<float>& queries() {
  static const std::vector<float> values = random_floats(query_rows * dim, 2);
  return values;
}

std::string site_name(FaultSite site) {
  switch (site) {
    case FaultSite::allocate:
      return "vkAllocateMemory";
    case FaultSite::submit:
      return "vkQueueSubmit2";
    case FaultSite::wait:
      return "vkWaitSemaphores";
    case FaultSite::map:
      return "vkMapMemory";
    case FaultSite::read:
      return "vkGetSemaphoreCounterValue";
  }
  return "?";
}

std::int64_t live_allocations(Context& context) {
  return vecaccel::detail::Access::impl(context.device())->live_allocations();
}

/// After a simulated loss the real GPU still runs what was submitted: let it finish before
/// the test frees what that work uses (a real lost device runs nothing).
void settle(Context& context) {
  const auto& device = vecaccel::detail::Access::impl(context.device())->device();
  (void)device.getDispatcher()->vkDeviceWaitIdle(*device);
}

/// What a sweep runs: an operation with its own objects (kept by the scenario, so a sweep
/// can let a simulated loss settle before they go) and a check of its result.
class Scenario {
 public:
  virtual ~Scenario() = default;
  virtual void run(Context& context) = 0;
};

/// FlatIndex: add (chunk growth, upload, norms), search.
class IndexAddSearch : public Scenario {
 public:
  void run(Context& context) override {
    index_.emplace(context, dim, Metric::l2);
    index_->add(base());
    result_ = index_->search(queries(), k);
  }
  const KnnResult& result() const { return result_; }

 private:
  std::optional<FlatIndex> index_;
  KnnResult result_;
};

/// ops::knn: a one-shot search that uploads the base itself.
class OpsKnn : public Scenario {
 public:
  void run(Context& context) override {
    result_ = ops::knn(context, queries(), base(), dim, k, Metric::l2);
  }
  const KnnResult& result() const { return result_; }

 private:
  KnnResult result_;
};

/// FlatIndex save then load, and a search of the loaded index.
class IndexSaveLoad : public Scenario {
 public:
  IndexSaveLoad()
      : file_(fs::temp_directory_path() /
              ("vecaccel-faults-" + std::to_string(::getpid()) + ".index")) {}
  ~IndexSaveLoad() override {
    std::error_code ec;
    fs::remove(file_, ec);
  }
  void run(Context& context) override {
    index_.emplace(context, dim, Metric::l2);
    index_->add(base());
    index_->save(file_);
    loaded_.emplace(FlatIndex::load(context, file_));
    result_ = loaded_->search(queries(), k);
  }
  const KnnResult& result() const { return result_; }

 private:
  fs::path file_;
  std::optional<FlatIndex> index_;
  std::optional<FlatIndex> loaded_;
  KnnResult result_;
};

/// Pool growth across slab and dedicated buckets, with contents written and read back.
class PoolGrowth : public Scenario {
 public:
  void run(Context& context) override {
    for (std::uint64_t size : {256ull, 4096ull, 70'000ull, 1ull << 20, 5ull << 20}) {
      tokens_.push_back(context.get_buffer(size));
      const std::vector<std::uint32_t> values(size / 4, static_cast<std::uint32_t>(size));
      tokens_.back().write(std::span<const std::uint32_t>(values));
      if (tokens_.back().read<std::uint32_t>(values.size()) != values) {
        throw std::logic_error("pool buffer of " + std::to_string(size) + " lost its contents");
      }
    }
  }

 private:
  std::vector<BufferToken> tokens_;
};

/// Residency commit and execute: buffers registered with the context's manager, committed,
/// and used by a GPU operation whose result is read back.
class ResidencyExecute : public Scenario {
 public:
  void run(Context& context) override {
    constexpr std::uint32_t n = 1024;
    x_ = context.buffer_factory().make_buffer(n * 4);
    y_ = context.buffer_factory().make_buffer(n * 4);
    vt::upload(x_, std::vector<float>(n, 2.0f));
    vt::upload(y_, std::vector<float>(n, 1.0f));
    context.residency_manager().register_buffer(x_, ResidencyMode::persistent);
    context.residency_manager().register_buffer(y_, ResidencyMode::ephemeral);
    context.residency_manager().commit();
    Device device = context.device();
    context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
      vt::encode_scale_add(device, e, x_, y_, n, 3.0f);
    });
    if (vt::download<float>(y_, n) != std::vector<float>(n, 7.0f)) {
      throw std::logic_error("scale_add gave a wrong result");
    }
  }

 private:
  Buffer x_, y_;
};

/// Runs scenario with the nth call at site failing, for n = 1, 2, ... until a run no longer
/// reaches the fault. Each failure must be an Error with `code`, unless the library absorbed
/// it (the pool retries an allocation once after freeing its cache); afterwards the same
/// context must run the scenario unharmed and no device memory may be left behind. Returns
/// the number of points that failed.
template <class S>
std::uint64_t sweep_exhaustion(Context& context, FaultSite site, vk::Result result, Errc code,
                               const std::function<void(const S&)>& check) {
  std::uint64_t failed = 0;
  for (std::uint64_t n = 1; n <= max_points; ++n) {
    context.cleanup();
    const std::int64_t live_before = live_allocations(context);
    std::uint64_t fired = 0;
    {
      S scenario;
      {
        ScopedFault fault(site, n, result);
        try {
          scenario.run(context);
        } catch (const Error& e) {
          ++failed;
          EXPECT_EQ(e.code(), code) << site_name(site) << " call " << n << ": " << e.what();
        }
        fired = FaultInjection::fired();
      }
      if (fired == 0) {
        check(scenario);  // the run reached no fault: it completed
        return failed;
      }
    }
    context.cleanup();
    EXPECT_EQ(live_allocations(context), live_before)
        << "device memory left behind by a failure at " << site_name(site) << " call " << n;
    S again;  // the context stays usable: the next operation succeeds
    try {
      again.run(context);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "after a failure at " << site_name(site) << " call " << n
                    << ", the next run failed: " << e.what();
      return failed;
    }
    check(again);
  }
  ADD_FAILURE() << "the sweep over " << site_name(site) << " did not end";
  return failed;
}

/// As sweep_exhaustion, with the device lost at call n: the run fails with device_lost, later
/// operations and waits on that context fail with device_lost too, and a new context runs the
/// scenario correctly.
template <class S>
std::uint64_t sweep_loss(FaultSite site, const std::function<void(const S&)>& check) {
  std::uint64_t failed = 0;
  for (std::uint64_t n = 1; n <= max_points; ++n) {
    Context context;
    std::uint64_t fired = 0;
    S scenario;
    {
      ScopedFault fault(site, n, vk::Result::eErrorDeviceLost);
      try {
        scenario.run(context);
      } catch (const Error& e) {
        ++failed;
        EXPECT_EQ(e.code(), Errc::device_lost)
            << site_name(site) << " call " << n << ": " << e.what();
      }
      fired = FaultInjection::fired();
    }
    if (fired == 0) {
      check(scenario);
      return failed;
    }
    EXPECT_TRUE(context.device().is_lost()) << site_name(site) << " call " << n;
    try {
      context.execute_and_wait([](CommandBuffer&, ComputeEncoder&) {});
      ADD_FAILURE() << "an operation succeeded on a lost device";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::device_lost) << e.what();
    }
    const Submission<void> earlier(
        SubmissionBase(vecaccel::detail::Access::impl(context.command_queue().completion_event()),
                       context.command_queue().last_submitted_value() + 1));
    try {
      earlier.wait();
      ADD_FAILURE() << "a wait for unsubmitted work returned on a lost device";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::device_lost) << e.what();
    }
    settle(context);
  }
  ADD_FAILURE() << "the sweep over " << site_name(site) << " did not end";
  return failed;
}

template <class S>
void expect_same_result(const S& scenario, const KnnResult& expected) {
  EXPECT_EQ(scenario.result().labels, expected.labels);
  EXPECT_EQ(scenario.result().distances, expected.distances);
}

class Faults : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Context context;
    IndexAddSearch clean;
    clean.run(context);
    expected_ = new KnnResult(clean.result());
  }
  static void TearDownTestSuite() {
    delete expected_;
    expected_ = nullptr;
  }
  void TearDown() override { FaultInjection::disarm(); }

  static const KnnResult& expected() { return *expected_; }
  static inline KnnResult* expected_ = nullptr;
};

// ---- Exhaustion: recoverable -----------------------------------------------------------------

TEST_F(Faults, IndexAddAndSearchSurviveExhaustionAtEveryAllocationSubmitWaitAndMap) {
  Context context;
  const auto check = [](const IndexAddSearch& s) { expect_same_result(s, expected()); };
  for (const vk::Result result : exhaustion) {
    for (const FaultSite site :
         {FaultSite::allocate, FaultSite::submit, FaultSite::wait, FaultSite::map}) {
      const auto failed = sweep_exhaustion<IndexAddSearch>(context, site, result,
                                                           Errc::out_of_device_memory, check);
      EXPECT_GT(failed, 0u) << site_name(site) << " never failed the operation";
    }
  }
}

TEST_F(Faults, OpsKnnSurvivesExhaustionAtEveryAllocationSubmitWaitAndMap) {
  Context context;
  const auto check = [](const OpsKnn& s) { expect_same_result(s, expected()); };
  for (const FaultSite site :
       {FaultSite::allocate, FaultSite::submit, FaultSite::wait, FaultSite::map}) {
    const auto failed = sweep_exhaustion<OpsKnn>(context, site, vk::Result::eErrorOutOfDeviceMemory,
                                                 Errc::out_of_device_memory, check);
    EXPECT_GT(failed, 0u) << site_name(site) << " never failed the operation";
  }
}

TEST_F(Faults, IndexSaveAndLoadSurviveExhaustion) {
  Context context;
  const auto check = [](const IndexSaveLoad& s) { expect_same_result(s, expected()); };
  for (const FaultSite site :
       {FaultSite::allocate, FaultSite::submit, FaultSite::wait, FaultSite::map}) {
    const auto failed = sweep_exhaustion<IndexSaveLoad>(
        context, site, vk::Result::eErrorOutOfDeviceMemory, Errc::out_of_device_memory, check);
    EXPECT_GT(failed, 0u) << site_name(site) << " never failed the operation";
  }
}

TEST_F(Faults, PoolGrowthSurvivesExhaustionAndKeepsItsAccounting) {
  Context context;
  for (const FaultSite site : {FaultSite::allocate, FaultSite::map}) {
    // The pool retries a failed allocation once after freeing its cache, so a single failure
    // is absorbed; two in a row reach the caller.
    for (std::uint64_t n = 1; n <= max_points; ++n) {
      context.cleanup();
      const std::int64_t live_before = live_allocations(context);
      std::uint64_t fired = 0;
      {
        PoolGrowth growth;
        ScopedFault fault(site, n, vk::Result::eErrorOutOfDeviceMemory, 2);
        try {
          growth.run(context);
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), Errc::out_of_device_memory) << e.what();
        }
        fired = FaultInjection::fired();
      }
      const auto stats = context.buffer_pool().statistics();
      EXPECT_EQ(stats.buffers_in_use, 0u) << site_name(site) << " call " << n;
      EXPECT_EQ(stats.bytes_in_use, 0u) << site_name(site) << " call " << n;
      context.cleanup();
      EXPECT_EQ(live_allocations(context), live_before) << site_name(site) << " call " << n;
      if (fired == 0) break;
      PoolGrowth again;
      EXPECT_NO_THROW(again.run(context)) << "after " << site_name(site) << " call " << n;
    }
  }
}

TEST_F(Faults, ResidencyCommitAndExecuteSurviveExhaustion) {
  Context context;
  const auto check = [](const ResidencyExecute&) {};
  for (const FaultSite site :
       {FaultSite::allocate, FaultSite::submit, FaultSite::wait, FaultSite::map}) {
    const auto failed = sweep_exhaustion<ResidencyExecute>(
        context, site, vk::Result::eErrorOutOfDeviceMemory, Errc::out_of_device_memory, check);
    EXPECT_GT(failed, 0u) << site_name(site) << " never failed the operation";
    // Registrations of failed runs went with their buffers: only the pool's remain.
    (void)context.performance_stats();  // recycles the records of completed operations
    const auto pool = context.buffer_pool().statistics();
    EXPECT_EQ(context.residency_manager().statistics().total_buffers,
              pool.buffers_cached + pool.buffers_in_use);
  }
}

TEST_F(Faults, AFailedSubmitConsumesNoTimelineValue) {
  Context context({.command_queue_count = 1});  // the test reads its one queue
  context.execute_and_wait([](CommandBuffer&, ComputeEncoder&) {});
  const std::uint64_t before = context.command_queue().last_submitted_value();
  {
    ScopedFault fault(FaultSite::submit, 1, vk::Result::eErrorOutOfDeviceMemory);
    auto out = context.get_buffer(4096);
    Device device = context.device();
    try {
      context.execute([&](CommandBuffer&, ComputeEncoder& e) {
        vt::encode_busy_loop(device, e, out.buffer(), 1024, 10, 1);
      });
      ADD_FAILURE() << "the submit did not fail";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::out_of_device_memory) << e.what();
    }
  }
  // Nothing ran for the failed submission, so nothing may claim its value was reached.
  EXPECT_EQ(context.command_queue().last_submitted_value(), before);
  EXPECT_EQ(context.command_queue().completion_event().signaled_value(), before);
  auto next = context.execute([](CommandBuffer&, ComputeEncoder&) {});
  EXPECT_EQ(next.timeline_value(), before + 1);
  next.wait();
}

// ---- Device loss -----------------------------------------------------------------------------

TEST_F(Faults, IndexAddAndSearchFailCleanlyOnDeviceLossAtEveryPoint) {
  const auto check = [](const IndexAddSearch& s) { expect_same_result(s, expected()); };
  for (const FaultSite site :
       {FaultSite::allocate, FaultSite::submit, FaultSite::wait, FaultSite::map}) {
    EXPECT_GT(sweep_loss<IndexAddSearch>(site, check), 0u) << site_name(site);
  }
  Context fresh;  // a new context on the same (really healthy) device works
  IndexAddSearch after;
  after.run(fresh);
  check(after);
}

TEST_F(Faults, PoolAndExecuteFailCleanlyOnDeviceLoss) {
  for (const FaultSite site : {FaultSite::allocate, FaultSite::map}) {
    EXPECT_GT(sweep_loss<PoolGrowth>(site, [](const PoolGrowth&) {}), 0u) << site_name(site);
  }
  for (const FaultSite site : {FaultSite::submit, FaultSite::wait}) {
    EXPECT_GT(sweep_loss<ResidencyExecute>(site, [](const ResidencyExecute&) {}), 0u)
        << site_name(site);
  }
}

TEST_F(Faults, IdleChecksOnALostDeviceAnswerInsteadOfThrowing) {
  Context context({.command_queue_count = 1});  // the gate below holds its one queue
  constexpr std::uint32_t count = 4096;
  const std::uint32_t iterations =
      vt::iterations_for(context, count, std::chrono::milliseconds(200));
  auto out = context.get_buffer(count * 4ull);
  Device device = context.device();
  SharedEvent gate = device.make_shared_event(0);
  context.command_queue().wait_event(gate, 1);  // the work cannot finish before the check
  auto pending = context.execute([&](CommandBuffer&, ComputeEncoder& e) {
    vt::encode_busy_loop(device, e, out.buffer(), count, iterations, 1);
  });
  {
    ScopedFault fault(FaultSite::read, 1, vk::Result::eErrorDeviceLost);
    EXPECT_FALSE(out.buffer().is_idle());  // noexcept: a throw here would terminate
    EXPECT_EQ(FaultInjection::fired(), 1u);
  }
  EXPECT_TRUE(device.is_lost());
  EXPECT_FALSE(out.buffer().is_idle());
  try {
    pending.wait();
    ADD_FAILURE() << "a wait on a lost device returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::device_lost) << e.what();
  }
  gate.signal(1);
  settle(context);
}

}  // namespace
}  // namespace vecaccel
