#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>

#include "pipeline_impl.hpp"

namespace {

// SPIR-V opcodes and storage classes read here (SPIR-V 1.6 specification, section 3).
constexpr std::uint32_t op_constant = 43;
constexpr std::uint32_t op_type_array = 28;
constexpr std::uint32_t op_type_pointer = 32;
constexpr std::uint32_t op_variable = 59;
constexpr std::uint32_t op_access_chain = 65;
constexpr std::uint32_t op_in_bounds_access_chain = 66;
constexpr std::uint32_t storage_private = 6;
constexpr std::uint32_t storage_function = 7;

/// Accesses to a thread's own arrays (Function or Private storage) with an index that is not
/// a constant: such an array cannot live in registers, and drivers put it in local memory.
int variable_register_array_indices(std::span<const std::uint32_t> spirv) {
  std::set<std::uint32_t> constants, arrays, array_pointers, register_arrays;
  int found = 0;
  for (std::size_t i = 5; i < spirv.size();) {
    const std::uint32_t words = spirv[i] >> 16;
    const std::uint32_t op = spirv[i] & 0xffff;
    if (words == 0 || i + words > spirv.size()) break;
    const auto word = [&](std::size_t n) { return spirv[i + n]; };
    if (op == op_constant) constants.insert(word(2));
    if (op == op_type_array) arrays.insert(word(1));
    if (op == op_type_pointer && arrays.contains(word(3)) &&
        (word(2) == storage_function || word(2) == storage_private)) {
      array_pointers.insert(word(1));
    }
    if (op == op_variable && array_pointers.contains(word(1))) register_arrays.insert(word(2));
    if ((op == op_access_chain || op == op_in_bounds_access_chain) &&
        register_arrays.contains(word(3))) {
      for (std::size_t n = 4; n < words; ++n)
        found += !constants.contains(word(n));
    }
    i += words;
  }
  return found;
}

/// GLSL.std.450 Fma instructions: a multiply and an add fused into one rounding.
int fused_multiply_adds(std::span<const std::uint32_t> spirv) {
  constexpr std::uint32_t op_ext_inst_import = 11, op_ext_inst = 12, glsl_fma = 50;
  std::uint32_t glsl_set = 0;
  int found = 0;
  for (std::size_t i = 5; i < spirv.size();) {
    const std::uint32_t words = spirv[i] >> 16;
    const std::uint32_t op = spirv[i] & 0xffff;
    if (words == 0 || i + words > spirv.size()) break;
    if (op == op_ext_inst_import) {
      const auto* name = reinterpret_cast<const char*>(&spirv[i + 2]);
      if (std::string(name) == "GLSL.std.450") glsl_set = spirv[i + 1];
    }
    if (op == op_ext_inst && words > 4 && spirv[i + 3] == glsl_set && spirv[i + 4] == glsl_fma)
      ++found;
    i += words;
  }
  return found;
}

}  // namespace

// The re-rank's float64 sums are `precise`: each multiply and add rounds on its own, as the
// host's reference does. spirv-opt's unroller dropped that from the copies it made of an
// [[unroll]] loop and fused them (NVIDIA ran the Fma fused: one unit in the last place off).
TEST(Shaders, TheRerankSumsKeepEveryMultiplyAndAddApart) {
  for (const auto& shader : vecaccel::detail::embedded_shaders()) {
    if (std::string(shader.name) == "knn_rerank") {
      EXPECT_EQ(fused_multiply_adds(shader.spirv), 0);
      return;
    }
  }
  FAIL() << "no knn_rerank shader";
}

// A `break` or `continue` in an [[unroll]] loop, or an array sized by a specialization
// constant, keeps the loop, and the register tile of a distance kernel silently moves to local
// memory (a 50x slowdown measured on an H200). The build unrolls; this pins that it did.
TEST(Shaders, RegisterArraysAreOnlyIndexedByConstants) {
  std::string offenders;
  for (const auto& shader : vecaccel::detail::embedded_shaders()) {
    const int n = variable_register_array_indices(shader.spirv);
    if (n > 0) offenders += std::string(shader.name) + " (" + std::to_string(n) + ") ";
  }
  EXPECT_EQ(offenders, "");
}

TEST(Shaders, TheCheckFindsAVariableIndex) {
  // %float %uint, array of 4 float, Function pointer to it, constant 1, a variable, then an
  // access chain with a non-constant index (%10, a function parameter in a real module).
  const std::uint32_t module[] = {
      0x07230203,
      0x00010600,
      0,
      20,
      0,  // header
      (3u << 16) | 22,
      1,
      32,  // %1 = OpTypeFloat 32
      (4u << 16) | 21,
      2,
      32,
      0,  // %2 = OpTypeInt 32 0
      (4u << 16) | op_constant,
      2,
      3,
      4,  // %3 = OpConstant %2 4
      (4u << 16) | op_type_array,
      4,
      1,
      3,  // %4 = OpTypeArray %1 %3
      (4u << 16) | op_type_pointer,
      5,
      storage_function,
      4,  // %5 = OpTypePointer Function %4
      (4u << 16) | op_variable,
      5,
      6,
      storage_function,  // %6 = OpVariable %5 Function
      (5u << 16) | op_access_chain,
      7,
      8,
      6,
      3,  // constant index: fine
      (5u << 16) | op_access_chain,
      7,
      9,
      6,
      10,  // variable index: found
  };
  EXPECT_EQ(variable_register_array_indices(module), 1);
}
