#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "support/support.hpp"

using namespace vecaccel;
using namespace std::chrono_literals;

TEST(SharedEvent, CpuSignalIsSeenByWaiters) {
  Device device = Device::select_best();
  SharedEvent event = device.make_shared_event(5);
  EXPECT_EQ(event.signaled_value(), 5u);
  std::thread signaller([&] {
    std::this_thread::sleep_for(20ms);
    event.signal(9);
  });
  EXPECT_TRUE(event.wait_until_signaled(9, 10s));
  EXPECT_EQ(event.signaled_value(), 9u);
  signaller.join();
}

TEST(SharedEvent, WaitReturnsFalseAfterTheTimeout) {
  Device device = Device::select_best();
  SharedEvent event = device.make_shared_event();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(event.wait_until_signaled(1, 30ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
}

TEST(SharedEvent, SignalMustAdvance) {
  Device device = Device::select_best();
  SharedEvent event = device.make_shared_event(3);
  try {
    event.signal(3);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find('3'), std::string::npos);
  }
}

TEST(SharedEvent, ListenerRunsOnTheListenerThreadOnceReached) {
  Device device = Device::select_best();
  SharedEvent event = device.make_shared_event();
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::uint64_t> reached;
  std::thread::id callback_thread;
  event.notify_listener(2, [&](std::uint64_t value) {
    std::lock_guard lock(mutex);
    reached.push_back(value);
    callback_thread = std::this_thread::get_id();
    cv.notify_all();
  });
  event.signal(1);
  std::this_thread::sleep_for(20ms);
  {
    std::lock_guard lock(mutex);
    EXPECT_TRUE(reached.empty()) << "fired before the value was reached";
  }
  event.signal(2);
  std::unique_lock lock(mutex);
  ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return !reached.empty(); }));
  EXPECT_EQ(reached.size(), 1u);
  EXPECT_GE(reached[0], 2u);
  EXPECT_NE(callback_thread, std::this_thread::get_id());
}

TEST(SharedEvent, ListenerForAnAlreadyReachedValueFiresPromptly) {
  Device device = Device::select_best();
  SharedEvent event = device.make_shared_event(10);
  std::atomic<bool> fired{false};
  event.notify_listener(4, [&](std::uint64_t) { fired = true; });
  for (int i = 0; i < 1000 && !fired; ++i)
    std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(fired);
}

TEST(SharedEvent, QueueCompletionEventCannotBeSignalledFromTheCpu) {
  Device device = Device::select_best();
  CommandQueue queue = device.make_command_queue({.label = "q"});
  SharedEvent completion = queue.completion_event();
  EXPECT_THROW(completion.signal(1), Error);
}

TEST(SharedEvent, GpuSignalOrdersWorkAcrossTwoQueues) {
  Context context;
  Device device = context.device();
  CommandQueue producer = device.make_command_queue({.label = "producer"});
  CommandQueue consumer = device.make_command_queue({.label = "consumer"});
  producer.add_residency_set(context.residency_manager().residency_set());
  consumer.add_residency_set(context.residency_manager().residency_set());
  SharedEvent ready = device.make_shared_event();

  constexpr std::uint32_t count = 4096;
  const std::uint32_t iterations = vecaccel::testing::iterations_for(context, count, 50ms);
  auto produced = context.get_buffer(count * 4ull);
  auto copied = context.get_buffer(count * 4ull);
  CommandAllocator allocator = device.make_command_allocator();

  CommandBuffer produce = context.make_command_buffer();
  produce.begin(allocator);
  ComputeEncoder& encoder = produce.make_compute_encoder();
  vecaccel::testing::encode_busy_loop(device, encoder, produced.buffer(), count, iterations, 77);
  encoder.end_encoding();
  produce.end();

  CommandBuffer consume = context.make_command_buffer();
  consume.begin(allocator);
  ComputeEncoder& copy = consume.make_compute_encoder();
  copy.copy_buffer(produced.buffer(), 0, copied.buffer(), 0, count * 4ull);
  copy.end_encoding();
  consume.end();

  // The consumer's copy waits on the GPU for the producer's signal. (Signal before wait in
  // submission order: on a device with one hardware queue both queues share it, and a wait
  // submitted ahead of its signal on the same hardware queue could never be satisfied.)
  producer.commit(produce);
  producer.signal_event(ready, 1);
  consumer.wait_event(ready, 1);
  consumer.commit(consume);
  consumer.wait_idle({.timeout = 60s});
  EXPECT_GE(ready.signaled_value(), 1u);

  const auto values = copied.read<std::uint32_t>(count);
  for (std::uint32_t i = 0; i < count; i += 97) {
    ASSERT_EQ(values[i], vecaccel::testing::busy_loop_reference(77, i, iterations))
        << "element " << i;
  }
}
