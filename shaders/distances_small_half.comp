#version 450
// distances_small_vec4.glsl over the base's float16 copy (half_rows.comp).
#extension GL_GOOGLE_include_directive : require
#define HALF_BASE
#include "distances_small_vec4.glsl"
