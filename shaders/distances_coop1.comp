#version 450
#extension GL_GOOGLE_include_directive : require
// The tensor-core distance kernel with 1 float16 product term(s) per pair of stages.
#define TERMS 1
#include "distances_coop.glsl"
