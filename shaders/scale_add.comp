#version 450
// y[i] = a * x[i] + y[i]: the smallest real operation, used by context tests and latency
// benchmarks.
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(set = 0, binding = 0, std430) readonly buffer X { float x[]; };
layout(set = 0, binding = 1, std430) buffer Y { float y[]; };

layout(push_constant) uniform Constants {
  uint count;
  float a;
} pc;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i < pc.count) y[i] = pc.a * x[i] + y[i];
}
