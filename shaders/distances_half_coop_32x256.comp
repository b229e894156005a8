#version 450
#extension GL_GOOGLE_include_directive : require
// The tensor-core kernel over float16 copies for a few queries (up to 32): 32 x 256 blocks, 64
// dimensions a stage, 1 shared stage(s). A 128-row block would multiply three empty rows for
// each query row.
#define BM 32u
#define BN 256u
#define BK 64u
#define WARPS_M 1u
#define WARPS_N 8u
#define STAGES 1u
#include "distances_half_coop.glsl"
