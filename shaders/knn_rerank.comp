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
// (pc.direct = 1): every row of the chunk, slot j = chunk row j. SLOT_MODE (kernels.cpp
// chooses): a thread a slot (CPU drivers: no barriers); a subgroup a slot (few slots): its
// lanes load consecutive elements (a thread a slot scattered every load: 126 us for 32 x 16
// candidates of d = 1024 on an H100) and form the terms, and every lane adds them up in
// element order from the lanes' registers; or staged (many slots on a GPU): the workgroup
// copies its slots' rows through shared memory a stretch at a time, a subgroup a row's stretch
// (coalesced: a thread a slot read 4 bytes of a different row a load, which took 5.9 ms to
// re-rank 10 million candidates of d = 128 on an H100), and each thread sums its own slot.
// Every mode sums in element order, so each sum rounds as the host's loop rounds it.
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_GOOGLE_include_directive : require
#include "metric.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint SLOT_MODE = 0u;
const uint THREAD_SLOTS = 0u;
const uint SUBGROUP_SLOTS = 1u;
const uint STAGED_SLOTS = 2u;

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
// 65536 short one element a turn. The 8 are written out, not an [[unroll]] loop: spirv-opt's
// unroller (SPIRV-Tools 2023.1) drops the NoContraction of `precise` from the copies it makes,
// and its folding then fuses their multiply and add into one Fma, which NVIDIA's driver runs
// fused (one unit in the last place off the host's sum at d = 37 on an H100).
#define ONE_ELEMENT(U, STEP) \
  {                          \
    const uint u = U;        \
    STEP;                    \
  }
