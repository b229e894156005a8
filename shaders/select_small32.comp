#version 450
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_GOOGLE_include_directive : require
// Register-list top-k for k <= 32.
#define LIST 32u
#include "select_small.glsl"
