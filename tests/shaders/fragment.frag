#version 450
// Refused: a module without a GLCompute entry point.
layout(location = 0) out vec4 color;
void main() { color = vec4(1.0); }
