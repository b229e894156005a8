#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/access.hpp"
#include "support/scoped_env.hpp"
#include "support/support.hpp"

using namespace vecaccel;

using vecaccel::testing::ScopedEnv;

TEST(Device, EnumerateReportsRealCapabilities) {
  const auto devices = Device::enumerate();
  ASSERT_FALSE(devices.empty());
  for (const auto& d : devices) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_GT(d.capabilities.subgroup_size, 0u);
    EXPECT_GT(d.capabilities.max_storage_buffer_range, 0u);
    EXPECT_GE(d.capabilities.max_push_constants_size, 128u);
    EXPECT_FALSE(d.capabilities.memory_heaps.empty());
    EXPECT_EQ(d.supports_explicit_model, d.capabilities.api_version >= ((1u << 22) | (3u << 12)) &&
                                             d.capabilities.timeline_semaphore &&
                                             d.capabilities.synchronization2);
  }
}

TEST(Device, SelectBestOpensAnExplicitModelDevice) {
  Device device = Device::select_best();
  EXPECT_TRUE(device.supports_explicit_model());
  EXPECT_FALSE(device.is_lost());
}

TEST(Device, EnvironmentOverrideSelectsByIndexAndByName) {
  const auto devices = Device::enumerate();
  {
    ScopedEnv env("VECACCEL_DEVICE", "0");
    EXPECT_EQ(Device::select_best().info().name, devices[0].name);
  }
  {
    ScopedEnv env("VECACCEL_DEVICE", devices[0].name.substr(0, 4));
    EXPECT_EQ(Device::select_best().info().name.substr(0, 4), devices[0].name.substr(0, 4));
  }
  ScopedEnv env("VECACCEL_DEVICE", "no-such-device-xyz");
  try {
    Device::select_best();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::device_initialization_failed);
    EXPECT_NE(std::string(e.what()).find("no-such-device-xyz"), std::string::npos);
  }
}

TEST(Device, OpenOutOfRangeNamesTheIndex) {
  try {
    Device::open(1000);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("1000"), std::string::npos);
  }
}

TEST(Device, ContextRefusesDeviceWithoutTimelineSemaphores) {
  Device device = Device::open(Device::select_best().info().index,
                               DeviceOptions{.disable_timeline_semaphore = true});
  EXPECT_FALSE(device.supports_explicit_model());
  try {
    Context context(device);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::explicit_model_unsupported);
    EXPECT_NE(std::string(e.what()).find("timelineSemaphore"), std::string::npos);
  }
  EXPECT_THROW(device.make_shared_event(), Error);
}

TEST(Device, ContextRefusesDeviceWithoutSynchronization2) {
  Device device = Device::open(Device::select_best().info().index,
                               DeviceOptions{.disable_synchronization2 = true});
  try {
    Context context(device);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::explicit_model_unsupported);
    EXPECT_NE(std::string(e.what()).find("synchronization2"), std::string::npos);
  }
}

TEST(BufferFactory, RejectsZeroAndOversizedRequestsWithNumbers) {
  Device device = Device::select_best();
  auto factory = device.buffer_factory();
  try {
    factory.make_buffer(0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
  }
  const std::uint64_t too_big = device.capabilities().max_buffer_size + 1;
  try {
    factory.make_buffer(too_big);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::buffer_too_large);
    EXPECT_NE(std::string(e.what()).find(std::to_string(too_big)), std::string::npos);
  }
}

TEST(BufferFactory, SharedBuffersAreMappedWithUniqueIdsAndAddresses) {
  Device device = Device::select_best();
  auto factory = device.buffer_factory();
  Buffer a = factory.make_buffer(1000);
  Buffer b = factory.make_buffer(4096, StorageMode::private_);
  EXPECT_EQ(a.size(), 1000u);
  EXPECT_EQ(a.mapped().size(), 1000u);
  EXPECT_NE(a.id(), b.id());
  EXPECT_TRUE(a.is_idle());
  if (device.capabilities().buffer_device_address) {
    EXPECT_NE(a.gpu_address(), 0u);
    EXPECT_NE(a.gpu_address(), b.gpu_address());
  }
}

TEST(ShaderLibrary, CreatesEachPipelineOnceAndReflectsBindings) {
  Device device = Device::select_best();
  auto& shaders = device.shaders();
  const auto names = ShaderLibrary::shader_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "scale_add"), names.end());
  auto p1 = shaders.pipeline({.name = "scale_add"});
  auto p2 = shaders.pipeline({.name = "scale_add"});
  EXPECT_EQ(vecaccel::detail::Access::impl(p1), vecaccel::detail::Access::impl(p2));
  EXPECT_EQ(shaders.pipeline_count(), 1u);
  EXPECT_EQ(p1.binding_mask(), 0b11u);
  auto p3 = shaders.pipeline({.name = "scale_add", .workgroup_size = {32, 1, 1}});
  EXPECT_NE(vecaccel::detail::Access::impl(p1), vecaccel::detail::Access::impl(p3));
  EXPECT_EQ(p3.workgroup_size()[0], 32u);
}

TEST(ShaderLibrary, RejectsUnknownShadersAndOversizedWorkgroups) {
  Device device = Device::select_best();
  try {
    device.shaders().pipeline({.name = "nope"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
  }
  const std::uint32_t too_many = device.capabilities().max_workgroup_invocations * 2;
  try {
    device.shaders().pipeline({.name = "scale_add", .workgroup_size = {too_many, 1, 1}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
  }
}

TEST(ShaderLibrary, CorruptCacheFileIsIgnoredAndReplaced) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("vecaccel-cache-" + std::to_string(::getpid()));
  fs::create_directories(dir / "vecaccel");
  ScopedEnv env("XDG_CACHE_HOME", dir.string());
  ScopedEnv enabled("VECACCEL_PIPELINE_CACHE", "1");  // whatever the caller's environment says
  const auto info = Device::select_best().info();
  char id[32];
  std::snprintf(id, sizeof id, "%08x-%08x", info.vendor_id, info.device_id);
  const fs::path file = dir / "vecaccel" / (std::string("pipelines-") + id + ".bin");
  {
    std::ofstream out(file, std::ios::binary);
    out << "this is not a pipeline cache, just garbage bytes of some length";
  }
  {
    Device device = Device::open(info.index);
    auto pipeline = device.shaders().pipeline({.name = "scale_add"});
    EXPECT_TRUE(pipeline.valid());
    device.shaders().save_cache();
  }
  // Replaced by the driver's cache, which starts with its header (size 32 or more, then the
  // header version 1) instead of the garbage text.
  std::ifstream in(file, std::ios::binary);
  std::uint32_t header[2] = {0, 0};
  in.read(reinterpret_cast<char*>(header), sizeof header);
  EXPECT_GE(header[0], 32u);
  EXPECT_EQ(header[1], 1u);
  fs::remove_all(dir);
}
