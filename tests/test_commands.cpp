#include <gtest/gtest.h>

#include <bit>
#include <future>
#include <thread>

#include "support/support.hpp"

using namespace vecaccel;
using namespace std::chrono_literals;
namespace vt = vecaccel::testing;

namespace {

std::uint32_t bits(float f) {
  return std::bit_cast<std::uint32_t>(f);
}

/// A raw explicit-model setup: device, queue, residency set holding the test's buffers.
struct Raw {
  Device device = Device::select_best();
  CommandQueue queue = device.make_command_queue({.label = "raw", .max_command_buffer_count = 3});
  ResidencySet set = device.make_residency_set({.label = "raw", .capacity = 64});
  CommandAllocator allocator = device.make_command_allocator();

  Raw() { queue.add_residency_set(set); }
  Buffer buffer(std::uint64_t size) {
    Buffer b = device.buffer_factory().make_buffer(size);
    set.add_allocation(b);
    set.commit();
    return b;
  }
};

}  // namespace

TEST(CommandBuffer, IsMadeByTheDeviceNotTheQueue) {
  Context context;
  CommandBuffer cb = context.make_command_buffer();
  EXPECT_EQ(cb.committed_value(), 0u);
  CommandBuffer raw = context.device().make_command_buffer();
  EXPECT_EQ(raw.committed_value(), 0u);
}

TEST(CommandBuffer, LifecycleMisuseIsAClearError) {
  Raw raw;
  CommandBuffer cb = raw.device.make_command_buffer();
  EXPECT_THROW(cb.make_compute_encoder(), Error);  // not begun
  EXPECT_THROW(cb.end(), Error);
  CommandBuffer* one[] = {&cb};
  EXPECT_THROW(raw.queue.commit(one), Error);  // not ended
  cb.begin(raw.allocator);
  ComputeEncoder& enc = cb.make_compute_encoder();
  EXPECT_THROW(cb.make_compute_encoder(), Error);     // one open encoder at a time
  EXPECT_THROW(cb.end(), Error);                      // encoder still open
  EXPECT_THROW(enc.dispatch_threadgroups(1), Error);  // no pipeline
  enc.end_encoding();
  cb.end();
  raw.queue.commit(cb);
  try {
    raw.queue.commit(cb);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("committed already"), std::string::npos);
  }
  raw.queue.wait_idle();
}

TEST(CommandQueue, BatchCommitKeepsSubmissionOrder) {
  Raw raw;
  constexpr std::uint32_t n = 1024;
  Buffer x = raw.buffer(n * 4ull);
  Buffer y = raw.buffer(n * 4ull);
  vt::upload(x, std::vector<float>(n, 1.0f));
  std::vector<CommandBuffer> cbs;
  const auto record = [&](auto&& body) {
    CommandBuffer cb = raw.device.make_command_buffer();
    cb.begin(raw.allocator);
    ComputeEncoder& e = cb.make_compute_encoder();
    // Earlier command buffers of the batch are in this barrier's first scope.
    e.barrier(Stage::dispatch | Stage::blit, Stage::dispatch | Stage::blit);
    body(e);
    e.end_encoding();
    cb.end();
    cbs.push_back(std::move(cb));
  };
  record([&](ComputeEncoder& e) { e.fill_buffer(y, 0, n * 4ull, bits(1.0f)); });
  record([&](ComputeEncoder& e) { vt::encode_scale_add(raw.device, e, x, y, n, 2.0f); });
  record([&](ComputeEncoder& e) { e.fill_buffer(y, 0, n * 4ull, bits(5.0f)); });
  record([&](ComputeEncoder& e) { vt::encode_scale_add(raw.device, e, x, y, n, 3.0f); });
  std::vector<CommandBuffer*> batch;
  batch.reserve(cbs.size());
  for (auto& cb : cbs)
    batch.push_back(&cb);
  const std::uint64_t value = raw.queue.commit(batch);
  for (auto& cb : cbs)
    EXPECT_EQ(cb.committed_value(), value);
  raw.queue.wait_idle();
  for (float v : vt::download<float>(y, n))
    ASSERT_EQ(v, 8.0f);  // 5 + 3*1: last two in order
}

