#version 450
#extension GL_GOOGLE_include_directive : require
// The tensor-core kernel over float16 copies: 128 x 256 blocks, 32 dimensions a stage, 1 shared stage; the epilogue
// stores 16 bytes a lane, whole 128-byte row segments (WIDE_EPILOGUE).
#define BM 128u
#define BN 256u
#define BK 32u
#define WARPS_M 2u
#define WARPS_N 4u
#define STAGES 1u
#define WIDE_EPILOGUE
#include "distances_half_coop.glsl"
