#version 450
// knn_stream.glsl over float32 base rows.
#extension GL_GOOGLE_include_directive : require
#include "knn_stream.glsl"
