#include <gtest/gtest.h>

#include <atomic>
#include <stop_token>
#include <thread>
#include <vector>

#include "command_buffer_impl.hpp"
#include "core/access.hpp"
#include "device_impl.hpp"
#include "fault_injection.hpp"
#include "support/scoped_env.hpp"
#include "support/support.hpp"

using namespace vecaccel;
using namespace std::chrono_literals;
namespace vt = vecaccel::testing;

// The seed's testMetal4ContextCreation, testCommandBufferCreation and testBasicExecution.
TEST(Context, Creation) {
  Context context;
  EXPECT_TRUE(context.device().supports_explicit_model());
  EXPECT_EQ(context.configuration().max_command_buffer_count, 3u);
  EXPECT_EQ(context.command_queue().max_command_buffer_count(), 3u);
  EXPECT_EQ(context.configuration().default_timeout, 30s);
}

TEST(Context, CommandBufferCreation) {
  Context context;
  CommandBuffer cb = context.make_command_buffer();
  EXPECT_EQ(cb.committed_value(), 0u);
}

TEST(Context, BasicExecution) {
  Context context;
  bool executed = false;
  context.execute_and_wait([&](CommandBuffer&, ComputeEncoder&) { executed = true; });
  EXPECT_TRUE(executed);
}

TEST(Context, ExecuteReturnsAtOnceAndTheResultAfterCompletion) {
  Context context({.command_queue_count = 1});  // the gate below holds its one queue
  constexpr std::uint32_t count = 4096, iterations = 1000;
  auto out = context.get_buffer(count * 4ull);
  Device device = context.device();
  // Held back on the GPU by an event only the test signals: incomplete however fast the device.
  SharedEvent gate = device.make_shared_event();
  context.command_queue().wait_event(gate, 1);
  auto submission = context.execute([&](CommandBuffer&, ComputeEncoder& e) {
    vt::encode_busy_loop(device, e, out.buffer(), count, iterations, 11);
    return 42;
  });
  EXPECT_FALSE(submission.is_complete());
  EXPECT_FALSE(submission.wait_for(10ms));
  EXPECT_GT(submission.timeline_value(), 0u);
  gate.signal(1);
  EXPECT_EQ(submission.get(), 42);
  EXPECT_TRUE(submission.is_complete());
  const auto values = out.read<std::uint32_t>(count);
  EXPECT_EQ(values[count - 1], vt::busy_loop_reference(11, count - 1, iterations));
}

TEST(Context, ExecuteAndWaitComputesOnTheGpu) {
  Context context;
  constexpr std::uint32_t n = 3000;
  std::vector<float> xs(n), ys(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    xs[i] = static_cast<float>(i % 17) - 8.0f;
    ys[i] = static_cast<float>(i % 5);
  }
  auto x = context.get_buffer(std::span<const float>(xs));
  auto y = context.get_buffer(std::span<const float>(ys));
  Device device = context.device();
  const auto sum = context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
    vt::encode_scale_add(device, e, x.buffer(), y.buffer(), n, -1.5f);
    return n;
  });
  EXPECT_EQ(sum, n);
  const auto out = y.read<float>(n);
  for (std::uint32_t i = 0; i < n; ++i)
    ASSERT_EQ(out[i], -1.5f * xs[i] + ys[i]);
}

