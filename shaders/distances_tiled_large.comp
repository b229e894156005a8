#version 450
#extension GL_GOOGLE_include_directive : require
// The tiled distance kernel, 128x128 outputs per workgroup (8x8 per thread).
#define TILE_M 128u
#define TILE_N 128u
#define TILE_K 8u
#define MICRO_M 8u
#define MICRO_N 8u
#include "distances_tiled.glsl"
