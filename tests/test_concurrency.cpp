// Concurrency of the lifetime machinery: handles dropped on many threads while their work
// runs, completion callbacks registered from many threads. Run by every preset and by the
// ThreadSanitizer stage (with the other multi-threaded tests).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <thread>
#include <vector>

#include "core/access.hpp"
#include "device_impl.hpp"
#include "vecaccel/vecaccel.hpp"

namespace vecaccel {
namespace {

TEST(Concurrency, ThreadsDroppingBuffersTheGpuStillUsesNeverFreeThemUnderIt) {
  Context context({.validate_residency = false});
  const std::int64_t live_before =
      vecaccel::detail::Access::impl(context.device())->live_allocations();
  constexpr int threads = 4;
  constexpr int rounds = 30;
  constexpr std::uint64_t bytes = 64 * 1024;
  std::atomic<int> wrong{0};
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        const Buffer kept = context.buffer_factory().make_buffer(bytes);
        for (int r = 0; r < rounds; ++r) {
          const auto pattern = static_cast<std::uint32_t>(t * 1000 + r + 1);
          // The only handle to `dropped` goes before the GPU has run the fill and the copy.
          auto dropped = std::make_optional(context.buffer_factory().make_buffer(bytes));
          const auto done = context.execute([&](CommandBuffer&, ComputeEncoder& e) {
            e.fill_buffer(*dropped, 0, bytes, pattern);
            e.barrier({*dropped}, Stage::blit, Stage::blit);
            e.copy_buffer(*dropped, 0, kept, 0, bytes);
            e.barrier({kept}, Stage::blit, Stage::host);
          });
          dropped.reset();
          done.wait();
          const auto* values = reinterpret_cast<const std::uint32_t*>(kept.mapped().data());
          for (std::uint64_t i = 0; i < bytes / 4; ++i) {
            if (values[i] != pattern) {
              ++wrong;
              break;
            }
          }
        }
      });
    }
  }
  EXPECT_EQ(wrong.load(), 0);
  context.cleanup();
  EXPECT_EQ(vecaccel::detail::Access::impl(context.device())->live_allocations(), live_before);
}

TEST(Concurrency, ListenersRegisteredFromManyThreadsAllFireOnce) {
  Context context;
  SharedEvent event = context.device().make_shared_event(0);
  constexpr int threads = 4;
  constexpr int per_thread = 50;
  std::atomic<int> fired{0};
  std::atomic<int> early{0};
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          const std::uint64_t value = 1 + static_cast<std::uint64_t>((t * per_thread + i) % 20);
          event.notify_listener(value, [&, value](std::uint64_t reached) {
            if (reached < value) ++early;
            ++fired;
          });
        }
      });
    }
    for (std::uint64_t v = 1; v <= 20; ++v) {
      event.signal(v);
      std::this_thread::yield();
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fired.load() < threads * per_thread && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(fired.load(), threads * per_thread);
  EXPECT_EQ(early.load(), 0);
}

}  // namespace
}  // namespace vecaccel
