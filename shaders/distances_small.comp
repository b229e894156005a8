#version 450
// Distances for a handful of queries (<= MAX_QUERIES): a matrix-vector product that streams
// the base once. Each subgroup takes base rows in turn; its lanes read consecutive floats of
// the row (coalesced) against the queries, then a subgroup sum finishes each dot product.
// The tiled kernel would compute whole query tiles, almost all of them empty, here.
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

// A compile-time constant: arrays sized by a specialization constant are not unrolled by
// the SPIR-V optimiser and may end up in local memory.
const uint MAX_QUERIES = 8u;  // kernels.hpp small_query_limit

#include "metric.glsl"

#include "distance_args.glsl"
#define DISTANCE_SUBGROUPS
#include "distance_form.glsl"


void main() {
  const uint subgroups_total = gl_NumWorkGroups.x * gl_NumSubgroups;
  const uint lane = gl_SubgroupInvocationID;
  for (uint b = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; b < pc.num_base;
       b += subgroups_total) {
    float dots[MAX_QUERIES];
    [[unroll]] for (uint m = 0; m < MAX_QUERIES; ++m) dots[m] = 0.0;
    const uint row = (pc.base_offset + b) * pc.dim;
    for (uint j = lane; j < pc.dim; j += gl_SubgroupSize) {
      const float x = base[row + j];
      [[unroll]] for (uint m = 0; m < MAX_QUERIES; ++m) {
        if (m < pc.num_queries) dots[m] = accumulate(dots[m], x, queries[(pc.query_offset + m) * pc.dim + j]);
      }
    }
    // No break or continue in unrolled loops: they keep the loop, and `dots` indexed by a
    // loop variable lives in local memory.
    [[unroll]] for (uint m = 0; m < MAX_QUERIES; ++m) {
      if (m < pc.num_queries) {
        const float dot = subgroup_join(dots[m]);
        if (lane == 0u) {
          const bool norms = metric_uses_norms(pc.metric);
          const float qn = norms ? query_norms[pc.query_offset + m] : 0.0;
          const float bn = norms ? base_norms[pc.base_offset + b] : 0.0;
          out_values[pc.out_offset + m * pc.out_stride + b] = finish_metric(pc.metric, dot, qn, bn);
        }
      }
    }
  }
}
