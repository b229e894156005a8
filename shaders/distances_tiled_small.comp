#version 450
#extension GL_GOOGLE_include_directive : require
// The tiled distance kernel, 64x64 outputs per workgroup (4x4 per thread).
#define TILE_M 64u
#define TILE_N 64u
#define TILE_K 16u
#define MICRO_M 4u
#define MICRO_N 4u
#include "distances_tiled.glsl"
