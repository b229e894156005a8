#version 450
// Refused: vecaccel binds storage buffers only, and this reads a uniform block.
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) uniform Parameters { float scale; } parameters;
layout(set = 0, binding = 1) buffer Data { float data[]; };
void main() { data[0] *= parameters.scale; }