TEST(CommandQueue, BackPressureHoldsASecondCommitUntilTheFirstCompletes) {
  Context context;
  Device device = context.device();
  CommandQueue queue = device.make_command_queue({.label = "one", .max_command_buffer_count = 1});
  queue.add_residency_set(context.residency_manager().residency_set());
  constexpr std::uint32_t count = 4096, iterations = 1000;
  auto out = context.get_buffer(count * 4ull);
  auto out2 = context.get_buffer(count * 4ull);
  CommandAllocator allocator = device.make_command_allocator();
  const auto record = [&](const Buffer& target) {
    CommandBuffer cb = device.make_command_buffer();
    cb.use_residency_set(context.residency_manager().residency_set());
    cb.begin(allocator);
    ComputeEncoder& e = cb.make_compute_encoder();
    vt::encode_busy_loop(device, e, target, count, iterations, 3);
    e.end_encoding();
    cb.end();
    return cb;
  };
  CommandBuffer first = record(out.buffer());
  CommandBuffer second = record(out2.buffer());
  // The first submission cannot complete before the test opens the gate.
  SharedEvent gate = device.make_shared_event();
  queue.wait_event(gate, 1);
  const std::uint64_t v1 = queue.commit(first);
  try {
    queue.commit(second, {.timeout = 1ms});
    FAIL() << "the only slot is taken";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::timeout);
  }
  EXPECT_EQ(second.committed_value(), 0u);
  std::thread opener([&] {
    std::this_thread::sleep_for(30ms);
    gate.signal(1);
  });
  const std::uint64_t v2 = queue.commit(second);  // blocks until the first has completed
  EXPECT_GE(queue.completion_event().signaled_value(), v1);
  EXPECT_EQ(v2, v1 + 1);
  opener.join();
  queue.wait_idle();
  EXPECT_EQ(out2.read<std::uint32_t>(1)[0], vt::busy_loop_reference(3, 0, iterations));
}

TEST(CommandAllocator, ResetWhileWorkIsInFlightIsRefused) {
  Context context;
  Device device = context.device();
  constexpr std::uint32_t count = 4096;
  auto out = context.get_buffer(count * 4ull);
  CommandAllocator allocator = device.make_command_allocator();
  CommandBuffer cb = context.make_command_buffer();
  cb.begin(allocator);
  ComputeEncoder& e = cb.make_compute_encoder();
  vt::encode_busy_loop(device, e, out.buffer(), count, 100, 5);
  e.end_encoding();
  cb.end();
  SharedEvent gate = device.make_shared_event();
  context.command_queue().wait_event(gate, 1);
  const std::uint64_t value = context.command_queue().commit(cb);
  EXPECT_FALSE(allocator.is_idle());
  try {
    allocator.reset();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find(std::to_string(value)), std::string::npos);
  }
  gate.signal(1);
  context.command_queue().wait_idle();
  EXPECT_TRUE(allocator.is_idle());
  allocator.reset();
  EXPECT_EQ(allocator.recorded_count(), 0u);
}

TEST(Residency, RawCommandBufferUsingABufferOutsideEverySetIsRefusedAtCommit) {
  Raw raw;
  Buffer outside = raw.device.buffer_factory().make_buffer(256);
  CommandBuffer cb = raw.device.make_command_buffer();
  cb.begin(raw.allocator);
  ComputeEncoder& e = cb.make_compute_encoder();
  e.fill_buffer(outside, 0, 256, 0);
  e.end_encoding();
  cb.end();
  try {
    raw.queue.commit(cb);
    FAIL();
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), Errc::residency_violation);
    EXPECT_NE(std::string(err.what()).find("buffer " + std::to_string(outside.id())),
              std::string::npos);
  }
  // Adding it to the queue's set makes the same command buffer valid.
  raw.set.add_allocation(outside);
  raw.set.commit();
  raw.queue.commit(cb);
  raw.queue.wait_idle();
}

TEST(Residency, ValidationOffAcceptsAnyBuffer) {
  Raw raw;
  Buffer outside = raw.device.buffer_factory().make_buffer(256);
  CommandBuffer cb = raw.device.make_command_buffer();
  cb.set_residency_validation(false);
  cb.begin(raw.allocator);
  ComputeEncoder& e = cb.make_compute_encoder();
  e.fill_buffer(outside, 0, 256, 0x01020304u);
  e.end_encoding();
  cb.end();
  raw.queue.commit(cb);
  raw.queue.wait_idle();
  EXPECT_EQ(vt::download<std::uint32_t>(outside, 1)[0], 0x01020304u);
}

