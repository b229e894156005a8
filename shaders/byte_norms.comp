#version 450
#extension GL_EXT_control_flow_attributes : require
// norms[i] = the exact squared L2 norm of row i of a rows x dim matrix of uint8 (int8 when
// pc.is_signed) elements, four to a word, as a uint32: at most 255^2 * 65536 < 2^32. The
// integer tensor-core screen (distances_int_coop.glsl) reads them; dim is a multiple of 16.
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(set = 0, binding = 0, std430) readonly buffer Matrix { uvec4 words[]; };
layout(set = 0, binding = 1, std430) writeonly buffer Norms { uint norms[]; };

layout(push_constant) uniform Constants {
  uint rows;
  uint dim;
  uint is_signed;
} pc;

uint word_norm(uint word) {
  uint sum = 0u;
  [[unroll]] for (uint j = 0u; j < 4u; ++j) {
    const int v = pc.is_signed != 0u ? int(word << (24u - 8u * j)) >> 24 : int((word >> (8u * j)) & 0xffu);
    sum += uint(v * v);
  }
  return sum;
}

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint row_words = pc.dim / 16u;
  for (uint row = gl_GlobalInvocationID.x; row < pc.rows; row += stride) {
    uint sum = 0u;
    // 16 elements a turn: lavapipe ends a loop after 65535 turns (kernels.hpp max_loop_turns).
    for (uint w = 0u; w < row_words; ++w) {
      const uvec4 v = words[row * row_words + w];
      sum += word_norm(v.x) + word_norm(v.y) + word_norm(v.z) + word_norm(v.w);
    }
    norms[row] = sum;
  }
}