TEST(Context, ExecuteAndWaitThrowsTimeoutAndTheResultStillLandsLater) {
  Context context({.command_queue_count = 1});  // the gate below holds its one queue
  constexpr std::uint32_t count = 4096, iterations = 1000;
  auto out = context.get_buffer(count * 4ull);
  Device device = context.device();
  SharedEvent gate = device.make_shared_event();
  context.command_queue().wait_event(gate, 1);
  try {
    context.execute_and_wait(
        [&](CommandBuffer&, ComputeEncoder& e) {
          vt::encode_busy_loop(device, e, out.buffer(), count, iterations, 21);
        },
        {.timeout = 5ms});
    FAIL() << "expected a timeout";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::timeout);
  }
  EXPECT_EQ(context.performance_stats().timeouts, 1u);
  gate.signal(1);  // the timed-out work now runs, with its resources still alive
  context.command_queue().wait_idle();
  const auto values = out.read<std::uint32_t>(count);
  for (std::uint32_t i = 0; i < count; i += 61) {
    ASSERT_EQ(values[i], vt::busy_loop_reference(21, i, iterations));
  }
  // Still fully usable.
  bool ran = false;
  context.execute_and_wait([&](CommandBuffer&, ComputeEncoder&) { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(Context, StopRequestedBeforeEncodingNeverRunsTheOperation) {
  Context context;
  std::stop_source stop;
  stop.request_stop();
  bool ran = false;
  try {
    context.execute_and_wait([&](CommandBuffer&, ComputeEncoder&) { ran = true; },
                             {.stop = stop.get_token()});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::cancelled);
  }
  EXPECT_FALSE(ran);
  EXPECT_EQ(context.performance_stats().operations, 0u);
}

TEST(Context, StopRequestedAfterEncodingCancelsTheWaitButTheWorkCompletes) {
  Context context;
  constexpr std::uint32_t count = 4096;
  const std::uint32_t iterations = vt::iterations_for(context, count, 200ms);
  auto out = context.get_buffer(count * 4ull);
  Device device = context.device();
  std::stop_source stop;
  const auto operations_before = context.performance_stats().operations;
  try {
    context.execute_and_wait(
        [&](CommandBuffer&, ComputeEncoder& e) {
          vt::encode_busy_loop(device, e, out.buffer(), count, iterations, 31);
          stop.request_stop();
        },
        {.stop = stop.get_token()});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::cancelled);
  }
  EXPECT_EQ(context.performance_stats().operations, operations_before + 1);
  context.command_queue().wait_idle();
  EXPECT_EQ(out.read<std::uint32_t>(1)[0], vt::busy_loop_reference(31, 0, iterations));
}

TEST(Context, StopWhileWaitingCancelsPromptly) {
  Context context({.command_queue_count = 1});  // the gate below holds its one queue
  // The queue holds the operation behind an event only this test signals, so the wait is
  // still in progress when the stop arrives, however fast the device.
  SharedEvent gate = context.device().make_shared_event();
  context.command_queue().wait_event(gate, 1);
  std::stop_source stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(20ms);
    stop.request_stop();
  });
  const auto start = std::chrono::steady_clock::now();
  try {
    context.execute_and_wait(
        [](CommandBuffer&, ComputeEncoder& e) { e.barrier(Stage::dispatch, Stage::dispatch); },
        {.stop = stop.get_token()});
    FAIL() << "the operation cannot complete before the gate opens";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::cancelled);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  stopper.join();
  gate.signal(1);
  context.command_queue().wait_idle({.timeout = 10s});
}

TEST(Context, AnExceptionFromTheOperationPropagatesAndNothingIsSubmitted) {
  Context context;
  EXPECT_THROW(context.execute_and_wait([](CommandBuffer&, ComputeEncoder&) {
    throw Error(Errc::invalid_argument, "from the operation");
  }),
               Error);
  EXPECT_EQ(context.command_queue().last_submitted_value(), 0u);
  bool ran = false;
  context.execute_and_wait([&](CommandBuffer&, ComputeEncoder&) { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(Context, EightThreadsTimesTwoHundredOperationsAllCorrect) {
  Context context;
  Device device = context.device();
  constexpr int threads = 8;
  constexpr int per_thread = 200;
  constexpr std::uint32_t n = 64;
  std::atomic<int> wrong{0};
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::vector<float> xs(n, static_cast<float>(t + 1));
      auto x = context.get_buffer(std::span<const float>(xs));
      for (int k = 0; k < per_thread; ++k) {
        std::vector<float> ys(n, static_cast<float>(k));
        auto y = context.get_buffer(std::span<const float>(ys));
        const float a = static_cast<float>(k % 7);
        context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
          vt::encode_scale_add(device, e, x.buffer(), y.buffer(), n, a);
        });
        const auto out = y.read<float>(n);
        for (float v : out) {
          if (v != a * static_cast<float>(t + 1) + static_cast<float>(k)) ++wrong;
        }
      }
    });
  }
  for (auto& w : workers)
    w.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(context.performance_stats().operations, std::uint64_t{threads} * per_thread);
}

