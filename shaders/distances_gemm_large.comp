#version 450
#extension GL_GOOGLE_include_directive : require
// The 16-byte-load distance kernel, 128x128 outputs per workgroup (8x8 per thread), 8 dimensions per stage.
#define BM 128u
#define BK 8u
#include "distances_gemm.glsl"
