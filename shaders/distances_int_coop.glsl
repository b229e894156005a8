// The integer tensor-core distance kernel: uint8 (int8) rows, 16 elements a 16-byte load
// straight into shared memory, 16 x 16 x 32 cooperative matrices of uint8 (int8) products
// accumulated in uint32 (int32). Every product and sum is exact: a uint8 product is at most
// 255^2 = 65025 and 65025 * 65536 (FlatIndex::max_dim) < 2^32; an int8 product is at most
// 128^2 in magnitude and 2^14 * 65536 < 2^31. So the dot products, the l2 values
// |q|^2 + |x|^2 - 2 q.x (in wrapping uint32 arithmetic, whose true value lies in
// [0, 255^2 d] < 2^32) and the norms (exact uint32, binding 2 and 3) are exact integers; the
// float32 written is their one rounding (cosine: apply_metric's float32 arithmetic on the
// rounded dot product and norms). certificate.cpp bounds it (ScreenPrecision::integer).
//
// The structure is distances_half_coop.glsl's: 8 subgroups of 32 tile a BM x BN block
// WARPS_M x WARPS_N, register double-buffering of the next stage's global loads, shared rows
// padded by 16 bytes, lane-per-column epilogue.
// The includer defines BM, BN, BK (bytes a row per stage), WARPS_M, WARPS_N and SIGNED.
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_NV_cooperative_matrix : require
#extension GL_NV_integer_cooperative_matrix : require

#include "metric.glsl"

layout(local_size_x = 256) in;

layout(set = 0, binding = 0, std430) readonly buffer Queries { uvec4 queries[]; };  // 16 bytes
layout(set = 0, binding = 1, std430) readonly buffer Base { uvec4 base[]; };
layout(set = 0, binding = 2, std430) readonly buffer QueryNorms { uint query_norms[]; };
layout(set = 0, binding = 3, std430) readonly buffer BaseNorms { uint base_norms[]; };
layout(set = 0, binding = 4, std430) writeonly buffer Out { float out_values[]; };

layout(push_constant) uniform Constants {
  uint num_queries;
  uint num_base;
  uint dim;
  uint metric;
  uint query_offset;  // first query row
  uint base_offset;   // first base row
  uint out_stride;    // floats per output row
  uint out_offset;    // elements
} pc;

#if SIGNED
#define OPERAND_MATRIX(rows, cols) icoopmatNV<8, gl_ScopeSubgroup, rows, cols>
#define ACCUMULATOR icoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define ACCUMULATOR_SCALAR int
#else
#define OPERAND_MATRIX(rows, cols) ucoopmatNV<8, gl_ScopeSubgroup, rows, cols>
#define ACCUMULATOR ucoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define ACCUMULATOR_SCALAR uint
#endif

const uint THREADS = 256u;
const uint STAGES = 2u;
const uint WM = BM / WARPS_M;  // a subgroup's rows...
const uint WN = BN / WARPS_N;  // ...and columns
const uint TM = WM / 16u;
const uint TN = WN / 16u;
const uint KV = BK / 16u;      // 16-byte words of one row per stage
const uint SKV = KV + 1u;      // padded
const uint LOADS_A = BM * KV / THREADS;
const uint LOADS_B = BN * KV / THREADS;
const uint TILE = BM * SKV;    // one stage of one operand, in 16-byte words
const uint TILE_B = BN * SKV;

shared uvec4 sa[STAGES * TILE];
shared uvec4 sb[STAGES * TILE_B];
shared uint norm_a[BM];
shared uint norm_b[BN];

void load_stage(uint stage, uint q0, uint b0, out uvec4 pa[LOADS_A], out uvec4 pb[LOADS_B]) {
  const uint dim16 = pc.dim / 16u;
  [[unroll]] for (uint i = 0u; i < LOADS_A; ++i) {
    const uint e = gl_LocalInvocationIndex + i * THREADS;
    const uint q = q0 + e / KV;
    const uint c = stage * KV + e % KV;
    pa[i] = (q < pc.num_queries && c < dim16) ? queries[(pc.query_offset + q) * dim16 + c] : uvec4(0u);
  }
  [[unroll]] for (uint i = 0u; i < LOADS_B; ++i) {
    const uint e = gl_LocalInvocationIndex + i * THREADS;
    const uint b = b0 + e / KV;
    const uint c = stage * KV + e % KV;
    pb[i] = (b < pc.num_base && c < dim16) ? base[(pc.base_offset + b) * dim16 + c] : uvec4(0u);
  }
}

