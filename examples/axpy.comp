#version 450
// Your own compute shader, dispatched by examples/custom_shader.cpp: y[i] = a * x[i] + y[i].
// glslc --target-env=vulkan1.3 -o axpy.spv axpy.comp
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) buffer Y { float y[]; };

layout(push_constant) uniform Constants {
  uint count;  // offset 0
  float a;     // offset 4: an 8-byte block
} pc;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i < pc.count) y[i] = pc.a * x[i] + y[i];
}