#define EACH_ELEMENT(first, last, STEP)                                      \
  {                                                                          \
    uint i = first;                                                          \
    for (; i + 8u <= last; i += 8u) {                                        \
      ONE_ELEMENT(0u, STEP) ONE_ELEMENT(1u, STEP) ONE_ELEMENT(2u, STEP)      \
      ONE_ELEMENT(3u, STEP) ONE_ELEMENT(4u, STEP) ONE_ELEMENT(5u, STEP)      \
      ONE_ELEMENT(6u, STEP) ONE_ELEMENT(7u, STEP)                            \
    }                                                                        \
    for (uint u = 0u; i + u < last; ++u) STEP;                               \
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

// Elements a lane loads a turn in candidate mode: few, as each one unrolls the sums below
// (a CPU driver compiles the shader for every process: 8 a lane cost lavapipe 0.1 s).
const uint PER_LANE = 2u;

/// sum += the subgroup's terms t[u] in element order (lane s holds elements j + s * PER_LANE
/// + u), elements below pc.dim only. Lanes 8 a turn (a turn a lane would be a turn an element
/// for lavapipe's count, which a row of 65,536 elements runs past), unrolled loops within (t
/// indexed by constants: registers, not local memory).
double ordered_sum(double t[PER_LANE], uint j, double sum) {
  for (uint s0 = 0u; s0 < gl_SubgroupSize; s0 += 8u) {
    [[unroll]] for (uint r = 0u; r < 8u; ++r) {
      [[unroll]] for (uint u = 0u; u < PER_LANE; ++u) {
        const double e = subgroupShuffle(t[u], s0 + r);
        if (s0 + r < gl_SubgroupSize && j + (s0 + r) * PER_LANE + u < pc.dim) sum = sum + e;
      }
    }
  }
  return sum;
}

/// direct_distance by the whole subgroup (every lane returns it).
double subgroup_distance(uint query_start, uint row_start) {
  const uint lanes = gl_SubgroupSize;
  const uint lane = gl_SubgroupInvocationID;
  precise double sum = 0.0;
  precise double qq = 0.0;
  precise double xx = 0.0;
  for (uint j = 0u; j < pc.dim; j += PER_LANE * lanes) {
    precise double a[PER_LANE];
    precise double b[PER_LANE];
    precise double c[PER_LANE];
    double largest = 0.0;
    [[unroll]] for (uint u = 0u; u < PER_LANE; ++u) {
      const uint i = j + lane * PER_LANE + u;
      const double q = i < pc.dim ? widen(queries[query_start + i]) : 0.0;
      const double x = i < pc.dim ? widen(base[row_start + i]) : 0.0;
      const double t = q - x;
      a[u] = pc.metric == METRIC_L2 ? t * t
             : pc.metric == METRIC_L1 || pc.metric == METRIC_LINF ? abs(t)
                                                                    : q * x;
      b[u] = q * q;
      c[u] = x * x;
      largest = max(largest, a[u]);
    }
    if (pc.metric == METRIC_LINF) {
      sum = max(sum, subgroupMax(largest));  // max is exact: any order
      continue;
    }
    sum = ordered_sum(a, j, sum);
    if (pc.metric == METRIC_COSINE) {
      qq = ordered_sum(b, j, qq);
      xx = ordered_sum(c, j, xx);
    }
  }
  if (pc.metric != METRIC_COSINE) return sum;
  const double denominator = sqrt(qq) * sqrt(xx);
  return denominator > 0.0 ? sum / denominator : 0.0;
}

/// The slot's base row in this chunk, or none (-1) where its candidate lies in another chunk.
int slot_row(uint slot, uint j) {
  if (pc.direct != 0u) return int(j);
  const int label = labels[slot];
  if (label < int(pc.label_begin) || uint(label) - pc.label_begin >= pc.chunk_rows) return -1;
  return label - int(pc.label_begin);
}

// Staged mode: the workgroup (STAGE_SLOTS threads) takes its slots' rows STAGE_ELEMENTS
// elements at a time; a row's stretch is padded by one word so that the threads reading their
// own rows meet different banks.
const uint STAGE_SLOTS = 64u;
const uint STAGE_ELEMENTS = 32u;
const uint STAGE_STRIDE = STAGE_ELEMENTS + 1u;
shared uint stage[SLOT_MODE == STAGED_SLOTS ? STAGE_SLOTS * STAGE_STRIDE : 1u];
shared int stage_rows[SLOT_MODE == STAGED_SLOTS ? STAGE_SLOTS : 1u];

/// direct_distance of each thread's slot, its row staged (uniform control flow: barriers).
void staged_slots(uint query) {
  const uint t = gl_LocalInvocationID.x;
  const uint query_start = query * pc.dim;
  for (uint first = gl_WorkGroupID.x * STAGE_SLOTS; first < pc.slots;
       first += gl_NumWorkGroups.x * STAGE_SLOTS) {
    const uint j = first + t;
    const uint slot = query * pc.stride + j;
    const int row = j < pc.slots ? slot_row(slot, j) : -1;
    stage_rows[t] = row;
    precise double sum = 0.0;
    precise double qq = 0.0;
    precise double xx = 0.0;
    for (uint e0 = 0u; e0 < pc.dim; e0 += STAGE_ELEMENTS) {
      barrier();  // stage_rows written; the previous stretch read by every thread
      const uint count = min(STAGE_ELEMENTS, pc.dim - e0);
      [[unroll]] for (uint i = 0u; i < STAGE_ELEMENTS; ++i) {
        const uint n = t + i * STAGE_SLOTS;
        const uint r = n / STAGE_ELEMENTS;
        const uint e = n % STAGE_ELEMENTS;
        const int source = stage_rows[r];
        if (source >= 0 && e < count)
          stage[r * STAGE_STRIDE + e] = base[uint(source) * pc.dim + e0 + e];
      }
      barrier();
      if (row < 0) continue;
      for (uint e = 0u; e < count; ++e) {
        const double q = widen(queries[query_start + e0 + e]);
        const double x = widen(stage[t * STAGE_STRIDE + e]);
        if (pc.metric == METRIC_L2) {
          const double d = q - x;
          sum += d * d;
        } else if (pc.metric == METRIC_L1) {
          sum += abs(q - x);
        } else if (pc.metric == METRIC_LINF) {
          sum = max(sum, abs(q - x));
        } else if (pc.metric == METRIC_INNER_PRODUCT) {
          sum += q * x;
        } else {
          sum += q * x;
          qq += q * q;
          xx += x * x;
        }
      }
    }
    if (row < 0) continue;
    if (pc.metric != METRIC_COSINE) {
      exact[slot] = sum;
      continue;
    }
    const double denominator = sqrt(qq) * sqrt(xx);
    exact[slot] = denominator > 0.0 ? sum / denominator : 0.0;
  }
}

void main() {
  const uint query = gl_WorkGroupID.y;
  if (query >= pc.num_queries) return;
  if (SLOT_MODE == STAGED_SLOTS) {
    staged_slots(query);
    return;
  }
  if (SLOT_MODE == THREAD_SLOTS) {
    const uint step = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint j = gl_GlobalInvocationID.x; j < pc.slots; j += step) {
      const uint slot = query * pc.stride + j;
      const int row = slot_row(slot, j);
      if (row >= 0) exact[slot] = direct_distance(query * pc.dim, uint(row) * pc.dim);
    }
    return;
  }
  const uint step = gl_NumWorkGroups.x * gl_NumSubgroups;
  for (uint j = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; j < pc.slots; j += step) {
    const uint slot = query * pc.stride + j;
    const int row = slot_row(slot, j);
    if (row < 0) continue;
    const double value = subgroup_distance(query * pc.dim, uint(row) * pc.dim);
    if (gl_SubgroupInvocationID == 0u) exact[slot] = value;
  }
}
