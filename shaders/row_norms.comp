#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
// norms[i] = squared L2 norm of row i of a rows x dim matrix, summed in element order (as the
// host's squared_norm sums it). A thread a row, grid-stride, or, with SUBGROUP_ROWS (few rows:
// kernels.cpp), a subgroup a row: its lanes load consecutive elements (a thread a row reads 32
// rows' scattered sectors a load, which took 64 us for 32 query rows of d = 1024 on an H100)
// and every lane sums the row in element order from the lanes' registers. Many rows keep the
// thread a row: enough of them fill the device, and a CPU driver runs a subgroup as one
// vector, for which the subgroup's redundant sums are eight times the work.
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

// Elements a lane loads a turn: the row's loads in flight at once, and few turns (lavapipe
// ends an outermost loop after 65535 turns of it and its inner loops together).
const uint PER_LANE = 8u;

float thread_norm(uint first) {
  float sum = 0.0;
  // 8 elements a turn: lavapipe ends an outermost loop after 65535 turns of it and its inner
  // loops together, which cut the norms of dimension 65536 short.
  uint j = 0u;
  for (; j + 8u <= pc.dim; j += 8u) {
    [[unroll]] for (uint u = 0u; u < 8u; ++u) sum = fma(m[first + j + u], m[first + j + u], sum);
  }
  for (; j < pc.dim; ++j) sum = fma(m[first + j], m[first + j], sum);
  return sum;
}

float subgroup_norm(uint first) {
  const uint lanes = gl_SubgroupSize;
  float sum = 0.0;
  for (uint j = 0u; j < pc.dim; j += PER_LANE * lanes) {
    // Lane s holds elements j + s * PER_LANE + u: in element order, s then u.
    float v[PER_LANE];
    [[unroll]] for (uint u = 0u; u < PER_LANE; ++u) {
      const uint i = j + gl_SubgroupInvocationID * PER_LANE + u;
      v[u] = i < pc.dim ? m[first + i] : 0.0;
    }
    // Padding elements are zeros, which leave the sum as it is. Lanes 8 a turn: a turn a
    // lane would be a turn an element for lavapipe's count; unrolled loops within, so that
    // v is indexed by constants (registers, not local memory).
    for (uint s0 = 0u; s0 < lanes; s0 += 8u) {
      [[unroll]] for (uint t = 0u; t < 8u; ++t) {
        [[unroll]] for (uint u = 0u; u < PER_LANE; ++u) {
          const float e = subgroupShuffle(v[u], s0 + t);
          if (s0 + t < lanes) sum = fma(e, e, sum);
        }
      }
    }
  }
  return sum;
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
