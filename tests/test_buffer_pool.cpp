// BufferPool and BufferToken: buckets, caching, the cap, device limits, deferred reuse and
// concurrency (issue 3, item 4).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "buffer_impl.hpp"
#include "core/access.hpp"
#include "device_impl.hpp"
#include "support/expect_error.hpp"
#include "support/support.hpp"

using namespace vecaccel;
using namespace std::chrono_literals;
namespace vt = vecaccel::testing;

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;

using vt::expect_error;
using vt::mentions;

/// The largest bucket the pool should use on this device (see buffer_pool_impl.hpp).
std::uint64_t largest_bucket(const Capabilities& caps) {
  return std::min({256 * MiB, std::bit_floor(caps.max_storage_buffer_range),
                   std::bit_floor(caps.max_buffer_size)});
}

class Pool : public ::testing::Test {
 protected:
  Device device = Device::select_best();
  BufferPool make_pool(std::uint64_t max_bytes = 64 * MiB, std::size_t per_size = 10) {
    return BufferPool(device.buffer_factory(), nullptr,
                      {.max_bytes = max_bytes, .max_buffers_per_size = per_size});
  }
};

TEST(PoolBuckets, PowersOfTwoFrom256BytesThenExact) {
  EXPECT_EQ(BufferPool::bucket_size(1), 256u);
  EXPECT_EQ(BufferPool::bucket_size(256), 256u);
  EXPECT_EQ(BufferPool::bucket_size(257), 512u);
  EXPECT_EQ(BufferPool::bucket_size(1000), 1024u);
  EXPECT_EQ(BufferPool::bucket_size(64 * KiB + 1), 128 * KiB);
  EXPECT_EQ(BufferPool::bucket_size(MiB + 1), 2 * MiB);
  EXPECT_EQ(BufferPool::bucket_size(256 * MiB), 256 * MiB);
  EXPECT_EQ(BufferPool::bucket_size(256 * MiB + 1), 256 * MiB + 1);
  EXPECT_EQ(BufferPool::bucket_size(3072 * MiB), 3072 * MiB);
}

TEST_F(Pool, TokensGetTheirBucketAndRememberTheRequestedSize) {
  BufferPool pool = make_pool();
  for (const std::uint64_t size :
       std::vector<std::uint64_t>{1, 255, 256, 300, 5000, 64 * KiB, 64 * KiB + 1, 3 * MiB}) {
    BufferToken t = pool.acquire(size);
    EXPECT_EQ(t.size(), size);
    EXPECT_EQ(t.buffer().size(), BufferPool::bucket_size(size)) << size;
    EXPECT_EQ(t.buffer().mapped().size(), t.buffer().size());
  }
  expect_error(Errc::invalid_argument, [&] { pool.acquire(0); });
}

TEST_F(Pool, HitsAndMissesAreCountedExactly) {
  BufferPool pool = make_pool();
  std::uint64_t first_id = 0;
  {
    BufferToken a = pool.acquire(1000);  // miss, bucket 1024
    first_id = a.buffer().id();
    auto s = pool.statistics();
    EXPECT_EQ(s.misses, 1u);
    EXPECT_EQ(s.hits, 0u);
    EXPECT_EQ(s.buffers_in_use, 1u);
    EXPECT_EQ(s.bytes_in_use, 1024u);
  }
  BufferToken b = pool.acquire(1024);  // hit: the same buffer again
  EXPECT_EQ(b.buffer().id(), first_id);
  BufferToken c = pool.acquire(600);  // bucket 1024 is leased: miss
  EXPECT_NE(c.buffer().id(), first_id);
  BufferToken d = pool.acquire(5000);  // another bucket: miss
  auto s = pool.statistics();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.buffers_in_use, 3u);
  EXPECT_EQ(s.bytes_in_use, 1024u + 1024u + 8192u);
  EXPECT_EQ(s.buffers_cached, 0u);
  EXPECT_EQ(s.bytes_cached, 0u);

  b.release();
  c.release();
  d.release();
  EXPECT_FALSE(b.valid());
  s = pool.statistics();
  EXPECT_EQ(s.buffers_in_use, 0u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.buffers_cached, 3u);
  EXPECT_EQ(s.bytes_cached, 1024u + 1024u + 8192u);
  EXPECT_EQ(s.peak_bytes, 1024u + 1024u + 8192u);
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.max_bytes, 64 * MiB);

  EXPECT_EQ(pool.reset(), 1024u + 1024u + 8192u);
  s = pool.statistics();
  EXPECT_EQ(s.evictions, 3u);
  EXPECT_EQ(s.buffers_cached, 0u);
  EXPECT_EQ(s.bytes_cached, 0u);
  EXPECT_EQ(s.peak_bytes, 1024u + 1024u + 8192u);
}

