#version 450
#extension GL_GOOGLE_include_directive : require
// The integer tensor-core kernel over int8 rows: 128 x 128 blocks, 64 dimensions a stage.
#define BM 128u
#define BN 128u
#define BK 64u
#define WARPS_M 4u
#define WARPS_N 2u
#define SIGNED 1
#include "distances_int_coop.glsl"
