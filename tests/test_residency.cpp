// Residency sets, the residency manager and residency validation (ARCHITECTURE.md §4).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "support/expect_error.hpp"
#include "support/support.hpp"

using namespace vecaccel;
namespace vt = vecaccel::testing;

namespace {

using vt::expect_error;
using vt::mentions;

class Residency : public ::testing::Test {
 protected:
  Device device = Device::select_best();
  BufferFactory factory = device.buffer_factory();

  Buffer make(std::uint64_t size, const std::string& label = {}) {
    return factory.make_buffer({.size = size, .storage = StorageMode::shared, .label = label});
  }

  /// Records a fill of buffer into cb (begun from allocator), ends it and commits it to queue.
  static void fill_and_commit(CommandQueue& queue, CommandAllocator& allocator, CommandBuffer& cb,
                              const Buffer& buffer, std::uint32_t pattern) {
    cb.begin(allocator);
    ComputeEncoder& encoder = cb.make_compute_encoder();
    encoder.fill_buffer(buffer, 0, buffer.size(), pattern);
    encoder.end_encoding();
    cb.end();
    queue.commit(cb);
  }
};

TEST_F(Residency, AddAndRemoveAreStagedUntilCommit) {
  ResidencySet set = device.make_residency_set({.label = "staging", .capacity = 8});
  Buffer a = make(1024), b = make(4096);

  set.add_allocation(a);
  set.add_allocation(b);
  EXPECT_TRUE(set.has_pending_changes());
  EXPECT_FALSE(set.contains(a));
  EXPECT_EQ(set.allocation_count(), 0u);
  EXPECT_EQ(set.allocated_size(), 0u);

  set.commit();
  EXPECT_FALSE(set.has_pending_changes());
  EXPECT_TRUE(set.contains(a));
  EXPECT_TRUE(set.contains(b));
  EXPECT_EQ(set.allocation_count(), 2u);
  EXPECT_EQ(set.allocated_size(), 1024u + 4096u);

  set.remove_allocation(a);
  EXPECT_TRUE(set.contains(a)) << "a removal takes effect at commit";
  EXPECT_EQ(set.allocation_count(), 2u);
  set.commit();
  EXPECT_FALSE(set.contains(a));
  EXPECT_EQ(set.allocation_count(), 1u);
  EXPECT_EQ(set.allocated_size(), 4096u);

  // Staged changes that cancel out leave nothing to commit.
  set.add_allocation(a);
  set.remove_allocation(a);
  EXPECT_FALSE(set.has_pending_changes());
}

TEST_F(Residency, OverCapacityCommitThrowsAndLeavesTheSetUnchanged) {
  ResidencySet set = device.make_residency_set({.label = "small", .capacity = 2});
  Buffer a = make(256), b = make(512), c = make(1024);
  set.add_allocation(a);
  set.commit();
  set.add_allocation(b);
  set.add_allocation(c);

  const Error e = expect_error(Errc::residency_set_full, [&] { set.commit(); });
  EXPECT_TRUE(mentions(e, "3")) << e.what();  // buffers it would hold
  EXPECT_TRUE(mentions(e, "capacity is 2")) << e.what();
  EXPECT_EQ(set.allocation_count(), 1u);
  EXPECT_EQ(set.allocated_size(), 256u);
  EXPECT_TRUE(set.contains(a));
  EXPECT_FALSE(set.contains(b));
  EXPECT_TRUE(set.has_pending_changes()) << "the changes stay staged";

  set.remove_allocation(c);
  set.commit();
  EXPECT_EQ(set.allocation_count(), 2u);
  EXPECT_TRUE(set.contains(b));
}

// Found by bench/soak: staged additions of buffers destroyed before the commit (retired kNN
// scratch) still counted against the capacity, so one overflow failed every later commit.
TEST_F(Residency, AStagedBufferDestroyedBeforeTheCommitDoesNotCountAgainstTheCapacity) {
  ResidencySet set = device.make_residency_set({.label = "small", .capacity = 2});
  Buffer a = make(256), b = make(512);
  set.add_allocation(a);
  set.commit();
  set.add_allocation(b);
  {
    Buffer gone = make(1024);
    set.add_allocation(gone);
  }
  set.commit();
  EXPECT_EQ(set.allocation_count(), 2u);
  EXPECT_TRUE(set.contains(b));
  EXPECT_FALSE(set.has_pending_changes());
}

TEST_F(Residency, ManagerContainsOnlyRegisteredAndCommittedBuffers) {
  ResidencyManager manager(device, {.label = "manager", .capacity = 16});
  Buffer a = make(2048);
  manager.register_buffer(a, ResidencyMode::persistent);
  EXPECT_TRUE(manager.has_pending_changes());
  EXPECT_FALSE(manager.contains(a));
  manager.commit();
  EXPECT_FALSE(manager.has_pending_changes());
  EXPECT_TRUE(manager.contains(a));
  EXPECT_TRUE(manager.residency_set().contains(a));

  manager.unregister_buffer(a);
  EXPECT_FALSE(manager.contains(a)) << "no longer registered";
  EXPECT_TRUE(manager.residency_set().contains(a)) << "still committed until the next commit";
  EXPECT_TRUE(manager.has_pending_changes());
  manager.commit();
  EXPECT_FALSE(manager.residency_set().contains(a));
  EXPECT_FALSE(manager.contains(Buffer()));
}

TEST_F(Residency, ManagerCommitOverCapacityPropagatesAndKeepsState) {
  ResidencyManager manager(device, {.label = "tiny", .capacity = 1});
  Buffer a = make(256), b = make(256);
  manager.register_buffer(a, ResidencyMode::hot);
  manager.commit();
  manager.register_buffer(b, ResidencyMode::hot);
  expect_error(Errc::residency_set_full, [&] { manager.commit(); });
  EXPECT_TRUE(manager.contains(a));
  EXPECT_FALSE(manager.contains(b));
  EXPECT_EQ(manager.statistics().commits, 1u);
  EXPECT_TRUE(manager.has_pending_changes());
}

TEST_F(Residency, StatisticsAreExactAfterAScriptedSequence) {
  ResidencyManager manager(device, {.label = "stats", .capacity = 16});
  const ResidencyStatistics empty = manager.statistics();
  EXPECT_EQ(empty.total_buffers, 0u);
  EXPECT_EQ(empty.commits, 0u);
  EXPECT_FALSE(empty.last_commit.has_value());

  Buffer a = make(1024), b = make(4096), c = make(65536), d = make(256), e = make(8192);
  const auto before = std::chrono::system_clock::now();
  manager.register_buffer(a, ResidencyMode::persistent);
  manager.register_buffer(b, ResidencyMode::ephemeral);
  manager.register_buffer(c, ResidencyMode::hot);
  manager.register_buffer(d, ResidencyMode::ephemeral);
  manager.commit();                                // commit 1
  manager.register_buffer(d, ResidencyMode::hot);  // a mode change, not a second entry
  manager.unregister_buffer(a);
  manager.commit();  // commit 2
  manager.commit();  // nothing pending: not counted
  {
    Buffer gone = make(512);
    manager.register_buffer(gone, ResidencyMode::persistent);
    manager.commit();  // commit 3
  }                    // destroyed while registered: no longer counted
  manager.register_buffer(e, ResidencyMode::persistent);  // staged: counts as registered
  const auto after = std::chrono::system_clock::now();

  const ResidencyStatistics s = manager.statistics();
  EXPECT_EQ(s.persistent.buffers, 1u);
  EXPECT_EQ(s.persistent.bytes, 8192u);
  EXPECT_EQ(s.ephemeral.buffers, 1u);
  EXPECT_EQ(s.ephemeral.bytes, 4096u);
  EXPECT_EQ(s.hot.buffers, 2u);
  EXPECT_EQ(s.hot.bytes, 65536u + 256u);
  EXPECT_EQ(s.total_buffers, 4u);
  EXPECT_EQ(s.total_bytes, 8192u + 4096u + 65536u + 256u);
  EXPECT_EQ(s.commits, 3u);
  ASSERT_TRUE(s.last_commit.has_value());
  EXPECT_GE(*s.last_commit, before);
  EXPECT_LE(*s.last_commit, after);
  manager.commit();  // commit 4: e joins, the destroyed buffer leaves the set
  EXPECT_EQ(manager.statistics().commits, 4u);
  EXPECT_EQ(manager.residency_set().allocation_count(), 4u);  // b, c, d, e
  EXPECT_EQ(manager.residency_set().allocated_size(), s.total_bytes);

  if (device.capabilities().memory_budget) {
    ASSERT_TRUE(s.device_budget_bytes.has_value());
    ASSERT_TRUE(s.device_usage_bytes.has_value());
    EXPECT_GT(*s.device_budget_bytes, 0u);
  } else {
    EXPECT_FALSE(s.device_budget_bytes.has_value());
    EXPECT_FALSE(s.device_usage_bytes.has_value());
  }
}

TEST_F(Residency, BudgetIsAbsentWhereTheDeviceLacksMemoryBudget) {
  Device plain = Device::open(device.info().index, {.disable_memory_budget = true});
  ResidencyManager manager(plain, {.label = "no budget", .capacity = 4});
  const auto s = manager.statistics();
  EXPECT_FALSE(s.device_budget_bytes.has_value());
  EXPECT_FALSE(s.device_usage_bytes.has_value());
}

TEST_F(Residency, EvictionFreesTheReportedBytes) {
  ResidencyManager manager(device, {.label = "evict", .capacity = 16});
  Buffer p = make(1024), e1 = make(4096), e2 = make(16384), h = make(256);
  manager.register_buffer(p, ResidencyMode::persistent);
  manager.register_buffer(e1, ResidencyMode::ephemeral);
  manager.register_buffer(e2, ResidencyMode::ephemeral);
  manager.register_buffer(h, ResidencyMode::hot);
  manager.commit();
  const std::uint64_t resident = manager.residency_set().allocated_size();
  ASSERT_EQ(resident, 1024u + 4096u + 16384u + 256u);

  const std::uint64_t freed = manager.evict_ephemeral();
  EXPECT_EQ(freed, 4096u + 16384u);
  EXPECT_EQ(manager.residency_set().allocated_size(), resident - freed);
  EXPECT_FALSE(manager.contains(e1));
  EXPECT_FALSE(manager.residency_set().contains(e2)) << "evict commits";
  EXPECT_FALSE(manager.has_pending_changes());
  EXPECT_TRUE(manager.contains(p));
  EXPECT_TRUE(manager.contains(h));
  const auto s = manager.statistics();
  EXPECT_EQ(s.ephemeral.buffers, 0u);
  EXPECT_EQ(s.ephemeral.bytes, 0u);
  EXPECT_EQ(s.total_bytes, 1024u + 256u);
  EXPECT_EQ(s.commits, 2u);

  EXPECT_EQ(manager.evict(ResidencyMode::hot), 256u);
  EXPECT_EQ(manager.evict_ephemeral(), 0u);
  EXPECT_EQ(manager.statistics().commits, 3u)
      << "an eviction with nothing to evict commits nothing";

  manager.clear();
  EXPECT_EQ(manager.residency_set().allocation_count(), 0u);
  EXPECT_EQ(manager.statistics().total_buffers, 0u);
  EXPECT_FALSE(manager.contains(p));
}

// The seed's testResidencySetAttached.
TEST(ResidencyContext, BufferFromGetBufferIsInTheContextsResidencySet) {
  Context ctx;
  auto t = ctx.get_buffer(1024);
  EXPECT_TRUE(ctx.residency_manager().contains(t.buffer()));
  EXPECT_TRUE(ctx.residency_manager().residency_set().contains(t.buffer()));
  EXPECT_EQ(ctx.residency_manager().statistics().ephemeral.buffers, 1u);
}

TEST(ResidencyContext, PooledBufferEvictedByTheUserIsReRegisteredOnItsNextAcquire) {
  Context ctx;
  Device device = ctx.device();
  std::uint64_t id = 0;
  {
    auto t = ctx.get_buffer(4096);
    id = t.buffer().id();
  }
  EXPECT_GE(ctx.residency_manager().evict_ephemeral(), 4096u);
  auto t = ctx.get_buffer(4096);
  ASSERT_EQ(t.buffer().id(), id) << "a cache hit";
  EXPECT_TRUE(ctx.residency_manager().contains(t.buffer()));
  ctx.execute_and_wait(
      [&](CommandBuffer&, ComputeEncoder& e) { e.fill_buffer(t.buffer(), 0, 4096, 0x01020304u); });
  EXPECT_EQ(t.read<std::uint32_t>(1)[0], 0x01020304u);
}

TEST(ResidencyContext, UnregisteredBufferIsAViolationForBindCopyFillAndBarrier) {
  Context ctx;
  Device device = ctx.device();
  Buffer stray = ctx.buffer_factory().make_buffer({.size = 1024, .label = "stray"});
  auto pooled = ctx.get_buffer(1024);
  const std::string name = "buffer " + std::to_string(stray.id()) + " 'stray'";

  const auto check = [&](auto&& encode) {
    const Error e = expect_error(Errc::residency_violation, [&] {
      ctx.execute_and_wait([&](CommandBuffer&, ComputeEncoder& enc) { encode(enc); });
    });
    EXPECT_TRUE(mentions(e, name)) << e.what();
  };
  check([&](ComputeEncoder& e) {
    vt::encode_scale_add(device, e, stray, pooled.buffer(), 16, 1.0f);
  });
  check([&](ComputeEncoder& e) { e.copy_buffer(pooled.buffer(), 0, stray, 0, 64); });
  check([&](ComputeEncoder& e) { e.copy_buffer(stray, 0, pooled.buffer(), 0, 64); });
  check([&](ComputeEncoder& e) { e.fill_buffer(stray, 0, 64, 7u); });
  check([&](ComputeEncoder& e) { e.barrier({stray}, Stage::dispatch, Stage::dispatch); });

  // Registered and committed, the same operations pass.
  ctx.residency_manager().register_buffer(stray, ResidencyMode::persistent);
  ctx.residency_manager().commit();
  ctx.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) { e.fill_buffer(stray, 0, 64, 7u); });
  EXPECT_EQ(vt::download<std::uint32_t>(stray, 1)[0], 7u);
}