TEST_F(Pool, KeepsAtMostMaxBuffersPerSizeCached) {
  BufferPool pool = make_pool(64 * MiB, 2);
  {
    std::vector<BufferToken> tokens;
    tokens.reserve(4);
    for (int i = 0; i < 3; ++i)
      tokens.push_back(pool.acquire(4096));
    tokens.push_back(pool.acquire(512 * KiB));
  }
  const auto s = pool.statistics();
  EXPECT_EQ(s.buffers_cached, 3u);  // two of 4 KiB, one of 512 KiB
  EXPECT_EQ(s.bytes_cached, 2 * 4096ull + 512 * KiB);
  EXPECT_EQ(s.evictions, 1u);
}

TEST_F(Pool, DefaultCapIsHalfTheDeviceLocalMemory) {
  BufferPool pool(device.buffer_factory(), nullptr, {});
  const Capabilities& caps = device.capabilities();
  std::uint64_t expected = caps.device_local_memory / 2;
  if (caps.device_local_memory == 0) {
    for (const auto& heap : caps.memory_heaps)
      expected = std::max(expected, heap.size / 2);
  }
  EXPECT_EQ(pool.statistics().max_bytes, expected);
  EXPECT_GT(expected, 0u);
}

TEST_F(Pool, CapEvictsCachedBuffersFirstThenThrowsMemoryPressure) {
  BufferPool pool = make_pool(MiB);
  { BufferToken a = pool.acquire(512 * KiB); }  // cached
  BufferToken big = pool.acquire(MiB);          // fits only once the cached 512 KiB is freed
  auto s = pool.statistics();
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.bytes_cached, 0u);
  EXPECT_EQ(s.bytes_in_use, MiB);

  const Error e = expect_error(Errc::memory_pressure, [&] { pool.acquire(256); });
  EXPECT_TRUE(mentions(e, std::to_string(MiB) + " bytes")) << e.what();        // the cap
  EXPECT_TRUE(mentions(e, std::to_string(MiB + 256) + " bytes")) << e.what();  // would-be total
  EXPECT_EQ(pool.statistics().bytes_in_use, MiB) << "a refused request leaves no trace";

  // Recovery once the lease ends.
  big.release();
  BufferToken a = pool.acquire(512 * KiB);
  BufferToken b = pool.acquire(512 * KiB);
  s = pool.statistics();
  EXPECT_EQ(s.bytes_in_use, MiB);
  EXPECT_EQ(s.bytes_cached, 0u);
  EXPECT_LE(s.peak_bytes, MiB);
}

TEST_F(Pool, RequestsAboveTheLargestBucketGetExactlyTheirSize) {
  const std::uint64_t largest = largest_bucket(device.capabilities());
  BufferPool pool = make_pool(4 * largest);
  const std::uint64_t size = largest + 4096 + 4;
  BufferToken t = pool.acquire(size);
  EXPECT_EQ(t.buffer().size(), size) << "exact, never rounded and never smaller";
  EXPECT_EQ(pool.statistics().bytes_in_use, size);
  BufferToken in_bucket = pool.acquire(largest / 2 + 1);
  EXPECT_EQ(in_bucket.buffer().size(), largest);
  t.release();
  const auto s = pool.statistics();
  EXPECT_EQ(s.buffers_cached, 0u) << "exact-size buffers are freed, not cached";
  EXPECT_EQ(s.bytes_in_use, largest);
}

