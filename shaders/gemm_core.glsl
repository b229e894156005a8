#extension GL_EXT_control_flow_attributes : require
// The distance kernels' matrix product, for dimensions that are a multiple of 4. Included by
// distances_gemm*.comp and knn_fused*.comp, which define BM (queries = base rows per
// workgroup block, 128 or 64) and BK (dimensions per shared-memory stage) before including.
//
// A workgroup of 16 x 16 threads computes a BM x BM block of dot products; each thread owns
// MICRO x MICRO of them in registers: rows g * 64 + ty * 4 + (0..3) and columns
// g * 64 + tx * 4 + (0..3) for each group g. Operands sit in shared memory transposed
// (dimension-major) so that a thread reads its four rows (or columns) as one 16-byte load;
// a warp's column loads cover 256 contiguous bytes and its row loads are broadcasts.
// Stages are double-buffered: while a stage is multiplied, the next one's global loads are in
// flight in registers, and one barrier per stage suffices.
//
// Register arrays are sized by compile-time constants and every loop touching them is
// unrolled: an array the driver cannot keep in registers lives in slow local memory.

#include "metric.glsl"

const uint THREADS = 256u;
const uint MICRO = BM / 16u;  // outputs per thread along each axis
const uint GROUPS = MICRO / 4u;
const uint SV = BM / 4u + 1u;  // 16-byte words per shared row; the +1 spreads the transposing stores over banks
const uint VPR = BK / 4u;      // 16-byte words of one vector per stage
const uint LOADS = BM * VPR / THREADS;  // per thread, per operand and stage

layout(local_size_x = 16, local_size_y = 16) in;

#define OPERAND vec4
#include "distance_args.glsl"

// [stage buffer][operand: queries, base][dimension][16-byte word of rows]. The fused kernels
// reuse it between blocks.
shared vec4 smem[2u * 2u * BK * SV];

float acc[MICRO][MICRO];

uint smem_index(uint stage_buffer, uint operand, uint kk, uint word) {
  return ((stage_buffer * 2u + operand) * BK + kk) * SV + word;
}

/// Block-local row (or column) of register i: groups of four, 64 apart.
uint local_row(uint i, uint t) { return (i / 4u) * 64u + t * 4u + i % 4u; }

struct Operands {
  uint num_queries, num_base, dim4, query_offset, base_offset;
};

/// Global loads of part `part` of a stage (LOADS parts, 256 x 16 bytes each): thread e takes 16
/// bytes of row e / VPR, so a warp reads whole 32-byte sectors of consecutive rows.
void fetch_part(Operands o, uint stage, uint part, uint q0, uint b0, out vec4 pq, out vec4 pb) {
  const uint e = gl_LocalInvocationIndex + part * THREADS;
  const uint r = e / VPR;
  const uint c = stage * VPR + e % VPR;
  const uint q = q0 + r;
  const uint b = b0 + r;
  pq = (q < o.num_queries && c < o.dim4) ? queries[(o.query_offset + q) * o.dim4 + c] : vec4(0.0);
  pb = (b < o.num_base && c < o.dim4) ? base[(o.base_offset + b) * o.dim4 + c] : vec4(0.0);
}

void stash_part(uint stage_buffer, uint part, vec4 pq, vec4 pb) {
  const uint e = gl_LocalInvocationIndex + part * THREADS;
  const uint r = e / VPR;
  const uint c = e % VPR;
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    smem[smem_index(stage_buffer, 0u, c * 4u + i, r / 4u)][r % 4u] = pq[i];
    smem[smem_index(stage_buffer, 1u, c * 4u + i, r / 4u)][r % 4u] = pb[i];
  }
}

/// Dimensions [first, first + BK / LOADS) of the stage in `stage_buffer` into acc.
void multiply_steps(uint stage_buffer, uint first, uint tx, uint ty) {
  [[unroll]] for (uint step = 0u; step < BK / LOADS; ++step) {
    const uint kk = first + step;
    float a[MICRO];
    float b[MICRO];
    [[unroll]] for (uint g = 0u; g < GROUPS; ++g) {
      const vec4 va = smem[smem_index(stage_buffer, 0u, kk, g * 16u + ty)];
      const vec4 vb = smem[smem_index(stage_buffer, 1u, kk, g * 16u + tx)];
      [[unroll]] for (uint i = 0u; i < 4u; ++i) {
        a[g * 4u + i] = va[i];
        b[g * 4u + i] = vb[i];
      }
    }
    // Column-major order: measured 1-4% faster than row-major on an H100.
    [[unroll]] for (uint j = 0u; j < MICRO; ++j)
      [[unroll]] for (uint i = 0u; i < MICRO; ++i) acc[i][j] = fma(a[i], b[j], acc[i][j]);
  }
}

/// acc = dot products of queries q0.. and base rows b0.. (zero outside the matrices). Every
/// thread of the workgroup must call it (it synchronises); smem is free again on return.
/// The next stage's loads go out part by part, each stored to the other buffer after a share
/// of this stage's multiplications, so one part's registers are in flight at a time. (With
/// BK = 16 the driver still hoisted shared loads to 157 registers; 8 keeps 123.)
void multiply_block(Operands o, uint q0, uint b0) {
  const uint tx = gl_LocalInvocationID.x;
  const uint ty = gl_LocalInvocationID.y;
  [[unroll]] for (uint i = 0u; i < MICRO; ++i)
    [[unroll]] for (uint j = 0u; j < MICRO; ++j) acc[i][j] = 0.0;
  const uint stages = (o.dim4 + VPR - 1u) / VPR;
  vec4 pq;
  vec4 pb;
  [[unroll]] for (uint part = 0u; part < LOADS; ++part) {
    fetch_part(o, 0u, part, q0, b0, pq, pb);
    stash_part(0u, part, pq, pb);
  }
  barrier();
  for (uint s = 0u; s < stages; ++s) {
    const bool more = s + 1u < stages;
    [[unroll]] for (uint part = 0u; part < LOADS; ++part) {
      if (more) fetch_part(o, s + 1u, part, q0, b0, pq, pb);
      multiply_steps(s & 1u, part * (BK / LOADS), tx, ty);
      if (more) stash_part((s + 1u) & 1u, part, pq, pb);
    }
    barrier();
  }
}
