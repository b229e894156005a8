#version 450
#extension GL_GOOGLE_include_directive : require
// The tensor-core kernel over float16 copies: 32 x 256 blocks (up to 32 queries), 64 dimensions a stage, 1 shared stage; the epilogue
// stores 16 bytes a lane, whole 128-byte row segments (WIDE_EPILOGUE).
#define BM 32u
#define BN 256u
#define BK 64u
#define WARPS_M 1u
#define WARPS_N 8u
#define STAGES 1u
#define WIDE_EPILOGUE
#include "distances_half_coop.glsl"
