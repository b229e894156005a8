// Pipelines of a caller's own SPIR-V (ShaderLibrary::pipeline_from_spirv / pipeline_from_file):
// the interface read from the module, end-to-end runs through Context with residency and a
// timeout, and a clear Error for every bad module, file, argument table and constants size.
// The shaders are tests/shaders/*, compiled by glslc at build time into VECACCEL_TEST_SHADER_DIR.
#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/access.hpp"
#include "pipeline_impl.hpp"
#include "support/expect_error.hpp"
#include "support/support.hpp"

using namespace vecaccel;
using namespace std::chrono_literals;
namespace vt = vecaccel::testing;
using vt::expect_error;
using vt::mentions;

namespace {

std::filesystem::path shader_path(const std::string& file) {
  return std::filesystem::path(VECACCEL_TEST_SHADER_DIR) / (file + ".spv");
}

std::vector<std::uint32_t> shader_words(const std::string& file) {
  return detail::read_spirv_file(shader_path(file));
}

/// weighted_sum.comp's push-constant block, as a C++ caller writes it.
struct WeightedSum {
  std::uint32_t count;
  float a;
  float b;
};

class SpirvPipeline : public ::testing::Test {
 protected:
  static constexpr std::uint32_t count = 1000;
  Context context{{.command_queue_count = 1}};  // tests gate its one queue
  ShaderLibrary& shaders = context.device().shaders();
  std::vector<float> xs = values(1.0f);
  std::vector<float> ys = values(-0.25f);
  BufferToken x = context.get_buffer(std::span<const float>(xs));
  BufferToken y = context.get_buffer(std::span<const float>(ys));
  BufferToken out = context.get_buffer(count * sizeof(float));

  static std::vector<float> values(float step) {
    std::vector<float> v(count);
    for (std::uint32_t i = 0; i < count; ++i)
      v[i] = step * static_cast<float>(i % 97);
    return v;
  }

  /// Records weighted_sum: out = 2 x + 3 y (+ the pipeline's bias).
  void encode(ComputeEncoder& encoder, const ComputePipeline& pipeline) {
    encoder.set_pipeline(pipeline);
    encoder.set_argument_table(ArgumentTable()
                                   .set_buffer(0, x.buffer())
                                   .set_buffer(1, y.buffer())
                                   .set_buffer(2, out.buffer()));
    encoder.set_constants(WeightedSum{count, 2.0f, 3.0f});
    encoder.dispatch_threads(count);
  }

  void expect_weighted_sum(float bias) {
    const auto result = out.read<float>(count);
    for (std::uint32_t i = 0; i < count; ++i) {
      ASSERT_EQ(result[i], 2.0f * xs[i] + 3.0f * ys[i] + bias) << "element " << i;
    }
  }

  /// Runs `encode` (any encoder calls) through the context, expecting `code` naming `text`.
  template <class F>
  void expect_dispatch_error(Errc code, const std::string& text, F&& encode) {
    const Error e = expect_error(code, [&] {
      context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& encoder) { encode(encoder); });
    });
    EXPECT_TRUE(mentions(e, text)) << e.what();
  }
};

}  // namespace

TEST_F(SpirvPipeline, ReflectsTheModulesInterface) {
  const ComputePipeline pipeline = shaders.pipeline_from_file(shader_path("weighted_sum.comp"));
  EXPECT_EQ(pipeline.name(), "weighted_sum.comp.spv");
  EXPECT_EQ(pipeline.workgroup_size(), (std::array<std::uint32_t, 3>{1, 1, 1}));
  EXPECT_EQ(pipeline.binding_mask(), 0b111u);
  EXPECT_EQ(pipeline.push_constant_size(), sizeof(WeightedSum));
  const ComputePipeline wide = shaders.pipeline_from_spirv(
      shader_words("weighted_sum.comp"), {.name = "wide", .specialization = {{0, 128}}});
  EXPECT_EQ(wide.name(), "wide");
  EXPECT_EQ(wide.workgroup_size(), (std::array<std::uint32_t, 3>{128, 1, 1}));
}

