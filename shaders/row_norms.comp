#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
// norms[i] = squared L2 norm of row i of a rows x dim matrix. One subgroup a row: its lanes
// load consecutive elements (coalesced: a thread a row read 32 rows' worth of scattered
// sectors a load, which took 64 us for 32 query rows of d = 1024 on an H100), then every lane
// sums the row in element order from the lanes' registers, so the norm rounds as one thread's
// loop (and the host's squared_norm) rounds it.
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

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

void main() {
  const uint lanes = gl_SubgroupSize;
  const uint lane = gl_SubgroupInvocationID;
  const uint stride = gl_NumWorkGroups.x * gl_NumSubgroups;
  for (uint row = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; row < pc.rows;
       row += stride) {
    const uint first = pc.matrix_offset + row * pc.dim;
    float sum = 0.0;
    for (uint j = 0u; j < pc.dim; j += PER_LANE * lanes) {
      // Lane s holds elements j + s * PER_LANE + u: in element order, s then u.
      float v[PER_LANE];
      [[unroll]] for (uint u = 0u; u < PER_LANE; ++u) {
        const uint i = j + lane * PER_LANE + u;
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
    if (lane == 0u) norms[pc.norms_offset + row] = sum;
  }
}
