#extension GL_EXT_control_flow_attributes : require
// Included by distances_*.comp, which define TILE_M, TILE_N, TILE_K, MICRO_M, MICRO_N as
// compile-time constants: register arrays sized by specialization constants may not be
// unrolled by the driver, and then live in slow local memory.
//
// out[q][c] = metric(query q, base row c) for a tile of queries x base rows: a tiled matrix
// product (shared-memory tiles of TILE_K dimensions, MICRO_M x MICRO_N outputs per thread in
// registers) with the metric applied in the epilogue from precomputed squared norms.
//
// Workgroup: (TILE_N / MICRO_N) x (TILE_M / MICRO_M) threads; it computes TILE_M queries x
// TILE_N base rows. Thread (tx, ty) owns queries ty + i * THREADS_Y and base rows
// tx + j * THREADS_X, so neighbouring threads read neighbouring shared words and write
// neighbouring output columns.
layout(local_size_x = TILE_N / MICRO_N, local_size_y = TILE_M / MICRO_M) in;


const uint THREADS_X = TILE_N / MICRO_N;
const uint THREADS_Y = TILE_M / MICRO_M;
const uint THREADS = THREADS_X * THREADS_Y;

#include "metric.glsl"

#include "distance_args.glsl"
#include "distance_form.glsl"


shared float tile_q[TILE_K][TILE_M];
shared float tile_b[TILE_K][TILE_N];

void main() {
  const uint tx = gl_LocalInvocationID.x;
  const uint ty = gl_LocalInvocationID.y;
  const uint tid = ty * THREADS_X + tx;
  const uint q0 = gl_WorkGroupID.y * TILE_M;
  const uint b0 = gl_WorkGroupID.x * TILE_N;

  float acc[MICRO_M][MICRO_N];
  [[unroll]] for (uint i = 0; i < MICRO_M; ++i)
    [[unroll]] for (uint j = 0; j < MICRO_N; ++j) acc[i][j] = 0.0;

  for (uint k0 = 0; k0 < pc.dim; k0 += TILE_K) {
    // Cooperative loads, consecutive threads along the dimension axis (contiguous in memory).
    for (uint e = tid; e < TILE_M * TILE_K; e += THREADS) {
      const uint r = e / TILE_K;
      const uint kk = e % TILE_K;
      const uint q = q0 + r;
      const uint k = k0 + kk;
      tile_q[kk][r] = (q < pc.num_queries && k < pc.dim)
                          ? queries[(pc.query_offset + q) * pc.dim + k] : 0.0;
    }
    for (uint e = tid; e < TILE_N * TILE_K; e += THREADS) {
      const uint r = e / TILE_K;
      const uint kk = e % TILE_K;
      const uint b = b0 + r;
      const uint k = k0 + kk;
      tile_b[kk][r] = (b < pc.num_base && k < pc.dim)
                          ? base[(pc.base_offset + b) * pc.dim + k] : 0.0;
    }
    barrier();
    [[unroll]] for (uint kk = 0; kk < TILE_K; ++kk) {
      float a[MICRO_M];
      float b[MICRO_N];
      [[unroll]] for (uint i = 0; i < MICRO_M; ++i) a[i] = tile_q[kk][ty + i * THREADS_Y];
      [[unroll]] for (uint j = 0; j < MICRO_N; ++j) b[j] = tile_b[kk][tx + j * THREADS_X];
      [[unroll]] for (uint i = 0; i < MICRO_M; ++i)
        [[unroll]] for (uint j = 0; j < MICRO_N; ++j) acc[i][j] = accumulate(acc[i][j], a[i], b[j]);
    }
    barrier();
  }

  // Fully unrolled with predicated stores: a loop the compiler keeps would force `acc` into
  // indexable (slow) local memory.
  [[unroll]] for (uint i = 0; i < MICRO_M; ++i) {
    const uint q = q0 + ty + i * THREADS_Y;
    const bool q_ok = q < pc.num_queries;
    const float qn = (q_ok && metric_uses_norms(pc.metric)) ? query_norms[pc.query_offset + q] : 0.0;
    [[unroll]] for (uint j = 0; j < MICRO_N; ++j) {
      const uint b = b0 + tx + j * THREADS_X;
      if (q_ok && b < pc.num_base) {
        const float bn =
            metric_uses_norms(pc.metric) ? base_norms[pc.base_offset + b] : 0.0;
        out_values[pc.out_offset + q * pc.out_stride + b] = finish_metric(pc.metric, acc[i][j], qn, bn);
      }
    }
  }
}