void stash_stage(uint buffer_index, uvec4 pa[LOADS_A], uvec4 pb[LOADS_B]) {
  [[unroll]] for (uint i = 0u; i < LOADS_A; ++i) {
    const uint e = gl_LocalInvocationIndex + i * THREADS;
    sa[buffer_index * TILE + (e / KV) * SKV + e % KV] = pa[i];
  }
  [[unroll]] for (uint i = 0u; i < LOADS_B; ++i) {
    const uint e = gl_LocalInvocationIndex + i * THREADS;
    sb[buffer_index * TILE_B + (e / KV) * SKV + e % KV] = pb[i];
  }
}

/// The metric of an exact dot product and exact squared norms, rounded once to float32 (l2,
/// inner product) or through apply_metric's float32 arithmetic (cosine).
float integer_metric(ACCUMULATOR_SCALAR dot_product, uint query_norm, uint base_norm) {
  if (pc.metric == METRIC_L2) return float(query_norm + base_norm - 2u * uint(dot_product));
  return apply_metric(pc.metric, float(dot_product), float(query_norm), float(base_norm));
}

void main() {
  const uint tid = gl_LocalInvocationIndex;
  const uint warp = gl_SubgroupID;
  const uint wm = (warp / WARPS_N) * WM;
  const uint wn = (warp % WARPS_N) * WN;
  const uint q0 = gl_WorkGroupID.y * BM;
  const uint b0 = gl_WorkGroupID.x * BN;

  for (uint r = tid; r < BM; r += THREADS)
    norm_a[r] = query_norms[min(q0 + r, pc.num_queries - 1u) + pc.query_offset];
  for (uint r = tid; r < BN; r += THREADS)
    norm_b[r] = base_norms[min(b0 + r, pc.num_base - 1u) + pc.base_offset];

  ACCUMULATOR acc[TM][TN];
  [[unroll]] for (uint i = 0u; i < TM; ++i)
    [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = ACCUMULATOR(0);

  const uint stages = (pc.dim / 16u + KV - 1u) / KV;
  uvec4 pa[LOADS_A];
  uvec4 pb[LOADS_B];
  load_stage(0u, q0, b0, pa, pb);
  stash_stage(0u, pa, pb);
  barrier();
  for (uint s = 0u; s < stages; ++s) {
    const uint current = s % 2u;
    if (s + 1u < stages) load_stage(s + 1u, q0, b0, pa, pb);  // in flight while we multiply
    // One 16 x 32 x 16 product takes two 16-byte words of each row.
    [[unroll]] for (uint kk = 0u; kk < KV; kk += 2u) {
      OPERAND_MATRIX(16, 32) a[TM];
      OPERAND_MATRIX(32, 16) b[TN];
      [[unroll]] for (uint i = 0u; i < TM; ++i)
        coopMatLoadNV(a[i], sa, current * TILE + (wm + i * 16u) * SKV + kk, SKV, false);
      [[unroll]] for (uint j = 0u; j < TN; ++j)
        coopMatLoadNV(b[j], sb, current * TILE_B + (wn + j * 16u) * SKV + kk, SKV, true);
      [[unroll]] for (uint i = 0u; i < TM; ++i)
        [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = coopMatMulAddNV(a[i], b[j], acc[i][j]);
    }
    // Double-buffered: the next stage goes to the half nobody reads until after this barrier.
    if (s + 1u < stages) stash_stage((s + 1u) % 2u, pa, pb);
    barrier();
  }

  // Each accumulator through the subgroup's 16 x 16 tile of 32-bit integers staged in the
  // operands' shared memory (free now); lane l takes column l % 16 of rows l / 16,
  // l / 16 + 2, ... (distances_half_coop.glsl says why).
  const uint lane = gl_SubgroupInvocationID;
  const uint col = lane % 16u;
  const uint first_row = lane / 16u;
  const uint tile = warp * 64u;  // 16-byte words: 256 words a subgroup
  [[unroll]] for (uint i = 0u; i < TM; ++i) {
    [[unroll]] for (uint j = 0u; j < TN; ++j) {
      coopMatStoreNV(acc[i][j], sa, tile, 4u, false);
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      const uint lc = wn + j * 16u + col;
      const uint b = b0 + lc;
      if (b < pc.num_base) {
        [[unroll]] for (uint u = 0u; u < 8u; ++u) {
          const uint row = first_row + 2u * u;
          const uint lr = wm + i * 16u + row;
          const uint q = q0 + lr;
          if (q < pc.num_queries) {
            const ACCUMULATOR_SCALAR dot_product =
                ACCUMULATOR_SCALAR(sa[tile + row * 4u + col / 4u][col % 4u]);
            out_values[pc.out_offset + q * pc.out_stride + b] =
                integer_metric(dot_product, norm_a[lr], norm_b[lc]);
          }
        }
      }
      subgroupBarrier();  // the tile is read before the next accumulator overwrites it
    }
  }
}