TEST(Context, DeviceLossFailsPendingAndLaterWaits) {
  Context context;
  constexpr std::uint32_t count = 4096;
  const std::uint32_t iterations = vt::iterations_for(context, count, 300ms);
  auto out = context.get_buffer(count * 4ull);
  Device device = context.device();
  auto pending = context.execute([&](CommandBuffer&, ComputeEncoder& e) {
    vt::encode_busy_loop(device, e, out.buffer(), count, iterations, 1);
  });
  vecaccel::detail::Access::impl(device)
      ->mark_lost();  // what a VK_ERROR_DEVICE_LOST from the driver does
  try {
    pending.wait();
    if (!pending.is_complete()) FAIL() << "a wait returned on a lost device before completion";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::device_lost);
  }
  try {
    context.execute_and_wait([](CommandBuffer&, ComputeEncoder&) {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::device_lost);
  }
  // The loss was simulated: the real GPU is still running the work, which must finish before
  // the test tears down the buffers it writes.
  vecaccel::detail::Access::impl(device)->device().waitIdle();
}

TEST(Context, ProfilingRecordsGpuTimePerOperation) {
  Context context({.enable_profiling = true});
  if (context.device().capabilities().timestamp_period_ns == 0) GTEST_SKIP() << "no timestamps";
  constexpr std::uint32_t count = 4096;
  auto out = context.get_buffer(count * 4ull);
  Device device = context.device();
  for (int i = 0; i < 5; ++i) {
    context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
      vt::encode_busy_loop(device, e, out.buffer(), count, 2000, 1);
    });
  }
  context.execute_and_wait([](CommandBuffer&, ComputeEncoder&) {});
  const auto stats = context.performance_stats();
  EXPECT_GE(stats.operations, 6u);
  EXPECT_GE(stats.profiled_operations, 5u);
  EXPECT_GT(stats.total_gpu_time.count(), 0);
  EXPECT_GE(stats.max_gpu_time, stats.last_gpu_time);
}

TEST(Context, DispatchProfilePrintsEachPipelinesGpuTimeAndTheWorkStillRuns) {
  vecaccel::testing::ScopedEnv profile("VECACCEL_PROFILE_DISPATCHES", "1");
  Context context;
  if (context.device().capabilities().timestamp_period_ns == 0) GTEST_SKIP() << "no timestamps";
  constexpr std::uint32_t count = 4096;
  auto out = context.get_buffer(count * 4ull);
  auto copy = context.get_buffer(count * 4ull);
  Device device = context.device();
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 2; ++i) {  // the second reuses the recording and its timestamps
    context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
      e.fill_buffer(out.buffer(), 0, count * 4ull, 0);
      e.barrier({out.buffer()}, Stage::blit, Stage::dispatch);
      vt::encode_busy_loop(device, e, out.buffer(), count, 200, 1);
      e.barrier({out.buffer()}, Stage::dispatch, Stage::dispatch);
      vt::encode_busy_loop(device, e, out.buffer(), count, 200, 1);
      e.barrier({out.buffer()}, Stage::dispatch, Stage::blit);
      e.copy_buffer(out.buffer(), 0, copy.buffer(), 0, count * 4ull);
    });
  }
  const std::string printed = ::testing::internal::GetCapturedStderr();
  std::size_t lines = 0;
  for (std::size_t at = printed.find("vecaccel gpu"); at != std::string::npos;
       at = printed.find("vecaccel gpu", at + 1))
    ++lines;
  EXPECT_GE(lines, 1u) << printed;  // the last operation may be reported after the wait returned
  EXPECT_NE(printed.find("busy_loop x2 "), std::string::npos) << printed;
  EXPECT_NE(printed.find("fill x1 "), std::string::npos) << printed;
  EXPECT_NE(printed.find("copy x1 "), std::string::npos) << printed;
  EXPECT_EQ(out.read<std::uint32_t>(count), copy.read<std::uint32_t>(count));
}

