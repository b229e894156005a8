#version 450
#extension GL_GOOGLE_include_directive : require
// The tensor-core kernel over float16 copies: 128 x 128 blocks, 32 dimensions a stage, 2 shared stages; the epilogue
// stores 16 bytes a lane, whole 128-byte row segments (WIDE_EPILOGUE).
#define BM 128u
#define BN 128u
#define BK 32u
#define WARPS_M 4u
#define WARPS_N 2u
#define STAGES 2u
#define WIDE_EPILOGUE
#include "distances_half_coop.glsl"
