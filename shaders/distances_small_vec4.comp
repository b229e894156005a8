#version 450
// distances_small_vec4.glsl over float32 base rows.
#extension GL_GOOGLE_include_directive : require
#include "distances_small_vec4.glsl"