// bench_context labels its cases with these (issue 10, item 6): a wait that had to block must
// say so, and one that found the work complete counts as neither.
TEST(Context, PerformanceStatsCountHowWaitsEnded) {
  Context context;
  Device device = context.device();
  constexpr std::uint32_t count = 4096;
  // Beyond any spin (2 ms on GPUs, none on CPU devices): the wait must block.
  const std::uint32_t iterations = vt::iterations_for(context, count, 100ms);
  auto out = context.get_buffer(count * 4ull);
  const PerformanceStats before = context.performance_stats();
  const auto submission = context.execute([&](CommandBuffer&, ComputeEncoder& e) {
    vt::encode_busy_loop(device, e, out.buffer(), count, iterations, 1);
  });
  context.wait(submission, {});
  submission.wait();  // complete already: not counted
  const PerformanceStats after = context.performance_stats();
  EXPECT_EQ(after.waits_blocked - before.waits_blocked, 1u);
  EXPECT_EQ(after.waits_spun - before.waits_spun, 0u);
}

// Issue 10, item 6: the default leaves a submission in flight for each of 8 threads (3 held
// them to three per round trip). Held back on the GPU by a gate, 8 operations must all be
// submitted without waiting for a slot.
TEST(Context, EightOperationsCanBeInFlightWhenConfigured) {
  Context context({.max_command_buffer_count = 8, .command_queue_count = 1});
  SharedEvent gate = context.device().make_shared_event();
  context.command_queue().wait_event(gate, 1);
  std::vector<Submission<void>> submissions;
  submissions.reserve(8);
  for (int i = 0; i < 8; ++i) {
    submissions.push_back(context.execute([](CommandBuffer&, ComputeEncoder&) {}, {.timeout = 2s}));
  }
  EXPECT_FALSE(submissions.front().is_complete());
  gate.signal(1);
  for (auto& submission : submissions)
    submission.wait();
}

// Group commit (issue 10, item 6): threads that commit while another submits share its next
// vkQueueSubmit2 instead of queueing for one each, and every operation still runs right.
TEST(Context, ThreadsCommittingAtOnceShareSubmissions) {
  Context context;
  Device device = context.device();
  constexpr int threads = 8;
  constexpr int per_thread = 300;
  constexpr std::uint32_t n = 64;
  const detail::ScopedFault count_only(detail::FaultSite::submit, detail::FaultInjection::never(),
                                       vk::Result::eSuccess);
  std::atomic<int> wrong{0};
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const std::vector<float> xs(n, static_cast<float>(t + 1)), zeros(n, 0.0f);
      const auto x = context.get_buffer(std::span<const float>(xs));
      const auto y = context.get_buffer(std::span<const float>(zeros));
      for (int k = 0; k < per_thread; ++k) {
        context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
          vt::encode_scale_add(device, e, x.buffer(), y.buffer(), n, 1.0f);
        });
      }
      if (y.read<float>(n)[n - 1] != static_cast<float>((t + 1) * per_thread)) ++wrong;
    });
  }
  for (auto& w : workers)
    w.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LT(detail::FaultInjection::calls(detail::FaultSite::submit),
            std::uint64_t{threads} * per_thread);
}

namespace {

/// y += a * x over n floats, and the command buffer the context recorded it in.
struct ScaleAddOp {
  Device& device;
  const BufferToken& x;
  const BufferToken& y;
  float a;
  std::uint32_t n;
  detail::CommandBufferImpl** recorded_in;
  void operator()(CommandBuffer& cb, ComputeEncoder& e) const {
    vt::encode_scale_add(device, e, x.buffer(), y.buffer(), n, a);
    *recorded_in = vecaccel::detail::Access::impl(cb).get();
  }
};

}  // namespace