TEST(ResidencyContext, NoViolationWithValidationOff) {
  Context ctx({.validate_residency = false});
  Device device = ctx.device();
  Buffer x = ctx.buffer_factory().make_buffer(64ull * 4);
  Buffer y = ctx.buffer_factory().make_buffer(64ull * 4);
  vt::upload(x, std::vector<float>(64, 2.0f));
  vt::upload(y, std::vector<float>(64, 1.0f));
  ctx.execute_and_wait(
      [&](CommandBuffer&, ComputeEncoder& e) { vt::encode_scale_add(device, e, x, y, 64, 3.0f); });
  EXPECT_EQ(vt::download<float>(y, 64), std::vector<float>(64, 7.0f));
  EXPECT_FALSE(ctx.residency_manager().contains(x));
}

TEST_F(Residency, CommandBufferAndQueueSetsBothSatisfyValidation) {
  CommandQueue queue = device.make_command_queue({.label = "sets"});
  CommandAllocator allocator = device.make_command_allocator();
  Buffer own = make(256, "own"), queued = make(256, "queued"), staged = make(256, "staged");
  ResidencySet cb_set = device.make_residency_set({.label = "cb", .capacity = 4});
  ResidencySet queue_set = device.make_residency_set({.label = "queue", .capacity = 4});
  cb_set.add_allocation(own);
  cb_set.commit();
  queue_set.add_allocation(queued);
  queue_set.commit();
  queue_set.add_allocation(staged);  // staged only: not yet usable
  queue.add_residency_set(queue_set);

  CommandBuffer cb = device.make_command_buffer();
  cb.use_residency_set(cb_set);
  fill_and_commit(queue, allocator, cb, own, 1u);
  fill_and_commit(queue, allocator, cb, queued, 2u);  // resolved against the queue at commit
  const Error e = expect_error(Errc::residency_violation,
                               [&] { fill_and_commit(queue, allocator, cb, staged, 3u); });
  EXPECT_TRUE(mentions(e, "'staged'")) << e.what();

  CommandBuffer unchecked = device.make_command_buffer();
  unchecked.set_residency_validation(false);
  fill_and_commit(queue, allocator, unchecked, staged, 4u);
  queue.wait_idle();
  EXPECT_EQ(vt::download<std::uint32_t>(own, 1)[0], 1u);
  EXPECT_EQ(vt::download<std::uint32_t>(queued, 1)[0], 2u);
  EXPECT_EQ(vt::download<std::uint32_t>(staged, 1)[0], 4u);
}

}  // namespace
