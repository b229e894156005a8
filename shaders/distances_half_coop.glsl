// The tensor-core distance kernel over float16 copies (half_rows.comp: every row scaled by the
// power of two that brings its largest element into [2^14, 2^15), then rounded; scales[row]
// undoes it): 16-byte loads of eight float16 elements straight into shared memory, no
// conversion on load, float32 accumulation in 16 x 16 x 16 cooperative matrices, the metric in
// float32 from the float32 norms. certificate.cpp bounds its error (ScreenPrecision::half_copies).
//
// A workgroup of 8 subgroups of 32 computes a BM x BN block of the output; the subgroups tile
// it WARPS_M x WARPS_N, each owning (BM / WARPS_M) x (BN / WARPS_N) through TM x TN
// accumulators. The dimension is walked BK elements a stage; the next stage's global loads are
// in flight in registers while the current one is multiplied (STAGES 2: from the other half of
// a double-buffered shared memory, one barrier a stage). Shared rows are padded by 16 bytes so
// that the eight rows a matrix load reads at once fall in distinct banks.
// The includer defines BM, BN, BK, WARPS_M, WARPS_N and STAGES, and WIDE_EPILOGUE for 16-byte
// stores of two accumulators' rows at once (TN even; the base operand's shared memory at least
// 1024 16-byte words).
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_NV_cooperative_matrix : require

#include "metric.glsl"

layout(local_size_x = 256) in;

#define OPERAND uvec4  // eight float16 elements
#ifdef WIDE_EPILOGUE
#define OUT_VEC4  // out_values4: 16-byte stores
#endif
#include "distance_args.glsl"
layout(set = 0, binding = 5, std430) readonly buffer QueryScales { float query_scales[]; };
layout(set = 0, binding = 6, std430) readonly buffer BaseScales { float base_scales[]; };

const uint THREADS = 256u;
const uint WM = BM / WARPS_M;  // a subgroup's rows...
const uint WN = BN / WARPS_N;  // ...and columns
const uint TM = WM / 16u;
const uint TN = WN / 16u;
const uint KV = BK / 8u;          // 16-byte words of one row per stage
const uint SKV = KV + 1u;         // padded
const uint LOADS_A = BM * KV / THREADS;
const uint LOADS_B = BN * KV / THREADS;
const uint TILE = BM * SKV;       // one stage of one operand, in 16-byte words
const uint TILE_B = BN * SKV;

shared uvec4 sa[STAGES * TILE];
shared uvec4 sb[STAGES * TILE_B];
// Per row of the block: the factor that undoes its scaling and its float32 squared norm.
shared float unscale_a[BM];
shared float unscale_b[BN];
shared float norm_a[BM];
shared float norm_b[BN];