// Issue 10, item 6: an operation that records what its command buffer already holds submits
// that recording again (re-recording cost 4 us per operation on an H200); any difference in
// the commands (constants, buffers) records anew, and the results stay right either way.
TEST(Context, ARepeatedOperationReusesItsRecordingAndAChangedOneRecordsAgain) {
  Context context;
  Device device = context.device();
  constexpr std::uint32_t n = 256;
  const std::vector<float> ones(n, 1.0f), zeros(n, 0.0f);
  const auto x = context.get_buffer(std::span<const float>(ones));
  const auto y = context.get_buffer(std::span<const float>(zeros));
  detail::CommandBufferImpl* cb = nullptr;
  for (int i = 0; i < 5; ++i)
    context.execute_and_wait(ScaleAddOp{device, x, y, 1.0f, n, &cb});
  ASSERT_NE(cb, nullptr);
  EXPECT_EQ(cb->vulkan_recordings(), 1u);
  EXPECT_EQ(y.read<float>(n)[n - 1], 5.0f);

  context.execute_and_wait(ScaleAddOp{device, x, y, 2.0f, n, &cb});  // other constants
  EXPECT_EQ(cb->vulkan_recordings(), 2u);
  EXPECT_EQ(y.read<float>(n)[n - 1], 7.0f);

  const auto x2 = context.get_buffer(std::span<const float>(ones));
  context.execute_and_wait(ScaleAddOp{device, x2, y, 2.0f, n, &cb});  // another buffer
  EXPECT_EQ(cb->vulkan_recordings(), 3u);
  context.execute_and_wait(ScaleAddOp{device, x2, y, 2.0f, n, &cb});
  EXPECT_EQ(cb->vulkan_recordings(), 3u);
  EXPECT_EQ(y.read<float>(n)[n - 1], 11.0f);
}

// A recording names buffers by id, not by handle: a buffer made after the old one is freed
// (which may get the freed handle back) is recorded anew, and the operation writes it.
TEST(Context, AnOperationOnAFreshBufferRecordsAgainEvenWhenItsHandleIsReused) {
  Context context;
  Device device = context.device();
  BufferFactory factory = context.buffer_factory();
  constexpr std::uint32_t n = 64;
  const std::vector<float> ones(n, 1.0f);
  const auto x = context.get_buffer(std::span<const float>(ones));
  detail::CommandBufferImpl* cb = nullptr;
  for (int round = 0; round < 2; ++round) {
    Buffer y = factory.make_buffer({.size = n * sizeof(float), .label = "y"});
    context.residency_manager().register_buffer(y, ResidencyMode::ephemeral);
    context.residency_manager().commit();
    std::fill_n(reinterpret_cast<float*>(y.mapped().data()), n, 0.0f);
    context.execute_and_wait([&](CommandBuffer& c, ComputeEncoder& e) {
      vt::encode_scale_add(device, e, x.buffer(), y, n, 1.0f);
      cb = vecaccel::detail::Access::impl(c).get();
    });
    EXPECT_EQ(reinterpret_cast<const float*>(y.mapped().data())[n - 1], 1.0f);
    context.residency_manager().unregister_buffer(y);
    context.residency_manager().commit();
  }
  EXPECT_EQ(cb->vulkan_recordings(), 2u);
}

TEST(Context, CleanupWaitsAndFreesCachedBuffers) {
  Context context;
  { auto token = context.get_buffer(1 << 20); }
  EXPECT_GT(context.buffer_pool().statistics().bytes_cached, 0u);
  context.cleanup();
  EXPECT_EQ(context.buffer_pool().statistics().bytes_cached, 0u);
  bool ran = false;
  context.execute_and_wait([&](CommandBuffer&, ComputeEncoder&) { ran = true; });
  EXPECT_TRUE(ran);
}
