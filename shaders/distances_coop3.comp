#version 450
#extension GL_GOOGLE_include_directive : require
// The tensor-core distance kernel with 3 float16 product term(s) per pair of stages.
#define TERMS 3
#include "distances_coop.glsl"
