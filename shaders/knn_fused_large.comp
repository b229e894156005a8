#version 450
#extension GL_GOOGLE_include_directive : require
// Fused distances + top-k (k <= 16), 128 queries x 128 base rows per block (8x8 per thread).
#define BM 128u
#define BK 8u
#define LIST 16u
#include "knn_fused.glsl"
