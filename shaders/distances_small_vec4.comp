#version 450
// Distances for a handful of queries (<= MAX_QUERIES) when the dimension is a multiple of 4:
// distances_small with 16-byte loads (fewer, wider memory requests). Same bindings.
//
// Distances for a handful of queries: a matrix-vector product that streams the base once. Each subgroup takes base rows in turn; its lanes read consecutive floats of
// the row (coalesced) against the queries, then a subgroup sum finishes each dot product.
// The tiled kernel would compute whole query tiles, almost all of them empty, here.
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(constant_id = 3) const uint MAX_QUERIES = 8;

const uint METRIC_L2 = 0;
const uint METRIC_INNER_PRODUCT = 1;
const uint METRIC_COSINE = 2;

layout(set = 0, binding = 0, std430) readonly buffer Queries { vec4 queries[]; };
layout(set = 0, binding = 1, std430) readonly buffer Base { vec4 base[]; };
layout(set = 0, binding = 2, std430) readonly buffer QueryNorms { float query_norms[]; };
layout(set = 0, binding = 3, std430) readonly buffer BaseNorms { float base_norms[]; };
layout(set = 0, binding = 4, std430) writeonly buffer Out { float out_values[]; };

layout(push_constant) uniform Constants {
  uint num_queries;
  uint num_base;
  uint dim;
  uint metric;
  uint query_offset;
  uint base_offset;
  uint out_stride;
  uint out_offset;
} pc;

void main() {
  const uint subgroups_total = gl_NumWorkGroups.x * gl_NumSubgroups;
  const uint lane = gl_SubgroupInvocationID;
  for (uint b = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; b < pc.num_base;
       b += subgroups_total) {
    float dots[MAX_QUERIES];
    [[unroll]] for (uint m = 0; m < MAX_QUERIES; ++m) dots[m] = 0.0;
    const uint dim4 = pc.dim / 4u;
    const uint row = (pc.base_offset + b) * dim4;
    for (uint j = lane; j < dim4; j += gl_SubgroupSize) {
      const vec4 x = base[row + j];
      [[unroll]] for (uint m = 0; m < MAX_QUERIES; ++m) {
        if (m < pc.num_queries) dots[m] += dot(x, queries[(pc.query_offset + m) * dim4 + j]);
      }
    }
    [[unroll]] for (uint m = 0; m < MAX_QUERIES; ++m) {
      if (m >= pc.num_queries) break;
      const float dot = subgroupAdd(dots[m]);
      if (lane != 0u) continue;
      float v = dot;
      if (pc.metric == METRIC_L2) {
        v = max(query_norms[pc.query_offset + m] + base_norms[pc.base_offset + b] - 2.0 * dot, 0.0);
      } else if (pc.metric == METRIC_COSINE) {
        const float denominator =
            sqrt(query_norms[pc.query_offset + m]) * sqrt(base_norms[pc.base_offset + b]);
        v = denominator > 0.0 ? dot / denominator : 0.0;
      }
      out_values[pc.out_offset + m * pc.out_stride + b] = v;
    }
  }
}
