#version 450
#extension GL_GOOGLE_include_directive : require
// The tensor-core kernel over float16 copies: 128 x 256 blocks, 16 dimensions a stage, 2 shared stage(s).
#define BM 128u
#define BN 256u
#define BK 16u
#define WARPS_M 2u
#define WARPS_N 4u
#define STAGES 2u
#include "distances_half_coop.glsl"