TEST_F(Pool, RequestsAboveTheDeviceLimitThrowBufferTooLarge) {
  BufferPool pool = make_pool(std::numeric_limits<std::uint64_t>::max());
  { BufferToken cached = pool.acquire(4096); }
  const std::uint64_t too_big = device.capabilities().max_buffer_size + 1;
  const Error e = expect_error(Errc::buffer_too_large, [&] { pool.acquire(too_big); });
  EXPECT_TRUE(mentions(e, std::to_string(too_big))) << e.what();
  EXPECT_TRUE(mentions(e, std::to_string(device.capabilities().max_buffer_size))) << e.what();
  const auto s = pool.statistics();
  EXPECT_EQ(s.buffers_cached, 1u) << "an impossible request evicts nothing";
  EXPECT_EQ(s.bytes_in_use, 0u);
}

TEST_F(Pool, TokensAreMoveOnlyLeases) {
  static_assert(!std::is_copy_constructible_v<BufferToken>);
  static_assert(!std::is_copy_assignable_v<BufferToken>);
  static_assert(std::is_nothrow_move_constructible_v<BufferToken>);
  BufferPool pool = make_pool();
  BufferToken a = pool.acquire(100);
  const std::uint64_t id = a.buffer().id();
  BufferToken b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): a moved-from token is empty
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.buffer().id(), id);
  EXPECT_EQ(pool.statistics().buffers_in_use, 1u);
  BufferToken c = pool.acquire(100);
  c = std::move(b);  // c's own buffer goes back to the pool
  EXPECT_EQ(c.buffer().id(), id);
  const auto s = pool.statistics();
  EXPECT_EQ(s.buffers_in_use, 1u);
  EXPECT_EQ(s.buffers_cached, 1u);
}

TEST_F(Pool, WriteAndReadAreBoundsChecked) {
  BufferPool pool = make_pool();
  const std::vector<float> values = {1.5f, -2.0f, 3.25f};
  BufferToken t = pool.acquire_for(std::span<const float>(values));
  EXPECT_EQ(t.size(), 12u);
  EXPECT_EQ(t.read<float>(), values);
  t.write(std::span<const float>(values.data() + 2, 1), 0);
  EXPECT_EQ(t.read<float>(1)[0], 3.25f);
  EXPECT_EQ(t.read<float>(1, 8)[0], 3.25f);

  const Error w =
      expect_error(Errc::invalid_argument, [&] { t.write(std::span<const float>(values), 4); });
  EXPECT_TRUE(mentions(w, "12 bytes at offset 4")) << w.what();
  EXPECT_TRUE(mentions(w, "12 bytes")) << w.what();
  expect_error(Errc::invalid_argument, [&] { t.read<float>(4); });
  expect_error(Errc::invalid_argument, [&] { t.read<float>(1, 12); });

  BufferToken empty;
  expect_error(Errc::invalid_argument, [&] { empty.write(std::span<const float>(values)); });
}

TEST_F(Pool, TokenOverAPrivateBufferReportsWhetherItIsHostVisible) {
  Buffer priv = device.buffer_factory().make_buffer(256, StorageMode::private_);
  BufferToken t(nullptr, priv, 256);
  const std::vector<std::uint32_t> one = {42};
  if (priv.mapped().empty()) {
    const Error e =
        expect_error(Errc::unsupported, [&] { t.write(std::span<const std::uint32_t>(one)); });
    EXPECT_TRUE(mentions(e, "buffer " + std::to_string(priv.id()))) << e.what();
  } else {  // unified memory (CPU drivers): private buffers are host-visible too
    t.write(std::span<const std::uint32_t>(one));
    EXPECT_EQ(t.read<std::uint32_t>(1)[0], 42u);
  }
}

