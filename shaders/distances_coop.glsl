// The tensor-core distance kernel: the matrix product in float16 through cooperative matrices
// (16 x 16 x 16 tiles, float32 accumulation), the metric in float32, for dimensions that are a
// multiple of 4. Arguments: distance_args.glsl. Included by
// distances_coop*.comp, which define TERMS: 1 multiplies one float16 copy of each operand; 3
// splits each element into a high part (its first 11 bits) and a float16 copy of the rest,
// scaled by 2^11 so that it stays a normal float16 (hi·hi + 2^-11 (hi·lo + lo·hi)), which
// brings the product's error near float32's at three times the work. docs/exactness.md bounds both.
//
// Every row is scaled by a power of two that brings its norm into [64, 128) before it is
// rounded to float16: nothing overflows whatever the data's range (elements stay below 128,
// products below 2^14), elements below float16's normal range (2^-14, which tensor cores may
// flush) are at most 2^-20 of the norm, and the product is scaled back exactly. A workgroup of 8 subgroups computes a BM x BN block; subgroup w owns 32 x 64 of it
// (2 x 4 accumulators). The next stage's global loads are in flight in registers while the
// current one is multiplied from shared memory.
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_NV_cooperative_matrix : require

// No float-controls execution modes: the error bound allows any faithful float16 rounding
// (u = 2^-10) and subnormals flushed anywhere, so it holds on any device.

#include "metric.glsl"

const uint BM = 128u;  // queries per workgroup
const uint BN = 128u;  // base rows per workgroup
const uint BK = TERMS == 1 ? 32u : 16u;  // dimensions per stage (shared memory bounds it)
const uint SK = BK + 8u;  // float16 per shared row: 16-byte aligned, staggered across banks
const uint THREADS = 256u;
const uint WM = 32u;  // a subgroup's rows...
const uint WN = 64u;  // ...and columns
const uint TM = WM / 16u;
const uint TN = WN / 16u;
const uint WORDS = BK / 4u;                      // 16-byte words of one row per stage
const uint LOADS = BM * WORDS / THREADS;         // words per thread, per operand and stage

layout(local_size_x = 256) in;

#define OPERAND vec4
#include "distance_args.glsl"


shared float16_t sq_hi[BM * SK];
shared float16_t sb_hi[BN * SK];
#if TERMS == 3
shared float16_t sq_lo[BM * SK];
shared float16_t sb_lo[BN * SK];
#endif
shared float scale_q[BM];  // the power of two each row was multiplied by
shared float scale_b[BN];
const uint TILES = TERMS == 3 ? 2u : 1u;  // accumulator tiles per subgroup in the epilogue
shared float epilogue[8u * 256u * TILES];  // 16 x 16 float32 tiles per subgroup

/// 2^(7-e) with |row| in [2^(e-1), 2^e), from its squared norm: the scaled row's norm is in
/// [64, 128) (up to the float32 norm's own rounding). A norm too small to be a normal float32
/// has elements below 2^-60 and gets 2^60.
float row_scale(float squared_norm) {
  if (!(squared_norm >= 7.52316384e-37)) return 1152921504606846976.0;  // 2^-120, 2^60
  int e;
  frexp(sqrt(squared_norm), e);
  return ldexp(1.0, 7 - e);
}

#if TERMS == 3
/// The high part of a split: v truncated to float16's 11 significant bits by masking, zero
/// below float16's normal range (tensor cores may flush a subnormal). A float16 round trip
/// would round instead, but a compiler may fold float(float16(v)) into v and lose the low
/// part: on an H200 the three-term screen then erred like the one-term one.
vec4 high_part(vec4 v) {
  const vec4 truncated = uintBitsToFloat(floatBitsToUint(v) & uvec4(0xffffe000u));
  return mix(truncated, vec4(0.0), lessThan(abs(v), vec4(6.103515625e-5)));  // 2^-14
}
#endif

void load_stage(uint stage, uint q0, uint b0, out vec4 pq[LOADS], out vec4 pb[LOADS]) {
  const uint dim4 = pc.dim / 4u;
  [[unroll]] for (uint i = 0u; i < LOADS; ++i) {
    const uint e = gl_LocalInvocationIndex + i * THREADS;
    const uint r = e / WORDS;
    const uint c = stage * WORDS + e % WORDS;
    const uint q = q0 + r;
    const uint b = b0 + r;
    pq[i] = (q < pc.num_queries && c < dim4) ? queries[(pc.query_offset + q) * dim4 + c] : vec4(0.0);
    pb[i] = (b < pc.num_base && c < dim4) ? base[(pc.base_offset + b) * dim4 + c] : vec4(0.0);
  }
}

void stash_stage(vec4 pq[LOADS], vec4 pb[LOADS]) {
  [[unroll]] for (uint i = 0u; i < LOADS; ++i) {
    const uint e = gl_LocalInvocationIndex + i * THREADS;
    const uint r = e / WORDS;
    const uint at = r * SK + (e % WORDS) * 4u;
    const vec4 vq = pq[i] * scale_q[r];  // exact: a power of two
    const vec4 vb = pb[i] * scale_b[r];
#if TERMS == 1
    const f16vec4 hq = f16vec4(vq);
    const f16vec4 hb = f16vec4(vb);
#else
    const vec4 tq = high_part(vq);
    const vec4 tb = high_part(vb);
    const f16vec4 hq = f16vec4(tq);  // exact
    const f16vec4 hb = f16vec4(tb);
#endif
    [[unroll]] for (uint u = 0u; u < 4u; ++u) {
      sq_hi[at + u] = hq[u];
      sb_hi[at + u] = hb[u];
    }
#if TERMS == 3
    // What the high part left (exact in float32, below 2^-10 of the element), times 2^11 to
    // stay a normal float16.
    const f16vec4 lq = f16vec4((vq - tq) * 2048.0);
    const f16vec4 lb = f16vec4((vb - tb) * 2048.0);
    [[unroll]] for (uint u = 0u; u < 4u; ++u) {
      sq_lo[at + u] = lq[u];
      sb_lo[at + u] = lb[u];
    }
#endif
  }
}

