// The tiled distance kernel for dimensions that are a multiple of 4 (16-byte loads):
// out[q][c] = metric(query q, base row c) for a BM x BM block per workgroup; the matrix
// product is gemm_core.glsl's. Included by distances_gemm_*.comp, which define BM and BK.
// Arguments: distance_args.glsl.
#include "gemm_core.glsl"

// The same buffer seen as 16-byte words, for rows whose stride and offset allow it.
layout(set = 0, binding = 4, std430) writeonly buffer Out4 { vec4 out_words[]; };


void main() {
  const uint tx = gl_LocalInvocationID.x;
  const uint ty = gl_LocalInvocationID.y;
  const uint q0 = gl_WorkGroupID.y * BM;
  const uint b0 = gl_WorkGroupID.x * BM;
  multiply_block(Operands(pc.num_queries, pc.num_base, pc.dim / 4u, pc.query_offset, pc.base_offset),
                 q0, b0);

  const bool words = pc.out_stride % 4u == 0u && pc.out_offset % 4u == 0u;
  float base_norm[MICRO];
  [[unroll]] for (uint j = 0u; j < MICRO; ++j) {
    const uint b = b0 + local_row(j, tx);
    base_norm[j] = (b < pc.num_base && pc.metric != METRIC_INNER_PRODUCT)
                       ? base_norms[pc.base_offset + b] : 0.0;
  }
  // Unrolled with predicated stores and no break or continue (which keep the loop): a loop
  // the compiler keeps would index `acc` dynamically and force it into local memory.
  [[unroll]] for (uint i = 0u; i < MICRO; ++i) {
    const uint q = q0 + local_row(i, ty);
    const bool q_ok = q < pc.num_queries;
    const float query_norm =
        (q_ok && pc.metric != METRIC_INNER_PRODUCT) ? query_norms[pc.query_offset + q] : 0.0;
    [[unroll]] for (uint g = 0u; g < GROUPS; ++g) {
      const uint b = b0 + local_row(g * 4u, tx);
      vec4 v;
      [[unroll]] for (uint u = 0u; u < 4u; ++u)
        v[u] = apply_metric(pc.metric, acc[i][g * 4u + u], query_norm, base_norm[g * 4u + u]);
      const uint o = pc.out_offset + q * pc.out_stride + b;
      if (q_ok && words && b + 3u < pc.num_base) {
        out_words[o / 4u] = v;
      } else if (q_ok) {
        [[unroll]] for (uint u = 0u; u < 4u; ++u)
          if (b + u < pc.num_base) out_values[o + u] = v[u];
      }
    }
  }
}
