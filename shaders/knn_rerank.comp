#version 450
// Exact re-ranking: the distance of a query to a base row in direct form, accumulated in
// float64 — Σ(q_i - x_i)², Σ q_i x_i, q·x / (|q| |x|), Σ|q_i - x_i| or max |q_i - x_i| — from
// the float32 inputs (each product of two floats is exact in float64, and so is each
// difference of floats within 2^29 of each other's magnitude; otherwise it rounds once, as the
// host's reference does; the sums round). The screen
// proposes the rows; this is the value results are ranked and reported by.
//
// Candidate mode: row `label` of exact[] slot (query, j) comes from labels[query * stride + j];
// slots whose label lies outside this chunk are left to the chunk holding it. Direct mode
// (pc.direct = 1): every row of the chunk, slot j = chunk row j.
#extension GL_EXT_control_flow_attributes : require
#extension GL_GOOGLE_include_directive : require
#include "metric.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

// The float32 rows as bits: widen() keeps subnormal values, which a float -> double conversion
// may flush (NVIDIA's does: tiny rows then ranked wrong).
layout(set = 0, binding = 0, std430) readonly buffer Queries { uint queries[]; };
layout(set = 0, binding = 1, std430) readonly buffer Base { uint base[]; };
layout(set = 0, binding = 2, std430) readonly buffer Labels { int labels[]; };
layout(set = 0, binding = 3, std430) writeonly buffer Exact { double exact[]; };

layout(push_constant) uniform Constants {
  uint num_queries;
  uint slots;        // candidates per query (direct mode: the chunk's rows)
  uint dim;
  uint metric;
  uint label_begin;  // global label of the chunk's first row
  uint chunk_rows;
  uint stride;       // labels and exact: elements per query
  uint direct;
} pc;

// The loops take 8 elements a turn, in element order (the host's direct_distance sums in that
// order): lavapipe (llvmpipe) ends an outermost loop after 65535 turns of it and the loops
// within it together (its guard against endless loops), which cut the sums of dimension
// 65536 short one element a turn.
#define EACH_ELEMENT(first, last, STEP)               \
  {                                                   \
    uint i = first;                                   \
    for (; i + 8u <= last; i += 8u) {                 \
      [[unroll]] for (uint u = 0u; u < 8u; ++u) STEP; \
    }                                                 \
    for (uint u = 0u; i + u < last; ++u) STEP;        \
  }

/// The float32 value of `bits` as a double, exactly, subnormals included.
double widen(uint bits) {
  if ((bits & 0x7f800000u) != 0u) return double(uintBitsToFloat(bits));
  const double magnitude = double(bits & 0x007fffffu) * 1.4012984643248171e-45LF;  // 2^-149
  return (bits & 0x80000000u) != 0u ? -magnitude : magnitude;
}

// `precise`: each multiply and add rounds on its own, as the host's float64 reference sums
// (exact_merge.cpp): a contracted fma(t, t, sum) could break a tie the other way.
double direct_distance(uint query_start, uint row_start) {
  precise double sum = 0.0;
  if (pc.metric == METRIC_L2) {
    EACH_ELEMENT(0u, pc.dim, {
      const double t = widen(queries[query_start + i + u]) - widen(base[row_start + i + u]);
      sum += t * t;
    })
    return sum;
  }
  if (pc.metric == METRIC_L1) {
    EACH_ELEMENT(0u, pc.dim,
                 { sum += abs(widen(queries[query_start + i + u]) - widen(base[row_start + i + u])); })
    return sum;
  }
  if (pc.metric == METRIC_LINF) {
    EACH_ELEMENT(0u, pc.dim, {
      sum = max(sum, abs(widen(queries[query_start + i + u]) - widen(base[row_start + i + u])));
    })
    return sum;
  }
  if (pc.metric == METRIC_INNER_PRODUCT) {
    EACH_ELEMENT(0u, pc.dim,
                 { sum += widen(queries[query_start + i + u]) * widen(base[row_start + i + u]); })
    return sum;
  }
  precise double qq = 0.0;
  precise double xx = 0.0;
  EACH_ELEMENT(0u, pc.dim, {
    const double q = widen(queries[query_start + i + u]);
    const double x = widen(base[row_start + i + u]);
    sum += q * x;
    qq += q * q;
    xx += x * x;
  })
  const double denominator = sqrt(qq) * sqrt(xx);
  return denominator > 0.0 ? sum / denominator : 0.0;  // a zero vector is similar to nothing
}

void main() {
  const uint query = gl_WorkGroupID.y;
  if (query >= pc.num_queries) return;
  const uint step = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint j = gl_GlobalInvocationID.x; j < pc.slots; j += step) {
    const uint slot = query * pc.stride + j;
    uint row = j;
    if (pc.direct == 0u) {
      const int label = labels[slot];
      if (label < int(pc.label_begin) || uint(label) - pc.label_begin >= pc.chunk_rows) continue;
      row = uint(label) - pc.label_begin;
    }
    exact[slot] = direct_distance(query * pc.dim, row * pc.dim);
  }
}
