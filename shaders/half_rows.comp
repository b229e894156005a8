#version 450
#extension GL_EXT_control_flow_attributes : require
// half_rows.glsl: the float16 copy of rows as they are.
#extension GL_GOOGLE_include_directive : require
#include "half_rows.glsl"
