#version 450
// Refused: vecaccel binds descriptor set 0 only.
layout(local_size_x = 1) in;
layout(set = 1, binding = 0) buffer Data { float data[]; };
void main() { data[0] += 1.0; }