TEST_F(SpirvPipeline, RunsThroughTheContextWithResidencyAndATimeout) {
  const ComputePipeline pipeline = shaders.pipeline_from_spirv(
      shader_words("weighted_sum.comp"),
      {.name = "weighted_sum",
       .specialization = {{0, 64}, {1, std::bit_cast<std::uint32_t>(0.5f)}}});
  context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) { encode(e, pipeline); },
                           {.timeout = 30s});
  expect_weighted_sum(0.5f);
}

// SPIR-V 1.0 (Vulkan 1.0's target) declares storage buffers as Uniform + BufferBlock.
TEST_F(SpirvPipeline, RunsASpirv10Module) {
  const ComputePipeline pipeline = shaders.pipeline_from_file(
      shader_path("weighted_sum.vulkan1.0.comp"), {.specialization = {{0, 32}}});
  EXPECT_EQ(pipeline.binding_mask(), 0b111u);
  context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) { encode(e, pipeline); });
  expect_weighted_sum(0.0f);
}

TEST_F(SpirvPipeline, TimesOutAsBuiltInKernelsDoAndTheResultLandsLater) {
  const ComputePipeline pipeline =
      shaders.pipeline_from_file(shader_path("weighted_sum.comp"), {.specialization = {{0, 64}}});
  // Held back on the GPU by an event only the test signals: incomplete however fast the device.
  SharedEvent gate = context.device().make_shared_event();
  context.command_queue().wait_event(gate, 1);
  expect_error(Errc::timeout, [&] {
    context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) { encode(e, pipeline); },
                             {.timeout = 5ms});
  });
  gate.signal(1);
  context.command_queue().wait_idle();
  expect_weighted_sum(0.0f);
}

TEST_F(SpirvPipeline, IsCreatedOncePerModuleAndSpecialization) {
  const std::vector<std::uint32_t> words = shader_words("weighted_sum.comp");
  const std::size_t before = shaders.pipeline_count();
  const ComputePipeline first = shaders.pipeline_from_spirv(words, {.name = "cached"});
  const ComputePipeline again = shaders.pipeline_from_spirv(words, {.name = "cached"});
  EXPECT_EQ(vecaccel::detail::Access::impl(first), vecaccel::detail::Access::impl(again));
  EXPECT_EQ(shaders.pipeline_count(), before + 1);
  const ComputePipeline other =
      shaders.pipeline_from_spirv(words, {.name = "cached", .specialization = {{0, 16}}});
  EXPECT_NE(vecaccel::detail::Access::impl(first), vecaccel::detail::Access::impl(other));
  EXPECT_EQ(shaders.pipeline_count(), before + 2);
}

TEST_F(SpirvPipeline, AnUnregisteredBufferIsAResidencyViolation) {
  const ComputePipeline pipeline = shaders.pipeline_from_file(shader_path("weighted_sum.comp"));
  Buffer stray = context.buffer_factory().make_buffer({.size = count * 4, .label = "stray"});
  expect_dispatch_error(Errc::residency_violation, "'stray'", [&](ComputeEncoder& e) {
    e.set_pipeline(pipeline);
    e.set_argument_table(
        ArgumentTable().set_buffer(0, x.buffer()).set_buffer(1, y.buffer()).set_buffer(2, stray));
  });
}

TEST_F(SpirvPipeline, ConstantsOfAnotherSizeAreRefused) {
  const ComputePipeline pipeline = shaders.pipeline_from_file(shader_path("weighted_sum.comp"));
  struct TooShort {
    std::uint32_t count;
    float a;
  };
  expect_dispatch_error(Errc::invalid_argument,
                        "push-constant block of 12 bytes; set_constants gave 8",
                        [&](ComputeEncoder& e) {
                          e.set_pipeline(pipeline);
                          e.set_constants(TooShort{count, 2.0f});
                        });
  // The tail padding a C++ struct may carry (to a multiple of 8) is accepted.
  context.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
    e.set_pipeline(pipeline);
    e.set_constants(std::array<std::uint32_t, 4>{});
  });
}