TEST_F(Pool, SmallBuffersShareSlabsAtAlignedOffsetsAndSlabsAreFreedWithTheirLastBuffer) {
  BufferPool pool = make_pool();
  const std::uint64_t alignment =
      std::max<std::uint64_t>(256, device.capabilities().min_storage_buffer_offset_alignment);
  std::vector<BufferToken> tokens;
  tokens.reserve(100);
  std::set<std::uint64_t> addresses;
  for (int i = 0; i < 100; ++i)
    tokens.push_back(pool.acquire(1024));
  std::set<VkBuffer> handles;
  for (const auto& t : tokens) {
    const auto& impl = *vecaccel::detail::Access::impl(t.buffer());
    handles.insert(static_cast<VkBuffer>(impl.handle()));
    EXPECT_EQ(impl.offset() % alignment, 0u);
    if (device.capabilities().buffer_device_address) addresses.insert(t.buffer().gpu_address());
  }
  EXPECT_EQ(handles.size(), 1u) << "100 KiB of 1 KiB buffers fit one 4 MiB slab";
  if (device.capabilities().buffer_device_address) {
    EXPECT_EQ(addresses.size(), 100u);
    const std::uint64_t any = *addresses.begin();
    tokens.clear();
    EXPECT_NO_THROW(vecaccel::detail::Access::impl(device)->resolve_address(any))
        << "cached buffers keep their slab";
    pool.reset();
    const Error e = expect_error(Errc::invalid_argument, [&] {
      vecaccel::detail::Access::impl(device)->resolve_address(any);
    });
    (void)e;  // the slab's memory (and address range) is gone with its last buffer
  }
}

TEST(PoolContext, NoReuseOfAReleasedBufferWhileTheGpuStillWritesIt) {
  Context context;
  Device device = context.device();
  for (const std::uint32_t count : {4096u, 262144u}) {  // a slab chunk, then a dedicated buffer
    SCOPED_TRACE(count);
    const std::uint32_t iterations =
        vt::iterations_for(context, 4096, 300ms) / (count / 4096);  // same total work
    BufferToken out = context.get_buffer(count * 4ull);
    const std::uint64_t id = out.buffer().id();
    const Buffer written = out.buffer();  // to read the result once the GPU is done
    auto submission = context.execute([&](CommandBuffer&, ComputeEncoder& e) {
      vt::encode_busy_loop(device, e, written, count, iterations, 5);
    });
    out.release();  // while the GPU still writes it
    ASSERT_FALSE(submission.is_complete()) << "the operation must outlast the checks below";
    auto before = context.buffer_pool().statistics();
    EXPECT_GE(before.buffers_in_use, 1u) << "released but in flight counts as in use";
    BufferToken other = context.get_buffer(count * 4ull);
    const std::uint64_t other_id = other.buffer().id();
    EXPECT_NE(other_id, id) << "the in-flight buffer was handed out again";
    const std::vector<std::uint32_t> poison(count, 0xdeadbeefu);
    other.write(std::span<const std::uint32_t>(poison));
    other.release();

    submission.wait();
    // Now idle: the next acquire of that bucket may reuse it, and its contents are the GPU's.
    const auto after = context.buffer_pool().statistics();
    EXPECT_EQ(after.buffers_in_use, 0u);
    const auto result = vt::download<std::uint32_t>(written, count);
    for (std::uint32_t i = 0; i < count; i += count / 64) {
      ASSERT_EQ(result[i], vt::busy_loop_reference(5, i, iterations)) << i;
    }
    const std::uint64_t hits = after.hits;
    BufferToken again = context.get_buffer(count * 4ull);
    BufferToken again2 = context.get_buffer(count * 4ull);
    EXPECT_EQ(context.buffer_pool().statistics().hits, hits + 2) << "both are reused once idle";
    EXPECT_EQ((std::set<std::uint64_t>{again.buffer().id(), again2.buffer().id()}),
              (std::set<std::uint64_t>{id, other_id}));
    EXPECT_TRUE(context.residency_manager().contains(again.buffer()));
  }
}

