#version 450
#extension GL_GOOGLE_include_directive : require
// The tensor-core kernel over float16 copies: 256 x 128 blocks, 32 dimensions a stage, 1 shared stage(s).
#define BM 256u
#define BN 128u
#define BK 32u
#define WARPS_M 4u
#define WARPS_N 2u
#define STAGES 1u
#include "distances_half_coop.glsl"
