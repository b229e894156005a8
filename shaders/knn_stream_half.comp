#version 450
// knn_stream.glsl over the base's float16 copy (half_rows.comp).
#extension GL_GOOGLE_include_directive : require
#define HALF_BASE
#include "knn_stream.glsl"