TEST(PoolContext, EightThreadsHammeringAcquireReleaseExecuteGetCorrectData) {
  Context context;
  Device device = context.device();
  constexpr int threads = 8;
  constexpr int rounds = 40;
  std::atomic<int> failures{0};
  std::atomic<std::uint64_t> acquires{0};
  std::vector<std::jthread> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        for (int r = 0; r < rounds; ++r) {
          // Sizes cross slab chunks and dedicated buckets; values are unique per thread/round.
          const std::uint32_t n = 16u << ((t + r) % 13);
          std::vector<float> xs(n), ys(n);
          for (std::uint32_t i = 0; i < n; ++i) {
            xs[i] = static_cast<float>((t * 131 + r * 17 + i) % 1000);
            ys[i] = static_cast<float>(t + r);
          }
          BufferToken x = context.get_buffer(std::span<const float>(xs));
          BufferToken y = context.get_buffer(std::span<const float>(ys));
          acquires += 2;
          const float a = (r % 2 == 0) ? 2.0f : -0.5f;
          if (r % 3 == 0) {
            // Release x while the GPU still reads it: the pool must not hand it to another
            // thread (which would overwrite it) before the operation completes.
            const Buffer xb = x.buffer(), yb = y.buffer();
            auto submission = context.execute([&](CommandBuffer&, ComputeEncoder& e) {
              vt::encode_scale_add(device, e, xb, yb, n, a);
            });
            x.release();
            submission.wait();
          } else {
            context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
              vt::encode_scale_add(device, e, x.buffer(), y.buffer(), n, a);
            });
          }
          const auto out = y.read<float>(n);
          for (std::uint32_t i = 0; i < n; ++i) {
            if (out[i] != a * xs[i] + ys[i]) {
              ++failures;
              break;
            }
          }
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "thread " << t << ": " << e.what();
        ++failures;
      }
    });
  }
  workers.clear();  // joins
  EXPECT_EQ(failures.load(), 0);
  context.command_queue().wait_idle();
  const auto s = context.buffer_pool().statistics();
  EXPECT_EQ(s.hits + s.misses, acquires.load());
  EXPECT_GT(s.hits, 0u);
  EXPECT_EQ(s.buffers_in_use, 0u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_LE(s.peak_bytes, s.max_bytes);
}

}  // namespace

// The pool shares the context's residency set with other registrations (the kNN engine's
// chunks and scratch). Found by bench/soak: once the pool's registrations overflowed the set,
// the staged registration stayed and every later operation failed with residency_set_full.
TEST(PoolContext, AFullResidencySetTakesTheCachedBuffersRegistrationsAndTheContextStaysUsable) {
  Context context({.residency_set_capacity = 8});
  ResidencyManager& residency = context.residency_manager();
  std::vector<Buffer> others;
  for (int i = 0; i < 6; ++i) {
    others.push_back(context.buffer_factory().make_buffer(256, StorageMode::shared));
    residency.register_buffer(others.back(), ResidencyMode::persistent);
  }
  residency.commit();
  {
    // Two sizes cached by the pool: 6 + 2 registrations fill the set.
    auto a = context.get_buffer(256);
    auto b = context.get_buffer(512);
  }
  // A third size needs a ninth registration: the cached buffers give theirs up.
  auto c = context.get_buffer(1024);
  context.execute_and_wait(
      [&](CommandBuffer&, ComputeEncoder& e) { e.fill_buffer(c.buffer(), 0, 1024, 7u); });
  EXPECT_EQ(c.read<std::uint32_t>(1)[0], 7u);

  // Held buffers cannot give theirs up: a clean error, and the context stays usable.
  auto d = context.get_buffer(2048);
  try {
    auto extra = context.get_buffer(4096);
    ADD_FAILURE() << "a ninth registration was accepted by a set of 8";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::residency_set_full) << e.what();
  }
  context.execute_and_wait(
      [&](CommandBuffer&, ComputeEncoder& e) { e.fill_buffer(d.buffer(), 0, 2048, 9u); });
  EXPECT_EQ(d.read<std::uint32_t>(1)[0], 9u);
}
