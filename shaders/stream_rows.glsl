// A handful of queries (<= MAX_QUERIES) against base rows streamed once with 16-byte loads (the
// dimension a multiple of 4), for distances_small_vec4.glsl and knn_stream.glsl. A subgroup
// splits into groups of ROW_LANES lanes; each group takes ROWS consecutive base rows a turn, its
// lanes reading consecutive words of each row (coalesced) against the queries, then a sum over
// the group's lanes finishes each dot product. Short rows take small groups: a 32-lane sum per
// (row, query) cost more than the products at d = 128 (five shuffles against four multiplies a
// lane), so a lane should hold several words of a row. With HALF_BASE defined, binding 1 holds
// the base's float16 copy (half_rows.comp: 8 bytes a load, half the traffic) and binding 5 each
// row's scale.
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

// A compile-time constant: arrays sized by a specialization constant are not unrolled by
// the SPIR-V optimiser and may end up in local memory. 8 (kernels.hpp small_query_limit), or
// 16 where the includer defines STREAM_QUERIES (kernels.hpp stream_query_limit).
#ifndef STREAM_QUERIES
#define STREAM_QUERIES 8u
#endif
const uint MAX_QUERIES = STREAM_QUERIES;

#include "metric.glsl"

#define OPERAND vec4
#ifdef HALF_BASE
#define BASE_OPERAND uvec2
#endif
#include "distance_args.glsl"
#define DISTANCE_SUBGROUPS
#include "distance_form.glsl"

#ifdef HALF_BASE
layout(set = 0, binding = 5, std430) readonly buffer BaseScales { float base_scales[]; };
vec4 base_elements(uint word) {
  const uvec2 packed = base[word];
  return vec4(unpackHalf2x16(packed.x), unpackHalf2x16(packed.y));
}
#else
vec4 base_elements(uint word) { return base[word]; }
#endif


// Rows a group takes at once: their loads are all in flight before the first sum, so a lane
// waits on memory once per ROWS rows rather than once per row.
#ifndef ROWS
#define ROWS 4u
#endif

// Lanes per row (specialization constant 4, kernels.cpp): 4, 8 or 16, or the whole subgroup
// (its size or more).
layout(constant_id = 4) const uint ROW_LANES = 32u;

/// A row group's partial accumulations joined: the subgroup's own sum where the group is the
/// whole subgroup, else a butterfly over the group's lanes (every lane gets the total). A loop
/// of constant turns: one the unroller cannot count would keep the callers' register tiles in
/// local memory (test_shaders pins it).
float row_join(float partial, uint row_lanes) {
  const bool whole = row_lanes >= gl_SubgroupSize;
  float joined = partial;
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    const uint s = 8u >> i;
    if (!whole && s < row_lanes) {
      const float other = subgroupShuffleXor(joined, s);
      joined = DISTANCE_FORM == FORM_LINF ? max(joined, other) : joined + other;
    }
  }
  return whole ? subgroup_join(partial) : joined;
}

/// The lanes of a row group (ROW_LANES of them, or the whole subgroup).
uint row_lanes() { return min(ROW_LANES, gl_SubgroupSize); }

/// Base rows a subgroup takes a turn: ROWS for each of its row groups.
uint subgroup_turn_rows() { return ROWS * (gl_SubgroupSize / row_lanes()); }

/// The queries' squared norms where the metric takes them (zeros past num_queries).
void load_query_norms(out float query_norm[MAX_QUERIES]) {
  const bool norms = metric_uses_norms(pc.metric);
  [[unroll]] for (uint m = 0; m < MAX_QUERIES; ++m)
    query_norm[m] = (norms && m < pc.num_queries) ? query_norms[pc.query_offset + m] : 0.0;
}

/// One turn of the subgroup over base rows turn .. turn + subgroup_turn_rows() - 1 (relative
/// to pc.base_offset): lane r < ROWS of each row group finishes its group's row r, returned
/// in `row` with its metric values against the queries in `value` (m < num_queries); the
/// lanes that finish no row in range get row = pc.num_base.
void turn_values(uint turn, float query_norm[MAX_QUERIES], out uint row,
                 out float value[MAX_QUERIES]) {
  const uint lanes = row_lanes();
  const uint lane = gl_SubgroupInvocationID % lanes;  // within its group
  const uint dim4 = pc.dim / 4u;
  const bool norms = metric_uses_norms(pc.metric);
  const uint b = turn + (gl_SubgroupInvocationID / lanes) * ROWS;  // the group's first row
  // Lane r < ROWS of the group finishes row b + r; its norm load goes out with the row loads
  // rather than after the sums.
  const uint my_row = b + lane;
  const bool finisher = lane < ROWS && my_row < pc.num_base;
  const float base_norm = (finisher && norms) ? base_norms[pc.base_offset + my_row] : 0.0;
#ifdef HALF_BASE
  // The copy's rows are scaled by powers of two: the products come back exactly.
  const float base_scale = finisher ? base_scales[pc.base_offset + my_row] : 0.0;
#else
  const float base_scale = 1.0;
#endif
  float dots[ROWS][MAX_QUERIES];
  [[unroll]] for (uint r = 0; r < ROWS; ++r)
    [[unroll]] for (uint m = 0; m < MAX_QUERIES; ++m) dots[r][m] = 0.0;
  for (uint j = lane; j < dim4; j += lanes) {
    vec4 x[ROWS];
    [[unroll]] for (uint r = 0; r < ROWS; ++r)
      x[r] = b + r < pc.num_base ? base_elements((pc.base_offset + b + r) * dim4 + j) : vec4(0.0);
    // No break or continue in unrolled loops: they keep the loop, and `dots` indexed by a
    // loop variable lives in local memory.
    [[unroll]] for (uint m = 0; m < MAX_QUERIES; ++m) {
      if (m < pc.num_queries) {
        const vec4 q = queries[(pc.query_offset + m) * dim4 + j];
        [[unroll]] for (uint r = 0; r < ROWS; ++r) dots[r][m] = accumulate4(dots[r][m], x[r], q);
      }
    }
  }
  [[unroll]] for (uint m = 0; m < MAX_QUERIES; ++m) {
    float my_dot = 0.0;
    if (m < pc.num_queries) {
      [[unroll]] for (uint r = 0; r < ROWS; ++r) {
        const float total = row_join(dots[r][m], lanes);
        if (lane == r) my_dot = total * base_scale;
      }
    }
    value[m] = finish_metric(pc.metric, my_dot, query_norm[m], base_norm);
  }
  row = finisher ? my_row : pc.num_base;
}