TEST_F(SpirvPipeline, AnArgumentTableNotMatchingTheModuleIsRefused) {
  const ComputePipeline pipeline = shaders.pipeline_from_file(shader_path("weighted_sum.comp"));
  expect_dispatch_error(
      Errc::invalid_argument, "reads binding 2, which the argument table does not set",
      [&](ComputeEncoder& e) {
        e.set_pipeline(pipeline);
        e.set_argument_table(ArgumentTable().set_buffer(0, x.buffer()).set_buffer(1, y.buffer()));
        e.set_constants(WeightedSum{count, 1.0f, 1.0f});
        e.dispatch_threads(count);
      });
  expect_dispatch_error(
      Errc::invalid_argument,
      "sets binding 5, which shader 'weighted_sum.comp.spv' does not declare (it declares 0, 1, 2)",
      [&](ComputeEncoder& e) {
        e.set_pipeline(pipeline);
        e.set_argument_table(ArgumentTable()
                                 .set_buffer(0, x.buffer())
                                 .set_buffer(1, y.buffer())
                                 .set_buffer(2, out.buffer())
                                 .set_buffer(5, out.buffer()));
        e.set_constants(WeightedSum{count, 1.0f, 1.0f});
        e.dispatch_threads(count);
      });
}

TEST_F(SpirvPipeline, ModulesItCannotBindAreRefusedNamingWhy) {
  const auto refused = [&](const std::string& file, const std::string& why) {
    const std::string path = shader_path(file).string();
    const Error e =
        expect_error(Errc::pipeline_creation_failed, [&] { shaders.pipeline_from_file(path); });
    EXPECT_TRUE(mentions(e, "SPIR-V file '" + path + "'")) << e.what();
    EXPECT_TRUE(mentions(e, why)) << e.what();
  };
  refused("fragment.frag", "no GLCompute entry point (the module has Fragment 'main')");
  refused("second_set.comp",
          "resource 'Data' at set 1, binding 0: vecaccel binds descriptor set 0 only");
  refused("binding_nine.comp", "binding 9: bindings must be below ArgumentTable::max_bindings = 8");
  refused("uniform_block.comp", "'parameters' at set 0, binding 0 is a uniform block");
}

TEST_F(SpirvPipeline, MalformedModulesAreRefusedWithTheNumbers) {
  const auto refused = [&](std::vector<std::uint32_t> words, const std::string& why) {
    const Error e = expect_error(Errc::pipeline_creation_failed,
                                 [&] { shaders.pipeline_from_spirv(words, {.name = "bad"}); });
    EXPECT_TRUE(mentions(e, "SPIR-V module 'bad'")) << e.what();
    EXPECT_TRUE(mentions(e, why)) << e.what();
  };
  std::vector<std::uint32_t> words = shader_words("weighted_sum.comp");
  refused({}, "truncated: 0 words, shorter than the 5-word SPIR-V header");
  std::vector<std::uint32_t> wrong_magic = words;
  wrong_magic[0] = 0xdeadbeef;
  refused(wrong_magic, "not SPIR-V: the first word is 0xdeadbeef, SPIR-V starts with 0x07230203");
  std::vector<std::uint32_t> swapped = words;
  swapped[0] = 0x03022307;
  refused(swapped,
          "not SPIR-V: the first word is 0x03022307, SPIR-V starts with 0x07230203 (this module is "
          "byte-swapped)");
  std::vector<std::uint32_t> future = words;
  future[1] = 0x00010700;
  refused(future, "SPIR-V version word 0x00010700 (1.7): Vulkan 1.3 takes SPIR-V 1.0 to 1.6");
  std::vector<std::uint32_t> cut = words;
  cut.resize(words.size() - 3);  // within the instruction before OpReturn, OpFunctionEnd
  refused(cut, "truncated: the instruction at word");
  // Whole instructions missing: the reflected interface is complete, the validator refuses it
  // (lavapipe crashes on this module).
  words.resize(words.size() - 2);
  refused(words, "is not valid SPIR-V for Vulkan 1.3: Missing OpFunctionEnd at end of module");
}

