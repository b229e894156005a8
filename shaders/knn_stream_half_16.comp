#version 450
// knn_stream.glsl for up to 16 queries over the base's float16 copy (half_rows.comp): two rows a group a
// turn, which leaves registers to the queries' sums.
#extension GL_GOOGLE_include_directive : require
#define HALF_BASE
#define STREAM_QUERIES 16u
#define ROWS 2u
#include "knn_stream.glsl"
