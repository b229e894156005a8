#version 450
#extension GL_EXT_control_flow_attributes : require
// half_rows.glsl: the float16 copy of rows minus a centre, and their squared norms.
#extension GL_GOOGLE_include_directive : require
#define CENTRED
#include "half_rows.glsl"