TEST_F(SpirvPipeline, FilesAndDescriptorsItCannotUseAreRefused) {
  const std::filesystem::path missing =
      std::filesystem::path(VECACCEL_TEST_SHADER_DIR) / "none.spv";
  Error e = expect_error(Errc::io_error, [&] { shaders.pipeline_from_file(missing); });
  EXPECT_TRUE(mentions(e, "SPIR-V file '" + missing.string() + "' does not exist")) << e.what();

  const std::filesystem::path odd = std::filesystem::path(VECACCEL_TEST_SHADER_DIR) / "odd.spv";
  std::ofstream(odd, std::ios::binary) << "1234567";
  e = expect_error(Errc::pipeline_creation_failed, [&] { shaders.pipeline_from_file(odd); });
  EXPECT_TRUE(mentions(e, "'" + odd.string() + "' is 7 bytes, not a whole number of 4-byte words"))
      << e.what();
  std::filesystem::remove(odd);

  const auto words = shader_words("weighted_sum.comp");
  e = expect_error(Errc::pipeline_creation_failed,
                   [&] { shaders.pipeline_from_spirv(words, {.entry_point = "run"}); });
  EXPECT_TRUE(mentions(e, "no GLCompute entry point named 'run' (the module has GLCompute 'main')"))
      << e.what();
  e = expect_error(Errc::invalid_argument, [&] {
    shaders.pipeline_from_spirv(words, {.specialization = {{7, 1}}});
  });
  EXPECT_TRUE(
      mentions(e, "specialization constant id 7 is not declared by the module (it declares 0, 1)"))
      << e.what();
  e = expect_error(Errc::invalid_argument, [&] {
    shaders.pipeline_from_spirv(words, {.specialization = {{0, 1u << 20}}});
  });
  EXPECT_TRUE(mentions(e, "workgroup size 1048576 in dimension 0")) << e.what();
}

// The push-constant sizes C++ callers meet: vec3 + uint packing, a column-major matrix, an
// array with its stride and a trailing double (layouts.comp: 56 bytes).
TEST(SpirvReflection, SizesThePushConstantBlockAsTheShaderLaysItOut) {
  const auto words = detail::read_spirv_file(shader_path("layouts.comp"));
  const detail::SpirvInterface interface = detail::reflect_spirv(words, "", {}, 128, "layouts");
  EXPECT_EQ(interface.push_constant_size, 56u);
  EXPECT_EQ(interface.workgroup_size, (std::array<std::uint32_t, 3>{8, 2, 1}));
  EXPECT_EQ(interface.binding_mask, 0b1000u);
  EXPECT_EQ(interface.entry_point, "main");
  const Error e = expect_error(Errc::pipeline_creation_failed,
                               [&] { detail::reflect_spirv(words, "", {}, 48, "layouts"); });
  EXPECT_TRUE(mentions(e, "a push-constant block of 56 bytes, over the 48 bytes")) << e.what();
}

TEST(SpirvReflection, ReadsEveryEmbeddedShader) {
  for (const auto& shader : detail::embedded_shaders()) {
    EXPECT_NO_THROW(detail::reflect_spirv(shader.spirv, "main", {}, 128, std::string(shader.name)))
        << shader.name;
  }
}

// Any word sequence gets an Error or an interface, never a crash (the sanitizer runs check
// every read): single words of a real module replaced by random ones, and random cuts.
TEST(SpirvReflection, CorruptedModulesNeverCrash) {
  const auto words = detail::read_spirv_file(shader_path("weighted_sum.comp"));
  std::mt19937 random(25);
  std::uniform_int_distribution<std::size_t> position(0, words.size() - 1);
  int refused = 0;
  for (int trial = 0; trial < 5000; ++trial) {
    std::vector<std::uint32_t> corrupted = words;
    corrupted[position(random)] = trial % 2 == 0 ? random() : random() % 64;
    if (trial % 7 == 0) corrupted.resize(position(random));
    try {
      detail::reflect_spirv(corrupted, "", {}, 128, "corrupted");
    } catch (const Error&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
}