void load_stage(uint stage, uint q0, uint b0, out uvec4 pa[LOADS_A], out uvec4 pb[LOADS_B]) {
  const uint dim8 = pc.dim / 8u;
  [[unroll]] for (uint i = 0u; i < LOADS_A; ++i) {
    const uint e = gl_LocalInvocationIndex + i * THREADS;
    const uint q = q0 + e / KV;
    const uint c = stage * KV + e % KV;
    pa[i] = (q < pc.num_queries && c < dim8) ? queries[(pc.query_offset + q) * dim8 + c] : uvec4(0u);
  }
  [[unroll]] for (uint i = 0u; i < LOADS_B; ++i) {
    const uint e = gl_LocalInvocationIndex + i * THREADS;
    const uint b = b0 + e / KV;
    const uint c = stage * KV + e % KV;
    pb[i] = (b < pc.num_base && c < dim8) ? base[(pc.base_offset + b) * dim8 + c] : uvec4(0u);
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

// The value of one output element from its staged dot product (of the scaled copies).
float finish(float staged, uint lr, uint lc) {
  // Powers of two: undoing the scales is exact.
  const float dot_product = staged * unscale_a[lr] * unscale_b[lc];
  return apply_metric(pc.metric, dot_product, norm_a[lr], norm_b[lc]);
}

void main() {
  const uint tid = gl_LocalInvocationIndex;
  const uint warp = gl_SubgroupID;
  const uint wm = (warp / WARPS_N) * WM;
  const uint wn = (warp % WARPS_N) * WN;
  const uint q0 = gl_WorkGroupID.y * BM;
  const uint b0 = gl_WorkGroupID.x * BN;

  for (uint r = tid; r < BM; r += THREADS) {
    const uint q = min(q0 + r, pc.num_queries - 1u) + pc.query_offset;
    unscale_a[r] = query_scales[q];
    norm_a[r] = query_norms[q];
  }
  for (uint r = tid; r < BN; r += THREADS) {
    const uint b = min(b0 + r, pc.num_base - 1u) + pc.base_offset;
    unscale_b[r] = base_scales[b];
    norm_b[r] = base_norms[b];
  }

  fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc[TM][TN];
  [[unroll]] for (uint i = 0u; i < TM; ++i)
    [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);

  const uint stages = (pc.dim / 8u + KV - 1u) / KV;
  uvec4 pa[LOADS_A];
  uvec4 pb[LOADS_B];
  load_stage(0u, q0, b0, pa, pb);
  if (STAGES == 2u) {
    stash_stage(0u, pa, pb);
    barrier();
  }
  for (uint s = 0u; s < stages; ++s) {
    const uint current = STAGES == 2u ? s % 2u : 0u;
    if (STAGES == 1u) {
      stash_stage(0u, pa, pb);
      barrier();
    }
    if (s + 1u < stages) load_stage(s + 1u, q0, b0, pa, pb);  // in flight while we multiply
    [[unroll]] for (uint kk = 0u; kk < KV; kk += 2u) {
      fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a[TM];
      fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> b[TN];
      [[unroll]] for (uint i = 0u; i < TM; ++i)
        coopMatLoadNV(a[i], sa, current * TILE + (wm + i * 16u) * SKV + kk, SKV, false);
      [[unroll]] for (uint j = 0u; j < TN; ++j)
        coopMatLoadNV(b[j], sb, current * TILE_B + (wn + j * 16u) * SKV + kk, SKV, true);
      [[unroll]] for (uint i = 0u; i < TM; ++i)
        [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = coopMatMulAddNV(a[i], b[j], acc[i][j]);
    }
    // Double-buffered: the next stage goes to the half nobody reads until after this barrier.
    if (STAGES == 2u && s + 1u < stages) stash_stage((s + 1u) % 2u, pa, pb);
    barrier();
  }

#ifndef WIDE_EPILOGUE
  // Each accumulator through the subgroup's 16 x 16 float32 tile, staged in the base operand's
  // shared memory (free now; every block shape's holds the 8 subgroups' tiles, 512 words, where
  // the query operand's of 32-row blocks does not). Lane l takes column l % 16 of rows l / 16,
  // l / 16 + 2, ...: each store instruction writes two rows' 64 contiguous bytes, four whole
  // 32-byte sectors. (Eight columns a lane along one row gave every float of an instruction a
  // sector of its own, eight times the transactions: on an H100 the epilogue was what limited
  // kNN shapes, BENCHMARKS.md session 12.)
  const uint lane = gl_SubgroupInvocationID;
  const uint col = lane % 16u;
  const uint first_row = lane / 16u;
  const uint tile = warp * 64u;  // 16-byte words: 256 floats a subgroup
  [[unroll]] for (uint i = 0u; i < TM; ++i) {
    [[unroll]] for (uint j = 0u; j < TN; ++j) {
      coopMatStoreNV(acc[i][j], sb, tile, 4u, false);
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
            out_values[pc.out_offset + q * pc.out_stride + b] =
                finish(uintBitsToFloat(sb[tile + row * 4u + col / 4u][col % 4u]), lr, lc);
          }
        }
      }
      subgroupBarrier();  // the tile is read before the next accumulator overwrites it
    }
  }
#else
  // Two neighbouring accumulators at a time, staged side by side (16 rows of 32 floats, 2 KiB a
  // subgroup: every wide shape's base operand memory holds the 8 subgroups'): lane l takes
  // columns 4 (l % 8) .. + 3 of rows l / 8, l / 8 + 4, ...: each store instruction writes four
  // rows' 128 contiguous bytes in 16-byte stores, whole cache lines. Where the output's rows are
  // not 16-byte aligned (an odd offset or stride), and at the base's last columns, the floats go
  // one by one.
  const uint lane = gl_SubgroupInvocationID;
  const uint quad = lane % 8u;
  const uint first_row = lane / 8u;
  const uint tile = warp * 128u;  // 16-byte words: 512 floats a subgroup
  const bool aligned = pc.out_offset % 4u == 0u && pc.out_stride % 4u == 0u;
  [[unroll]] for (uint i = 0u; i < TM; ++i) {
    [[unroll]] for (uint j = 0u; j < TN; j += 2u) {
      coopMatStoreNV(acc[i][j], sb, tile, 8u, false);
      coopMatStoreNV(acc[i][j + 1u], sb, tile + 4u, 8u, false);
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      const uint lc = wn + j * 16u + quad * 4u;
      const uint b = b0 + lc;
      [[unroll]] for (uint u = 0u; u < 4u; ++u) {
        const uint row = first_row + 4u * u;
        const uint lr = wm + i * 16u + row;
        const uint q = q0 + lr;
        if (q < pc.num_queries && b < pc.num_base) {
          const vec4 staged = uintBitsToFloat(sb[tile + row * 8u + quad]);
          const vec4 value = vec4(finish(staged.x, lr, lc), finish(staged.y, lr, lc + 1u),
                                  finish(staged.z, lr, lc + 2u), finish(staged.w, lr, lc + 3u));
          const uint at = pc.out_offset + q * pc.out_stride + b;
          if (aligned && b + 3u < pc.num_base) {
            out_values4[at / 4u] = value;
          } else {
            [[unroll]] for (uint c = 0u; c < 4u; ++c) {
              if (b + c < pc.num_base) out_values4[(at + c) / 4u][(at + c) % 4u] = value[c];
            }
          }
        }
      }
      subgroupBarrier();  // the tile is read before the next accumulators overwrite it
    }
  }
#endif
}
