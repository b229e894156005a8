#version 450
#extension GL_GOOGLE_include_directive : require
// Fused distances + top-k (k <= 16), 64 queries x 64 base rows per block (4x4 per thread).
#define BM 64u
#define BK 16u
#define LIST 16u
#include "knn_fused.glsl"
