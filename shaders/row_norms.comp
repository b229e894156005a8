#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
// norms[i] = squared L2 norm of row i of a rows x dim matrix, in strand order (strands.glsl):
// 32 running fma sums over the elements of each residue mod 32, then the 32 sums added in
// order, the same bits whichever way the row is taken. A thread a row, grid-stride, or, with
// SUBGROUP_ROWS (kernels.cpp), a subgroup a row: its lanes load consecutive elements and each
// keeps its own strands, so the dependent chain is a 32nd of the row (a thread a row reads 32
// rows' scattered sectors a load; a lane summing the whole row in element order took 64 us for
// 32 query rows of d = 1024 on an H100).
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const bool SUBGROUP_ROWS = false;

layout(set = 0, binding = 0, std430) readonly buffer Matrix { float m[]; };
layout(set = 0, binding = 1, std430) writeonly buffer Norms { float norms[]; };

layout(push_constant) uniform Constants {
  uint rows;
  uint dim;
  uint matrix_offset;  // elements
  uint norms_offset;   // elements
} pc;

#include "strands.glsl"

float thread_norm(uint first) {
  float strand[STRANDS];
  [[unroll]] for (uint s = 0u; s < STRANDS; ++s) strand[s] = 0.0;
  for (uint j = 0u; j < pc.dim; j += STRANDS) {
    [[unroll]] for (uint s = 0u; s < STRANDS; ++s) {
      if (j + s < pc.dim) strand[s] = fma(m[first + j + s], m[first + j + s], strand[s]);
    }
  }
  return strands_in_order(strand);
}

float subgroup_norm(uint first) {
  float strand[LANE_STRANDS];
  [[unroll]] for (uint t = 0u; t < LANE_STRANDS; ++t) strand[t] = 0.0;
  for (uint j = 0u; j < pc.dim; j += STRANDS * TURN_STRIDES) {
    [[unroll]] for (uint r = 0u; r < TURN_STRIDES; ++r) {
      [[unroll]] for (uint t = 0u; t < LANE_STRANDS; ++t) {
        const uint s = lane_strand(t);
        const uint i = j + r * STRANDS + s;
        if (s < STRANDS && i < pc.dim) strand[t] = fma(m[first + i], m[first + i], strand[t]);
      }
    }
  }
  return lane_strands_in_order(strand);
}

void main() {
  if (!SUBGROUP_ROWS) {
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint row = gl_GlobalInvocationID.x; row < pc.rows; row += stride)
      norms[pc.norms_offset + row] = thread_norm(pc.matrix_offset + row * pc.dim);
    return;
  }
  const uint stride = gl_NumWorkGroups.x * gl_NumSubgroups;
  for (uint row = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; row < pc.rows;
       row += stride) {
    const float sum = subgroup_norm(pc.matrix_offset + row * pc.dim);
    if (gl_SubgroupInvocationID == 0u) norms[pc.norms_offset + row] = sum;
  }
}
