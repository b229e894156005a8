#version 450
#extension GL_GOOGLE_include_directive : require
// The 16-byte-load distance kernel, 64x64 outputs per workgroup (4x4 per thread), 16 dimensions per stage.
#define BM 64u
#define BK 16u
#include "distances_gemm.glsl"