TEST(ComputeEncoder, RangeAndAlignmentErrorsNameTheNumbers) {
  Raw raw;
  Buffer a = raw.buffer(1024);
  Buffer b = raw.buffer(512);
  CommandBuffer cb = raw.device.make_command_buffer();
  cb.begin(raw.allocator);
  ComputeEncoder& e = cb.make_compute_encoder();
  try {
    e.copy_buffer(a, 0, b, 0, 1024);
    FAIL();
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(err.what()).find("1024"), std::string::npos);
  }
  EXPECT_THROW(e.fill_buffer(a, 2, 8, 0), Error);      // unaligned offset
  EXPECT_THROW(e.fill_buffer(a, 0, 2048, 0), Error);   // past the end
  EXPECT_THROW(e.copy_buffer(a, 0, a, 8, 64), Error);  // overlapping
  EXPECT_THROW(e.barrier(Stage::none, Stage::dispatch), Error);
  EXPECT_THROW(ArgumentTable().set_buffer(ArgumentTable::max_bindings, a), Error);
  e.set_pipeline(raw.device.shaders().pipeline({.name = "scale_add"}));
  e.set_argument_table(ArgumentTable().set_buffer(0, a));  // binding 1 missing
  try {
    e.dispatch_threadgroups(1);
    FAIL();
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("binding 1"), std::string::npos);
  }
  const std::uint32_t too_many = raw.device.capabilities().max_workgroup_count[0];
  e.set_argument_table(ArgumentTable().set_buffer(0, a).set_buffer(1, b));
  EXPECT_THROW(e.dispatch_threadgroups(too_many + 1u), Error);
  e.end_encoding();
  cb.end();
}

TEST(ComputeEncoder, CopyFillBarrierAndDispatchProduceTheExpectedData) {
  Raw raw;
  constexpr std::uint32_t n = 1000;  // not a multiple of the workgroup size
  Buffer x = raw.buffer(n * 4ull);
  Buffer y = raw.buffer(n * 4ull);
  Buffer z = raw.buffer(n * 4ull);
  std::vector<float> xs(n);
  for (std::uint32_t i = 0; i < n; ++i)
    xs[i] = static_cast<float>(i) * 0.5f;
  vt::upload(x, xs);
  CommandBuffer cb = raw.device.make_command_buffer();
  cb.begin(raw.allocator);
  ComputeEncoder& e = cb.make_compute_encoder();
  e.fill_buffer(y, 0, n * 4ull, bits(1.0f));
  e.barrier({y}, Stage::blit, Stage::dispatch);
  vt::encode_scale_add(raw.device, e, x, y, n, 4.0f);
  e.barrier({y}, Stage::dispatch, Stage::blit);
  e.copy_buffer(y, 0, z, 0, n * 4ull);
  e.end_encoding();
  cb.end();
  raw.queue.commit(cb);
  raw.queue.wait_idle();
  const auto out = vt::download<float>(z, n);
  for (std::uint32_t i = 0; i < n; ++i)
    ASSERT_EQ(out[i], 4.0f * xs[i] + 1.0f) << i;
}

TEST(ArgumentTable, SetAddressBindsTheBufferHoldingTheAddress) {
  Raw raw;
  if (!raw.device.capabilities().buffer_device_address) GTEST_SKIP() << "no device addresses";
  constexpr std::uint32_t n = 256;
  Buffer x = raw.buffer(n * 4ull);
  Buffer y = raw.buffer(n * 4ull);
  vt::upload(x, std::vector<float>(n, 2.0f));
  vt::upload(y, std::vector<float>(n, 1.0f));
  CommandBuffer cb = raw.device.make_command_buffer();
  cb.begin(raw.allocator);
  ComputeEncoder& e = cb.make_compute_encoder();
  struct {
    std::uint32_t count;
    float a;
  } constants{n, 10.0f};
  e.set_pipeline(raw.device.shaders().pipeline({.name = "scale_add"}));
  e.set_argument_table(
      ArgumentTable().set_address(0, x.gpu_address()).set_address(1, y.gpu_address()));
  e.set_constants(constants);
  e.dispatch_threads(n);
  e.end_encoding();
  cb.end();
  raw.queue.commit(cb);
  raw.queue.wait_idle();
  EXPECT_EQ(vt::download<float>(y, n)[n - 1], 21.0f);
  ArgumentTable bad;
  bad.set_address(0, 12345);
  CommandBuffer cb2 = raw.device.make_command_buffer();
  cb2.begin(raw.allocator);
  EXPECT_THROW(cb2.make_compute_encoder().set_argument_table(bad), Error);
}