void main() {
  const uint tid = gl_LocalInvocationIndex;
  const uint warp = gl_SubgroupID;
  const uint wm = (warp / 2u) * WM;  // 4 x 2 subgroups
  const uint wn = (warp % 2u) * WN;
  const uint q0 = gl_WorkGroupID.y * BM;
  const uint b0 = gl_WorkGroupID.x * BN;

  if (tid < BM) {
    const uint q = q0 + tid;
    scale_q[tid] = q < pc.num_queries ? row_scale(query_norms[pc.query_offset + q]) : 1.0;
  } else {
    const uint r = tid - BM;
    const uint b = b0 + r;
    scale_b[r] = b < pc.num_base ? row_scale(base_norms[pc.base_offset + b]) : 1.0;
  }
  barrier();

  fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc[TM][TN];
  [[unroll]] for (uint i = 0u; i < TM; ++i)
    [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
#if TERMS == 3
  fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc_lo[TM][TN];  // hi·lo + lo·hi, times 2^11
  [[unroll]] for (uint i = 0u; i < TM; ++i)
    [[unroll]] for (uint j = 0u; j < TN; ++j) acc_lo[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
#endif

  const uint stages = (pc.dim / 4u + WORDS - 1u) / WORDS;
  vec4 pq[LOADS];
  vec4 pb[LOADS];
  load_stage(0u, q0, b0, pq, pb);
  for (uint s = 0u; s < stages; ++s) {
    stash_stage(pq, pb);
    barrier();
    if (s + 1u < stages) load_stage(s + 1u, q0, b0, pq, pb);  // in flight while we multiply
    [[unroll]] for (uint kk = 0u; kk < BK; kk += 16u) {
      fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a[TM];
      fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> b[TN];
      [[unroll]] for (uint i = 0u; i < TM; ++i)
        coopMatLoadNV(a[i], sq_hi, (wm + i * 16u) * SK + kk, SK, false);
      [[unroll]] for (uint j = 0u; j < TN; ++j)
        coopMatLoadNV(b[j], sb_hi, (wn + j * 16u) * SK + kk, SK, true);
      [[unroll]] for (uint i = 0u; i < TM; ++i)
        [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = coopMatMulAddNV(a[i], b[j], acc[i][j]);
#if TERMS == 3
      // hi·lo and lo·hi: one side's low parts against the other's high parts.
      fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> lo[TN];
      [[unroll]] for (uint j = 0u; j < TN; ++j)
        coopMatLoadNV(lo[j], sb_lo, (wn + j * 16u) * SK + kk, SK, true);
      [[unroll]] for (uint i = 0u; i < TM; ++i)
        [[unroll]] for (uint j = 0u; j < TN; ++j) acc_lo[i][j] = coopMatMulAddNV(a[i], lo[j], acc_lo[i][j]);
      [[unroll]] for (uint i = 0u; i < TM; ++i)
        coopMatLoadNV(a[i], sq_lo, (wm + i * 16u) * SK + kk, SK, false);
      [[unroll]] for (uint i = 0u; i < TM; ++i)
        [[unroll]] for (uint j = 0u; j < TN; ++j) acc_lo[i][j] = coopMatMulAddNV(a[i], b[j], acc_lo[i][j]);
#endif
    }
    barrier();  // everyone is done with this stage before the next one overwrites it
  }

  // Each accumulator through the subgroup's float32 tile (three terms: the low parts' too).
  // Lane l takes column l % 16 of rows l / 16, l / 16 + 2, ...: each store instruction writes
  // two rows' 64 contiguous bytes, four whole 32-byte sectors (distances_half_coop.glsl: eight
  // columns a lane along one row gave every float of an instruction a sector of its own).
  const uint lane = gl_SubgroupInvocationID;
  const uint col = lane % 16u;
  const uint first_row = lane / 16u;
  const uint tile = warp * 256u * TILES;
  [[unroll]] for (uint i = 0u; i < TM; ++i) {
    [[unroll]] for (uint j = 0u; j < TN; ++j) {
      coopMatStoreNV(acc[i][j], epilogue, tile, 16u, false);
#if TERMS == 3
      coopMatStoreNV(acc_lo[i][j], epilogue, tile + 256u, 16u, false);
#endif
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      const uint lc = wn + j * 16u + col;
      const uint b = b0 + lc;
      if (b < pc.num_base) {
        const float base_norm = base_norms[pc.base_offset + b];
        const float unscale_b = 1.0 / scale_b[lc];
        [[unroll]] for (uint u = 0u; u < 8u; ++u) {
          const uint row = first_row + 2u * u;
          const uint lr = wm + i * 16u + row;
          const uint q = q0 + lr;
          if (q < pc.num_queries) {
            // Powers of two: scaling back is exact.
            float scaled = epilogue[tile + row * 16u + col];
#if TERMS == 3
            scaled += epilogue[tile + 256u + row * 16u + col] * 0.00048828125;  // 2^-11
#endif
            const float dot_product = scaled / scale_q[lr] * unscale_b;
            out_values[pc.out_offset + q * pc.out_stride + b] = apply_metric(
                pc.metric, dot_product, query_norms[pc.query_offset + q], base_norm);
          }
        }
      }
      subgroupBarrier();  // the tile is read before the next accumulator overwrites it
    }
  }
}
