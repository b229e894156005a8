#version 450
// Refused: an ArgumentTable has bindings 0..7.
layout(local_size_x = 1) in;
layout(set = 0, binding = 9) buffer Data { float data[]; };
void main() { data[0] += 1.0; }
